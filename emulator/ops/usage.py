"""Usage telemetry: which client uses which form of which plugin's URLs, and how often.

Per (client, plugin, operation, credential form, token form, UTC day) a count and the last
time seen, so that a site owner can tell who still puts a secret in the query string before
switching it off, and nudge them (``emulator.web.deprecation``). The forms are the engine's
neutral words that the dialects' wire modules set (``oauth.CredentialSource``,
``oauth.TokenSource``).

The request path never writes for it. A dialect's view ends with ``finish(answer, ...)``,
which adds one to this worker's in-memory count (a dict update under a lock: about a
microsecond, no database) and the plugin's deprecation notices. A background thread per
worker process (started on the first count; a forked child starts its own and drops the
counts it inherited, which are its parent's to write) adds the counts to ``usage_counts``
every ``USAGE_FLUSH_SECONDS``, in one transaction with one upsert per key, and so does the
worker's exit (atexit, and multiprocessing's finalizers for servers whose workers end with
``os._exit``), so a clean stop loses nothing. A failed flush is logged and its counts are
kept for the next one. On SQLite the flush is a writer like any other: it queues on the
database's writer lock (emulator/storage/sqlite.py) for its one transaction.

Only identified clients are counted (an authenticated client, a verified token's client),
keyed by their row: a request never makes a key from a value it merely presented, so the
number of keys is bounded by the clients and forms there are; the aggregate is bounded
too (``USAGE_MAX_KEYS`` between two flushes; past it, new keys are not counted and the
next flush logs how many requests were left out).
"""

from __future__ import annotations

import atexit
import functools
import logging
import multiprocessing.util
import os
import threading
import weakref
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from typing import Any

from flask import Flask
from flask import Response
from flask import current_app
from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import Insert
from sqlalchemy import case
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.dialects import mysql
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from emulator.ops.clock import epoch_seconds
from emulator.storage.database import db
from emulator.storage.models import Client
from emulator.storage.models import UsageCount
from emulator.storage.purge import PurgePacing
from emulator.storage.purge import delete_in_batches
from emulator.storage.schema import DbHandle
from emulator.web.context import app_object as _app

log = logging.getLogger(__name__)

EXTENSION = "emulator.usage"
DAY_SECONDS = 86_400
EPOCH_DAY = date(1970, 1, 1)
NO_FORM = ""  # the request carried no credentials (or no token)

# (client row, plugin, operation, credential form, token form, UTC day number)
Key = tuple[int, str, str, str, str, int]

_COUNTS = UsageCount.__table__
_CLIENTS = Client.__table__


