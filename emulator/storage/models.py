"""SQLAlchemy models: the plugin state table and the OAuth2 engine's tables.

They know no legacy system: a plugin that needs more keeps its own tables in its own
``models.py``, and reaches the engine through a declared hook (``emulator.web.plugin``).
Times are naive UTC datetimes, kept to the microsecond on every backend (``Timestamp``);
ids and names that find a row compare exactly on every backend (``ExactString``). Secrets
and tokens are never stored: a token row is keyed by the SHA-256 of the token, a client
secret is kept as a slow salted hash.
"""

from __future__ import annotations

from datetime import date
from datetime import datetime

from sqlalchemy import BigInteger
from sqlalchemy import Boolean
from sqlalchemy import Date
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import false
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from emulator.storage.schema import Base
from emulator.storage.schema import EpochSeconds
from emulator.storage.schema import ExactString
from emulator.storage.schema import LongText
from emulator.storage.schema import Timestamp


class PluginState(Base):
    """Whether a plugin is enabled and its params: Joomla's ``#__extensions`` row."""

    __tablename__ = "plugin_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # JSON object of the params an admin set; defaults are filled in when loaded.
    params: Mapped[str] = mapped_column(LongText, default="{}")
    updated_at: Mapped[datetime] = mapped_column(Timestamp)


class Client(Base):
    """A registered OAuth2 client (redCORE's ``redcore_oauth_clients``)."""

    __tablename__ = "oauth_clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(ExactString(80), unique=True)
    # argon2id hash of the secret (earlier: salted scrypt); None for a public client.
    secret_hash: Mapped[str | None] = mapped_column(String(255))
    # The secret before the last rotation and until when it still works (a grace period
    # an admin gave); None when it stopped at once.
    previous_secret_hash: Mapped[str | None] = mapped_column(String(255))
    previous_secret_until: Mapped[datetime | None] = mapped_column(Timestamp)
    # A disabled client is unknown to the wire: its credentials and tokens are refused.
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    redirect_uri: Mapped[str] = mapped_column(String(2000), default="")
    # Space-separated; None = every grant allowed, "" = none (bshaffer's rule).
    grant_types: Mapped[str | None] = mapped_column(String(80))
    # Space-separated; None (or "") = no client scope.
    scope: Mapped[str | None] = mapped_column(LongText)
    user_id: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(Timestamp)

    @property
    def is_public(self) -> bool:
        """A public client has no secret (redCORE stored '')."""
        return self.secret_hash is None


class Scope(Base):
    """A known scope (``redcore_oauth_scopes``); default scopes go to clients without one."""

    __tablename__ = "oauth_scopes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(ExactString(255), unique=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)


def _newest_first(table: str) -> Index:
    """A token table's index of a client's tokens, newest first (``client_tokens``).

    It ends in the primary key, so the listing's order (issued_at, then token_hash, both
    descending) is the index's own and ``LIMIT`` reads only the rows it shows: without it a
    client with a million tokens had the admin page sort a million rows (1.4 s on SQLite).
    Its leading ``client_id`` serves the foreign key and ``WHERE client_id = ...`` as a
    ``client_id`` index did.
    """
    return Index(f"ix_{table}_client_id_issued_at", "client_id", "issued_at", "token_hash")


def _users_newest_first(table: str) -> Index:
    """A token table's index of a site user's tokens, newest first (``user_tokens``, and
    the deletes when a user is blocked or deleted): the same shape as ``_newest_first``."""
    return Index(f"ix_{table}_user_id_issued_at", "user_id", "issued_at", "token_hash")


class AccessToken(Base):
    """An access token, stored by hash."""

    __tablename__ = "oauth_access_tokens"
    __table_args__ = (
        _newest_first("oauth_access_tokens"),
        _users_newest_first("oauth_access_tokens"),
    )

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("oauth_clients.id", ondelete="CASCADE"))
    user_id: Mapped[str | None] = mapped_column(String(255))
    scope: Mapped[str | None] = mapped_column(LongText)
    issued_at: Mapped[datetime] = mapped_column(Timestamp)
    expires_at: Mapped[datetime] = mapped_column(Timestamp, index=True)
    # The refresh token issued with this one (or used to get it): revoking that
    # refresh token ends this access token too (RFC 7009 §2.1).
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), index=True)


