"""The one place the host reads the clock; the engine always receives ``now``."""

from __future__ import annotations

from datetime import datetime
from datetime import timezone


def utcnow() -> datetime:
    """Now as a naive UTC datetime (the database's convention)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)
