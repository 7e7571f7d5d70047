"""Per-backend connection settings: SQLite's writer lock (held from the first write to
commit) and WAL; MySQL/MariaDB's session (utf8mb4, strict, READ COMMITTED)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from emulator.storage.database import db
from emulator.storage.database import engine_options
from emulator.storage.prepared import Prepared
from emulator.storage.prepared import PreparedWrites
from emulator.storage.schema import Timestamp
from emulator.storage.sqlite import WAL_BACKSTOP_PAGES
from emulator.storage.sqlite import _Checkpointer
from tests.support.app import BACKENDS
from tests.support.app import make_app
from tests.support.app import scratch_database

TRY_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    sys.exit(1)
sys.exit(0)
"""


def another_process_can_write(lock_file: Path) -> bool:
    return (
        subprocess.run([sys.executable, "-c", TRY_LOCK, str(lock_file)], check=False).returncode
        == 0
    )


@pytest.fixture
def sqlite_app(tmp_path: Path):
    app = make_app(f"sqlite:///{tmp_path / 'w.sqlite'}")
    with app.app_context():
        db.session.execute(sa.text("CREATE TABLE t (x INTEGER)"))
        db.session.commit()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize("end", ["commit", "rollback"], ids=["commit", "rollback"])
def test_writer_lock_spans_first_write_to_transaction_end(
    sqlite_app, tmp_path: Path, end: str
) -> None:
    lock_file = tmp_path / "w.sqlite.writelock"
    db.session.execute(sa.text("SELECT count(*) FROM t"))
    assert another_process_can_write(lock_file)  # reads take no writer lock
    db.session.execute(sa.text("INSERT INTO t VALUES (1)"))
    assert not another_process_can_write(lock_file)
    getattr(db.session, end)()
    assert another_process_can_write(lock_file)


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(sqlite_app) -> None:
    assert db.session.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
    assert db.session.execute(sa.text("PRAGMA busy_timeout")).scalar() == 5000
    assert db.session.execute(sa.text("PRAGMA wal_autocheckpoint")).scalar() == WAL_BACKSTOP_PAGES


