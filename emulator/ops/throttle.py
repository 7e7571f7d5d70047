"""Failed client authentication is counted and, past a limit, refused at once (RFC 6749 §10.10).

Failures are counted per (client id, source address) and, with a higher limit, per source
address, in fixed windows (the ``limits`` library's notation, storages and keys, e.g.
``10/5minutes``): the first failure opens a window, and at the limit's count the key is
locked until the window ends. Counts live where every worker sees them: the service's own
database by default (every worker of a box, every instance on a shared PostgreSQL), or the
server that ``RATELIMIT_STORAGE_URI`` names (``redis://127.0.0.1:6379``, any ``limits`` storage).

While a key is at its limit, attempts under it are refused before any secret is checked
(a right secret too), without counting them, until the window ends. The request path pays
for this only on a failure (one write); a success reads the lock state at most once per
``CACHE_MAX_AGE`` per worker and key, and a key with failures in its window is read on
every attempt, so a lock stops the next guess on every worker (a worker that last looked
before the first failure may let one more through).
Nothing here sees a secret: keys hold a hash of the client id and the address. A name
that may be a secret (a username field someone typed a password into) is keyed by an HMAC
under the app's secret key, never by a hash anyone could test guesses against, and is
logged only as the caller shows it.

Failed site-user logins (the engine's ``authenticate_user``) are counted the same way by a
throttle of their own, per (username, address) and per address (``USER_AUTH_*``).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import logging
import math
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime

import limits
from flask import Flask
from limits.storage import Storage
from limits.storage import storage_from_string
from sqlalchemy import Engine
from sqlalchemy import bindparam
from sqlalchemy import case
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy.dialects import mysql
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import SQLAlchemyError

from emulator.oauth import ClientLocked
from emulator.oauth import UserLocked
from emulator.ops import audit
from emulator.ops import metrics
from emulator.ops.clock import epoch_seconds
from emulator.ops.clock import utcnow
from emulator.storage.cache import WorkerCache
from emulator.storage.database import db
from emulator.storage.models import Client
from emulator.storage.models import RateLimitCounter
from emulator.storage.schema import MYSQL_DIALECTS
from emulator.web.context import app_object as _app
from emulator.web.context import request_object as _request

log = logging.getLogger(__name__)

EXTENSION = "emulator.throttle"
USER_EXTENSION = "emulator.throttle.users"
STORAGE = "emulator.throttle.storage"
# Registered client ids are at most this long; a longer one is a guess.
MAX_CLIENT_ID_LENGTH = Client.__table__.c.client_id.type.length


def _now() -> float:
    return epoch_seconds()  # looked up on each call


_COUNTERS = RateLimitCounter.__table__
_GET_COUNT = select(_COUNTERS.c.count).where(
    _COUNTERS.c.key == bindparam("key"), _COUNTERS.c.expires_at > bindparam("now")
)
_GET_EXPIRY = select(_COUNTERS.c.expires_at).where(_COUNTERS.c.key == bindparam("key"))
_GET_KEY_COUNT = select(_COUNTERS.c.count).where(_COUNTERS.c.key == bindparam("key"))
# The backends whose upserts incr knows.
_UPSERT_DIALECTS = ("sqlite", "postgresql", *MYSQL_DIALECTS)


class DatabaseStorage(Storage):
    """``limits``' fixed-window counters in the service's database (``rate_limit_counters``).

    Each call is its own short transaction on its own connection, so a count survives the
    rollback of the request that failed. On SQLite that connection queues for the file's
    writer lock like any other (emulator/storage/sqlite.py), which a thread does not hold twice: a
    count is only ever written before the request has written anything (authentication
    comes first), and must stay so.
    """

    STORAGE_SCHEME = ["emulator-database"]

    def __init__(self, engine: Engine, clock: Callable[[], float] | None = None) -> None:
        if engine.dialect.name not in _UPSERT_DIALECTS:
            raise ValueError(
                f"The throttle cannot count in a {engine.dialect.name} database; "
                "set RATELIMIT_STORAGE_URI (e.g. redis://127.0.0.1:6379)."
            )
        super().__init__()
        self.engine = engine
        self.clock = clock or _now

    @property
    def base_exceptions(self) -> type[Exception]:
        """What a failing database raises."""
        return SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add ``amount`` to the key's count, starting a new window if the old one ended.

        One upsert: concurrent failures of one key (other workers, other instances) each
        count, and the first one opens the window.
        """
        now = self.clock()
        fresh = _COUNTERS.c.expires_at > now
        count = case((fresh, _COUNTERS.c.count + amount), else_=amount)
        ends = case((fresh, _COUNTERS.c.expires_at), else_=now + expiry)
        with self.engine.begin() as conn:
            name = conn.dialect.name
            if name in MYSQL_DIALECTS:
                # ON DUPLICATE KEY UPDATE assigns in order, and an assignment sees the
                # columns set before it: count first, while expires_at is still the old end.
                conn.execute(
                    mysql.insert(_COUNTERS)
                    .values(key=key, count=amount, expires_at=now + expiry)
                    .on_duplicate_key_update([("count", count), ("expires_at", ends)])
                )
                # The row stays locked by this transaction: this is the count just written.
                return int(conn.execute(_GET_KEY_COUNT, {"key": key}).scalar_one())
            insert = (sqlite if name == "sqlite" else postgresql).insert(_COUNTERS)
            statement = (
                insert.values(key=key, count=amount, expires_at=now + expiry)
                .on_conflict_do_update(
                    index_elements=[_COUNTERS.c.key], set_={"count": count, "expires_at": ends}
                )
                .returning(_COUNTERS.c.count)
            )
            return int(conn.execute(statement).scalar_one())

    def get(self, key: str) -> int:
        """The key's count in its current window (0 when there is none)."""
        with self.engine.connect() as conn:
            count = conn.execute(_GET_COUNT, {"key": key, "now": self.clock()}).scalar()
        return int(count or 0)

    def get_expiry(self, key: str) -> float:
        """When the key's window ends (epoch seconds; now when there is none)."""
        with self.engine.connect() as conn:
            expires_at = conn.execute(_GET_EXPIRY, {"key": key}).scalar()
        return float(expires_at) if expires_at is not None else self.clock()

    def check(self) -> bool:
        """Whether the database answers."""
        with self.engine.connect() as conn:
            conn.execute(select(1))
        return True

    def reset(self) -> int | None:
        """Remove every counter."""
        with self.engine.begin() as conn:
            return conn.execute(delete(_COUNTERS)).rowcount

    def clear(self, key: str) -> None:
        """Remove one counter."""
        with self.engine.begin() as conn:
            conn.execute(delete(_COUNTERS).where(_COUNTERS.c.key == key))

    def purge(self) -> int:
        """Remove the counters whose window has ended (``flask tokens purge`` calls it)."""
        with self.engine.begin() as conn:
            return conn.execute(
                delete(_COUNTERS).where(_COUNTERS.c.expires_at <= self.clock())
            ).rowcount


