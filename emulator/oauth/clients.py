"""Client records and client authentication (RFC 6749 §2.3.1, bshaffer's HttpBasic rules).

Secrets are stored as argon2id hashes with OWASP's parameters (19 MiB, 2 passes, 1 lane),
which makes offline guessing slow even for short legacy secrets like "201010425". Hashes
of earlier versions (salted scrypt in werkzeug's ``scrypt:N:r:p$salt$hex`` format) still
verify, and are replaced by an argon2id hash on their next successful check. A secret
verified once is remembered by this worker (``emulator.oauth.memo``). Every failure pays
one full hash, whatever failed (unknown client, wrong or malformed secret, a secret for a
public client), so timing tells nothing.
Failures can be counted and locked out by a guard the host passes in (``AuthGuard``).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import string
from collections.abc import Callable
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import replace
from datetime import datetime
from typing import Literal
from typing import Protocol
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError
from argon2.exceptions import VerificationError
from sqlalchemy import bindparam
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from emulator.oauth.errors import ClientLocked
from emulator.oauth.errors import InvalidClient
from emulator.oauth.memo import VerifiedSecrets
from emulator.oauth.scopes import default_scope
from emulator.oauth.text import has_control_characters
from emulator.storage.cache import WorkerCache
from emulator.storage.models import Client
from emulator.storage.schema import DbHandle

# OWASP's argon2id parameters (Password Storage Cheat Sheet): m=19 MiB, t=2, p=1.
SECRET_HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
T = TypeVar("T")
# Earlier versions' scrypt hashes: still verified, re-hashed on their next success.
SECRET_HASH_METHOD = "scrypt:32768:8:1"
_SALT_CHARS = string.ascii_letters + string.digits
_SALT_LENGTH = 16
# A secret shorter than this is a legacy secret (the CLI warns about it).
MIN_SECRET_LENGTH = 32

# Where a request carried its client credentials, in neutral words (a dialect's wire sets
# it): an HTTP Basic header, a form body, a JSON body, the query string.
CredentialSource = Literal["basic", "body", "json", "query"]

# Scopes a client without a scope of its own may ask for, supplied by a plugin from its
# own records: (db, client primary key) -> scope or None (emulator.web.plugin, "Hooks").
ClientScopeHook = Callable[[DbHandle, int], "str | None"]


@dataclass(frozen=True)
class ClientRecord:
    """What the request paths need of a client, read with one Core query (no ORM)."""

    id: int
    client_id: str
    secret_hash: str | None
    grant_types: str | None
    # The scope the client may ask for: its own, else what a client-scope hook supplies;
    # None when there is none (an empty scope counts as none).
    allowed_scope: str | None
    user_id: str | None
    # The secret before the last rotation, accepted until ``previous_secret_until`` (a
    # grace period an admin gave); None when there is none.
    previous_secret_hash: str | None = None
    previous_secret_until: datetime | None = None

    @property
    def is_public(self) -> bool:
        """A public client has no secret."""
        return self.secret_hash is None

    def allows_grant(self, grant_type: str) -> bool:
        """Whether the client may use the grant: None allows all, "" allows none (bshaffer)."""
        if self.grant_types is None:
            return True
        return grant_type in self.grant_types.split(" ")


@dataclass(frozen=True)
class ClientCredentials:
    """What a request presented to authenticate a client.

    ``client_secret`` is kept as it arrived (a JSON body may carry ``true`` or ``0``):
    only a non-empty string can ever match. ``source`` says where the credentials came
    from (the secret's place when there is one, else the client id's); the engine never
    reads it: it is for the host's usage counts and deprecation notices.
    """

    client_id: str
    client_secret: object = None
    source: CredentialSource | None = None
    # Another reading of the same credentials, tried when these fail (a dialect that
    # accepts RFC 6749 §2.3.1's form-urlencoded HTTP Basic parts beside the raw ones).
    alternative: ClientCredentials | None = None


_CLIENTS = Client.__table__
_LOAD_CLIENT = select(
    _CLIENTS.c.id,
    _CLIENTS.c.client_id,
    _CLIENTS.c.secret_hash,
    _CLIENTS.c.grant_types,
    _CLIENTS.c.scope,
    _CLIENTS.c.user_id,
    _CLIENTS.c.previous_secret_hash,
    _CLIENTS.c.previous_secret_until,
    _CLIENTS.c.disabled,
).where(_CLIENTS.c.client_id == bindparam("client_id"))


class AuthGuard(Protocol):
    """The host's guard against guessing, bound to one request's source (RFC 6749 §10.10)."""

    def ensure_allowed(self, client_id: str) -> None:
        """Raise ClientLocked while this client may not try (before any secret is checked)."""

    def failed(self, client_id: str) -> None:
        """Count a failed authentication of this client."""


def hash_secret(secret: str) -> str:
    """Return the argon2id hash stored for a client secret."""
    return SECRET_HASHER.hash(secret.encode("utf-8", "surrogatepass"))


def scrypt_hash(secret: str) -> str:
    """An earlier version's hash of a secret (werkzeug's scrypt format), for tests of it."""
    salt = "".join(secrets.choice(_SALT_CHARS) for _ in range(_SALT_LENGTH))
    return f"{SECRET_HASH_METHOD}${salt}${_scrypt_hex(SECRET_HASH_METHOD, salt, secret)}"


def needs_rehash(secret_hash: str) -> bool:
    """Whether a stored hash is of an older kind, or has other parameters than today's."""
    return _needs_rehash(SECRET_HASHER, secret_hash)


