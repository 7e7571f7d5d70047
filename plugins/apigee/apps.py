"""Developer apps and API products: storage, and what a token response says of an app.

An app's products grant the scopes its client may ask for when the client has no scope of
its own: ``app_scope`` is the engine's client-scope hook (``emulator.web.plugin``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import select
from sqlalchemy.orm import Session

from emulator.host import DbHandle
from emulator.oauth import has_control_characters
from emulator.oauth import normalize_scope
from emulator.oauth import scope_names
from emulator.oauth import validate_plain_text

from .models import ApigeeApp
from .models import ApigeeProduct
from .models import app_products

# The namespace of app ids derived from client ids (uuid5): fixed for good.
APP_ID_NAMESPACE = uuid.UUID("b8e3e148-9095-4404-b879-b65175ce90c0")

_APPS = ApigeeApp.__table__
_PRODUCTS = ApigeeProduct.__table__
_APP = select(_APPS.c.app_id, _APPS.c.developer_email).where(
    _APPS.c.client_id == bindparam("client_pk")
)
_APP_PRODUCTS = (
    select(_PRODUCTS.c.name, _PRODUCTS.c.scopes)
    .join(app_products, app_products.c.product_id == _PRODUCTS.c.id)
    .where(app_products.c.client_id == bindparam("client_pk"))
    .order_by(app_products.c.position)
)


@dataclass(frozen=True)
class App:
    """What a token response says about the app the token was issued to."""

    app_id: str  # Apigee's application_name: the app's UUID, not its display name
    developer_email: str | None
    products: tuple[str, ...]  # API product names, in the order the admin gave them


def changed_fields(before: App, after: App) -> dict[str, tuple[Any, Any]]:
    """What an app change changed, ``{field: (old, new)}``, as the audit log records it."""
    changes: dict[str, tuple[Any, Any]] = {}
    if before.developer_email != after.developer_email:
        changes["developer_email"] = (before.developer_email, after.developer_email)
    if before.products != after.products:
        changes["products"] = (list(before.products), list(after.products))
    return changes


def derived_app_id(client_id: str) -> str:
    """The app id of a client without an app row: the same every time it is asked.

    A name-based UUID with the version bits of a random one: Apigee's app ids are
    version-4 UUIDs, and a client may check the shape.
    """
    return str(uuid.UUID(bytes=uuid.uuid5(APP_ID_NAMESPACE, client_id).bytes, version=4))


def find_app(db: DbHandle, client_pk: int, client_id: str) -> App:
    """Return the app behind an engine client (one with no row: no developer, no products)."""
    row = db.execute(_APP, {"client_pk": client_pk}).first()
    if row is None:
        return App(app_id=derived_app_id(client_id), developer_email=None, products=())
    names = [product.name for product in db.execute(_APP_PRODUCTS, {"client_pk": client_pk})]
    return App(app_id=row.app_id, developer_email=row.developer_email, products=tuple(names))


def app_scope(db: DbHandle, client_pk: int) -> str | None:
    """The union of the app's products' scopes, in product order (the client-scope hook)."""
    rows = db.execute(_APP_PRODUCTS, {"client_pk": client_pk})
    names = dict.fromkeys(name for row in rows for name in scope_names(row.scopes))
    return " ".join(names) or None


def add_product(session: Session, name: str, scopes: str | None = None) -> ApigeeProduct:
    """Add an API product, or replace the scopes of an existing one."""
    if not name or len(name) > 255:
        raise ValueError("A product name is 1 to 255 characters.")
    validate_plain_text(name, "The product name")
    normalized = normalize_scope(scopes)
    product = session.scalar(select(ApigeeProduct).where(ApigeeProduct.name == name))
    if product is None:
        product = ApigeeProduct(name=name)
        session.add(product)
    product.scopes = normalized
    return product


def list_products(session: Session) -> list[ApigeeProduct]:
    """Every API product, by name."""
    return list(session.scalars(select(ApigeeProduct).order_by(ApigeeProduct.name)))


def set_app(
    session: Session,
    client_pk: int,
    client_id: str,
    *,
    developer_email: str | None,
    product_names: list[str],
) -> App:
    """Make the client an app with this developer email and these products, in order.

    A product named twice counts once. Raises ValueError on bad input.
    """
    if developer_email is not None and (
        "@" not in developer_email
        or has_control_characters(developer_email)
        or len(developer_email) > 255  # the column's length (models.py)
    ):
        raise ValueError(f"{developer_email!r} is not an email address (at most 255 characters).")

    product_names = list(dict.fromkeys(product_names))
    product_ids = []
    for name in product_names:
        validate_plain_text(name, "The product name")
        product = session.scalar(select(ApigeeProduct).where(ApigeeProduct.name == name))
        if product is None:
            raise ValueError(f"No API product {name!r}; add it first.")
        product_ids.append(product.id)
    row = session.get(ApigeeApp, client_pk)
    if row is None:
        row = ApigeeApp(client_id=client_pk, app_id=derived_app_id(client_id))
        session.add(row)
    row.developer_email = developer_email
    session.flush()
    session.execute(app_products.delete().where(app_products.c.client_id == client_pk))
    if product_ids:
        session.execute(
            app_products.insert(),
            [
                {"client_id": client_pk, "product_id": product_id, "position": position}
                for position, product_id in enumerate(product_ids)
            ],
        )
    return App(app_id=row.app_id, developer_email=developer_email, products=tuple(product_names))