@dataclass(frozen=True)
class Lockout:
    """The moment a key became locked: which kind (``client``: this client id from this
    address; ``address``: every client id from it; ``admin`` and ``admin-address``, ``user``
    and ``user-address`` the same for admin and site-user logins, the username as shown in
    ``client_id``), until when (epoch seconds), the limit."""

    kind: str
    client_id: str  # the client id whose failure locked it (as logged: at most 80 characters)
    address: str
    until: float
    limit: str


LockoutHook = Callable[[Lockout], None]


@dataclass(frozen=True)
class Limits:
    """The two limits: per (client id, address), and per address (None: not counted)."""

    per_client: limits.RateLimitItem
    per_address: limits.RateLimitItem | None


class AuthThrottle:
    """Counts failed client authentication and says when a key is locked."""

    def __init__(
        self,
        storage: Storage,
        rules: Limits,
        *,
        max_age: float,
        clock: Callable[[], float] | None = None,
        kind: str = "client",
        on_lockout: Sequence[LockoutHook] = (),
        name_key: bytes | None = None,
    ) -> None:
        self.storage = storage
        self.rules = rules
        self.clock = clock or _now
        # What is authenticated: it names the keys and the log lines, so that two throttles
        # on one storage (clients, admin logins) never share a count.
        self.kind = kind
        self._address_kind = "address" if kind == "client" else f"{kind}-address"
        self._id_name = "client_id" if kind == "client" else "id"
        # Told of each lockout once, by the failure that made it (audit event, metrics).
        self.on_lockout = tuple(on_lockout)
        # The HMAC key of the names in storage keys (None: a plain SHA-256, for client ids).
        self.name_key = name_key
        # key -> epoch second its lock lifts (0.0: not locked), as this worker last read it
        self._locks: WorkerCache[str, float] = WorkerCache(max_age, 100_000)
        # (client id, address) -> their storage keys, which every attempt asks for (a
        # digest and two joins): remembered for the ids a registered client can have, but
        # never for names that may be secrets (kept in memory, they would outlive the
        # request that typed them).
        self._remembered_keys = (
            functools.lru_cache(maxsize=4096)(self._storage_keys)
            if name_key is None
            else self._storage_keys
        )

    def locked_for(self, client_id: str, address: str) -> int | None:
        """Seconds until attempts for this client from this address are taken again, or None.

        The pair is looked at first: while it is locked (the usual case under attack),
        this worker's copy answers and the address is not looked at.
        """
        now = self.clock()
        if len(client_id) <= MAX_CLIENT_ID_LENGTH:
            client_key, address_key = self._remembered_keys(client_id, address)
        else:
            client_key, address_key = self._storage_keys(client_id, address)
        try:
            until = self._lock(self.rules.per_client, client_key)
            if until <= now and address_key is not None:
                until = self._lock(self.rules.per_address, address_key)
        except self.storage.base_exceptions as error:
            _store_down(error)  # fail open: the secret is still checked, at full cost
            return None
        if until <= now:
            return None
        return max(1, math.ceil(until - now))

    def failed(self, client_id: str, address: str, *, shown: str | None = None) -> None:
        """Count one failed authentication; log it, and the lockout it may cause.

        ``shown`` is what the log and a lockout's audit event name (default: the client id).
        """
        shown = _shown(client_id if shown is None else shown)
        log.warning(
            "%s authentication failed: %s=%r address=%s", self.kind, self._id_name, shown, address
        )
        client_key, address_key = self._storage_keys(client_id, address)
        for rule, kind, key in (
            (self.rules.per_address, self._address_kind, address_key),
            (self.rules.per_client, self.kind, client_key),
        ):
            if rule is None or key is None:
                continue
            try:
                count = self.storage.incr(key, rule.get_expiry())
            except self.storage.base_exceptions as error:
                _store_down(error)
                continue
            if count < rule.amount:
                self._locks.forget(key)  # failures now: read it afresh from here on
            else:
                until = self.storage.get_expiry(key)
                self._locks.put(key, until)
                log.warning(
                    "%s authentication locked for %ds: %s %s=%r address=%s",
                    self.kind,
                    max(1, math.ceil(until - self.clock())),
                    kind,
                    self._id_name,
                    shown,
                    address,
                )
                if count == rule.amount:  # the failure that locked it (the count is atomic)
                    self._report_lockout(Lockout(kind, shown, address, until, str(rule)))

    def _report_lockout(self, lockout: Lockout) -> None:
        """Tell each ``on_lockout`` hook; a failure is logged and changes nothing (fail open),
        nor keeps the other hooks from being told."""
        for hook in self.on_lockout:
            try:
                hook(lockout)
            except Exception as error:  # whatever it is, a lockout must not become an error
                log.error("client authentication lockout not recorded (%s)", type(error).__name__)

    def _storage_keys(self, client_id: str, address: str) -> tuple[str, str | None]:
        """The storage keys of the pair and (None: not counted) of the address."""
        per_address = self.rules.per_address
        return (
            self.rules.per_client.key_for(self.kind, _digest(client_id, self.name_key), address),
            None if per_address is None else per_address.key_for(self._address_kind, address),
        )

    def _lock(self, rule: limits.RateLimitItem, key: str) -> float:
        """When the key's lock lifts (0.0: not locked), from this worker's copy if it has one.

        Only "no failure at all" and "locked" are kept: a key with failures in its window
        is read afresh on every attempt, so a lock another worker made stops the next guess
        here (a copy from before the first failure may let one more through, once).
        """
        until = self._locks.get(key)
        if until is None:
            count = self.storage.get(key)
            until = self.storage.get_expiry(key) if count >= rule.amount else 0.0
            if until or count == 0:
                self._locks.put(key, until)
        return until


