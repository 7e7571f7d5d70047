"""The audit log page's filters and how it shows a change.

Filters travel in the query string (``actor``, ``action``, ``target``, ``from``, ``to``), so
a filtered page can be bookmarked and paged; a value that cannot be one (a control
character, a date that is no date) is named in a message and left out, never a 500.

A change is one line per field, ``field: old -> new`` (``field: new`` for a field only
set, ``field: was old`` for one only removed), each value as JSON; a long value is
shortened at a word boundary with an ellipsis and shown whole on demand.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from datetime import datetime
from datetime import timedelta
from typing import Any

from emulator.oauth import has_control_characters
from emulator.storage.models import AuditEvent

# Values longer than this are shortened (the whole value is a click away).
SHORT_VALUE = 80
_PUNCTUATION = re.compile(r"[,;:/&?=.)\]}-]")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(9999, 12, 30)  # its next day still is one


def shorten(text: str, limit: int = SHORT_VALUE) -> str:
    """``text`` on one line, or its start cut at a word boundary (a space, else a separator
    such as "/" or ",", else any character when none is in the second half) and ended with
    an ellipsis: at most ``limit`` characters."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat.rfind(" ", limit // 2, limit)  # the space itself is left out
    if cut < 0:
        ends = [
            found.end()
            for found in _PUNCTUATION.finditer(flat, 0, limit - 1)
            if found.end() > limit // 2
        ]
        cut = ends[-1] if ends else limit - 1
    return flat[:cut].rstrip(" ,;:") + "…"


@dataclass(frozen=True)
class AuditFilters:
    """What the audit log page shows: every filter empty shows every event."""

    actor: str = ""  # a part of the actor ("alice" finds "admin:alice")
    action: str = ""  # the start of the action ("client." finds "client.update")
    target: str = ""  # exactly this object
    date_from: date | None = None  # UTC days, both included
    date_to: date | None = None

    def args(self) -> dict[str, str]:
        """The query string that asks for this page again (empty filters left out)."""
        values = {
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
        }
        return {key: value for key, value in values.items() if value}

    def is_filtered(self) -> bool:
        """Whether any filter is set."""
        return bool(self.args())

    def query(self) -> dict[str, Any]:
        """The keyword arguments of ``audit.events`` and ``audit.count_events``."""
        return {
            "actor": self.actor or None,
            "action_prefix": self.action or None,
            "target": self.target or None,
            "since": _midnight(self.date_from) if self.date_from else None,
            "until": _midnight(self.date_to + timedelta(days=1)) if self.date_to else None,
        }


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def parse_filters(args: Mapping[str, str]) -> tuple[AuditFilters, list[str]]:
    """The filters a query string asks for, and a message for each value refused (which
    is then left out)."""
    problems: list[str] = []

    def text(name: str, label: str, limit: int) -> str:
        value = (args.get(name) or "").strip()[:limit]
        # No stored actor, action or target holds one, and PostgreSQL refuses NUL in a
        # query's text: refused here, with a message.
        if has_control_characters(value):
            problems.append(
                f"{label} cannot hold a control character (such as NUL or a line break)."
            )
            return ""
        return value

    def day(name: str, label: str) -> date | None:
        value = (args.get(name) or "").strip()
        if not value:
            return None
        shown = shorten(value, 40)
        try:
            parsed = date.fromisoformat(value) if _DATE.fullmatch(value) else None
        except ValueError:
            parsed = None
        if parsed is None:
            problems.append(f"The {label} date “{shown}” is not a date: give YYYY-MM-DD.")
        elif not FIRST_DAY <= parsed <= LAST_DAY:
            problems.append(f"The {label} date is from {FIRST_DAY} to {LAST_DAY}.")
            parsed = None
        return parsed

    filters = AuditFilters(
        actor=text("actor", "An actor", 255),
        action=text("action", "An action", 64),
        target=text("target", "An object", 255),
        date_from=day("from", "from"),
        date_to=day("to", "to"),
    )
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        problems.append("The from date is after the to date: neither was applied.")
        filters = AuditFilters(filters.actor, filters.action, filters.target)
    return filters, problems


@dataclass(frozen=True)
class Value:
    """A value of a change as the page shows it: whole, and shortened when long."""

    full: str
    short: str

    @property
    def is_cut(self) -> bool:
        """Whether the short form leaves something out."""
        return self.short != self.full


@dataclass(frozen=True)
class Change:
    """One field of an event: ``field: old -> new``; old or new is None when absent."""

    field: str
    old: Value | None
    new: Value | None


def changes(event: AuditEvent) -> list[Change]:
    """The fields an event changed, in the order it recorded them."""
    before, after = _decoded(event.before), _decoded(event.after)
    return [
        Change(
            field=key,
            old=_value(before[key]) if key in before else None,
            new=_value(after[key]) if key in after else None,
        )
        for key in dict.fromkeys([*before, *after])
    ]


def _decoded(text: str | None) -> dict[str, Any]:
    """An event's JSON object; anything else (never written by audit.record) as one value."""
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {"(raw)": text}
    return value if isinstance(value, dict) else {"(value)": value}


def _value(value: Any) -> Value:
    full = json.dumps(value, ensure_ascii=False)
    return Value(full=full, short=shorten(full))
