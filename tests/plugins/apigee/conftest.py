"""Fixtures for the apigee plugin's tests; the set-up fixtures are in fixtures.py, the
URLs and headers in tests/support/apigee.py."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from flask import Flask

from emulator.storage.database import db
from tests.support.apigee import CC_TOKEN_URL
from tests.support.apigee import basic

from .wire_format import SEED_CLIENT_ID
from .wire_format import SEED_SECRET


@pytest.fixture
def run_sql(app: Flask) -> Callable[..., None]:
    """Run one statement in its own transaction (to age tokens, for instance)."""

    def run(statement: str, **binds: object) -> None:
        with app.app_context(), db.engine.begin() as conn:
            conn.execute(sa.text(statement), binds)

    return run


@pytest.fixture
def proxy_to(client, cli, enable_apigee, make_app_client) -> Callable[..., str]:
    """Put a proxy (scope "read") in front of a target; return a "read write" token for it."""

    def setup(target: str, base_path: str = "/weather", **params: object) -> str:
        enable_apigee(**params)
        cli("apigee", "proxies", "add", base_path, "--target", target, "--scope", "read")
        cid, secret = make_app_client(
            SEED_CLIENT_ID, secret=SEED_SECRET, products={"Weather": "read write"}
        )
        url = CC_TOKEN_URL + "?grant_type=client_credentials"
        rv = client.post(url, headers=basic(cid, secret))
        assert rv.status_code == 200, rv.data
        return rv.get_json()["access_token"]

    return setup