def test_a_commit_holds_when_no_checkpoint_thread_can_start(
    sqlite_app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commit has happened when the checkpointer hears of it: it may not fail it."""
    start = threading.Thread.start

    def refuse(thread: threading.Thread) -> None:
        if thread.name == "sqlite-checkpoint":
            raise RuntimeError("can't start new thread")
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", refuse)
    for _ in range(_Checkpointer.EVERY):
        db.session.execute(sa.text("INSERT INTO t VALUES (1)"))
        db.session.commit()
    assert db.session.execute(sa.text("SELECT count(*) FROM t")).scalar() == _Checkpointer.EVERY
    monkeypatch.undo()
    test_the_wal_is_checkpointed_by_a_thread_of_its_own(sqlite_app, tmp_path)  # it recovers


def test_a_few_large_commits_are_checkpointed_too(
    sqlite_app, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A purge commits seldom but much: time since the last checkpoint counts, not commits."""
    monkeypatch.setattr(_Checkpointer, "INTERVAL", 0.0)
    database = tmp_path / "w.sqlite"
    before = database.stat().st_size
    for _ in range(50):
        db.session.execute(sa.text("INSERT INTO t VALUES (zeroblob(4000))"))
    db.session.commit()  # one commit, far below EVERY
    deadline = time.monotonic() + 10
    while database.stat().st_size < before + 50 * 4000:
        assert time.monotonic() < deadline, "the WAL was not checkpointed"
        time.sleep(0.01)


def test_the_wal_is_checkpointed_by_a_thread_of_its_own(sqlite_app, tmp_path: Path) -> None:
    """Commits far below the writers' own threshold still reach the database file."""
    database = tmp_path / "w.sqlite"
    before = database.stat().st_size
    commits = 2 * _Checkpointer.EVERY
    with db.engine.connect() as conn:
        for _ in range(commits):
            conn.execute(sa.text("INSERT INTO t VALUES (zeroblob(4000))"))
            conn.commit()
    deadline = time.monotonic() + 10
    while database.stat().st_size < before + commits * 4000:
        assert time.monotonic() < deadline, "the WAL was not checkpointed"
        time.sleep(0.01)


@pytest.mark.skipif("mysql" not in BACKENDS, reason="TEST_MYSQL_URL names no MariaDB/MySQL")
def test_mysql_sessions_are_utf8mb4_strict_and_read_committed(tmp_path: Path) -> None:
    """Whatever the server's defaults (docs/operate/databases.md), on the first connection
    and on one made after the pool was emptied."""
    with scratch_database("mysql", tmp_path) as url:
        app = make_app(url, SQLALCHEMY_ENGINE_OPTIONS={"pool_recycle": 60})
        with app.app_context():
            for _ in range(2):
                with db.engine.connect() as conn:
                    charset, mode = conn.execute(
                        sa.text("SELECT @@character_set_connection, @@sql_mode")
                    ).one()
                    isolation = conn.get_isolation_level()  # as the server reports it
                    conn.execute(sa.text("CREATE TEMPORARY TABLE t (c VARCHAR(3))"))
                    with pytest.raises(sa.exc.DataError):  # refused, not cut short
                        conn.execute(sa.text("INSERT INTO t VALUES ('four')"))
                    echoed = conn.execute(sa.text("SELECT :s"), {"s": "😀"}).scalar()
                assert (charset, isolation, echoed) == ("utf8mb4", "READ COMMITTED", "😀")
                assert {"STRICT_TRANS_TABLES", "STRICT_ALL_TABLES"} <= set(mode.split(","))
                db.engine.dispose()
            assert db.engine.pool._recycle == 60  # an operator's own setting is kept


# --- statements compiled once (Prepared) and the idle ping --------------------------------

PREPARED_TABLE = sa.Table(
    "prepared_probe",
    sa.MetaData(),
    sa.Column("key", sa.String(40), primary_key=True),
    sa.Column("at", Timestamp),
    sa.Column("note", sa.String(40)),
)
INSERT_PROBE = Prepared(
    sa.insert(PREPARED_TABLE).values(
        key=sa.bindparam("key"), at=sa.bindparam("at"), note=sa.bindparam("note")
    )
)
FIND_PROBE = Prepared(
    sa.select(PREPARED_TABLE.c.at, PREPARED_TABLE.c.note.label("text")).where(
        PREPARED_TABLE.c.key == sa.bindparam("key")
    )
)
DELETE_PROBE = Prepared(
    sa.delete(PREPARED_TABLE).where(PREPARED_TABLE.c.key == sa.bindparam("key"))
)
MOMENT = datetime(2026, 3, 1, 12, 30, 15, 123456)


@pytest.fixture
def probe_app(database_url: str):
    app = make_app(database_url)
    with app.app_context():
        PREPARED_TABLE.create(db.engine)
        try:
            yield app
        finally:
            db.session.remove()
            PREPARED_TABLE.drop(db.engine)
            db.engine.dispose()


@pytest.mark.parametrize("handle", ["connection", "session"], ids=["connection", "session"])
def test_prepared_statements_write_and_read_as_core_does(probe_app, handle: str) -> None:
    """On a Core connection (the DBAPI cursor) and on an ORM session (SQLAlchemy) alike:
    a timestamp keeps its microseconds, labels name the row's attributes, a DELETE's row
    count counts,
    and nothing stays without a commit."""
    with db.engine.connect() if handle == "connection" else nullcontext(db.session) as h:
        INSERT_PROBE.rowcount(h, {"key": "a", "at": MOMENT, "note": None})
        row = FIND_PROBE.first(h, {"key": "a"})
        assert (row.at, row.text) == (MOMENT, None)
        assert FIND_PROBE.first(h, {"key": "b"}) is None
        h.commit()
        assert DELETE_PROBE.rowcount(h, {"key": "a"}) == 1
        assert DELETE_PROBE.rowcount(h, {"key": "a"}) == 0
        h.rollback()
    with db.engine.connect() as conn:
        found = conn.execute(sa.select(PREPARED_TABLE.c.at, PREPARED_TABLE.c.note)).all()
    assert [tuple(r) for r in found] == [(MOMENT, None)]  # the delete was rolled back


def test_prepared_statement_errors_are_sqlalchemy_errors(probe_app) -> None:
    """A DBAPI error is wrapped as SQLAlchemy wraps it (callers catch those), and the
    connection stays usable after a rollback."""
    with db.engine.connect() as conn:
        INSERT_PROBE.rowcount(conn, {"key": "dup", "at": MOMENT, "note": "x"})
        with pytest.raises(sa.exc.IntegrityError):
            INSERT_PROBE.rowcount(conn, {"key": "dup", "at": MOMENT, "note": "y"})
        conn.rollback()
        assert FIND_PROBE.first(conn, {"key": "dup"}) is None


def test_prepared_statements_are_seen_by_statement_listeners(probe_app) -> None:
    """An engine with listeners (instrumentation, tests counting statements) gets every
    statement through SQLAlchemy, so the listeners see them."""
    seen: list[str] = []

    def listen(_conn, _cursor, statement, _params, _context, _many) -> None:
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        with db.engine.connect() as conn:
            FIND_PROBE.first(conn, {"key": "a"})
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)
    assert len(seen) == 1 and "prepared_probe" in seen[0]


