"""Fixtures for the apigee plugin: an enabled plugin, Apigee apps, the sample's app."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from flask import Flask

from emulator import oauth
from emulator.db import db
from plugins.apigee.apps import find_app

from .wire_format import SEED_CLIENT_ID
from .wire_format import SEED_EMAIL
from .wire_format import SEED_ORGANIZATION
from .wire_format import SEED_PRODUCT

PROFILES = ["edge-2014", "modern"]
TOKEN_URL = "/oauth/accesstoken"  # the sample's
CC_TOKEN_URL = "/oauth/client_credential/accesstoken"  # Edge's default proxy
REFRESH_URL = "/oauth/client_credential/refresh_accesstoken"
SEED_SECRET = "XjPnQmC0Hq6T9sTr"  # 16 alphanumerics, an Edge-shaped consumer secret


def basic(client_id: str, secret: str) -> dict[str, str]:
    """An ``Authorization: Basic`` header, as the sample's invoke.sh builds it."""
    token = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def enable_apigee(cli: Callable[..., str], set_params: Callable[..., None]) -> Callable[..., None]:
    """Enable the plugin with the sample's organization, plus any params given."""

    def enable(**params: object) -> None:
        cli("plugins", "enable", "apigee")
        set_params("apigee", organization_name=SEED_ORGANIZATION, **params)

    return enable


@pytest.fixture
def make_app_client(
    cli: Callable[..., str], make_client: Callable[..., tuple[str, str | None]]
) -> Callable[..., tuple[str, str]]:
    """Register a client as an Apigee app with these products (name -> scopes or None)."""

    def build(
        client_id: str | None = None,
        *,
        products: dict[str, str | None] | None = None,
        email: str = SEED_EMAIL,
        secret: str | None = None,
        **client_args: object,
    ) -> tuple[str, str]:
        products = {SEED_PRODUCT: None} if products is None else products
        for name, scope in products.items():
            cli("apigee", "products", "add", name, *(["--scope", scope] if scope else []))
        cid, made_secret = make_client(client_id, secret=secret, **client_args)
        args = ["apigee", "apps", "set", cid, "--developer-email", email]
        args += [a for name in products for a in ("--product", name)] or ["--products", ""]
        cli(*args)
        assert made_secret is not None
        return cid, made_secret

    return build


@pytest.fixture
def seed_app(
    enable_apigee: Callable[..., None], make_app_client: Callable[..., tuple[str, str]]
) -> Callable[..., tuple[str, str]]:
    """The sample's setup: org "example", app of testdev@example.com with "Test App product"."""

    def build(**params: object) -> tuple[str, str]:
        enable_apigee(**params)
        return make_app_client(SEED_CLIENT_ID, secret=SEED_SECRET)

    return build


@pytest.fixture
def app_id_of(app: Flask) -> Callable[[str], str]:
    """The app id (Apigee application_name) the plugin shows for a client."""

    def find(client_id: str) -> str:
        with app.app_context():
            client = oauth.find_client(db.session, client_id)
            assert client is not None
            return find_app(db.session, client.id, client_id).app_id

    return find


@pytest.fixture
def run_sql(app: Flask) -> Callable[..., None]:
    """Run one statement in its own transaction (to age tokens, for instance)."""

    def run(statement: str, **binds: object) -> None:
        with app.app_context(), db.engine.begin() as conn:
            conn.execute(sa.text(statement), binds)

    return run
