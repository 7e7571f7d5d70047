"""What the site-user tests share: a guard that records what the engine told it, a
verifier of a made-up password format (the engine knows no legacy format itself), a count
of the full password hashes checked, and a login through the engine with the plugins'
verifiers."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from dataclasses import field

import sqlalchemy as sa

from emulator import oauth
from emulator.oauth import users as users_module
from emulator.ops.clock import utcnow
from emulator.storage.database import db
from emulator.web import stores


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


def login(app, username: str, password: str, *, now=None) -> oauth.UserRecord | None:
    """One login through the engine with the app's password verifiers (the plugins'), as
    the password grant and the login page will log users in; committed."""
    with app.app_context():
        user = oauth.authenticate_user(
            db.session,
            username,
            password,
            verifiers=stores.password_verifiers(),
            now=now or utcnow(),
        )
        db.session.commit()
        return user


def stored_hashes(app) -> dict[str, str | None]:
    """Every site user's stored password hash, by username."""
    with app.app_context():
        rows = db.session.execute(sa.text("SELECT username, password_hash FROM site_users"))
        return dict(rows.all())


def counting(monkeypatch) -> list[str]:
    """Count every full password hash check the engine makes (argon2id, ours or dummy)."""
    calls: list[str] = []
    real = users_module.check_secret

    def check(password_hash: str, password: str) -> bool:
        calls.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr(users_module, "check_secret", check)
    return calls
