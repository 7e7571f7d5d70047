"""The one place the host reads the clock; the engine always receives ``now``."""

from __future__ import annotations

import time
from datetime import UTC
from datetime import datetime


def epoch_seconds() -> float:
    """Now in seconds since the epoch (what rate-limit windows are measured in)."""
    return time.time()


def utcnow() -> datetime:
    """Now as a naive UTC datetime (the database's convention)."""
    return datetime.now(UTC).replace(tzinfo=None)
