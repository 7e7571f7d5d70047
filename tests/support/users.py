"""What the site-user tests share: a guard that records what the engine told it, and a
verifier of a made-up password format (the engine knows no legacy format itself)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from dataclasses import field

from emulator import oauth


@dataclass
class FakeGuard:
    """An ``oauth.UserGuard`` that locks the usernames in ``locked`` and records the rest."""

    locked: set[str] = field(default_factory=set)
    asked: list[str] = field(default_factory=list)
    failures: list[tuple[str, str | None]] = field(default_factory=list)

    def ensure_allowed(self, username: str) -> None:
        self.asked.append(username)
        if username in self.locked:
            raise oauth.UserLocked("locked", retry_after=60)

    def failed(self, username: str, account: str | None) -> None:
        self.failures.append((username, account))


def sha1_verifier(password_hash: str, password: str) -> bool | None:
    """``{SHA1}<hex>``: a format no plugin has, for the engine's tests."""
    if not password_hash.startswith("{SHA1}"):
        return None
    digest = hashlib.sha1(password.encode()).hexdigest()
    return hmac.compare_digest(password_hash[6:], digest)