class UsageCounter:
    """This worker's counts since its last flush, and the thread that flushes them.

    ``interval`` 0 starts no thread: the owner calls ``flush`` (tests do).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        interval: float,
        max_keys: int,
    ) -> None:
        self.engine = engine
        self.interval = interval
        self.max_keys = max_keys
        self._reset()
        os.register_at_fork(after_in_child=functools.partial(_reset_in_child, weakref.ref(self)))

    def _reset(self) -> None:
        """Empty counts, fresh locks and no thread (at start, and in a forked child)."""
        self._lock = threading.Lock()  # guards _counts and dropped; never held during I/O
        self._flush_lock = threading.Lock()  # one flush at a time
        self._counts: dict[Key, list[Any]] = {}  # key -> [count, last seen (epoch s)]
        self.dropped = 0  # requests not counted since the last flush (the bound was reached)
        self._flusher: threading.Thread | None = None
        self._stop = threading.Event()
        self._exit_hooked = False

    def record(
        self,
        client_pk: int,
        plugin: str,
        operation: str,
        credentials: str | None,
        token: str | None,
        now: float,
    ) -> None:
        """Count one request (``now`` in epoch seconds): O(1), in memory, under a lock."""
        key = (
            client_pk,
            plugin,
            operation,
            credentials or NO_FORM,
            token or NO_FORM,
            int(now // DAY_SECONDS),
        )
        with self._lock:
            entry = self._counts.get(key)
            if entry is not None:
                entry[0] += 1
                if now > entry[1]:
                    entry[1] = now
            elif len(self._counts) < self.max_keys:
                self._counts[key] = [1, now]
            else:
                self.dropped += 1
        if self._flusher is None and self.interval > 0:
            self._start()

    def pending(self) -> dict[Key, tuple[int, float]]:
        """A copy of what is counted and not yet written (for tests and diagnostics)."""
        with self._lock:
            return {key: (entry[0], entry[1]) for key, entry in self._counts.items()}

    def flush(self) -> int:
        """Add the counts to the table in one transaction; return how many keys it wrote.

        On failure the counts are kept for the next flush (within ``max_keys``), the
        failure is logged, and 0 is returned: a flush never raises.
        """
        with self._flush_lock:
            with self._lock:
                batch, self._counts = self._counts, {}
                dropped, self.dropped = self.dropped, 0
            if dropped:
                log.warning(
                    "usage telemetry: %d requests not counted (more than USAGE_MAX_KEYS=%d "
                    "keys between two flushes)",
                    dropped,
                    self.max_keys,
                )
            if not batch:
                return 0
            try:
                with self.engine.begin() as conn:
                    write_counts(conn, batch)
            except Exception as error:  # the database may be down: keep the counts
                self._keep(batch)
                log.error(
                    "usage telemetry: %d keys not written (%s: %s); kept for the next flush",
                    len(batch),
                    type(error).__name__,
                    str(error).splitlines()[0][:200] if str(error) else "",
                )
                return 0
            return len(batch)

    def close(self) -> None:
        """Stop the flusher and write what is left (at worker exit: a clean stop loses none)."""
        self._stop.set()
        self.flush()

    def _keep(self, batch: Mapping[Key, list[Any]]) -> None:
        """Put a batch that could not be written back, merged with what came meanwhile."""
        with self._lock:
            counts = self._counts
            for key, (count, seen) in batch.items():
                entry = counts.get(key)
                if entry is not None:
                    entry[0] += count
                    entry[1] = max(entry[1], seen)
                elif len(counts) < self.max_keys:
                    counts[key] = [count, seen]
                else:
                    self.dropped += count

    def _start(self) -> None:
        """Start this process's flusher (once), and flush at its exit."""
        with self._lock:
            if self._flusher is not None:
                return
            self._flusher = threading.Thread(
                target=self._run, args=(self._stop,), name="usage-flush", daemon=True
            )
            hook = not self._exit_hooked
            self._exit_hooked = True
        self._flusher.start()
        if hook:
            atexit.register(self.close)
            # multiprocessing's children (e.g. granian's workers) end with os._exit, which
            # skips atexit but runs these; in other processes close() runs twice: harmless.
            multiprocessing.util.Finalize(None, self.close, exitpriority=10)

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            self.flush()


def _reset_in_child(ref: weakref.ref[UsageCounter]) -> None:
    """After a fork: the inherited counts are the parent's to write, and no thread came along."""
    counter = ref()
    if counter is not None:
        counter._reset()


def write_counts(conn: Connection, batch: Mapping[Key, list[Any]]) -> None:
    """Add a batch to ``usage_counts``: one upsert per key, in key order (so that two
    workers flushing the same keys take their row locks in the same order)."""
    rows = [
        {
            "client_id": key[0],
            "plugin": key[1],
            "operation": key[2],
            "credential_form": key[3],
            "token_form": key[4],
            "day": EPOCH_DAY + timedelta(days=key[5]),
            "count": batch[key][0],
            "last_seen": datetime.fromtimestamp(batch[key][1], UTC).replace(tzinfo=None),
        }
        for key in sorted(batch)
    ]
    conn.execute(upsert_statement(conn.dialect.name), rows)


@functools.cache
def upsert_statement(dialect: str) -> Insert:
    """INSERT a count, or add it to the row there is (the later last-seen wins).

    SQLite and PostgreSQL: ``ON CONFLICT (key) DO UPDATE``; MySQL and MariaDB: ``ON
    DUPLICATE KEY UPDATE`` (SQLAlchemy writes ``VALUES()`` or the row alias, as the
    server takes it).
    """
    columns = _COUNTS.c
    if dialect in ("sqlite", "postgresql"):
        insert = (sqlite if dialect == "sqlite" else postgresql).insert(_COUNTS)
        new = insert.excluded
        return insert.on_conflict_do_update(
            index_elements=list(_COUNTS.primary_key.columns),
            set_={
                "count": columns.count + new.count,
                "last_seen": case(
                    (new.last_seen > columns.last_seen, new.last_seen), else_=columns.last_seen
                ),
            },
        )
    if dialect in ("mysql", "mariadb"):
        insert = mysql.insert(_COUNTS)
        new = insert.inserted
        return insert.on_duplicate_key_update(
            count=columns.count + new.count,
            last_seen=case(
                (new.last_seen > columns.last_seen, new.last_seen), else_=columns.last_seen
            ),
        )
    raise NotImplementedError(f"usage telemetry has no upsert for the {dialect} database")


