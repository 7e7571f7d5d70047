"""The one place the host reads the clock; the engine always receives ``now``."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime


def utcnow() -> datetime:
    """Now as a naive UTC datetime (the database's convention)."""
    return datetime.now(UTC).replace(tzinfo=None)
