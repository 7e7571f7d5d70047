"""SQLite's group commit (emulator.storage.sqlite.write): writes that arrive while a commit is under
way share the next one; each thread gets its own result or error, once committed."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from emulator.storage.database import db
from emulator.storage.sqlite import GroupWriteFailed
from emulator.storage.sqlite import GroupWriter
from emulator.storage.sqlite import _Write
from emulator.storage.sqlite import _writers_for
from emulator.storage.sqlite import write
from tests.support.app import make_app

DEADLINE = 10.0


@pytest.fixture
def engine(tmp_path: Path):
    app = make_app(f"sqlite:///{tmp_path / 'g.sqlite'}")
    with app.app_context():
        with db.engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
            conn.exec_driver_sql(
                "CREATE TABLE t (x INTEGER, who INTEGER,"
                " parent INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"
            )
        yield db.engine
        db.engine.dispose()


def rows(engine: sa.Engine) -> list[int]:
    with engine.connect() as conn:
        return sorted(conn.exec_driver_sql("SELECT x FROM t").scalars())


def insert(x: int, *, parent: int | None = None) -> Callable[[Any], int]:
    """A work that inserts x, noting which thread ran it, and returns x."""

    def work(handle: Any) -> int:
        handle.execute(
            sa.text("INSERT INTO t (x, who, parent) VALUES (:x, :who, :parent)"),
            {"x": x, "who": threading.get_ident(), "parent": parent},
        )
        return x

    return work


def test_a_lone_write_is_committed_when_write_returns(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        assert write(conn, insert(1)) == 1
        assert rows(engine) == [1]  # another connection sees it: no commit of the caller's


def test_a_write_after_other_writes_stays_in_the_callers_transaction(engine: sa.Engine) -> None:
    """The caller's earlier writes and the work's are one transaction, as without grouping."""
    with engine.connect() as conn:
        conn.execute(sa.text("INSERT INTO t (x) VALUES (0)"))
        write(conn, insert(1))
        assert rows(engine) == []
        conn.rollback()
    assert rows(engine) == []


class Crowd:
    """A first writer held inside its work while others queue behind it, then let go."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.release = threading.Event()
        self.outcomes: dict[int, Any] = {}
        self.threads: list[threading.Thread] = []

    def start(self, x: int, work: Callable[[Any], int]) -> None:
        def run() -> None:
            with self.engine.connect() as conn:
                try:
                    self.outcomes[x] = write(conn, work)
                except BaseException as error:  # noqa: BLE001 - the test looks at it
                    self.outcomes[x] = error

        thread = threading.Thread(target=run)
        thread.start()
        self.threads.append(thread)

    def hold_first(self) -> None:
        entered = threading.Event()

        def first(handle: Any) -> int:
            entered.set()
            assert self.release.wait(DEADLINE)
            return insert(0)(handle)

        self.start(0, first)
        assert entered.wait(DEADLINE)

    def queue(self, works: dict[int, Callable[[Any], int]]) -> None:
        writer = _writers_for(os.path.abspath(self.engine.url.database)).group  # this process's
        for x, work in works.items():
            self.start(x, work)
        deadline = time.monotonic() + DEADLINE
        while len(writer._queue) < len(works):  # all queued behind the first
            assert time.monotonic() < deadline, "the writers did not queue"
            time.sleep(0.005)
        self.release.set()
        for thread in self.threads:
            thread.join(DEADLINE)

    def runners(self) -> set[int]:
        with self.engine.connect() as conn:
            return set(conn.exec_driver_sql("SELECT who FROM t WHERE x > 0").scalars())


def test_writes_queued_during_a_commit_share_the_next_one(engine: sa.Engine) -> None:
    crowd = Crowd(engine)
    crowd.hold_first()
    crowd.queue({x: insert(x) for x in (1, 2, 3)})
    assert crowd.outcomes == {0: 0, 1: 1, 2: 2, 3: 3}
    assert rows(engine) == [0, 1, 2, 3]
    assert len(crowd.runners()) == 1  # one leader ran the three queued works


