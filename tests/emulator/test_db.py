"""SQLite under several workers: the writer lock is held from the first write to commit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from emulator.db import db
from tests.conftest import make_app

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