_OLD = PREPARED_TABLE.c.key == sa.bindparam("old", type_=PREPARED_TABLE.c.key.type)
_NEW = {
    "key": sa.bindparam("new", type_=PREPARED_TABLE.c.key.type),
    "at": sa.bindparam("at", type_=PREPARED_TABLE.c.at.type),
}
_GONE = sa.delete(PREPARED_TABLE).where(_OLD).returning(PREPARED_TABLE.c.key).cte("gone")
# Replace a row by another, exactly once: nothing is inserted when the DELETE found nothing.
REPLACE_PROBE = PreparedWrites(
    sa.delete(PREPARED_TABLE).where(_OLD),
    sa.insert(PREPARED_TABLE).values(_NEW),
    combined=sa.insert(PREPARED_TABLE)
    .from_select(list(_NEW), sa.select(*_NEW.values()).select_from(_GONE))
    .add_cte(_GONE),
)
INSERT_ALONE = PreparedWrites(INSERT_PROBE.statement)


def keys() -> list[str]:
    with db.engine.connect() as conn:
        return sorted(conn.scalars(sa.select(PREPARED_TABLE.c.key)))


@pytest.mark.parametrize("handle", ["connection", "session"], ids=["connection", "session"])
def test_prepared_writes_stop_at_a_statement_that_changes_nothing(probe_app, handle) -> None:
    """A unit whose DELETE found nothing writes nothing after it (on PostgreSQL the unit
    is one statement), and tells so by its row count; timestamps are converted as Core
    converts them."""
    with db.engine.connect() if handle == "connection" else nullcontext(db.session) as h:
        INSERT_PROBE.rowcount(h, {"key": "a", "at": MOMENT, "note": None})
        h.commit()
        assert REPLACE_PROBE.rowcount(h, {"old": "a", "new": "b", "at": MOMENT}) == 1
        assert REPLACE_PROBE.rowcount(h, {"old": "a", "new": "c", "at": MOMENT}) == 0
        h.commit()
    assert keys() == ["b"]
    assert FIND_PROBE.first(db.session, {"key": "b"}).at == MOMENT


def test_a_single_write_runs_in_the_open_transaction(probe_app) -> None:
    """Begun or autobegun, the connection's transaction holds the write: a rollback ends it."""
    with db.engine.connect() as conn:
        FIND_PROBE.first(conn, {"key": "a"})
        INSERT_PROBE.rowcount(conn, {"key": "a", "at": MOMENT, "note": None})
        INSERT_ALONE.rowcount(conn, {"key": "b", "at": MOMENT, "note": None})
        conn.rollback()
        conn.begin()
        INSERT_ALONE.rowcount(conn, {"key": "c", "at": MOMENT, "note": None})
        conn.rollback()
    assert keys() == []


