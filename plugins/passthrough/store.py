"""Shadow mode's findings in the plugin's tables: counted in memory, written in batches.

The background thread of each worker adds every outcome to a ``Tally`` and writes it now and
then (``save``, one transaction), so a shadowed request costs no write of its own. Several
workers write alike: counts are added in the database (``count = count + n``), and a kind
another worker inserted first is counted on its row (the whole batch is retried once).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from .compare import Difference
from .compare import example_json
from .models import ShadowCounter
from .models import ShadowDifference

_COUNTERS = ShadowCounter.__table__
_DIFFERENCES = ShadowDifference.__table__
# What the report prints, in this order.
COUNTER_NAMES = ("compared", "matched", "differed", "dropped", "failed", "skipped", "unkept")


@dataclass
class Seen:
    """A kind of difference seen since the last save."""

    difference: Difference
    count: int
    first_seen: datetime
    last_seen: datetime


@dataclass
class Tally:
    """Outcomes since the last save."""

    counts: Counter[str] = field(default_factory=Counter)
    kinds: dict[str, Seen] = field(default_factory=dict)
    started: datetime | None = None  # when the first outcome came

    @property
    def pending(self) -> bool:
        """Whether anything waits to be saved."""
        return bool(self.counts)

    def count(self, name: str, now: datetime, n: int = 1) -> None:
        """Count ``n`` of ``name`` (a COUNTER_NAMES entry)."""
        self.counts[name] += n
        self.started = self.started or now

    def add_difference(self, difference: Difference, now: datetime) -> None:
        """Count a compared request that differed, keeping its kind's first example."""
        self.count("compared", now)
        self.count("differed", now)
        seen = self.kinds.get(difference.kind_hash)
        if seen is None:
            self.kinds[difference.kind_hash] = Seen(difference, 1, now, now)
        else:
            seen.count += 1
            seen.last_seen = now


def save(engine: Engine, tally: Tally, *, max_kinds: int, now: datetime) -> None:
    """Write ``tally`` in one transaction (retried once if another worker raced us)."""
    try:
        with engine.begin() as conn:
            _save(conn, tally, max_kinds=max_kinds, now=now)
    except IntegrityError:  # another worker inserted the same counter or kind first
        with engine.begin() as conn:
            _save(conn, tally, max_kinds=max_kinds, now=now)


def _save(conn: Connection, tally: Tally, *, max_kinds: int, now: datetime) -> None:
    counts = Counter(tally.counts)
    kinds = conn.execute(select(func.count()).select_from(_DIFFERENCES)).scalar_one()
    for kind_hash, seen in tally.kinds.items():
        bumped = conn.execute(
            update(_DIFFERENCES)
            .where(_DIFFERENCES.c.kind_hash == kind_hash)
            .values(count=_DIFFERENCES.c.count + seen.count, last_seen=seen.last_seen)
        )
        if bumped.rowcount:
            continue
        if kinds >= max_kinds:  # bounded: a new kind past the cap is only counted
            counts["unkept"] += seen.count
            continue
        conn.execute(
            _DIFFERENCES.insert().values(
                kind_hash=kind_hash,
                kind=seen.difference.kind,
                count=seen.count,
                first_seen=seen.first_seen,
                last_seen=seen.last_seen,
                example=example_json(seen.difference.example),
            )
        )
        kinds += 1
    for name, n in sorted(counts.items()):
        bumped = conn.execute(
            update(_COUNTERS)
            .where(_COUNTERS.c.name == name)
            .values(count=_COUNTERS.c.count + n, updated_at=now)
        )
        if not bumped.rowcount:
            conn.execute(_COUNTERS.insert().values(name=name, count=n, updated_at=now))


@dataclass(frozen=True)
class KindRow:
    """One kind of difference as the report prints it."""

    kind: str
    count: int
    first_seen: datetime
    last_seen: datetime
    example: dict[str, Any]


@dataclass(frozen=True)
class Report:
    """Everything shadow mode found so far."""

    counts: dict[str, int]
    kinds: list[KindRow]
    last_update: datetime | None


def report(conn: Connection) -> Report:
    """Read the counters and the kinds of difference (most frequent first)."""
    counters = conn.execute(
        select(_COUNTERS.c.name, _COUNTERS.c.count, _COUNTERS.c.updated_at)
    ).all()
    rows = conn.execute(
        select(
            _DIFFERENCES.c.kind,
            _DIFFERENCES.c.count,
            _DIFFERENCES.c.first_seen,
            _DIFFERENCES.c.last_seen,
            _DIFFERENCES.c.example,
        ).order_by(_DIFFERENCES.c.count.desc(), _DIFFERENCES.c.first_seen, _DIFFERENCES.c.id)
    ).all()
    counts = dict.fromkeys(COUNTER_NAMES, 0)
    counts.update({row.name: int(row.count) for row in counters})
    return Report(
        counts=counts,
        kinds=[
            KindRow(r.kind, int(r.count), r.first_seen, r.last_seen, json.loads(r.example))
            for r in rows
        ],
        last_update=max((row.updated_at for row in counters), default=None),
    )
