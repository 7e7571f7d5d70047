"""The SQLAlchemy handle, constraint naming, portable column types and per-backend
connection settings; SQLite's writer queue, group commit (``write``, ``GroupWriter``) and
checkpointer thread; statements compiled once (``Prepared``, ``PreparedWrites``); the
purges' paced deletes (``delete_in_batches``)."""

from __future__ import annotations

import collections
import contextlib
import fcntl
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from typing import TypeVar

from flask import Flask
from flask import g
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import ColumnElement
from sqlalchemy import Connection
from sqlalchemy import DateTime
from sqlalchemy import Dialect
from sqlalchemy import Engine
from sqlalchemy import Executable
from sqlalchemy import Float
from sqlalchemy import MetaData
from sqlalchemy import String
from sqlalchemy import Table
from sqlalchemy import Text
from sqlalchemy import delete
from sqlalchemy import event
from sqlalchemy import make_url
from sqlalchemy import select
from sqlalchemy import tuple_
from sqlalchemy.dialects import mysql
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import TypeCompiler

log = logging.getLogger(__name__)

# Stable constraint names, so Alembic migrations are the same on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Where a function runs both on a request's Core connection and on the ORM session (the
# CLI's), it takes either: both execute Core statements alike.
DbHandle = Session | Connection


# The names SQLAlchemy gives MySQL's dialect: "mariadb" for a mariadb:// URL, else "mysql"
# (a mysql:// URL on a MariaDB server too).
MYSQL_DIALECTS = ("mysql", "mariadb")

# MySQL/MariaDB keep what SQLite and PostgreSQL keep without being asked:
# - Times with microseconds: a bare DATETIME drops the fraction (MariaDB cuts it, MySQL
#   rounds it, up to the next second), so an issue time would read back other than it was
#   handed out, and `expires_at` could move a second later.
# - Double-precision floats: a bare FLOAT is 4 bytes there, 128 s apart at today's epoch
#   seconds, so a throttle window would end anywhere within two minutes.
# - Long text: TEXT holds 64 KiB there, so a scope list the others store would be refused;
#   MEDIUMTEXT (16 MiB) holds more than any request (MAX_CONTENT_LENGTH) or argument can carry.
Timestamp = DateTime().with_variant(mysql.DATETIME(fsp=6), *MYSQL_DIALECTS)
EpochSeconds = Float().with_variant(mysql.DOUBLE(asdecimal=False), *MYSQL_DIALECTS)
LongText = Text().with_variant(mysql.MEDIUMTEXT(), *MYSQL_DIALECTS)


class ExactString(String):
    """A string that matches only itself, byte for byte: ids and names that find a row.

    SQLite and PostgreSQL compare text by its bytes; MySQL/MariaDB's default collations
    ignore case and trailing spaces (``CONF-CLIENT`` found ``conf-client``). There the
    column gets the server's binary collation that pads nothing (``binary_collation``), so
    both lookups and UNIQUE are exact, as the compat rules want (compat/redcore.md).
    """


def binary_collation(dialect: Dialect) -> str:
    """The utf8mb4 collation of this MySQL/MariaDB server that compares bytes, no padding.

    MariaDB 10.2+ and MySQL 8.0.17+ have one; older MySQL only ``utf8mb4_bin``, which still
    ignores trailing spaces (the client lookup checks the id it found, emulator.oauth.clients).
    """
    if getattr(dialect, "is_mariadb", False):
        return "utf8mb4_nopad_bin"
    if (dialect.server_version_info or ()) >= (8, 0, 17):
        return "utf8mb4_0900_bin"
    return "utf8mb4_bin"


@compiles(ExactString, *MYSQL_DIALECTS)
def _exact_string_on_mysql(type_: ExactString, compiler: TypeCompiler, **_kw: Any) -> str:
    collation = binary_collation(compiler.dialect)
    return f"VARCHAR({type_.length}) CHARACTER SET utf8mb4 COLLATE {collation}"


