"""Fixtures of the live tests that drive a browser."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser
from playwright.sync_api import sync_playwright

from tests.support.browser import CHROMIUM
from tests.support.browser import CHROMIUM_ARGS


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless; missing, the test fails saying how to install it."""
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        pytest.fail(
            "chromium is not installed: run `apt-get install -y chromium` (.ci/run does)",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
