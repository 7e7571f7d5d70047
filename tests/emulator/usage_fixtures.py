"""Reading the usage counts in tests: flush the app's counter, then read the table.

Registered for the whole suite by ``pytest_plugins`` in tests/conftest.py (the dialects'
tests use it too).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from emulator.ops import usage
from emulator.storage.database import db

# (client_id, plugin, operation, credentials, token) -> count
Counts = dict[tuple[str, str, str, str | None, str | None], int]


def table_counts(app: Flask, *, flush: bool = True) -> Counts:
    """Everything in ``usage_counts``, per client and form (after a flush unless told)."""
    with app.app_context():
        if flush:
            usage.flush()
        lines = usage.report(db.session, since=None)
        db.session.remove()
    return {(x.client_id, x.plugin, x.operation, x.credentials, x.token): x.count for x in lines}


@pytest.fixture
def usage_counts(app: Flask) -> Callable[..., Counts]:
    """``usage_counts()``: flush the test app's counts and read the table."""

    def read(*, flush: bool = True) -> Counts:
        return table_counts(app, flush=flush)

    return read