def _store_down(error: Exception) -> None:
    """Throttling fails open while its store is down; say so loudly (no details: they may
    hold the store's URL)."""
    log.error("client authentication throttle: store unavailable (%s)", type(error).__name__)


def _shown(client_id: str) -> str:
    """A client id as logged: registered ids are at most 80 characters; a guess may be more."""
    return client_id[:MAX_CLIENT_ID_LENGTH]


@functools.lru_cache(maxsize=4096)  # a pure function; an address parse costs ~2 us
def source_key(address: str) -> str:
    """What one source is: an IPv4 address, or an IPv6 address's /64 (one host's share)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _digest(client_id: str, key: bytes | None = None) -> str:
    """A client id as a key part: bounded, and safe whatever bytes it holds (an HMAC under
    ``key`` when there is one)."""
    raw = client_id.encode("utf-8", "surrogatepass")
    digest = hashlib.sha256(raw) if key is None else hmac.new(key, raw, hashlib.sha256)
    return digest.hexdigest()[:32]


@dataclass(frozen=True)
class AddressGuard:
    """The engine's guard for one request: the throttle, bound to the source address."""

    throttle: AuthThrottle
    address: str

    def ensure_allowed(self, client_id: str) -> None:
        """Raise ClientLocked while this client may not try from this address."""
        wait = self.throttle.locked_for(client_id, self.address)
        if wait is not None:
            # The lockout itself was logged; every refusal at WARNING would let an attacker
            # fill the log.
            log.debug(
                "client authentication refused (locked %ds): client_id=%r address=%s",
                wait,
                _shown(client_id),
                self.address,
            )
            raise ClientLocked(
                "Too many failed client authentications; retry later", retry_after=wait
            )

    def failed(self, client_id: str) -> None:
        """Count a failure of this client from this address."""
        self.throttle.failed(client_id, self.address)


