"""The activity page's figures, from the usage counts (emulator/ops/usage.py).

Tokens issued: the counts of the operations each plugin declares as issuing tokens
(``Plugin.issuing_operations``), per client and UTC day, over the last ``DAYS`` days. The
counts table holds one row per client, form and day, indexed by day, so this reads a
bounded number of rows however many tokens there are.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import datetime
from datetime import timedelta

from sqlalchemy import and_
from sqlalchemy import false
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy.orm import Session

from emulator.storage.models import Client
from emulator.storage.models import UsageCount
from emulator.web.plugin import Plugin

DAYS = 14
# Clients drawn in the chart apart; the others are added up as one.
CHART_CLIENTS = 5
# Fill colours of the chart's series (the last: every other client).
COLOURS = ("#2f6fb0", "#e07b39", "#3a9a5b", "#b8463f", "#7d5ba6", "#9aa1a9")
LAST_USE_ROWS = 100
# Rows of the per-client table and of the usage report on the page (the busiest first); the
# rest is counted in a line under each (the totals include them), so that a site of
# thousands of active clients gets a page of the same size.
PAGE_ROWS = 100


@dataclass(frozen=True)
class Issued:
    """Tokens issued per client and day, the days oldest first."""

    days: tuple[date, ...]
    per_client: dict[str, list[int]] = field(default_factory=dict)  # by total, most first

    def totals(self) -> list[int]:
        """Tokens issued per day, every client."""
        return [
            sum(counts[i] for counts in self.per_client.values()) for i in range(len(self.days))
        ]


def tokens_issued(session: Session, plugins: Iterable[Plugin], *, now: datetime) -> Issued:
    """Tokens issued per client over the last DAYS UTC days (today included)."""
    today = now.date()
    days = tuple(today - timedelta(days=offset) for offset in range(DAYS - 1, -1, -1))
    issuing = [
        and_(
            UsageCount.plugin == plugin.name,
            UsageCount.operation.in_(sorted(plugin.issuing_operations)),
        )
        for plugin in plugins
        if plugin.issuing_operations
    ]
    rows = session.execute(
        select(Client.client_id, UsageCount.day, func.sum(UsageCount.count))
        .join(Client, Client.id == UsageCount.client_id)
        .where(UsageCount.day >= days[0], or_(false(), *issuing))
        .group_by(Client.client_id, UsageCount.day)
    )
    index = {day: position for position, day in enumerate(days)}
    per_client: dict[str, list[int]] = {}
    for client_id, day, count in rows:
        if day in index:
            per_client.setdefault(client_id, [0] * DAYS)[index[day]] += int(count)
    ordered = dict(sorted(per_client.items(), key=lambda item: (-sum(item[1]), item[0])))
    return Issued(days=days, per_client=ordered)


@dataclass(frozen=True)
class Bar:
    """One rectangle of the chart (SVG user units)."""

    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


@dataclass(frozen=True)
class Chart:
    """A stacked bar chart of tokens issued per day, drawn as inline SVG by the template."""

    width: int
    height: int
    bars: list[Bar]
    labels: list[tuple[float, str]]  # x, day label
    legend: list[tuple[str, str]]  # colour, client id (or "other clients")
    peak: int


def chart(issued: Issued, *, width: int = 700, height: int = 180) -> Chart:
    """The chart of ``issued``: the top clients stacked, every other client as one series."""
    names = list(issued.per_client)
    series = [(name, issued.per_client[name]) for name in names[:CHART_CLIENTS]]
    rest = names[CHART_CLIENTS:]
    if rest:
        other = [sum(issued.per_client[name][i] for name in rest) for i in range(len(issued.days))]
        series.append((f"{len(rest)} other clients", other))
    totals = issued.totals()
    peak = max(totals, default=0)
    slot = width / len(issued.days)
    bars = []
    for i, day in enumerate(issued.days):
        y = float(height)
        for position, (name, counts) in enumerate(series):
            if not counts[i]:
                continue
            h = height * counts[i] / peak
            y -= h
            colour = COLOURS[position] if position < CHART_CLIENTS else COLOURS[-1]
            bars.append(Bar(i * slot + 3, y, slot - 6, h, colour, f"{day}: {name} {counts[i]}"))
    legend = [
        (COLOURS[position] if position < CHART_CLIENTS else COLOURS[-1], name)
        for position, (name, _counts) in enumerate(series)
    ]
    labels = [(i * slot + slot / 2, f"{day:%d %b}") for i, day in enumerate(issued.days)]
    return Chart(width, height, bars, labels, legend, peak)


@dataclass(frozen=True)
class LastUse:
    """When a client was last seen using any URL (as far as the counts tell)."""

    client_id: str
    last_seen: datetime
    requests: int


def last_use(session: Session, *, limit: int = LAST_USE_ROWS) -> list[LastUse]:
    """The clients seen most recently first, with their requests counted over all days."""
    last_seen = func.max(UsageCount.last_seen)
    rows = session.execute(
        select(Client.client_id, last_seen, func.sum(UsageCount.count))
        .join(Client, Client.id == UsageCount.client_id)
        .group_by(Client.client_id)
        .order_by(last_seen.desc(), Client.client_id)
        .limit(limit)
    )
    return [LastUse(client_id, seen, int(count)) for client_id, seen, count in rows]
