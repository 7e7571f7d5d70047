"""The oauth2 plugin's own tables: which clients, scopes, tokens and users came from the
redCORE database.

``flask legacy import --prune`` removes the clients and scopes the old site no longer has;
it must never remove one an admin made here (for another dialect, or new): only what an
import brought over is the old site's to take away. A row goes with its client or scope.

A token an import brought over that is no longer stored here was used up, revoked or
deleted here: a later import must not bring it back while it is still live on the old
site. Its row stays until the token's expiry (the import removes rows past it).

A user an import brought over keeps a record of the old site's values as last imported
(its password hash only as a digest), so that the next import applies only what changed on
the old site since: a password set or rehashed here, a block lifted here, stay as they are
unless the old site's own value changed. The record outlives the user: a user removed here
is not brought back.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from emulator.host import Base
from emulator.host import LongText
from emulator.host import Timestamp


class ImportedClient(Base):
    """A client the legacy import brought over (or found already here, by its id)."""

    __tablename__ = "oauth2_imported_clients"

    client_id: Mapped[int] = mapped_column(
        ForeignKey("oauth_clients.id", ondelete="CASCADE"), primary_key=True
    )
    imported_at: Mapped[datetime] = mapped_column(Timestamp)


class ImportedScope(Base):
    """A scope the legacy import brought over (or found already here, by its name)."""

    __tablename__ = "oauth2_imported_scopes"

    scope_id: Mapped[int] = mapped_column(
        ForeignKey("oauth_scopes.id", ondelete="CASCADE"), primary_key=True
    )
    imported_at: Mapped[datetime] = mapped_column(Timestamp)


class ImportedToken(Base):
    """A token the legacy import brought over (or found already here), by the engine's hash.

    Keyed by kind and hash as the engine keys its two token tables: the same value in both
    of the old site's tables is two tokens.
    """

    __tablename__ = "oauth2_imported_tokens"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # "access" or "refresh"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(Timestamp, index=True)


class ImportedUser(Base):
    """A site user the legacy import brought over, and the old site's values as last imported.

    Keyed by the user id (the old site's, kept here); no foreign key: the record stays when
    the user is removed here, so that the next import does not bring the user back.
    """

    __tablename__ = "oauth2_imported_users"

    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # The SHA-256 of the old site's password column as last imported ("" hashed when empty).
    password_digest: Mapped[str] = mapped_column(String(64))
    # The old site's other values as last imported: a JSON object (username, name, email,
    # blocked, two_factor, groups, registered_at).
    profile: Mapped[str] = mapped_column(LongText)
    imported_at: Mapped[datetime] = mapped_column(Timestamp)


class LegacyLink(Base):
    """The legacy link (``flask legacy link set``): the old site's database, while a site
    moves. One row (id 1) or none. The URL is kept without its password; the password is
    kept encrypted with a key derived from the app's SECRET_KEY (``legacy.link.secrets``)."""

    __tablename__ = "oauth2_legacy_link"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    url: Mapped[str] = mapped_column(LongText)  # without the password
    password: Mapped[str | None] = mapped_column(LongText, nullable=True)  # Fernet token
    prefix: Mapped[str] = mapped_column(String(64))
    timezone: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(Timestamp)


class LinkWrite(Base):
    """A mirror write that has not landed on the old site yet, in the order it was made.

    ``payload`` is the write (the token itself included) as a JSON object encrypted like
    the link's password: no plain token at rest. The row goes once the write landed.
    """

    __tablename__ = "oauth2_legacy_link_queue"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action: Mapped[str] = mapped_column(String(16))  # "put", "delete" or "client"
    payload: Mapped[str] = mapped_column(LongText)
    queued_at: Mapped[datetime] = mapped_column(Timestamp)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(255), nullable=True)
