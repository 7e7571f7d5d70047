"""An engine client seen as an Apigee developer app (app id, developer email, API products)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection
from sqlalchemy import select
from sqlalchemy.orm import Session

from emulator.models import ApiProduct
from emulator.models import Client
from emulator.models import client_products

_CLIENTS = Client.__table__
_PRODUCTS = ApiProduct.__table__


@dataclass(frozen=True)
class App:
    """What a token response says about the app the token was issued to."""

    app_id: str  # Apigee's application_name: the app's UUID, not its display name
    developer_email: str | None
    products: tuple[str, ...]  # API product names, in the order the admin gave them


def find_app(session: Session | Connection, client_id: str) -> App:
    """Return the app behind ``client_id`` (which the engine has just authenticated)."""
    row = session.execute(
        select(_CLIENTS.c.id, _CLIENTS.c.app_id, _CLIENTS.c.developer_email).where(
            _CLIENTS.c.client_id == client_id
        )
    ).one()
    names = session.scalars(
        select(_PRODUCTS.c.name)
        .join(client_products, client_products.c.product_id == _PRODUCTS.c.id)
        .where(client_products.c.client_id == row.id)
        .order_by(client_products.c.position)
    ).all()
    return App(app_id=row.app_id, developer_email=row.developer_email, products=tuple(names))
