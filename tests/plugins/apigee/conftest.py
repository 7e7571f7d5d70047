"""Fixtures for the apigee plugin's tests; the set-up fixtures are in fixtures.py."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from flask import Flask

from emulator.db import db

PROFILES = ["edge-2014", "modern"]
TOKEN_URL = "/oauth/accesstoken"  # the sample's
CC_TOKEN_URL = "/oauth/client_credential/accesstoken"  # Edge's default proxy
REFRESH_URL = "/oauth/client_credential/refresh_accesstoken"


def basic(client_id: str, secret: str) -> dict[str, str]:
    """An ``Authorization: Basic`` header, as the sample's invoke.sh builds it."""
    token = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def run_sql(app: Flask) -> Callable[..., None]:
    """Run one statement in its own transaction (to age tokens, for instance)."""

    def run(statement: str, **binds: object) -> None:
        with app.app_context(), db.engine.begin() as conn:
            conn.execute(sa.text(statement), binds)

    return run
