"""What this worker has verified against a slow hash: client secrets and users' passwords.

An argon2id check costs tens of milliseconds of CPU, on purpose: it is what makes a stolen
table slow to guess from. Paying it again for the same good secret on every request would
cap a token endpoint at a few dozen requests per second per core. So a secret that matched
a stored hash once is remembered by this worker only, as an HMAC-SHA-256 under a random key
that is made at start and never leaves memory. The key of an entry names the stored hash
it matched, so a new secret or password makes the entry unreachable. Only successes are
kept: a wrong secret always pays the full hash, so timing tells a guesser nothing, and
nothing at rest changes, so offline resistance is the hash's own. (Whoever can read a
worker's memory can test guesses against the HMACs at HMAC speed: keep core dumps off.)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from collections.abc import Hashable

from emulator.storage.cache import WorkerCache


class VerifiedSecrets:
    """Secrets verified by this worker, at most ``max_size`` (least recently used leaves)."""

    def __init__(self, max_size: int = 4096) -> None:
        self._kept: WorkerCache[Hashable, bytes] = WorkerCache(None, max_size)
        # HMAC-SHA-256 with its random key already mixed in: each use copies it, which is
        # cheaper than a new HMAC.
        self._mac = hmac.new(secrets.token_bytes(32), digestmod=hashlib.sha256)

    def digest(self, secret: str) -> bytes:
        """What is kept of ``secret``: its HMAC under this worker's key."""
        mac = self._mac.copy()
        mac.update(secret.encode("utf-8", "surrogatepass"))
        return mac.digest()

    def known(self, key: Hashable, digest: bytes) -> bool:
        """Whether the secret whose ``digest`` this is matched ``key`` before (constant time)."""
        kept = self._kept.get(key)
        return kept is not None and hmac.compare_digest(kept, digest)

    def remember(self, key: Hashable, digest: bytes) -> None:
        """The secret whose ``digest`` this is matched ``key`` by a full check."""
        self._kept.put(key, digest)

    def check(self, key: Hashable, digest: bytes, full_check: Callable[[], bool]) -> bool:
        """Whether the secret whose ``digest`` this is matches ``key``: known, or
        ``full_check()`` (the slow hash), remembered when it passes."""
        if self.known(key, digest):
            return True
        if not full_check():
            return False
        self.remember(key, digest)
        return True