class Base(DeclarativeBase):
    """Declarative base for every model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

db = SQLAlchemy(model_class=Base)
migrate = Migrate()


# MySQL/MariaDB connections (README, "MariaDB / MySQL"):
# - utf8mb4 on the wire: a server's default may be 3-byte utf8 or latin1, which cannot
#   carry every character a client id, a scope or a user id may hold.
# - TRADITIONAL sql_mode (strict): a value too long for its column is refused, as on
#   PostgreSQL, instead of being cut short with a warning on a server that is not strict.
# - READ COMMITTED, PostgreSQL's default, which the writer paths were written and tested
#   on: each statement sees what was committed before it began (not a snapshot from the
#   transaction's first read), and InnoDB takes no gap locks, so a DELETE that finds no
#   row (a refresh token another request used first, an unknown token revoked) does not
#   hold up, or deadlock with, other requests' token INSERTs as under InnoDB's default
#   REPEATABLE READ. (The exactly-once rotation rests on the DELETE's row count, which
#   reads the latest row at either level.) Needs binlog_format ROW or MIXED, the defaults.
# - Connections recycled after an hour, below the server's default wait_timeout (8 h) and
#   most proxies' idle limits; pre-ping (config.py) catches one the server closed sooner.
MYSQL_SQL_MODE = "TRADITIONAL"
MYSQL_ISOLATION_LEVEL = "READ COMMITTED"
MYSQL_POOL_RECYCLE = 3600


def engine_options(
    database_uri: str, options: dict[str, Any] | None, *, ping_after_idle: float = 0.0
) -> dict[str, Any]:
    """The engine options for this database: the configured ones, tuned per backend.

    With ``ping_after_idle`` (seconds), ``pool_pre_ping`` is left out: the engine gets
    ``ping_when_idle`` instead (``init_app``).
    """
    url = make_url(database_uri)
    backend = url.get_backend_name()
    options = dict(options or {})
    connect_args = dict(options.get("connect_args") or {})
    if backend == "sqlite" or ping_after_idle > 0:
        # A file needs no liveness check; a server's connections get ping_when_idle.
        options.pop("pool_pre_ping", None)
    if backend == "sqlite":
        if url.database and url.database != ":memory:":
            connect_args["factory"] = SerializedWriteConnection
    elif backend in MYSQL_DIALECTS:
        connect_args["charset"] = "utf8mb4"
        connect_args["init_command"] = f"SET SESSION sql_mode = '{MYSQL_SQL_MODE}'"
        options.setdefault("isolation_level", MYSQL_ISOLATION_LEVEL)
        options.setdefault("pool_recycle", MYSQL_POOL_RECYCLE)
    if connect_args:
        options["connect_args"] = connect_args
    return options


def init_app(app: Flask) -> None:
    """Bind the database and migrations with each backend's connection settings."""
    configured = app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {}
    idle = float(app.config["DB_PING_AFTER_IDLE_SECONDS"])
    ping_after_idle = idle if configured.get("pool_pre_ping") else 0.0
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(
        app.config["SQLALCHEMY_DATABASE_URI"], configured, ping_after_idle=ping_after_idle
    )
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    app.teardown_appcontext(_close_connection)
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        busy_ms = int(app.config["SQLITE_BUSY_TIMEOUT_MS"])
        event.listen(engine, "connect", lambda conn, _rec: _tune_sqlite(conn, busy_ms))
    elif ping_after_idle > 0:
        ping_when_idle(engine, ping_after_idle)


_IDLE_SINCE = "emulator.idle_since"


def ping_when_idle(engine: Engine, idle: float) -> None:
    """Check a pooled connection before use only when it sat unused ``idle`` seconds or more.

    ``pool_pre_ping`` checks on every checkout: one round trip to the server per request,
    which on PostgreSQL cost a third of the resource path's throughput. A connection
    returned to the pool a moment ago is in use all the time; one that sat longer (the
    server or a proxy may have closed it) is pinged, and one found dead is replaced
    (SQLAlchemy's DisconnectionError: the pool connects anew), as with pre-ping.
    """

    def checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < idle:
            return  # just connected, or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            if engine.dialect.is_disconnect(error, dbapi_connection, None):
                raise DisconnectionError() from error
            raise

    event.listen(engine, "checkin", checkin)
    event.listen(engine, "checkout", checkout)


def connection() -> Connection:
    """This request's Core connection: every request handler's database handle.

    A Core connection costs a third of an ORM session per request (43 us against 111 us),
    so request handlers run Core statements only; the ORM session is for admin work (the
    CLI). The connection is checked out on first use, returned to the pool at teardown,
    and rolled back by the dispatcher on an error.
    """
    conn = g.get("_db_connection")
    if conn is None:
        conn = g._db_connection = db.engine.connect()
    return conn


def release_connection() -> None:
    """Return this request's connection to the pool now (ending its transaction).

    For a handler about to wait on something slow (a proxy's target): no transaction
    stays open and no pooled connection stays taken while it waits.
    """
    _close_connection(None)