@functools.lru_cache(maxsize=1024)
def _needs_rehash(hasher: PasswordHasher, secret_hash: str) -> bool:
    """``needs_rehash`` under one hasher: the answer never changes, and every successful
    check asks it (argon2's parse of the parameters costs ~3 us)."""
    if not secret_hash.startswith("$argon2"):
        return True
    try:
        return hasher.check_needs_rehash(secret_hash)
    except InvalidHashError:
        return True


def check_secret(secret_hash: str, secret: str) -> bool:
    """Return whether ``secret`` matches a stored hash (argon2id, or an earlier scrypt)."""
    if secret_hash.startswith("$argon2"):
        try:
            return SECRET_HASHER.verify(secret_hash, secret.encode("utf-8", "surrogatepass"))
        except (VerificationError, InvalidHashError):
            return False
    method, _, rest = secret_hash.partition("$")
    salt, _, expected = rest.partition("$")
    if not expected:
        return False
    try:
        actual = _scrypt_hex(method, salt, secret)
    except ValueError:  # not an scrypt hash of ours: matches nothing
        return False
    return hmac.compare_digest(actual, expected)


def hash_secrets(secrets_: Sequence[str], *, threads: int = 1) -> list[str]:
    """``hash_secret`` of each, in order, on ``threads`` threads (argon2 runs outside the GIL).

    For bulk admin work (an import): a full-cost hash takes tens of milliseconds.
    """
    return _in_threads(hash_secret, [(secret,) for secret in secrets_], threads)


def check_secrets(pairs: Sequence[tuple[str, str]], *, threads: int = 1) -> list[bool]:
    """``check_secret(hash, secret)`` of each pair, in order, on ``threads`` threads."""
    return _in_threads(check_secret, pairs, threads)


def _in_threads(function: Callable[..., T], calls: Sequence[tuple], threads: int) -> list[T]:
    if threads <= 1 or len(calls) <= 1:
        return [function(*args) for args in calls]
    with ThreadPoolExecutor(max_workers=min(threads, len(calls))) as pool:
        return list(pool.map(lambda args: function(*args), calls))


def _scrypt_hex(method: str, salt: str, secret: str) -> str:
    name, *args = method.split(":")
    if name != "scrypt" or len(args) != 3:
        raise ValueError(f"not an scrypt hash method: {method!r}")
    n, r, p = map(int, args)
    digest = hashlib.scrypt(
        secret.encode("utf-8", "surrogatepass"),
        salt=salt.encode(),
        n=n,
        r=r,
        p=p,
        maxmem=132 * n * r * p,  # werkzeug's bound: 128 * n * r * p and some room
    )
    return digest.hex()


@functools.cache
def _dummy_hash() -> str:
    """A hash no secret matches, checked wherever there is no hash to check, so that every
    failure costs the same. Made on first use, not at import (it costs a full hash).
    """
    return hash_secret(secrets.token_hex(16))