# What the log and the audit log name for a failed login whose username is no user's: not
# the typed text, which may be a password typed in the wrong box.
UNKNOWN_USER = "(unknown username)"


@dataclass(frozen=True)
class UserAddressGuard:
    """The engine's guard of site-user logins for one request: the user throttle, bound to
    the source address (``emulator.oauth.UserGuard``)."""

    throttle: AuthThrottle
    address: str

    def ensure_allowed(self, username: str) -> None:
        """Raise UserLocked while this username may not try from this address."""
        wait = self.throttle.locked_for(username, self.address)
        if wait is not None:
            log.debug("user login refused (locked %ds): address=%s", wait, self.address)
            raise UserLocked("Too many failed logins; retry later", retry_after=wait)

    def failed(self, username: str, account: str | None) -> None:
        """Count a failed login from this address, naming only a user that exists."""
        self.throttle.failed(username, self.address, shown=account or UNKNOWN_USER)


def init_app(app: Flask) -> None:
    """Create the app's throttles from their settings (none where the limit is empty): of
    client authentication, and of site-user logins."""
    app.extensions[EXTENSION] = build_throttle(
        app, "CLIENT_AUTH_FAILURE_LIMIT", "CLIENT_AUTH_ADDRESS_FAILURE_LIMIT", kind="client"
    )
    app.extensions[USER_EXTENSION] = build_throttle(
        app,
        "USER_AUTH_FAILURE_LIMIT",
        "USER_AUTH_ADDRESS_FAILURE_LIMIT",
        kind="user",
        # A fixed label: it keys stored counters, whatever the module is called.
        name_key=name_key(app, b"emulator.throttle.user-login"),
    )


