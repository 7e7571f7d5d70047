"""The Flask binding of the database: the SQLAlchemy handle (``db``), migrations, each
backend's connection settings, and a request's Core connection (``connection``)."""

from __future__ import annotations

import logging
import time
import weakref
from pathlib import Path
from typing import Any

from flask import Flask
from flask import g
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import event
from sqlalchemy import make_url
from sqlalchemy.exc import DisconnectionError

from emulator.storage.schema import MYSQL_DIALECTS
from emulator.storage.schema import Base
from emulator.storage.sqlite import SerializedWriteConnection
from emulator.storage.sqlite import tune_sqlite

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"

# The models derive from the plain declarative Base (emulator.storage.schema), so the
# engine imports them without Flask; Flask-SQLAlchemy shares their metadata.
db = SQLAlchemy(metadata=Base.metadata)
migrate = Migrate()


# MySQL/MariaDB connections (docs/operate/databases.md):
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
        dispose_with(app, *db.engines.values())
    if engine.dialect.name == "sqlite":
        busy_ms = int(app.config["SQLITE_BUSY_TIMEOUT_MS"])
        event.listen(engine, "connect", lambda conn, _rec: tune_sqlite(conn, busy_ms))
    elif ping_after_idle > 0:
        ping_when_idle(engine, ping_after_idle)


def dispose_with(app: Flask, *engines: Engine) -> None:
    """Close ``engines``' pooled connections when ``app`` goes (a test's, a command's),
    instead of leaving them for the garbage collector to find open (psycopg warns, and a
    test fails on it). Not at exit: a forked child must not close its parent's connections."""
    weakref.finalize(app, _dispose, engines).atexit = False


def _dispose(engines: tuple[Engine, ...]) -> None:
    for engine in engines:
        engine.dispose()


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