class ClientStore:
    """The client registry as this worker reads it: records, and secrets it verified.

    Records are kept for at most ``max_age`` seconds, so an admin's change to a client (a
    new secret, other scopes) reaches every worker within it; 0 reads on every request.
    Verified secrets are kept as HMACs keyed by the stored hash, which cannot go stale.
    The default scopes are kept like the records.
    ``scope_hooks`` supply the scope of a client that has none of its own (plugins').
    """

    def __init__(
        self,
        *,
        max_age: float,
        scope_hooks: Sequence[ClientScopeHook] = (),
        max_clients: int = 10_000,
        max_secrets: int = 4096,
        timer: Callable[[], float] | None = None,
    ) -> None:
        self.scope_hooks = tuple(scope_hooks)
        self._records: WorkerCache[str, ClientRecord] = WorkerCache(
            max_age, max_clients, timer=timer
        )
        self._verified = VerifiedSecrets(max_secrets)
        # The scopes table's default set: what a token gets when nothing else decides.
        self._defaults: WorkerCache[str, str] = WorkerCache(max_age, 1, timer=timer)

    def load(self, db: DbHandle, client_id: str) -> ClientRecord | None:
        """The client with exactly this client_id (case-sensitive), or None."""
        record = self._records.get(client_id)
        if record is None:
            record = self.read(db, client_id)
            if record is not None:
                self._records.put(client_id, record)
        return record

    def read(self, db: DbHandle, client_id: str) -> ClientRecord | None:
        """Read the client from the database, past the cache."""
        if has_control_characters(client_id):  # no client id holds one (and NUL: PostgreSQL)
            return None
        row = db.execute(_LOAD_CLIENT, {"client_id": client_id}).first()
        # The column's collation is exact on every backend we create (emulator.storage.schema
        # ExactString); a server without such a collation (MySQL before 8.0.17: trailing
        # spaces ignored) may still find another id, which is no match.
        # A disabled client is, on the wire, an unknown one.
        if row is None or row.client_id != client_id or row.disabled:
            return None
        record = ClientRecord(
            id=row.id,
            client_id=row.client_id,
            secret_hash=row.secret_hash,
            grant_types=row.grant_types,
            allowed_scope=row.scope or None,
            user_id=row.user_id,
            previous_secret_hash=row.previous_secret_hash,
            previous_secret_until=row.previous_secret_until,
        )
        if record.allowed_scope is None:
            for hook in self.scope_hooks:
                supplied = hook(db, record.id)
                if supplied:
                    return replace(record, allowed_scope=supplied)
        return record

    def default_scope(self, db: DbHandle) -> str | None:
        """The default scopes (``scopes.default_scope``), read at most once per max_age."""
        cached = self._defaults.get("default")
        if cached is None:
            cached = default_scope(db) or ""
            self._defaults.put("default", cached)
        return cached or None

    def forget(self, client_id: str) -> None:
        """Drop this worker's copy of a client (after an admin changed it here)."""
        self._records.forget(client_id)

    def verify_secret(
        self,
        client: ClientRecord,
        secret: str,
        *,
        db: DbHandle | None = None,
        now: datetime | None = None,
    ) -> bool:
        """Return whether ``secret`` is the client's secret; a failure costs one full hash.

        During a rotation's grace period (``now`` before ``previous_secret_until``; no
        ``now``: no grace) the previous secret is accepted too, and a failure costs two.
        After a full successful check of an older kind of hash, the new hash is written
        through ``db`` (in the caller's transaction) when one is given.
        """
        if client.secret_hash is None:
            check_secret(_dummy_hash(), secret)
            return False
        digest = self._verified.digest(secret)
        if not self._check(client.id, client.secret_hash, secret, digest):
            in_grace = (
                client.previous_secret_hash is not None
                and client.previous_secret_until is not None
                and now is not None
                and now < client.previous_secret_until
            )
            # The previous hash is never re-hashed: it stops at the end of its grace.
            return in_grace and self._check(client.id, client.previous_secret_hash, secret, digest)
        if db is not None and needs_rehash(client.secret_hash):
            db.execute(
                update(_CLIENTS)
                .where(_CLIENTS.c.id == client.id, _CLIENTS.c.secret_hash == client.secret_hash)
                .values(secret_hash=hash_secret(secret))
            )
        return True

    def _check(self, pk: int, secret_hash: str, secret: str, digest: bytes) -> bool:
        """Whether ``secret`` (its HMAC: ``digest``) matches this hash: remembered, or checked."""
        return self._verified.check(
            (pk, secret_hash), digest, lambda: check_secret(secret_hash, secret)
        )


