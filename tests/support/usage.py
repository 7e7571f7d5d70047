"""Reading the usage counts in tests: flush an app's counter, then read the table.

The ``usage_counts`` fixture (tests/emulator/usage_fixtures.py) reads the test app's.
"""

from __future__ import annotations

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
