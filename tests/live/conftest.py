"""Fixtures of the live tests: the apigee plugin set up through the in-process CLI.

The same set-up as tests/plugins/apigee/conftest.py (pytest does not share a sibling
folder's conftest): the CLI writes to the session's test database, which the server reads.
The servers themselves are in server.py.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from flask import Flask

from emulator.db import db
from tests.plugins.apigee.wire_format import SEED_CLIENT_ID
from tests.plugins.apigee.wire_format import SEED_EMAIL
from tests.plugins.apigee.wire_format import SEED_ORGANIZATION
from tests.plugins.apigee.wire_format import SEED_PRODUCT

SEED_SECRET = "XjPnQmC0Hq6T9sTr"  # 16 alphanumerics, an Edge-shaped consumer secret


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
    """The app id (Apigee application_name) the engine gave a client."""

    def find(client_id: str) -> str:
        with app.app_context():
            return db.session.scalar(
                sa.text("SELECT app_id FROM oauth_clients WHERE client_id = :c"), {"c": client_id}
            )

    return find
