"""The apigee plugin's set-up fixtures, shared by tests/plugins/apigee/ and tests/live/.

Registered for the whole suite by ``pytest_plugins`` in tests/conftest.py (pytest shares
a conftest only with its own folder). Everything goes through the in-process CLI, so the
live tests' servers read what these wrote.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from emulator import oauth
from emulator.storage.database import db
from plugins.apigee.apps import find_app

from .wire_format import SEED_CLIENT_ID
from .wire_format import SEED_EMAIL
from .wire_format import SEED_ORGANIZATION
from .wire_format import SEED_PRODUCT
from .wire_format import SEED_SECRET


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