def finish(
    response: Response,
    params: Mapping[str, Any],
    plugin: str,
    operation: str,
    client_pk: int,
    *,
    credentials: str | None = None,
    token: str | None = None,
) -> Response:
    """Finish a dialect's answer to an identified client: count it, add the notices.

    ``credentials`` and ``token`` are where the request carried them (the engine's
    neutral words; None: it carried none); ``params`` are the plugin's, whose
    ``deprecations`` (``emulator.web.deprecation``) may add Deprecation, Sunset and Link
    headers for those forms. A header the answer already has (a proxied target's own
    Deprecation or Sunset) is kept; a Link is added beside any there is.
    """
    counter: UsageCounter | None = _app().extensions[EXTENSION]
    if counter is not None:
        counter.record(client_pk, plugin, operation, credentials, token, epoch_seconds())
    notices = params.get("deprecations")
    if notices:
        headers = response.headers
        for name, value in notices.headers_for(credentials, token):
            if name == "Link":
                headers.add(name, value)
            else:
                headers.setdefault(name, value)
    return response


def init_app(app: Flask) -> None:
    """Create the app's usage counter (None when ``USAGE_TELEMETRY`` is off)."""
    if not app.config["USAGE_TELEMETRY"]:
        app.extensions[EXTENSION] = None
        return
    with app.app_context():
        engine = db.engine
    app.extensions[EXTENSION] = UsageCounter(
        engine,
        interval=float(app.config["USAGE_FLUSH_SECONDS"]),
        max_keys=int(app.config["USAGE_MAX_KEYS"]),
    )


def counter_of(app: Flask) -> UsageCounter | None:
    """The app's usage counter (None when telemetry is off)."""
    return app.extensions[EXTENSION]


def flush() -> int:
    """Write the current app's counts now; return how many keys were written."""
    counter = counter_of(current_app)
    return counter.flush() if counter is not None else 0


# --- the report ------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageLine:
    """One client's use of one form of a plugin's operation, within a report's window."""

    client_id: str
    plugin: str
    operation: str
    credentials: str | None
    token: str | None
    count: int
    last_seen: datetime


def purge_counts(
    session: Session,
    *,
    before: date,
    pacing: PurgePacing,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Delete the counts of UTC days before ``before``, in committed batches
    (``emulator.storage.purge.delete_in_batches``); return how many rows went."""
    return delete_in_batches(session, _COUNTS, _COUNTS.c.day < before, pacing, on_batch=on_batch)


def report(db_handle: DbHandle, *, since: datetime | None) -> list[UsageLine]:
    """The counts per client and form, by client id, then the most used first.

    ``since`` (naive UTC; None: everything kept): the forms seen since then, with the
    counts of the whole UTC days from ``since``'s day on (counts are kept per day).
    """
    columns = _COUNTS.c
    total = func.sum(columns.count).label("count")
    query = (
        select(
            _CLIENTS.c.client_id,
            columns.plugin,
            columns.operation,
            columns.credential_form,
            columns.token_form,
            total,
            func.max(columns.last_seen).label("last_seen"),
        )
        .join(_CLIENTS, _CLIENTS.c.id == columns.client_id)
        .group_by(
            _CLIENTS.c.client_id,
            columns.plugin,
            columns.operation,
            columns.credential_form,
            columns.token_form,
        )
        .order_by(
            _CLIENTS.c.client_id,
            total.desc(),
            columns.plugin,
            columns.operation,
            columns.credential_form,
            columns.token_form,
        )
    )
    if since is not None:
        query = query.where(columns.day >= since.date(), columns.last_seen >= since)
    return [
        UsageLine(
            client_id=row.client_id,
            plugin=row.plugin,
            operation=row.operation,
            credentials=row.credential_form or None,
            token=row.token_form or None,
            count=int(row.count),
            last_seen=row.last_seen,
        )
        for row in db_handle.execute(query)
    ]
