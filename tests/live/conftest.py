"""Fixtures of the live tests that drive a browser."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.support.browser import chromium


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless; missing, the test fails saying how to install it."""
    with chromium() as launched:
        yield launched