def commit() -> None:
    """Commit whatever this request wrote, through the session or the connection."""
    if db.session.registry.has():
        db.session.commit()
    conn = g.get("_db_connection")
    if conn is not None:
        conn.commit()


def rollback() -> None:
    """Roll back whatever this request wrote, through the session or the connection."""
    if db.session.registry.has():  # never create a session just to roll it back
        db.session.rollback()
    conn = g.get("_db_connection")
    if conn is not None:
        conn.rollback()


def _close_connection(_exc: BaseException | None) -> None:
    conn = g.pop("_db_connection", None)
    if conn is not None:
        conn.close()


class _WriteLock:
    """One database file's writer lock in this process: a thread lock, then an flock.

    SQLite lets one writer in at a time and makes the others sleep and retry (1, 2, 5,
    10... ms), which under load turns into long tails and lost throughput. Queuing writers
    here instead wakes the next one the moment the lock is free: threads wait on the
    thread lock, worker processes on the flock of a file beside the database.
    """

    def __init__(self, path: str) -> None:
        self._thread_lock = threading.Lock()
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def acquire(self) -> None:
        self._thread_lock.acquire()
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._thread_lock.release()


class _Checkpointer:
    """Copies a SQLite file's WAL into the file off the writers' path, on a thread of its own.

    A writer whose commit finds the WAL past ``wal_autocheckpoint`` pages checkpoints it
    then and there: copies the pages into the file and fsyncs both, some milliseconds
    every hundred or so token commits, with the writer lock held and every other writer
    waiting behind it. Here request connections leave that to a backstop
    (``WAL_BACKSTOP_PAGES``) and, every ``EVERY`` commits in this process or at a commit
    ``INTERVAL`` seconds after the last wake (a purge's few large commits), this thread
    runs a PASSIVE checkpoint (it waits for no reader or writer) on a connection of its
    own, so the fsync waits there. The promise is SQLite's as before: a commit is in the WAL
    before it returns (``synchronous=NORMAL``). The thread ends after ``IDLE`` seconds
    with nothing to do; the next ``EVERY``-th commit starts it again. Nothing here may
    fail a commit: it has happened when ``committed`` is told.
    """

    EVERY = 32
    INTERVAL = 0.05
    IDLE = 5.0

    def __init__(self, path: str) -> None:
        self._path = path
        self._guard = threading.Lock()
        self._wake = threading.Event()
        self._commits = 0
        self._woken = time.monotonic()
        self._thread: threading.Thread | None = None

    def committed(self) -> None:
        """Count a commit; wake the thread (starting it if it ended) every ``EVERY``-th, or
        ``INTERVAL`` seconds after the last wake."""
        with self._guard:
            self._commits += 1
            now = time.monotonic()
            if self._commits < self.EVERY and now - self._woken < self.INTERVAL:
                return
            self._commits = 0
            self._woken = now
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
                try:
                    thread.start()
                except RuntimeError as error:  # no thread to be had (limits, shutdown)
                    log.warning("no checkpoint thread for %s: %s", self._path, error)
                    return  # the backstop checkpoints; the next EVERY-th commit tries again
                self._thread = thread
        self._wake.set()

    def _run(self) -> None:
        conn = None
        try:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            while self._wake.wait(self.IDLE):
                self._wake.clear()
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as error:
            log.warning(
                "WAL checkpoint of %s failed (%s); the writers' backstop takes over",
                self._path,
                error,
            )
        finally:
            if conn is not None:
                conn.close()
            with self._guard:
                if self._thread is threading.current_thread():
                    self._thread = None


@dataclass(frozen=True)
class _FileWriters:
    """What this process's writers to one SQLite file share."""

    lock: _WriteLock
    group: GroupWriter
    checkpointer: _Checkpointer


_file_writers: dict[str, _FileWriters] = {}
_file_writers_guard = threading.Lock()
_WRITE_STATEMENT = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


def _forget_file_writers() -> None:
    """In a forked child: the parent's locks, lock files and threads are not the child's.

    An flock belongs to the open file, which a child shares with its parent, so the two
    would hold one writer lock together; a thread lock may have been held at the fork, and
    the checkpointer's thread did not come along.
    """
    global _file_writers_guard
    _file_writers.clear()
    _file_writers_guard = threading.Lock()


os.register_at_fork(after_in_child=_forget_file_writers)


def _writers_for(database: str) -> _FileWriters:
    """This process's writer lock, group writer and checkpointer for a database file."""
    with _file_writers_guard:
        writers = _file_writers.get(database)
        if writers is None:
            writers = _file_writers[database] = _FileWriters(
                _WriteLock(database + ".writelock"), GroupWriter(), _Checkpointer(database)
            )
        return writers


