"""Purges: old rows deleted in short committed batches, paced so issuance never waits long."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement
from sqlalchemy import Table
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy import tuple_
from sqlalchemy.orm import Session

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