def name_key(app: Flask, purpose: bytes) -> bytes:
    """An HMAC key for the names in a throttle's keys, made from the app's secret key for
    this one ``purpose`` (a guessed name cannot be checked against a stored key without it)."""
    secret = app.config["SECRET_KEY"]
    raw = secret if isinstance(secret, bytes) else str(secret).encode("utf-8")
    return hmac.new(raw, purpose, hashlib.sha256).digest()


def build_throttle(
    app: Flask, setting: str, address_setting: str, *, kind: str, name_key: bytes | None = None
) -> AuthThrottle | None:
    """A throttle from two limit settings (None when the first is empty), on the app's storage.

    Every throttle of an app counts in the same place (``RATELIMIT_STORAGE_URI``, else the
    database); ``kind`` keeps their keys apart; ``name_key`` is the HMAC key of names that
    may be secrets (AuthThrottle).
    """
    rule = app.config.get(setting) or ""
    if not rule.strip():
        return None
    address_rule = (app.config.get(address_setting) or "").strip()
    try:
        rules = Limits(
            per_client=limits.parse(rule),
            per_address=limits.parse(address_rule) if address_rule else None,
        )
    except ValueError as error:
        raise ValueError(
            f"{setting} / {address_setting}: {error} (use the limits notation, e.g. 10/5minutes)"
        ) from None
    with app.app_context():
        engine = db.engine
    # Each lockout goes to the audit log; the metrics count the clients' (not admin logins').
    hooks: list[LockoutHook] = [functools.partial(record_lockout, engine)]
    counted = metrics.lockout_hook(app) if kind == "client" else None
    if counted is not None:
        hooks.append(counted)
    return AuthThrottle(
        _storage(app),
        rules,
        max_age=float(app.config["CACHE_MAX_AGE"]),
        kind=kind,
        on_lockout=hooks,
        name_key=name_key,
    )


def _storage(app: Flask) -> Storage:
    """The app's one counter storage, made on first use."""
    storage = app.extensions.get(STORAGE)
    if storage is None:
        uri = app.config.get("RATELIMIT_STORAGE_URI") or ""
        if uri:
            storage = storage_from_string(uri)
        else:
            with app.app_context():
                storage = DatabaseStorage(db.engine)
        app.extensions[STORAGE] = storage
    return storage


def record_lockout(engine: Engine, lockout: Lockout) -> None:
    """Record a ``security.lockout`` audit event, in a transaction of its own (the request
    that failed is rolled back). Only at the lockout moment: the request path writes nothing
    more otherwise. Like the database counts, it runs before the request wrote anything."""
    with engine.begin() as conn:
        audit.record(
            conn,
            actor=audit.Actor(audit.SYSTEM, lockout.address),
            action="security.lockout",
            # A (client id or username, address) lock names who; an address lock, where.
            target=lockout.address if lockout.kind.endswith("address") else lockout.client_id,
            after={
                "kind": lockout.kind,
                "client_id": lockout.client_id,
                "address": lockout.address,
                "limit": lockout.limit,
                "until": datetime.fromtimestamp(lockout.until, UTC).replace(tzinfo=None),
            },
            now=utcnow(),
        )


def throttle() -> AuthThrottle | None:
    """The current app's throttle (None when it is off)."""
    return _app().extensions[EXTENSION]


def purge_counters() -> int:
    """Remove ended windows from the database store (other stores expire keys themselves)."""
    current = throttle()
    if current is None or not isinstance(current.storage, DatabaseStorage):
        return 0
    return current.storage.purge()


def guard() -> AddressGuard | None:
    """The engine's guard for the current request (None when throttling is off)."""
    current = throttle()
    if current is None:
        return None
    return AddressGuard(current, source_key(_request().remote_addr or "unknown"))


def user_throttle() -> AuthThrottle | None:
    """The current app's throttle of site-user logins (None when it is off)."""
    return _app().extensions[USER_EXTENSION]


def user_guard() -> UserAddressGuard | None:
    """The engine's guard of site-user logins for the current request (None when off)."""
    current = user_throttle()
    if current is None:
        return None
    return UserAddressGuard(current, source_key(_request().remote_addr or "unknown"))