class RefreshToken(Base):
    """A refresh token, stored by hash; deleted on use unless the plugin says otherwise."""

    __tablename__ = "oauth_refresh_tokens"
    __table_args__ = (
        _newest_first("oauth_refresh_tokens"),
        _users_newest_first("oauth_refresh_tokens"),
    )

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("oauth_clients.id", ondelete="CASCADE"))
    user_id: Mapped[str | None] = mapped_column(String(255))
    scope: Mapped[str | None] = mapped_column(LongText)
    issued_at: Mapped[datetime] = mapped_column(Timestamp)
    expires_at: Mapped[datetime] = mapped_column(Timestamp, index=True)
    # The first refresh token of the chain this one was rotated from (None: it is the
    # first); reuse detection revokes a whole chain.
    family_hash: Mapped[str | None] = mapped_column(String(64), index=True)


class UsedRefreshToken(Base):
    """A refresh token that was used up, kept to its expiry so that a reuse is recognised.

    Written only while a dialect turns reuse detection on (RFC 6819 §5.2.2.3).
    """

    __tablename__ = "oauth_used_refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[int] = mapped_column(
        ForeignKey("oauth_clients.id", ondelete="CASCADE"), index=True
    )
    family_hash: Mapped[str] = mapped_column(String(64), index=True)
    expires_at: Mapped[datetime] = mapped_column(Timestamp, index=True)