def test_a_failing_write_takes_back_only_its_own_rows(engine: sa.Engine) -> None:
    def fails(handle: Any) -> int:
        insert(2)(handle)
        raise ValueError("refused")

    crowd = Crowd(engine)
    crowd.hold_first()
    crowd.queue({1: insert(1), 2: fails, 3: insert(3)})
    assert isinstance(crowd.outcomes[2], ValueError)
    assert (crowd.outcomes[1], crowd.outcomes[3]) == (1, 3)
    assert rows(engine) == [0, 1, 3]


def fresh(runs: dict[int, int], x: int) -> Callable[[Any], int]:
    """A work that inserts a new value each time it runs (as a token is), counting its runs."""

    def work(handle: Any) -> int:
        runs[x] = runs.get(x, 0) + 1
        value = x * 1000 + runs[x]
        insert(value)(handle)
        return value

    return work


def test_a_batch_that_holds_runs_each_work_once(engine: sa.Engine) -> None:
    runs: dict[int, int] = {}
    crowd = Crowd(engine)
    crowd.hold_first()
    crowd.queue({x: fresh(runs, x) for x in (1, 2, 3)})
    assert runs == {1: 1, 2: 1, 3: 1}
    assert rows(engine) == [0, 1001, 2001, 3001]


def test_after_a_failing_write_each_thread_gets_what_was_committed(engine: sa.Engine) -> None:
    """The batch runs again with the failing work on its own: the others' results are those
    of the run that was committed (a token handed out is the token stored)."""
    runs: dict[int, int] = {}

    def fails(handle: Any) -> int:
        insert(2)(handle)
        raise ValueError("refused")

    crowd = Crowd(engine)
    crowd.hold_first()
    crowd.queue({1: fresh(runs, 1), 2: fails, 3: fresh(runs, 3)})
    assert isinstance(crowd.outcomes[2], ValueError)
    assert rows(engine) == sorted([0, crowd.outcomes[1], crowd.outcomes[3]])


def test_an_interrupted_waiter_withdraws_its_write_and_the_others_go_on(
    engine: sa.Engine,
) -> None:
    """A thread interrupted while its write waits (a signal in the main thread): its work
    never runs, and the writes queued behind it are still led and committed."""

    class Interrupted(Exception):
        pass

    def interrupt(_signum: int, _frame: Any) -> None:
        raise Interrupted

    crowd = Crowd(engine)
    crowd.hold_first()
    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with engine.connect() as conn, pytest.raises(Interrupted):
            write(conn, insert(5))  # queued behind the held first write
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    crowd.queue({1: insert(1), 2: insert(2)})
    assert crowd.outcomes == {0: 0, 1: 1, 2: 2}
    assert rows(engine) == [0, 1, 2]
    with engine.connect() as conn:
        assert write(conn, insert(3)) == 3


def test_when_the_shared_commit_fails_every_writer_is_told_and_nothing_holds(
    engine: sa.Engine,
) -> None:
    crowd = Crowd(engine)
    crowd.hold_first()
    # A deferred foreign key is checked at COMMIT: the one bad row fails the whole batch.
    crowd.queue({1: insert(1), 2: insert(2, parent=99), 3: insert(3)})
    for x in (1, 2, 3):
        assert isinstance(crowd.outcomes[x], GroupWriteFailed)
        assert "FOREIGN KEY constraint failed" in str(crowd.outcomes[x].__cause__)
    assert rows(engine) == [0]
    with engine.connect() as conn:  # the file takes the next writes as before
        assert write(conn, insert(4)) == 4
    assert rows(engine) == [0, 4]