def authenticate_client(
    db: DbHandle,
    credentials: ClientCredentials | None,
    *,
    clients: ClientStore,
    allow_public: bool,
    body_allowed: bool = True,
    guard: AuthGuard | None = None,
    now: datetime | None = None,
    rehash: bool = True,
) -> ClientRecord:
    """Return the authenticated client or raise InvalidClient (bshaffer HttpBasic order).

    ``reason`` tells dialects which failure it was: ``missing`` (no credentials; fact
    ``body_allowed``: whether the body was looked at), ``secret_required`` (no secret
    where one is required, or a secret-less request for a client that is not public;
    fact ``public_allowed``), ``unknown_client`` or ``wrong_secret`` (one description
    for both in redCORE; a dialect that tells them apart may say which), ``locked``
    (``ClientLocked``: ``guard`` refused before anything was checked).
    A presented secret is checked only if ``guard`` lets this client try; a wrong secret
    or an unknown client is counted by it, once per request even when the credentials'
    ``alternative`` was tried too. A disabled client is an unknown one. ``now`` lets a
    rotated-out secret in during its grace period (without it, only the current).
    ``rehash=False`` leaves a secret hash of an older kind as it is (a later request
    replaces it): for a request that must not write before a later guard counts a failure.
    """
    if credentials is None:
        raise InvalidClient(reason="missing", body_allowed=body_allowed)
    attempts = [credentials]
    if credentials.alternative is not None:
        attempts.append(credentials.alternative)
    failures: list[tuple[str, InvalidClient]] = []
    for attempt in attempts:
        try:
            return _authenticate_once(db, attempt, clients, allow_public, guard, now, rehash)
        except ClientLocked:
            raise
        except InvalidClient as failure:
            failures.append((attempt.client_id, failure))
    counted = [(cid, f) for cid, f in failures if f.reason in _COUNTED]
    if guard is not None and counted:
        # One failure per request, under the client that was there to be guessed at if
        # one was (a wrong secret), else under the last id tried (the decoded one).
        known = [cid for cid, f in counted if f.reason == "wrong_secret"]
        guard.failed(known[-1] if known else counted[-1][0])
    raise failures[-1][1]


# The failures a guard counts: a secret was checked and did not match.
_COUNTED = frozenset({"unknown_client", "wrong_secret"})


def _authenticate_once(
    db: DbHandle,
    credentials: ClientCredentials,
    clients: ClientStore,
    allow_public: bool,
    guard: AuthGuard | None,
    now: datetime | None,
    rehash: bool = True,
) -> ClientRecord:
    """One reading of the credentials; raise InvalidClient (not counted) when it fails."""
    secret = credentials.client_secret
    if secret is None or secret == "" or secret is False:
        if not allow_public:
            raise InvalidClient(reason="secret_required", public_allowed=False)
        client = clients.load(db, credentials.client_id)
        if client is None or not client.is_public:
            raise InvalidClient(reason="secret_required", public_allowed=True)
        return client
    if guard is not None:
        guard.ensure_allowed(credentials.client_id)
    client = clients.load(db, credentials.client_id)
    if client is None:
        check_secret(_dummy_hash(), secret if isinstance(secret, str) else "")
        raise InvalidClient(reason="unknown_client")
    # PHP's loose == let `true` match any secret; nothing but a string does here. A NUL
    # can never be part of a secret (scrypt's HMAC padded keys with zeros, so "s" and
    # "s\0" hashed alike). Either still costs a full hash, like any wrong secret.
    if isinstance(secret, str) and "\0" not in secret:
        verified = clients.verify_secret(client, secret, db=db if rehash else None, now=now)
    else:
        check_secret(_dummy_hash(), "")  # the cost of a wrong secret, for timing's sake
        verified = False
    if not verified:
        raise InvalidClient(reason="wrong_secret")
    return client


def find_client(session: Session, client_id: str) -> Client | None:
    """Return the client model with exactly this client_id, for admin work (CLI)."""
    if has_control_characters(client_id):
        return None
    client = session.scalar(select(Client).where(Client.client_id == client_id))
    # Exact whatever the column's collation, as in ClientStore.read.
    return client if client is not None and client.client_id == client_id else None
