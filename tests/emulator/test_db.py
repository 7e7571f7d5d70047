"""Per-backend connection settings: SQLite's writer lock (held from the first write to
commit) and WAL; MySQL/MariaDB's session (utf8mb4, strict, READ COMMITTED)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from emulator.db import db
from tests.conftest import BACKENDS
from tests.conftest import make_app
from tests.conftest import scratch_database

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


@pytest.mark.skipif("mysql" not in BACKENDS, reason="TEST_MYSQL_URL names no MariaDB/MySQL")
def test_mysql_sessions_are_utf8mb4_strict_and_read_committed(tmp_path: Path) -> None:
    """Whatever the server's defaults (README, "MariaDB / MySQL"), on the first connection
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
