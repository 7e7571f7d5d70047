"""The SQLAlchemy handle, constraint naming and per-backend connection settings."""

from __future__ import annotations

import fcntl
import os
import re
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flask import Flask
from flask import g
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Connection
from sqlalchemy import MetaData
from sqlalchemy import event
from sqlalchemy import make_url
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Session

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


class Base(DeclarativeBase):
    """Declarative base for every model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

db = SQLAlchemy(model_class=Base)
migrate = Migrate()


def init_app(app: Flask) -> None:
    """Bind the database and migrations; tune SQLite for several worker processes."""
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "sqlite":
        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        options.pop("pool_pre_ping", None)  # a file needs no liveness check
        if url.database and url.database != ":memory:":
            connect_args = dict(options.get("connect_args") or {})
            connect_args["factory"] = SerializedWriteConnection
            options["connect_args"] = connect_args
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    app.teardown_appcontext(_close_connection)
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        busy_ms = int(app.config["SQLITE_BUSY_TIMEOUT_MS"])
        event.listen(engine, "connect", lambda conn, _rec: _tune_sqlite(conn, busy_ms))


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


_write_locks: dict[str, _WriteLock] = {}
_write_locks_guard = threading.Lock()
_WRITE_STATEMENT = re.compile(r"\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


def _write_lock_for(database: str) -> _WriteLock:
    with _write_locks_guard:
        lock = _write_locks.get(database)
        if lock is None:
            lock = _write_locks[database] = _WriteLock(database + ".writelock")
        return lock


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
        self._write_lock = _write_lock_for(os.path.abspath(os.fsdecode(database)))
        self._holding = False

    def _before_statement(self, sql: str) -> None:
        if not self._holding and _WRITE_STATEMENT.match(sql):
            self._write_lock.acquire()
            self._holding = True

    def _release(self) -> None:
        if self._holding:
            self._holding = False
            self._write_lock.release()

    def cursor(self, factory: type[sqlite3.Cursor] = _SerializedWriteCursor) -> sqlite3.Cursor:
        """A cursor that takes the writer lock before its first write (sqlite3 API)."""
        return super().cursor(factory)

    def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        """Run one statement through a locking cursor (sqlite3 API)."""
        return self.cursor().execute(sql, parameters)

    def commit(self) -> None:
        """Commit, then release the writer lock."""
        try:
            super().commit()
        finally:
            self._release()

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


def _tune_sqlite(dbapi_connection: Any, busy_timeout_ms: int) -> None:
    """WAL lets readers run beside the one writer; the busy timeout makes writers queue
    instead of failing with "database is locked"; NORMAL sync keeps every commit across a
    process crash (only an OS crash may lose the last commits)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms:d}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
