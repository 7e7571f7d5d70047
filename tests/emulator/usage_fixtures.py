"""The usage counts fixture: flush the test app's counter, then read the table.

Registered for the whole suite by ``pytest_plugins`` in tests/conftest.py (the dialects'
tests use it too); reading the table is tests/support/usage.py.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from tests.support.usage import Counts
from tests.support.usage import table_counts


@pytest.fixture
def usage_counts(app: Flask) -> Callable[..., Counts]:
    """``usage_counts()``: flush the test app's counts and read the table."""

    def read(*, flush: bool = True) -> Counts:
        return table_counts(app, flush=flush)

    return read
