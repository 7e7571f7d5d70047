"""The apigee plugin's own tables: developer apps, API products, protected API proxies.

An app is an engine client seen as an Apigee developer app; the engine knows nothing of
it. A client gets a row here once an admin sets its developer or products; until then its
app id is derived from its client id (``apps.derived_app_id``), so it never changes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column
from sqlalchemy import ForeignKey
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Table
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from emulator.host import Base
from emulator.host import ExactString
from emulator.host import LongText
from emulator.host import Timestamp


class ApigeeApp(Base):
    """A client as an Apigee developer app: its app id and its developer's email."""

    __tablename__ = "apigee_apps"

    # The engine's client (oauth_clients.id); the app goes with it.
    client_id: Mapped[int] = mapped_column(
        ForeignKey("oauth_clients.id", ondelete="CASCADE"), primary_key=True
    )
    # Apigee's application_name: a UUID the app keeps for good.
    app_id: Mapped[str] = mapped_column(String(36), unique=True)
    developer_email: Mapped[str | None] = mapped_column(String(255))


class ApigeeProduct(Base):
    """An API product: a name and the scopes it grants to the apps that have it."""

    __tablename__ = "apigee_products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(ExactString(255), unique=True)
    scopes: Mapped[str | None] = mapped_column(LongText)  # space-separated; None: no scopes


# Which API products an app has, in the order the admin gave them (api_product_list).
app_products = Table(
    "apigee_app_products",
    Base.metadata,
    Column("client_id", ForeignKey("apigee_apps.client_id", ondelete="CASCADE"), primary_key=True),
    Column("product_id", ForeignKey("apigee_products.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, nullable=False, default=0),
)


class ApigeeProxy(Base):
    """An API proxy: requests under ``base_path`` are verified, then forwarded to ``target_url``.

    Apigee's VerifyAccessToken + HTTPTargetConnection, as one row.
    """

    __tablename__ = "apigee_proxies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # "/weather", no trailing "/"; matched case-sensitively, as URL paths are.
    base_path: Mapped[str] = mapped_column(ExactString(255), unique=True)
    target_url: Mapped[str] = mapped_column(String(2000))
    # Space-separated; the token must hold at least one (VerifyAccessToken's <Scope>).
    # None: any valid token passes.
    scope: Mapped[str | None] = mapped_column(LongText)
    created_at: Mapped[datetime] = mapped_column(Timestamp)
