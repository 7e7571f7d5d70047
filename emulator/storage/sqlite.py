"""SQLite, one writer at a time done well: the writer lock across threads and processes,
the group commit (``write``, ``GroupWriter``), the checkpointer thread and the PRAGMAs."""

from __future__ import annotations

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
from typing import Any
from typing import TypeVar

from sqlalchemy import Connection

from emulator.storage.schema import DbHandle

log = logging.getLogger(__name__)


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
            with _checkpointing:
                conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            while self._wake.wait(self.IDLE):
                self._wake.clear()
                with _checkpointing:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as error:
            log.warning(
                "WAL checkpoint of %s failed (%s); the writers' backstop takes over",
                self._path,
                error,
            )
        finally:
            if conn is not None:
                with _checkpointing:
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


# Held by a checkpointer thread while it is inside SQLite (connect, checkpoint, close), and
# by a fork while it happens: SQLite's process-wide mutexes, held by a thread at the fork,
# would stay held in the child for ever (it hung at its first connect), so a fork waits for
# the call to end.
_checkpointing = threading.Lock()


def _forget_file_writers() -> None:
    """In a forked child: the parent's locks, lock files and threads are not the child's.

    An flock belongs to the open file, which a child shares with its parent, so the two
    would hold one writer lock together; a thread lock may have been held at the fork, and
    the checkpointer's thread did not come along.
    """
    global _file_writers_guard, _checkpointing
    _file_writers.clear()
    _file_writers_guard = threading.Lock()
    _checkpointing = threading.Lock()


os.register_at_fork(
    before=lambda: _checkpointing.acquire(),
    after_in_parent=lambda: _checkpointing.release(),
    after_in_child=_forget_file_writers,
)


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


def tune_sqlite(dbapi_connection: Any, busy_timeout_ms: int) -> None:
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
