"""The legacy link: one token world with the old redCORE site while a site moves.

With a link set (``flask legacy link set``), the old site's remaining web services keep
accepting every live token:

- Mirror (write-through): a token issued here is written to the old site's
  ``<prefix>redcore_oauth_access_tokens`` / ``..._refresh_tokens`` as the old site stores
  it (the plain token it compares, ``expires`` as its local ``Y-m-d H:i:s``, the same
  client id, user id and scope) before the answer is sent; a token revoked or used up here,
  and every token of a client disabled or deleted here, goes there too. Each write has a
  deadline (``TIMEOUT``: connect, read and write; a statement timeout on PostgreSQL). A
  write that fails is queued here (``oauth2_legacy_link_queue``, the token encrypted) in
  the request's transaction, and later writes queue behind it, so that the old site sees
  them in order; the queue is drained in order by ``flask legacy link drain`` (cron) and
  by a worker's background thread after a request queued (at most every
  ``DRAIN_EVERY`` seconds). A write is an upsert or a delete by token: landing twice
  changes nothing.
- Read-through: a bearer or refresh token unknown here is looked up on the old site and,
  when live there, stored here by hash (as ``legacy import`` stores it) on the spot.
  Misses are kept for ``CACHE_MAX_AGE``, each worker looks up at most
  ``LOOKUPS_PER_SECOND``, and none for ``DRAIN_EVERY`` seconds after a lookup failed, so
  made-up tokens cannot hammer the old database (nor wait on it when it is down).

Without a link nothing here runs on the resource path, and the token path reads one
per-worker cache entry (the link, re-read every ``CACHE_MAX_AGE``).

The password of the link's URL and the queued tokens are encrypted with Fernet under a key
derived from the app's ``SECRET_KEY``: a new key makes them unreadable (set the link again).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken as BadCiphertext
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from emulator import oauth
from emulator.host import DbHandle
from emulator.host import app_object
from emulator.host import connection
from emulator.host import db
from emulator.host import dburl
from emulator.host import describe_error
from emulator.host import dispose_with
from emulator.host import metrics
from emulator.host import record_event
from emulator.host import stores
from emulator.host import utcnow

from ..models import ImportedToken
from ..models import LegacyLink
from ..models import LinkWrite
from ..params import NAME
from .source import ACCESS_TOKENS
from .source import LEGACY_TIME
from .source import REFRESH_TOKENS
from .source import TOKEN_SHAPE
from .source import LegacyError
from .source import check_prefix
from .source import parse_expires
from .source import parse_zone
from .source import to_utc

log = logging.getLogger(__name__)

LINK_ID = 1
TIMEOUT = 2  # seconds: a mirror write's or lookup's connect, read and write deadline
LOOKUPS_PER_SECOND = 20  # per worker: old-site lookups of tokens unknown here
DRAIN_BATCH = 200  # queued writes applied per drain transaction
DRAIN_EVERY = 5.0  # seconds: how often a worker's request path may start a drain
PUT = "put"
DELETE = "delete"
CLIENT = "client"
TABLES = {"access": (ACCESS_TOKENS, "access_token"), "refresh": (REFRESH_TOKENS, "refresh_token")}
_LINK = LegacyLink.__table__
_QUEUE = LinkWrite.__table__
_IMPORTED = ImportedToken.__table__
_CACHE = "oauth2.legacy_link"
_MISSES = "oauth2.legacy_link_misses"
_STATE = "oauth2.legacy_link_state"  # app.extensions: engines, throttle, drain thread


class LinkUnreadable(LegacyError):
    """The link's password or a queued write cannot be decrypted (SECRET_KEY changed)."""


# --- secrets at rest ------------------------------------------------------------------------