class AuthorizationCode(Base):
    """An authorization code (RFC 6749 §4.1), stored by hash; deleted when it is used.

    ``redirect_uri`` is the one the authorization request named (None: it named none, and
    the token request need not name one either); ``scope`` None: the default scopes.
    """

    __tablename__ = "oauth_authorization_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[int] = mapped_column(
        ForeignKey("oauth_clients.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str | None] = mapped_column(String(255))
    redirect_uri: Mapped[str | None] = mapped_column(String(2000))
    scope: Mapped[str | None] = mapped_column(LongText)
    issued_at: Mapped[datetime] = mapped_column(Timestamp)
    expires_at: Mapped[datetime] = mapped_column(Timestamp, index=True)


class RateLimitCounter(Base):
    """A fixed-window counter of failed client authentications (emulator/ops/throttle.py).

    The key names what is counted (a hash of the client id, the source address), never a
    secret; rows past their window are dead and removed by ``flask tokens purge``.
    """

    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(ExactString(255), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[float] = mapped_column(EpochSeconds)  # epoch seconds the window ends


class UsageCount(Base):
    """How often a client used one form of a plugin's URL on one UTC day (emulator/ops/usage.py).

    Keyed by the client's row (an authenticated client, a verified token's client: never
    an id a request merely presented), the plugin, its operation, where the credentials
    and the token came from (``""``: the request carried none there) and the day. Each
    worker adds its counts in batches (one transaction every ``USAGE_FLUSH_SECONDS``),
    never on the request path.
    """

    __tablename__ = "usage_counts"

    client_id: Mapped[int] = mapped_column(
        ForeignKey("oauth_clients.id", ondelete="CASCADE"), primary_key=True
    )
    plugin: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The plugin's operation: an ``option=`` value, a token flow, a proxy's base path
    # (compared exactly on MySQL/MariaDB too, whose default collations ignore case).
    operation: Mapped[str] = mapped_column(ExactString(255), primary_key=True)
    credential_form: Mapped[str] = mapped_column(String(16), primary_key=True)
    token_form: Mapped[str] = mapped_column(String(16), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True, index=True)
    count: Mapped[int] = mapped_column(BigInteger)
    last_seen: Mapped[datetime] = mapped_column(Timestamp)


class AuditEvent(Base):
    """One admin action or security event (emulator/ops/audit.py): who, when, from where, what.

    ``before``/``after`` are JSON objects of the changed fields only; never a secret, a
    password or a token (a rotation says ``"secret": "rotated"``).
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(Timestamp, index=True)
    # "admin:<username>" (pages), "cli:<os user>" (CLI), "system" (security events).
    actor: Mapped[str] = mapped_column(String(255))
    address: Mapped[str | None] = mapped_column(String(64))  # None from the CLI
    # Dotted, e.g. "client.rotate_secret"; filtered by prefix (exact on MySQL too).
    action: Mapped[str] = mapped_column(ExactString(64), index=True)
    target: Mapped[str] = mapped_column(String(255))
    before: Mapped[str | None] = mapped_column(LongText)
    after: Mapped[str | None] = mapped_column(LongText)


class SiteUser(Base):
    """A user of the site, who logs in with a password (the password grant, the login page).

    ``id`` is the user id that tokens and clients name (as a string on the wire); an import
    keeps the old site's. Usernames match without regard to case, as the old site's
    case-insensitive collation matched them: ``username_key`` is the lower-cased form
    (trailing spaces dropped, as such collations padded them), unique. The password is an
    argon2id hash, or a hash of another system's format that a plugin's verifier checks
    and that is replaced by an argon2id hash at the user's next successful login.
    """

    __tablename__ = "site_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    username: Mapped[str] = mapped_column(String(150))
    username_key: Mapped[str] = mapped_column(ExactString(255), unique=True)
    name: Mapped[str] = mapped_column(String(400), default="")
    email: Mapped[str] = mapped_column(String(255), default="")
    # None: no password at all (the user cannot log in with one).
    password_hash: Mapped[str | None] = mapped_column(String(255))
    password_changed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # A blocked user, and one with two-factor authentication on (whose second factor this
    # service does not ask for), fail to log in exactly as with a wrong password.
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    two_factor: Mapped[bool] = mapped_column(Boolean, default=False)
    registered_at: Mapped[datetime | None] = mapped_column(Timestamp)
    last_visit_at: Mapped[datetime | None] = mapped_column(Timestamp)


class SiteUserGroup(Base):
    """A group a site user is in, by its title, in the order the user's groups are listed."""

    __tablename__ = "site_user_groups"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("site_users.id", ondelete="CASCADE"), primary_key=True
    )
    title: Mapped[str] = mapped_column(ExactString(100), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class SiteUserSession(Base):
    """A site user's login in a browser (the pages a plugin serves), stored by the hash of
    the cookie's random id: a copy of the database holds no usable session.

    A session counts only while its user exists, is not blocked and has no two-factor
    authentication on; blocking or deleting the user also deletes its sessions.
    """

    __tablename__ = "site_user_sessions"

    session_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("site_users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    expires_at: Mapped[datetime] = mapped_column(Timestamp, index=True)


class AdminUser(Base):
    """A site admin who may log in to the admin pages; the password as an argon2id hash."""

    __tablename__ = "admin_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(ExactString(150), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(Timestamp)
    password_changed_at: Mapped[datetime] = mapped_column(Timestamp)
    last_login_at: Mapped[datetime | None] = mapped_column(Timestamp)
    # The last logout: it ended every session of this admin begun before it (a session is a
    # signed cookie, which a copy would otherwise replay until it expires).
    sessions_ended_at: Mapped[datetime | None] = mapped_column(Timestamp)


class AdminSecretDisplay(Base):
    """A new client secret, kept for its one showing after a rotation (manage/admin/reveal.py).

    Only half of it is here: the secret XOR a random pad as long as it. The pad is in the
    admin's session cookie, and the row is keyed by the pad's SHA-256; neither half alone
    tells anything of the secret. The row goes when it is shown, or minutes later unshown.
    """

    __tablename__ = "admin_secret_displays"

    pad_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    sealed: Mapped[str] = mapped_column(String(255))  # hex of the secret's bytes XOR the pad
    expires_at: Mapped[datetime] = mapped_column(Timestamp, index=True)