class _SerializedWriteCursor(sqlite3.Cursor):
    """A cursor that takes its connection's writer lock before a write statement."""

    def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        self.connection._before_statement(sql)
        return super().execute(sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Iterable[Any]) -> sqlite3.Cursor:
        self.connection._before_statement(sql)
        return super().executemany(sql, seq_of_parameters)


class SerializedWriteConnection(sqlite3.Connection):
    """A sqlite3 connection that holds its file's writer lock from the first write
    statement of a transaction until commit or rollback."""

    def __init__(self, database: str | bytes | os.PathLike, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self._writers = _writers_for(os.path.abspath(os.fsdecode(database)))
        self._holding = False

    def _before_statement(self, sql: str) -> None:
        if not self._holding and _WRITE_STATEMENT.match(sql):
            self._writers.lock.acquire()
            self._holding = True

    def _release(self) -> None:
        if self._holding:
            self._holding = False
            self._writers.lock.release()

    def cursor(self, factory: type[sqlite3.Cursor] = _SerializedWriteCursor) -> sqlite3.Cursor:
        """A cursor that takes the writer lock before its first write (sqlite3 API)."""
        return super().cursor(factory)

    def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        """Run one statement through a locking cursor (sqlite3 API)."""
        return self.cursor().execute(sql, parameters)

    def commit(self) -> None:
        """Commit, then release the writer lock.

        A COMMIT that fails (a deferred constraint, a full disk) leaves SQLite's
        transaction open: it is rolled back first, so that no write outlives the failure
        and the file's lock is not released while SQLite still holds it.
        """
        wrote = self._holding
        try:
            super().commit()
        except BaseException:
            if self.in_transaction:
                super().rollback()
            raise
        finally:
            self._release()
        if wrote:
            self._writers.checkpointer.committed()

    def rollback(self) -> None:
        """Roll back, then release the writer lock."""
        try:
            super().rollback()
        finally:
            self._release()

    def close(self) -> None:
        """Close, then release the writer lock."""
        try:
            super().close()
        finally:
            self._release()


T = TypeVar("T")


def write(handle: DbHandle, work: Callable[[DbHandle], T]) -> T:
    """Run a request's writes: ``work(handle)``, or, on SQLite, with other threads' writes.

    On a request's connection to a SQLite file, ``work`` joins this process's group
    commit (``GroupWriter``): it runs in one transaction with the writes other threads
    brought meanwhile, and the transaction is committed before ``write`` returns. A token
    handed out after it is on disk as before, at one commit and one turn of the writer
    lock for several requests. Anywhere else (a server database, an ORM session, a
    connection that has written already) ``work`` runs on the caller's handle as it is:
    its statements join the caller's transaction, which the caller commits, except a
    one-statement ``PreparedWrites`` on PostgreSQL with no transaction open, which commits
    itself (autocommit). Either way a caller that commits after ``write`` is right.

    ``work`` must do only the writes and what decides them: under the group commit it may
    run on another thread's connection, while the file's writer lock is held.
    """
    if isinstance(handle, Connection) and handle.dialect.name == "sqlite":
        writer = _group_writer(handle)
        if writer is not None:
            return writer.run(handle, work)
    return work(handle)


def _group_writer(conn: Connection) -> GroupWriter | None:
    """This process's group writer for the connection's file, if its writes may join one."""
    dbapi_connection = conn.connection.dbapi_connection
    if not isinstance(dbapi_connection, SerializedWriteConnection):
        return None  # an in-memory database: one connection, nothing to share
    if dbapi_connection.in_transaction:
        return None  # it has written already: its own commit must take those too
    return dbapi_connection._writers.group


class _Write:
    """One thread's work in a group commit, and how it ended.

    ``wake`` is held from the start: released once for the thread, when its batch has
    ended or when it is to lead the next batch (``done`` tells which).
    """

    __slots__ = ("work", "done", "result", "error", "wake", "thread")

    def __init__(self, work: Callable[[DbHandle], Any]) -> None:
        self.work = work
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None
        self.wake = threading.Lock()
        self.wake.acquire()
        self.thread = threading.get_ident()


class GroupWriteFailed(RuntimeError):
    """The transaction that held this thread's writes failed (its cause says why)."""


class GroupWriter:
    """Group commit for one SQLite file in this process: one transaction, several requests.

    Each commit costs about as much as the inserts it commits, and each turn of the
    writer lock wakes a thread in another process; threads that arrive while a commit is
    under way queue their work, and the first of them (the next leader) runs the whole
    queue on its own connection in one transaction, commits once, and hands each thread
    its result. One leader at a time; each leads one batch, so no request waits behind
    more than the batch before its own.

    Each waiting thread sleeps on a lock of its own and is woken once: when its batch has
    ended, or when it is to lead. (A shared condition woke every waiter at every commit,
    and all but one of those queued for the next batch went back to sleep: at four
    threads, some five context switches per token.)
    """

    SAVEPOINT = "emulator_group_write"

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._queue: list[_Write] = []  # the next batch, in arrival order
        self._leader: int | None = None  # the leading thread's ident

    def run(self, conn: Connection, work: Callable[[DbHandle], T]) -> T:
        """Run ``work`` in the next group commit; return its result once committed."""
        if self._leader == threading.get_ident():
            return work(conn)  # a work that writes through ``write``: it is in the batch
        mine = _Write(work)
        with self._guard:
            self._queue.append(mine)
            leads = self._leader is None
            if leads:
                self._leader = mine.thread
        try:
            if not leads:
                mine.wake.acquire()  # until its batch has ended, or it is to lead
            if not mine.done:
                self._lead(conn, mine)
        except BaseException:  # an interrupt (only the main thread gets signals)
            self._abandon(mine)
            raise
        if mine.error is not None:
            raise mine.error
        return mine.result

    def _lead(self, conn: Connection, mine: _Write) -> None:
        """Run the queue (``mine`` is in it) as one batch, then wake its threads and the
        next leader, if any has queued meanwhile. Interrupted before the batch ran, the
        leader tells each of its threads that the commit failed."""
        batch: list[_Write] = []
        try:
            with self._guard:
                batch, self._queue = self._queue, []
            self._commit(conn, batch)
        finally:
            for write in batch:
                if not write.done:
                    write.error = GroupWriteFailed("the group commit was interrupted")
                    write.done = True
            with self._guard:
                after = self._queue[0] if self._queue else None
                self._leader = None if after is None else after.thread
            for write in batch:
                if write is not mine:
                    write.wake.release()
            if after is not None:
                after.wake.release()

    def _abandon(self, mine: _Write) -> None:
        """A thread was interrupted in ``run``: its work is withdrawn unless a leader has
        taken it (then it is committed or not with that batch, its outcome lost with the
        interrupt), and a lead it holds, or that was handed to it, passes on."""
        with self._guard:
            if mine.done:
                return  # its batch ended: the outcome is lost with the thread's interrupt
            if mine in self._queue:
                self._queue.remove(mine)
            after = None
            if self._leader == mine.thread:  # the lead was handed to it
                after = self._queue[0] if self._queue else None
                self._leader = None if after is None else after.thread
        if after is not None:
            after.wake.release()

    def _commit(self, conn: Connection, batch: list[_Write]) -> None:
        """Run the batch on the leader's connection and commit it; tell each how it ended.

        The leader's own work is in every batch it leads, so a batch of one is its own:
        it runs as a plain transaction.
        """
        try:
            if len(batch) == 1:
                batch[0].result = batch[0].work(conn)
            else:
                self._run_batch(conn, batch)
            conn.commit()
        except BaseException as error:
            with contextlib.suppress(Exception):
                conn.rollback()
            if len(batch) == 1:
                batch[0].error = error
            for write in batch:
                if write.error is None:  # its work ran, but the transaction did not hold
                    write.error = GroupWriteFailed(f"the group commit failed: {error}")
                    write.error.__cause__ = error
            if not isinstance(error, Exception):
                raise  # an interrupt stops the leader's thread; the others were told
        finally:
            for write in batch:
                write.done = True

    def _run_batch(self, conn: Connection, batch: list[_Write]) -> None:
        """Run every work in one transaction; if one fails, run them again, each in a
        savepoint of its own, so that a failing work takes back only its own writes and
        gets its own error. A work only writes and decides its writes (``write``), so a
        second run after the rollback is the first run again. The first pass spares two
        statements per work: a failure here is a refresh token used twice at once."""
        try:
            for write in batch:
                write.result = write.work(conn)
        except Exception:  # every work runs again, each on its own
            conn.rollback()
            for write in batch:
                write.result = None
            self._run_each(conn, batch)

    def _run_each(self, conn: Connection, batch: list[_Write]) -> None:
        if not conn.in_transaction():
            conn.begin()  # so that conn.commit() commits what the savepoints keep
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            # Begun before the first savepoint: a savepoint outside a transaction starts
            # one, and releasing it would commit it.
            cursor.execute("BEGIN")
            for write in batch:
                cursor.execute(f"SAVEPOINT {self.SAVEPOINT}")
                try:
                    write.result = write.work(conn)
                except Exception as error:
                    write.error = error
                    cursor.execute(f"ROLLBACK TO {self.SAVEPOINT}")
                cursor.execute(f"RELEASE {self.SAVEPOINT}")
        finally:
            cursor.close()


# A writer checkpoints in its own commit only past this many WAL pages (SQLite's default:
# 1,000): the checkpointer thread (``_Checkpointer``) does it long before, off the
# writers' path; this is for when it cannot keep up.
WAL_BACKSTOP_PAGES = 10_000


def _tune_sqlite(dbapi_connection: Any, busy_timeout_ms: int) -> None:
    """WAL lets readers run beside the one writer; the busy timeout makes writers queue
    instead of failing with "database is locked"; NORMAL sync keeps every commit across a
    process crash (only an OS crash may lose the last commits); checkpoints are the
    checkpointer thread's, the writers' own only a backstop (``_Checkpointer``)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms:d}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_BACKSTOP_PAGES:d}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class Prepared:
    """A Core statement compiled once per dialect and run straight on the DBAPI cursor.

    ``Connection.execute`` costs about 0.1 ms a statement in SQLAlchemy itself (an
    execution context, parameter and result set-up), as much as SQLite's own work for a
    token insert; the token path's few statements are run this way instead: the SQL and
    the type conversions (``bind processors``, a timestamp as SQLite stores it) come from
    SQLAlchemy's compiler, once per dialect. Anything else goes through SQLAlchemy: an ORM
    session (the CLI), and a connection whose engine has event listeners (tests and
    instrumentation that watch statements still see every one). DBAPI errors are handled
    as SQLAlchemy handles them (wrapped; a lost connection is invalidated).

    On PostgreSQL (psycopg) a query run when no transaction is open runs in autocommit:
    psycopg would otherwise send a BEGIN first, one more round trip, and the connection's
    return to the pool a ROLLBACK, another. The query sees what was committed before it
    began, as any statement does under READ COMMITTED; a write that follows opens its
    transaction as before.
    """

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[Dialect, _CompiledStatement] = {}

    def _for(self, dialect: Dialect) -> _CompiledStatement:
        compiled = self._compiled.get(dialect)
        if compiled is None:
            compiled = self._compiled[dialect] = _CompiledStatement(self.statement, dialect)
        return compiled

    def rowcount(self, handle: DbHandle, params: dict[str, Any]) -> int:
        """Run a write; return its row count (a DELETE's or UPDATE's; an INSERT's may be -1)."""
        if _direct(handle):
            compiled = self._for(handle.dialect)
            cursor = _begin_cursor(handle, alone=False)
            try:
                return compiled.execute(handle, cursor, compiled.args(params)).rowcount
            finally:
                _end_cursor(handle, cursor, alone=False)
        return handle.execute(self.statement, params).rowcount

    def first(self, handle: DbHandle, params: dict[str, Any]) -> Any:
        """Run a query; return its first row (attributes by column name), or None."""
        if _direct(handle):
            compiled = self._for(handle.dialect)
            alone = compiled.autocommits and not handle.in_transaction()
            cursor = _begin_cursor(handle, alone=alone)
            try:
                row = compiled.execute(handle, cursor, compiled.args(params)).fetchone()
            finally:
                _end_cursor(handle, cursor, alone=alone)
            return None if row is None else compiled.row(row)
        return handle.execute(self.statement, params).first()


def _direct(handle: DbHandle) -> bool:
    """Whether a statement may skip SQLAlchemy's execution: a Core connection, no listeners."""
    return (
        isinstance(handle, Connection) and not handle._has_events and not handle.engine._has_events
    )


def _begin_cursor(conn: Connection, *, alone: bool) -> Any:
    """A DBAPI cursor for statements of this connection's transaction (begun if need be),
    or, ``alone``, for a statement in autocommit (PostgreSQL, no transaction open)."""
    dbapi_connection = conn.connection.dbapi_connection
    if not alone and not conn.in_transaction():
        conn.begin()  # as Connection.execute would (autobegin): commit() commits it
    cursor = dbapi_connection.cursor()
    if alone:
        dbapi_connection.autocommit = True  # until _end_cursor, whatever happens between
    return cursor


def _end_cursor(conn: Connection, cursor: Any, *, alone: bool) -> None:
    dbapi_connection = cursor.connection
    try:
        cursor.close()
    finally:
        if alone and not dbapi_connection.closed:  # closed: a lost one, being replaced
            try:
                dbapi_connection.autocommit = False
            except Exception:
                # Still in autocommit, it must not go back to the pool: the next
                # transaction on it would commit statement by statement.
                conn.invalidate()
                raise


class _CompiledStatement:
    """One statement's SQL, parameter order and type conversions for one dialect."""

    def __init__(self, statement: Executable, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self.names = tuple(compiled.params)
        self.positions = tuple(compiled.positiontup or ()) if compiled.positional else None
        # Only the parameters that need one (SQLite's timestamps, as text); psycopg's need none.
        self.conversions = tuple(compiled._bind_processors.items())
        self.autocommits = _autocommits(dialect)
        columns = getattr(statement, "selected_columns", None)
        self.row_type = None
        self.results: tuple[Any, ...] = ()
        if columns is not None and len(columns):
            names = [column.key for column in columns]
            self.row_type = collections.namedtuple("PreparedRow", names)  # type: ignore[misc]
            self.results = tuple(c.type._cached_result_processor(dialect, None) for c in columns)

    def args(self, params: dict[str, Any]) -> Any:
        """The DBAPI's parameters: converted where a type says so, in the dialect's style."""
        if self.conversions:
            params = _converted(params, self.conversions)
        return self.ordered(params)

    def ordered(self, values: dict[str, Any]) -> Any:
        """Converted values in the dialect's style: the mapping, or a list in its order."""
        if self.positions is None:
            return values
        return [values[name] for name in self.positions]

    def execute(self, conn: Connection, cursor: Any, args: Any) -> Any:
        try:
            cursor.execute(self.sql, args)
        except Exception as error:
            conn._handle_dbapi_exception(error, self.sql, args, cursor, None)
        return cursor

    def row(self, row: Any) -> Any:
        assert self.row_type is not None
        return self.row_type._make(
            value if convert is None or value is None else convert(value)
            for convert, value in zip(self.results, row, strict=True)
        )


def _autocommits(dialect: Dialect) -> bool:
    """Whether a statement may run alone in autocommit at no cost: psycopg switches
    without a round trip (MySQL drivers send a SET for it; SQLite needs no switch, its
    queries open no transaction)."""
    return dialect.driver == "psycopg"


def _converted(params: dict[str, Any], conversions: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    values = dict(params)
    for name, convert in conversions:
        values[name] = convert(values[name])
    return values


class PreparedWrites:
    """Write statements run in turn as one unit, each compiled once per dialect.

    The unit takes one parameter mapping (each value converted once, whatever the number
    of statements using it) and runs on one cursor. A statement that changes no row ends
    the unit (a DELETE that found nothing: what follows must not be written); the unit's
    row count is its last statement's.

    ``combined`` is the same unit as one statement for PostgreSQL (a data-modifying CTE;
    its row count 0 when its DELETE found nothing): one round trip instead of one per
    statement. A unit of one statement there, when no transaction is open, is a transaction
    of its own: it runs in autocommit and is committed when it returns, without a BEGIN
    and a COMMIT round trip (``commit()`` then has nothing to do). Within an open
    transaction it is part of it. Through SQLAlchemy (an ORM session, an engine with
    listeners) the statements run one by one in the handle's transaction.
    """

    def __init__(self, *statements: Executable, combined: Executable | None = None) -> None:
        if not statements:
            raise ValueError("PreparedWrites needs at least one statement.")
        self.statements = statements
        self.combined = combined
        self._compiled: dict[Dialect, _CompiledWrites] = {}

    def _for(self, dialect: Dialect) -> _CompiledWrites:
        compiled = self._compiled.get(dialect)
        if compiled is None:
            compiled = self._compiled[dialect] = _CompiledWrites(self._statements(dialect), dialect)
        return compiled

    def _statements(self, dialect: Dialect) -> tuple[Executable, ...]:
        if self.combined is not None and dialect.name == "postgresql":
            return (self.combined,)
        return self.statements

    def rowcount(self, handle: DbHandle, params: dict[str, Any]) -> int:
        """Run the unit; return its last statement's row count (0: it stopped there)."""
        if not _direct(handle):
            return self._through_sqlalchemy(handle, params)
        compiled = self._for(handle.dialect)
        alone = compiled.autocommits and not handle.in_transaction()
        values = _converted(params, compiled.conversions) if compiled.conversions else params
        cursor = _begin_cursor(handle, alone=alone)
        try:
            for statement in compiled.statements:
                rowcount = statement.execute(handle, cursor, statement.ordered(values)).rowcount
                if rowcount == 0:
                    break
        finally:
            _end_cursor(handle, cursor, alone=alone)
        return rowcount

    def _through_sqlalchemy(self, handle: DbHandle, params: dict[str, Any]) -> int:
        dialect = handle.dialect if isinstance(handle, Connection) else handle.get_bind().dialect
        for statement, compiled in zip(
            self._statements(dialect), self._for(dialect).statements, strict=True
        ):
            # Only the statement's own parameters: an INSERT would take any other key that
            # names one of its table's columns as one more value.
            own = {name: params[name] for name in compiled.names}
            # An INSERT's row count is kept only when asked for (SQLAlchemy 2).
            options = {"preserve_rowcount": True}
            rowcount = handle.execute(statement, own, execution_options=options).rowcount
            if rowcount == 0:
                break
        return rowcount


class _CompiledWrites:
    """A unit's statements for one dialect, with the conversions of all their parameters."""

    def __init__(self, statements: Iterable[Executable], dialect: Dialect) -> None:
        self.statements = tuple(_CompiledStatement(s, dialect) for s in statements)
        conversions: dict[str, Any] = {}
        for statement in self.statements:
            conversions.update(statement.conversions)
        self.conversions = tuple(conversions.items())
        # Alone in autocommit only as one statement: two would be two transactions.
        self.autocommits = len(self.statements) == 1 and self.statements[0].autocommits


# --- purges: old rows deleted in short committed batches ---------------------------------

# How long one purge batch may hold the writer before the next is made smaller: what a
# token request queued behind it waits at most (its own time is ~0.5 ms).
PURGE_BATCH_SECONDS = 0.01


@dataclass(frozen=True)
class PurgePacing:
    """How a purge deletes (``delete_in_batches``): at most ``batch_size`` rows a batch,
    ``pause`` seconds after each, and ``writer_share`` of the time spent writing."""

    batch_size: int
    pause: float = 0.0
    writer_share: float = 1.0


def delete_in_batches(
    session: Session,
    table: Table,
    condition: ColumnElement[bool],
    pacing: PurgePacing,
    *,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Delete the rows of ``table`` that match ``condition``, in committed batches, by
    primary key; return how many went. ``on_batch(total so far)`` follows each batch.

    Each batch is its own short transaction, followed by ``pause`` seconds without one,
    so token issuance never waits behind a long purge (SQLite has one writer at a time).
    ``writer_share`` (0 < share <= 1) bounds the share of time the purge spends writing:
    after a batch that took t seconds from its DELETE to its commit, the pause is at
    least t * (1 - share) / share, so a slow batch (writers queued behind it, a busy
    disk) is followed by a longer pause, and issuance keeps the rest of the time.
    A batch is also made smaller while batches take longer than ``PURGE_BATCH_SECONDS``
    (halved, down to a sixteenth of ``batch_size``) and larger again while they are quick,
    up to ``batch_size``: a writer that queues behind one waits that long at most.
    """
    batch_size, pause, writer_share = pacing.batch_size, pacing.pause, pacing.writer_share
    if batch_size < 1:
        raise ValueError("batch_size must be 1 or more.")
    if not 0 < writer_share <= 1:
        raise ValueError("writer_share must be in (0, 1].")
    key = list(table.primary_key.columns)
    rest = (1 - writer_share) / writer_share
    smallest = max(1, batch_size // 16)
    total = 0
    size = batch_size
    while True:
        rows = session.execute(select(*key).where(condition).limit(size)).all()
        if not rows:
            return total
        if len(key) == 1:
            batch = key[0].in_([row[0] for row in rows])
        else:  # a composite key (usage_counts): row values, on every backend
            batch = tuple_(*key).in_([tuple(row) for row in rows])
        started = _purge_clock()
        session.execute(delete(table).where(batch))
        session.commit()
        total += len(rows)
        took = _purge_clock() - started
        if took > PURGE_BATCH_SECONDS:
            size = max(smallest, size // 2)
        elif took < PURGE_BATCH_SECONDS / 2:
            size = min(batch_size, size * 2)
        wait = max(pause, took * rest)
        if wait:
            time.sleep(wait)
        if on_batch is not None:
            on_batch(total)


def _purge_clock() -> float:
    """The clock a purge times its batches on (a test may replace it)."""
    return time.monotonic()
