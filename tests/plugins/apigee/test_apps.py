"""The plugin's apps and API products: storage, order, and the scopes they give the engine."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy.orm import Session

from emulator import oauth
from emulator.storage.database import db
from plugins.apigee import apps

NOW = datetime(2026, 1, 15, 12, 0, 0)


@pytest.fixture
def session(app) -> Iterator[Session]:
    with app.app_context():
        yield db.session


@pytest.fixture
def client_pk(session) -> int:
    client = oauth.register_client(session, oauth.ClientSpec("app-1", "s3cret"), now=NOW)
    session.commit()
    return client.id


def test_apps_keep_their_product_order_and_give_its_scopes(session, client_pk) -> None:
    for name, scopes in (("Zeta", "z"), ("Alpha", "a"), ("Mid", "m a")):
        apps.add_product(session, name, scopes)
    apps.set_app(
        session, client_pk, "app-1", developer_email="dev@example.com",
        product_names=["Zeta", "Mid", "Alpha"],
    )  # fmt: skip
    session.commit()
    assert apps.find_app(session, client_pk, "app-1").products == ("Zeta", "Mid", "Alpha")
    assert apps.app_scope(session, client_pk) == "z m a"
    apps.set_app(session, client_pk, "app-1", developer_email=None, product_names=["Alpha"])
    session.commit()
    app = apps.find_app(session, client_pk, "app-1")
    assert (app.developer_email, app.products) == (None, ("Alpha",))
    assert apps.app_scope(session, client_pk) == "a"


def test_set_app_refuses_unknown_products_and_bad_emails(session, client_pk) -> None:
    with pytest.raises(ValueError, match="No API product"):
        apps.set_app(session, client_pk, "app-1", developer_email=None, product_names=["Nope"])
    with pytest.raises(ValueError, match="not an email"):
        apps.set_app(session, client_pk, "app-1", developer_email="nobody", product_names=[])


def test_a_product_named_twice_counts_once(session, client_pk) -> None:
    apps.add_product(session, "P", "read")
    app = apps.set_app(session, client_pk, "app-1", developer_email=None, product_names=["P", "P"])
    session.commit()
    assert app.products == ("P",)
    assert apps.find_app(session, client_pk, "app-1").products == ("P",)


def test_an_app_id_is_stable_before_and_after_the_app_has_a_row(session, client_pk) -> None:
    before = apps.find_app(session, client_pk, "app-1")
    assert (before.developer_email, before.products) == (None, ())
    assert before.app_id == apps.derived_app_id("app-1")
    assert before.app_id != apps.derived_app_id("app-2")
    apps.set_app(session, client_pk, "app-1", developer_email="d@example.com", product_names=[])
    session.commit()
    assert apps.find_app(session, client_pk, "app-1").app_id == before.app_id


def test_the_engine_asks_the_products_for_a_client_without_scope(app, session, client_pk) -> None:
    apps.add_product(session, "P1", "read write")
    apps.add_product(session, "P2", "write admin")
    apps.set_app(session, client_pk, "app-1", developer_email=None, product_names=["P1", "P2"])
    session.commit()
    from emulator.web import stores

    record = stores.clients().load(session, "app-1")
    assert record.allowed_scope == "read write admin"