def _fernet() -> Fernet:
    key = app_object().config["SECRET_KEY"]
    if isinstance(key, str):
        key = key.encode()
    derived = hmac.new(key, b"oauth2.legacy-link", hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(text: str) -> str:
    """``text`` encrypted (and authenticated) under the key derived from SECRET_KEY."""
    return _fernet().encrypt(text.encode()).decode("ascii")


def unseal(text: str) -> str:
    """What ``seal`` encrypted, or LinkUnreadable."""
    try:
        return _fernet().decrypt(text.encode("ascii")).decode()
    except (BadCiphertext, ValueError):
        raise LinkUnreadable(
            "The legacy link's secrets cannot be read with this SECRET_KEY (it changed since "
            "the link was set): run `flask legacy link set` again."
        ) from None


# --- the link -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """The link as set: the old site's database (password included), prefix and zone."""

    url: URL
    prefix: str
    zone: ZoneInfo

    @property
    def shown(self) -> str:
        """The URL without its password."""
        return self.url.render_as_string(hide_password=True)


def parse_link(url_text: str, prefix: str, zone_name: str) -> Link:
    """The link an admin typed, checked (LegacyError with one line saying why not)."""
    try:
        url = dburl.parse_database_url(url_text, "--url")
    except dburl.UnusableDatabase as error:
        raise LegacyError(error.message) from None
    return Link(url, check_prefix(prefix), parse_zone(zone_name))


def save_link(session: DbHandle, link: Link, *, now: datetime) -> None:
    """Store the link (replacing any): the URL without its password, the password sealed."""
    password = link.url.password
    values = {
        "url": link.url._replace(password=None).render_as_string(hide_password=False),
        "password": None if password is None else seal(str(password)),
        "prefix": link.prefix,
        "timezone": link.zone.key,
        "updated_at": now,
    }
    if session.execute(sa.update(_LINK).where(_LINK.c.id == LINK_ID).values(values)).rowcount:
        return
    session.execute(sa.insert(_LINK).values(id=LINK_ID, **values))


def read_link(handle: DbHandle) -> Link | None:
    """The stored link, or None (LinkUnreadable when its password cannot be decrypted)."""
    row = handle.execute(sa.select(_LINK).where(_LINK.c.id == LINK_ID)).first()
    if row is None:
        return None
    url = sa.make_url(row.url)
    if row.password is not None:
        url = url.set(password=unseal(row.password))
    return Link(url, row.prefix, ZoneInfo(row.timezone))


def remove_link(session: DbHandle) -> None:
    """Forget the link (the queue goes with it: nothing is written there any more)."""
    session.execute(sa.delete(_QUEUE))
    session.execute(sa.delete(_LINK))


def current() -> Link | None:
    """The link as this worker knows it (read again every CACHE_MAX_AGE), or None.

    One cache lookup when the worker read it lately: the token path's whole cost of the
    link feature when none is set.
    """
    cache = stores.plugin_cache(_CACHE, 1)
    held = cache.get(LINK_ID)
    if held is None:
        try:
            held = (read_link(connection()),)
        except LinkUnreadable:
            log.error("the legacy link cannot be read with this SECRET_KEY: set it again")
            held = (None,)
        cache.put(LINK_ID, held)
    return held[0]


def forget_here() -> None:
    """Drop this worker's copy of the link (a CLI command or an admin page changed it)."""
    stores.plugin_cache(_CACHE, 1).clear()
    stores.plugin_cache(_MISSES).clear()


# --- the old site's database ----------------------------------------------------------------


class _State:
    """A worker's engines on the old site, its lookup budget and its drain thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.engines: dict[str, sa.Engine] = {}
        self.budget = float(LOOKUPS_PER_SECOND)
        self.refilled = time.monotonic()
        self.drain_started = 0.0
        self.draining = False
        self.lookups_resume = 0.0  # after a failed lookup, none until then (monotonic)

    def take_lookup(self) -> bool:
        """Spend one old-site lookup of this second's budget (False: none left)."""
        with self.lock:
            now = time.monotonic()
            self.budget = min(
                float(LOOKUPS_PER_SECOND),
                self.budget + (now - self.refilled) * LOOKUPS_PER_SECOND,
            )
            self.refilled = now
            if self.budget < 1 or now < self.lookups_resume:
                return False
            self.budget -= 1
            return True


def _state() -> _State:
    extensions = app_object().extensions
    state = extensions.get(_STATE)
    if state is None:
        state = extensions.setdefault(_STATE, _State())
    return state


def _engine(link: Link) -> sa.Engine:
    """This worker's engine on the old site's database, with every wait bounded."""
    state = _state()
    key = link.url.render_as_string(hide_password=False)
    with state.lock:
        engine = state.engines.get(key)
        if engine is None:
            engine = state.engines[key] = create_engine(link.url)
            dispose_with(app_object(), engine)
    return engine


def create_engine(url: URL) -> sa.Engine:
    """An engine whose connect, reads and writes give up after TIMEOUT seconds."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        return sa.create_engine(url, poolclass=sa.NullPool, connect_args={"timeout": TIMEOUT})
    args: dict[str, Any] = {"connect_timeout": TIMEOUT}
    if backend in ("mysql", "mariadb"):
        args |= {"read_timeout": TIMEOUT, "write_timeout": TIMEOUT}
    elif backend == "postgresql":
        args["options"] = f"-c statement_timeout={TIMEOUT * 1000}"
    return sa.create_engine(
        url,
        connect_args=args,
        pool_size=2,
        max_overflow=4,
        pool_timeout=TIMEOUT,
        pool_recycle=300,
        # Each checkout checks its connection (one round trip, only while a link is set):
        # one the old server ended (a restart, an idle limit) is replaced, not taken for
        # a failed lookup (a live token refused) or a failed write (queued needlessly).
        pool_pre_ping=True,
    )


def _token_table(link: Link, kind: str) -> tuple[sa.TableClause, sa.ColumnClause]:
    name, column = TABLES[kind]
    table = sa.table(
        link.prefix + name,
        sa.column(column),
        sa.column("client_id"),
        sa.column("user_id"),
        sa.column("expires"),
        sa.column("scope"),
    )
    return table, table.c[column]


def local_time(expires_at: datetime, zone: ZoneInfo) -> str:
    """A naive UTC expiry as the old site writes ``expires``: its wall clock, to the second."""
    moment = expires_at.replace(tzinfo=UTC).astimezone(zone)
    return moment.replace(tzinfo=None).strftime(LEGACY_TIME)


def apply(conn: sa.Connection, link: Link, action: str, payload: dict[str, Any]) -> None:
    """One mirror write on the old site, as an upsert or a delete by token (idempotent)."""
    if action == PUT:
        table, column = _token_table(link, payload["kind"])
        values = {
            column.name: payload["token"],
            "client_id": payload["client_id"],
            "user_id": payload["user_id"],
            "expires": local_time(datetime.fromisoformat(payload["expires"]), link.zone),
            "scope": payload["scope"],
        }
        if conn.dialect.name in ("mysql", "mariadb"):  # one statement: the token is the key
            upsert = mysql_insert(table).values(values)
            kept = {name: upsert.inserted[name] for name in values if name != column.name}
            conn.execute(upsert.on_duplicate_key_update(kept))
        else:
            conn.execute(sa.delete(table).where(column == payload["token"]))
            conn.execute(sa.insert(table).values(values))
    elif action == DELETE:
        for kind in TABLES:
            table, column = _token_table(link, kind)
            conn.execute(sa.delete(table).where(column == payload["token"]))
    elif action == CLIENT:
        for kind in TABLES:
            table, _column = _token_table(link, kind)
            conn.execute(sa.delete(table).where(table.c.client_id == payload["client_id"]))
    else:
        raise ValueError(f"unknown mirror action {action!r}")


# --- mirror ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    """One mirror write: PUT a token, DELETE a token (from both tables), or end a CLIENT's."""

    action: str
    payload: dict[str, Any]


def put(
    kind: str,
    token: str,
    client_id: str,
    user_id: str | None,
    scope: str | None,
    expires_at: datetime,
) -> Write:
    """Write this token to the old site's ``kind`` table (replacing a row of the same token)."""
    return Write(
        PUT,
        {
            "kind": kind,
            "token": token,
            "client_id": client_id,
            "user_id": user_id,
            "scope": scope,
            "expires": expires_at.isoformat(),
        },
    )


def delete(token: str) -> Write:
    """Delete this token from both of the old site's token tables."""
    return Write(DELETE, {"token": token})


def end_client(client_id: str) -> Write:
    """Delete every token of this client from the old site's token tables."""
    return Write(CLIENT, {"client_id": client_id})


def issued_writes(
    issued: oauth.IssuedToken, *, refresh_lifetime: int, used_refresh: str | None
) -> list[Write]:
    """The mirror writes of a token request's answer: its tokens, and the refresh token it
    used up (``used_refresh``), in that order."""
    writes = [
        put(
            "access",
            issued.access_token,
            issued.client_id,
            issued.user_id,
            issued.scope,
            issued.expires_at,
        ),
    ]
    if issued.refresh_token is not None:
        expires = issued.issued_at.replace(microsecond=0) + timedelta(seconds=refresh_lifetime)
        writes.append(
            put(
                "refresh",
                issued.refresh_token,
                issued.client_id,
                issued.user_id,
                issued.scope,
                expires,
            )
        )
    if used_refresh is not None:
        writes.append(delete(used_refresh))
    return writes


def mirror(handle: DbHandle, link: Link, writes: Sequence[Write], *, now: datetime) -> bool:
    """Write to the old site now, or queue the writes in ``handle``'s transaction.

    Returns whether they landed. Writes queue without being tried while older ones wait
    (the old site sees every write in order); a queued write starts a drain.
    """
    if not writes:
        return True
    if handle.execute(sa.select(_QUEUE.c.id).limit(1)).first() is None:
        try:
            with _engine(link).begin() as conn:
                for write in writes:
                    apply(conn, link, write.action, write.payload)
        except SQLAlchemyError as error:
            problem = describe_error(error)
            log.warning("legacy link: a mirror write is queued: %s", problem)
            record_event(handle, "oauth2.link.behind", link.shown, after={"error": problem[:200]})
        else:
            metrics.plugin_event(NAME, "link_written", len(writes))
            return True
    else:
        problem = "behind earlier writes"
    handle.execute(
        sa.insert(_QUEUE),
        [
            {
                "action": write.action,
                "payload": seal(json.dumps(write.payload)),
                "queued_at": now,
                "attempts": 0,
                "last_error": problem[:255],
            }
            for write in writes
        ],
    )
    metrics.plugin_event(NAME, "link_queued", len(writes))
    start_drain()
    return False


def mirror_now(handle: DbHandle, writes: Iterable[Write]) -> bool:
    """``mirror`` with the worker's current link; nothing (True) without one."""
    link = current()
    if link is None:
        return True
    return mirror(handle, link, list(writes), now=utcnow())


@dataclass(frozen=True)
class Drained:
    """What a drain did: writes landed, writes left, and why it stopped ("" when empty)."""

    landed: int
    left: int
    error: str = ""


def drain(engine: sa.Engine, *, limit: int | None = None) -> Drained:
    """Apply the queued writes in order, each in the old site's own transaction, deleting
    each from the queue once it landed; stop at the first that fails (it stays first).

    Runs on a connection of its own to this service's database (``engine``), the link's
    row locked (FOR UPDATE where the database has it), so that two drains do not overlap.
    """
    landed = 0
    while limit is None or landed < limit:
        batch = DRAIN_BATCH if limit is None else min(DRAIN_BATCH, limit - landed)
        with engine.begin() as here:
            row = here.execute(
                sa.select(_LINK.c.id).where(_LINK.c.id == LINK_ID).with_for_update()
            ).first()
            link = read_link(here) if row is not None else None
            if link is None:
                return Drained(landed, 0)
            queued = here.execute(
                sa.select(_QUEUE.c.id, _QUEUE.c.action, _QUEUE.c.payload)
                .order_by(_QUEUE.c.id)
                .limit(batch)
            ).all()
            if not queued:
                if landed:
                    after = {"landed": landed}
                    record_event(here, "oauth2.link.caught_up", link.shown, after=after)
                return Drained(landed, 0)
            for item in queued:
                try:
                    with _engine(link).begin() as there:
                        apply(there, link, item.action, json.loads(unseal(item.payload)))
                except SQLAlchemyError as error:
                    problem = describe_error(error)
                    here.execute(
                        sa.update(_QUEUE)
                        .where(_QUEUE.c.id == item.id)
                        .values(attempts=_QUEUE.c.attempts + 1, last_error=problem[:255])
                    )
                    left = here.execute(sa.select(sa.func.count()).select_from(_QUEUE)).scalar()
                    return Drained(landed, int(left or 0), problem)
                here.execute(sa.delete(_QUEUE).where(_QUEUE.c.id == item.id))
                landed += 1
                metrics.plugin_event(NAME, "link_drained", 1)
    with engine.connect() as here:
        return Drained(landed, backlog(here)[0])


def backlog(handle: DbHandle) -> tuple[int, datetime | None, str | None]:
    """How many writes wait, since when, and the last error of the first."""
    count = handle.execute(sa.select(sa.func.count()).select_from(_QUEUE)).scalar() or 0
    first = handle.execute(
        sa.select(_QUEUE.c.queued_at, _QUEUE.c.last_error).order_by(_QUEUE.c.id).limit(1)
    ).first()
    return int(count), first.queued_at if first else None, first.last_error if first else None


def start_drain() -> None:
    """Start this worker's drain thread, unless one runs or one started within DRAIN_EVERY.

    The request that queued a write does not wait for it: its own writes land after it
    committed (the thread waits for nothing else).
    """
    state = _state()
    with state.lock:
        now = time.monotonic()
        if state.draining or now - state.drain_started < DRAIN_EVERY:
            return
        state.draining, state.drain_started = True, now
    app = app_object()

    def run() -> None:
        try:
            time.sleep(0.2)  # let the request that queued commit first
            with app.app_context():
                result = drain(db.engine)
                if result.error:
                    log.warning("legacy link: %d writes wait: %s", result.left, result.error)
        except Exception:
            log.exception("legacy link: the drain failed")
        finally:
            state.draining = False

    threading.Thread(target=run, name="legacy-link-drain", daemon=True).start()


# --- read-through ---------------------------------------------------------------------------


def take_over(handle: DbHandle, kind: str, raw: str, *, now: datetime) -> bool:
    """Store here a live token of the old site unknown here (by hash, as ``legacy import``
    does); return whether it was. Bounded: a token not of the old site's shape is never
    looked up, a miss is remembered for CACHE_MAX_AGE, and a worker looks up at most
    LOOKUPS_PER_SECOND."""
    if not isinstance(raw, str) or not TOKEN_SHAPE.fullmatch(raw):
        return False
    link = current()
    if link is None:
        return False
    key = f"{kind}:{oauth.hash_token(raw)}"
    misses = stores.plugin_cache(_MISSES)
    if misses.get(key) is not None or not _state().take_lookup():
        return False
    token_hash = oauth.hash_token(raw)
    again = handle.execute(
        sa.select(_IMPORTED.c.kind).where(
            _IMPORTED.c.kind == kind, _IMPORTED.c.token_hash == token_hash
        )
    ).first()
    if again is not None:  # brought over before, gone here since: used up or revoked here
        misses.put(key, True)
        return False
    table, column = _token_table(link, kind)
    try:
        with _engine(link).connect() as conn:
            row = conn.execute(
                sa.select(table.c.client_id, table.c.user_id, table.c.expires, table.c.scope).where(
                    column == raw
                )
            ).first()
    except SQLAlchemyError as error:
        # The old database down or slow: no lookup from this worker for a while, so that
        # unknown tokens do not each wait for its deadline.
        _state().lookups_resume = time.monotonic() + DRAIN_EVERY
        log.warning("legacy link: a token lookup failed: %s", describe_error(error))
        misses.put(key, True)
        return False
    token = _live_token(handle, row, raw, link.zone, now) if row is not None else None
    if token is None:
        misses.put(key, True)
        metrics.plugin_event(NAME, "link_lookup_missed", 1)
        return False
    oauth.sync_tokens(handle, kind, [token], now=now)
    # Recorded as imported: once used up or revoked here, no import brings it back, and
    # `link off` leaves it on the old site (it is the old site's own).
    handle.execute(
        sa.insert(_IMPORTED),
        {"kind": kind, "token_hash": token_hash, "expires_at": token.expires_at},
    )
    metrics.plugin_event(NAME, "link_taken_over", 1)
    return True


def _live_token(
    handle: DbHandle, row: sa.Row, raw: str, zone: ZoneInfo, now: datetime
) -> oauth.TokenImport | None:
    """The old site's row as a token to store here, or None (expired, unknown client, bad)."""
    expires = parse_expires(row.expires)
    if expires is None:
        return None
    if expires.tzinfo is not None:
        expires_at = expires.astimezone(UTC).replace(tzinfo=None)
    else:
        expires_at = to_utc(expires, zone)[0]
    if oauth.is_expired(expires_at, now):
        return None
    client_id = row.client_id.decode() if isinstance(row.client_id, bytes) else row.client_id
    client = stores.clients().load(handle, str(client_id or ""))
    if client is None:
        return None
    scope = (row.scope or "").strip(" ") or None
    token = oauth.TokenImport(
        raw=raw,
        client_pk=client.id,
        user_id=None if row.user_id is None else str(row.user_id),
        scope=scope,
        expires_at=expires_at,
    )
    try:
        oauth.check_token_import(token)
    except ValueError:
        return None
    return token


# --- switching off --------------------------------------------------------------------------


def delete_mirrored(handle: DbHandle, link: Link, *, batch: int = 1000) -> int:
    """Delete from the old site's token tables the rows the mirror wrote: tokens stored
    here that no import or read-through brought from the old site. Returns how many.

    The old tables are read token by token in batches (only the token column), each
    token hashed here: the old site keeps no hash to match on.
    """
    removed = 0
    engine = _engine(link)
    for kind in TABLES:
        table, column = _token_table(link, kind)
        with engine.connect() as reader:
            result = reader.execute(sa.select(column).execution_options(yield_per=batch))
            doomed = []
            for rows in result.partitions(batch):
                doomed += _mirrored(handle, kind, [t for (t,) in rows if isinstance(t, str)])
        for start in range(0, len(doomed), batch):
            with engine.begin() as conn:
                chunk = doomed[start : start + batch]
                removed += conn.execute(sa.delete(table).where(column.in_(chunk))).rowcount
    return removed


def _mirrored(handle: DbHandle, kind: str, chunk: list[str]) -> list[str]:
    """Of these old-site tokens, the ones stored here that the old site did not bring."""
    by_hash = {oauth.hash_token(token): token for token in chunk}
    ours = oauth.stored_token_hashes(handle, kind, by_hash)
    if not ours:
        return []
    imported = set(
        handle.scalars(
            sa.select(_IMPORTED.c.token_hash).where(
                _IMPORTED.c.kind == kind, _IMPORTED.c.token_hash.in_(ours)
            )
        )
    )
    return [by_hash[h] for h in ours - imported]