def test_a_lone_failing_write_gets_its_own_error_and_keeps_nothing(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        with pytest.raises(Exception, match="FOREIGN KEY constraint failed"):
            write(conn, insert(1, parent=99))
        assert rows(engine) == []
        assert write(conn, insert(2)) == 2
    assert rows(engine) == [2]


def test_an_interrupt_in_a_batch_stops_its_leader_and_keeps_nothing(engine: sa.Engine) -> None:
    def interrupted(handle: Any) -> int:
        insert(2)(handle)
        raise KeyboardInterrupt

    crowd = Crowd(engine)
    crowd.hold_first()
    crowd.queue({1: insert(1), 2: interrupted, 3: insert(3)})
    outcomes = [crowd.outcomes[x] for x in (1, 2, 3)]
    # The interrupt reaches the thread that ran the batch; the others are told it failed.
    assert sum(isinstance(o, KeyboardInterrupt) for o in outcomes) == 1
    assert sum(isinstance(o, GroupWriteFailed) for o in outcomes) == 2
    assert rows(engine) == [0]


def test_a_work_that_writes_through_write_again_runs_in_its_own_batch(engine: sa.Engine) -> None:
    def nested(handle: Any) -> int:
        return write(handle, insert(1)) + write(handle, insert(2))

    crowd = Crowd(engine)
    crowd.start(3, nested)
    crowd.threads[0].join(DEADLINE)
    assert not crowd.threads[0].is_alive(), "the nested write waited for itself"
    assert crowd.outcomes == {3: 3}
    assert rows(engine) == [1, 2]


def test_elsewhere_a_plain_write_joins_the_callers_transaction(database_url: str) -> None:
    """PostgreSQL and MariaDB commit concurrent transactions themselves: no grouping."""
    app = make_app(database_url)
    with app.app_context():
        table = sa.Table("group_probe", sa.MetaData(), sa.Column("x", sa.Integer))
        table.create(db.engine)
        try:
            with db.engine.connect() as conn:
                write(conn, lambda handle: handle.execute(table.insert().values(x=1)))
                conn.rollback()
                kept = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()
            assert kept == (1 if db.engine.dialect.name == "sqlite" else 0)
        finally:
            table.drop(db.engine)
            db.engine.dispose()


def test_many_threads_each_get_their_own_outcome_and_every_kept_row_is_theirs(
    engine: sa.Engine,
) -> None:
    """Eight threads, each writing many times, some works failing: nobody waits for ever,
    every successful write is committed once with the value its thread was given, and no
    failed write leaves a row."""
    threads, per_thread = 8, 60
    given: dict[int, list[int]] = {}
    refused: dict[int, list[int]] = {}

    def writer(t: int) -> None:
        given[t], refused[t] = [], []
        with engine.connect() as conn:
            for i in range(per_thread):
                x = t * 1000 + i
                if i % 7 == 3:

                    def fails(handle: Any, x: int = x) -> int:
                        insert(-x)(handle)
                        raise ValueError("refused")

                    with pytest.raises(ValueError):
                        write(conn, fails)
                    refused[t].append(x)
                else:
                    given[t].append(write(conn, insert(x)))

    workers = [threading.Thread(target=writer, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(DEADLINE * 3)
    assert not any(worker.is_alive() for worker in workers), "a writer waited for ever"
    assert rows(engine) == sorted(x for values in given.values() for x in values)
    assert sum(len(values) for values in refused.values()) == threads * 9


def test_a_lead_handed_to_an_interrupted_thread_passes_to_the_next() -> None:
    """The moment between a thread being handed the lead and leading, set up by hand (a
    signal cannot be timed into it): interrupted there, it passes the lead on and withdraws
    its own work."""
    writer = GroupWriter()
    mine = _Write(insert(1))
    other = _Write(insert(2))
    other.thread = mine.thread + 1  # another thread's write
    writer._queue = [mine, other]
    writer._leader = mine.thread  # handed to this thread by the leader before
    writer._abandon(mine)
    assert writer._queue == [other]
    assert writer._leader == other.thread
    assert other.wake.acquire(blocking=False), "the next thread was not woken to lead"
