"""Fixtures for the passthrough plugin's tests: the legacy site is faked with ``responses``
(every registered call must be made), or is a real socket on 127.0.0.1 (tests/live/server.py)."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator

import pytest
import responses
import sqlalchemy as sa
from flask import Flask

from emulator.storage.database import db
from plugins.passthrough import shadow
from tests.support.passthrough import LEGACY
from tests.support.passthrough import SECRET


@pytest.fixture
def legacy() -> Iterator[responses.RequestsMock]:
    """The old site, faked: a request to a URL not registered fails the test, and so does a
    registered one that is never made."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def enable_passthrough(cli: Callable[..., str], set_params) -> Callable[..., None]:
    """Enable the plugin pointing at LEGACY (or ``legacy_url``), plus any params given."""

    def enable(legacy_url: str = LEGACY, **params: object) -> None:
        set_params("passthrough", legacy_url=legacy_url, **params)
        cli("plugins", "enable", "passthrough")

    return enable


@pytest.fixture
def shop(make_client) -> tuple[str, str]:
    """A confidential client with a scope; returns (client_id, secret)."""
    cid, secret = make_client("shop-app", secret=SECRET, scope="catalog.read")
    assert secret == SECRET
    return cid, secret


@pytest.fixture
def shadow_done(app: Flask) -> Callable[[], None]:
    """Wait until the worker's shadow queue has compared and written everything."""

    def wait() -> None:
        assert shadow.queue_of(app).wait_idle(timeout=20), "the shadow queue did not settle"

    return wait


@pytest.fixture
def table_text(app: Flask) -> Callable[[], str]:
    """Every value in the plugin's tables, as one text (to search for secrets)."""

    def dump() -> str:
        with app.app_context(), db.engine.connect() as conn:
            rows = [
                *conn.execute(sa.text("SELECT * FROM passthrough_shadow_differences")).all(),
                *conn.execute(sa.text("SELECT * FROM passthrough_shadow_counters")).all(),
            ]
        return "\n".join(" | ".join(map(str, row)) for row in rows)

    return dump