@pytest.mark.skipif("postgresql" not in BACKENDS, reason="TEST_DATABASE_URL is not PostgreSQL")
def test_on_postgresql_a_lone_statement_is_its_own_transaction(probe_app, database_url) -> None:
    """With no transaction open, a query and a one-statement write run in autocommit (no
    BEGIN, no COMMIT, no ROLLBACK round trip): the write is committed when it returns."""
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only")
    with db.engine.connect() as conn:
        assert FIND_PROBE.first(conn, {"key": "a"}) is None
        INSERT_ALONE.rowcount(conn, {"key": "a", "at": MOMENT, "note": None})
        status = conn.connection.dbapi_connection.info.transaction_status
        assert (conn.in_transaction(), status.name) == (False, "IDLE")
        assert keys() == ["a"]  # seen by another connection before any commit
        assert not conn.connection.dbapi_connection.autocommit
        with pytest.raises(sa.exc.IntegrityError):  # refused alone, and back out of autocommit
            INSERT_ALONE.rowcount(conn, {"key": "a", "at": MOMENT, "note": None})
        assert not conn.connection.dbapi_connection.autocommit
        INSERT_PROBE.rowcount(conn, {"key": "b", "at": MOMENT, "note": None})
        conn.rollback()
    assert keys() == ["a"]


SERVER_BACKENDS = [b for b in BACKENDS if b != "sqlite"]
BACKEND_PID = {"postgresql": "SELECT pg_backend_pid()", "mysql": "SELECT CONNECTION_ID()"}
END_SESSION = {"postgresql": "SELECT pg_terminate_backend({})", "mysql": "KILL {}"}


@pytest.mark.skipif(not SERVER_BACKENDS, reason="no database server configured")
@pytest.mark.parametrize("backend", SERVER_BACKENDS, ids=SERVER_BACKENDS)
def test_a_connection_is_pinged_only_after_sitting_idle(
    tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection used a moment ago is handed out without a round trip; one that sat idle
    is pinged, and one the server ended meanwhile is replaced without a failed request."""
    with scratch_database(backend, tmp_path) as url:
        app = make_app(url, DB_PING_AFTER_IDLE_SECONDS=0.2)
        with app.app_context():
            engine = db.engine
            pings: list[object] = []
            real_ping = engine.dialect.do_ping
            monkeypatch.setattr(
                engine.dialect, "do_ping", lambda c: pings.append(c) or real_ping(c)
            )
            with engine.connect() as conn:
                first = conn.execute(sa.text(BACKEND_PID[backend])).scalar()
            with engine.connect() as conn:  # back in the pool a moment ago: no ping
                assert conn.execute(sa.text(BACKEND_PID[backend])).scalar() == first
            assert pings == []
            admin = sa.create_engine(url)
            with admin.connect() as other:
                other.execute(sa.text(END_SESSION[backend].format(int(first))))
            admin.dispose()
            time.sleep(0.3)
            with engine.connect() as conn:  # idle: pinged, found dead, replaced
                assert conn.execute(sa.text(BACKEND_PID[backend])).scalar() != first
            assert len(pings) == 1
            engine.dispose()


def test_without_pre_ping_nothing_is_pinged(tmp_path: Path) -> None:
    """The idle ping replaces pool_pre_ping; an operator who turned that off gets neither,
    and SQLite never gets one."""
    url = "postgresql+psycopg://u@127.0.0.1:1/none"
    assert "pool_pre_ping" not in engine_options(url, {"pool_pre_ping": True}, ping_after_idle=1)
    assert engine_options(url, {"pool_pre_ping": True}, ping_after_idle=0)["pool_pre_ping"]
    sqlite_url = f"sqlite:///{tmp_path / 'p.sqlite'}"
    assert "pool_pre_ping" not in engine_options(sqlite_url, {"pool_pre_ping": True})
