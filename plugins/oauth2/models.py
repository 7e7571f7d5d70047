"""The oauth2 plugin's own tables: which clients and scopes came from the redCORE database.

``flask legacy import --prune`` removes the clients and scopes the old site no longer has;
it must never remove one an admin made here (for another dialect, or new): only what an
import brought over is the old site's to take away. A row goes with its client or scope.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from emulator.db import Timestamp
from emulator.db import db


class ImportedClient(db.Model):
    """A client the legacy import brought over (or found already here, by its id)."""

    __tablename__ = "oauth2_imported_clients"

    client_id: Mapped[int] = mapped_column(
        ForeignKey("oauth_clients.id", ondelete="CASCADE"), primary_key=True
    )
    imported_at: Mapped[datetime] = mapped_column(Timestamp)


class ImportedScope(db.Model):
    """A scope the legacy import brought over (or found already here, by its name)."""

    __tablename__ = "oauth2_imported_scopes"

    scope_id: Mapped[int] = mapped_column(
        ForeignKey("oauth_scopes.id", ondelete="CASCADE"), primary_key=True
    )
    imported_at: Mapped[datetime] = mapped_column(Timestamp)
