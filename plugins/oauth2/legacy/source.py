"""Reading a redCORE database and mapping its rows onto the engine's values.

The layout is ``compat/legacy-schema.md``: bshaffer's tables renamed ``<prefix>redcore_oauth_*``,
Joomla's ``<prefix>extensions`` and its users (``<prefix>users``, ``<prefix>usergroups``,
``<prefix>user_usergroup_map``, read when present). The database is opened read-only where
the driver allows it and read in one transaction (REPEATABLE READ on MySQL/MariaDB and
PostgreSQL), so clients, users and tokens come from one consistent snapshot even while the
old site serves.
SQLAlchemy Core only, on an engine of its own; token tables are streamed in batches.

Mapping is pure: a row becomes an ``oauth.ClientSpec``/``oauth.TokenImport``/``oauth.UserImport``
or a ``Skip`` saying why not (never a secret, a token or a password hash in the reason).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Collection
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import SQLAlchemyError

from emulator import oauth
from emulator.host import dburl
from emulator.host import describe_error
from emulator.host import is_truthy

CLIENTS = "redcore_oauth_clients"
ACCESS_TOKENS = "redcore_oauth_access_tokens"
REFRESH_TOKENS = "redcore_oauth_refresh_tokens"
SCOPES = "redcore_oauth_scopes"
EXTENSIONS = "extensions"
# Tables whose rows are not carried over (reported when they hold any).
NOT_CARRIED = {
    "redcore_oauth_authorization_codes": "codes live seconds: a user asks again",
    "redcore_oauth_jwt": "no JWT bearer grant here",
    "redcore_oauth_public_keys": "no JWT bearer grant here",
}
# The columns read from each table (the documented layout; other columns are ignored).
COLUMNS = {
    CLIENTS: ("client_id", "client_secret", "redirect_uri", "grant_types", "scope", "user_id"),
    ACCESS_TOKENS: ("access_token", "client_id", "user_id", "expires", "scope"),
    REFRESH_TOKENS: ("refresh_token", "client_id", "user_id", "expires", "scope"),
    SCOPES: ("scope", "is_default"),
}
TOKEN_TABLES = {"access": ACCESS_TOKENS, "refresh": REFRESH_TOKENS}
# Joomla's users: read when the table is there (a database holding only redCORE's tables
# carries no users over). Column names as Joomla spells them; they are found in any case
# (PostgreSQL folds unquoted names to lower case).
USERS = "users"
USERGROUPS = "usergroups"
USER_GROUP_MAP = "user_usergroup_map"
USER_COLUMNS = {
    USERS: (
        "id",
        "name",
        "username",
        "email",
        "password",
        "block",
        "registerDate",
        "lastvisitDate",
    ),
    USERGROUPS: ("id", "title"),
    USER_GROUP_MAP: ("user_id", "group_id"),
}
# otpKey (two-factor authentication) came with Joomla 3.2: a site before it has none.
OPTIONAL_USER_COLUMNS = {USERS: ("otpKey",)}
TOKEN_SHAPE = re.compile(r"[0-9a-f]{40}")  # bshaffer's bin2hex(random_bytes(20))
PREFIX_SHAPE = re.compile(r"[A-Za-z0-9_]*")
LEGACY_TIME = "%Y-%m-%d %H:%M:%S"  # PHP's date('Y-m-d H:i:s')
CONNECT_TIMEOUT = 10  # seconds; an unreachable server is reported, not waited for

GAP = "gap"  # a local time that did not exist (clocks went forward)
OVERLAP = "overlap"  # a local time that happened twice (clocks went back)


class LegacyError(Exception):
    """Bad input for the import (the database, a table, an option): one line for the admin."""


@dataclass(frozen=True)
class Skip:
    """A row that is not carried over: the reason (grouped in the summary) and which row."""

    reason: str
    detail: str = ""


# --- options --------------------------------------------------------------------------------


def parse_zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``--timezone``), or LegacyError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise LegacyError(
            f"--timezone {name!r} is not an IANA time zone (e.g. UTC, Europe/Copenhagen)."
        ) from None


def check_prefix(prefix: str) -> str:
    """The table prefix, or LegacyError (Joomla's prefixes are letters, digits and '_')."""
    if not PREFIX_SHAPE.fullmatch(prefix):
        raise LegacyError(
            f"--prefix {prefix!r} is not a table prefix (letters, digits and '_', e.g. jos_)."
        )
    return prefix


# --- the source database ------------------------------------------------------------------


def _parse_url(text: str) -> URL:
    try:
        return dburl.parse_database_url(text, "--from")
    except dburl.UnusableDatabase as error:
        raise LegacyError(error.message) from None


def _create_engine(url: URL) -> sa.Engine:
    """An engine that reads without writing and gives up on a server that does not answer."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        path = url.database or ""
        if not path or path == ":memory:" or not Path(path).is_file():
            raise LegacyError(f"--from: no SQLite database file at {path or '(none)'!r}.")
        uri = Path(path).resolve().as_uri() + "?mode=ro"  # read-only: never creates or writes
        return sa.create_engine(
            "sqlite://",
            creator=lambda: sqlite3.connect(uri, uri=True),
            poolclass=sa.NullPool,
        )
    connect_args: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT}
    if backend == "postgresql":
        connect_args["options"] = "-c default_transaction_read_only=on"
    return sa.create_engine(  # the driver is installed: dburl.parse_database_url checked it
        url,
        poolclass=sa.NullPool,
        connect_args=connect_args,
        isolation_level="REPEATABLE READ",
    )


@dataclass
class LegacySource:
    """An open, read-only connection to a redCORE database, with its tables found."""

    engine: sa.Engine
    connection: sa.Connection
    shown_url: str  # the URL without its password
    prefix: str
    tables: dict[str, sa.TableClause]
    counts_not_carried: dict[str, int]
    notes: list[str]
    # Joomla's user tables as found (name -> table whose columns carry Joomla's spelling),
    # and why the users are not read when they are not ("" when they are).
    user_tables: dict[str, FoundTable] = field(default_factory=dict)
    users_problem: str = ""

    @classmethod
    def open(cls, url_text: str, prefix: str) -> LegacySource:
        """Connect and find the tables, or raise LegacyError with one line saying why not."""
        url = _parse_url(url_text)
        shown = url.render_as_string(hide_password=True)
        engine = _create_engine(url)
        try:
            connection = engine.connect()
        except DBAPIError as error:
            engine.dispose()
            raise LegacyError(f"--from {shown}: {describe_error(error)}") from None
        try:
            connection.begin()
            tables, not_carried = _find_tables(connection, prefix, shown)
            user_tables, users_problem = _find_user_tables(connection, prefix)
            notes = _time_zone_notes(connection)
        except LegacyError:
            connection.close()
            engine.dispose()
            raise
        except SQLAlchemyError as error:
            connection.close()
            engine.dispose()
            raise LegacyError(f"--from {shown}: {describe_error(error)}") from None
        return cls(
            engine,
            connection,
            shown,
            prefix,
            tables,
            not_carried,
            notes,
            user_tables=user_tables,
            users_problem=users_problem,
        )

    def close(self) -> None:
        """End the read transaction and the connection."""
        self.connection.close()
        self.engine.dispose()

    def clients(self) -> list[sa.Row]:
        """Every client row, in id order."""
        table = self.tables[CLIENTS]
        order = table.c.id if "id" in table.c else table.c.client_id
        return list(self.connection.execute(sa.select(*_columns(table, CLIENTS)).order_by(order)))

    def scopes(self) -> list[sa.Row]:
        """Every row of the scopes table, as stored."""
        table = self.tables[SCOPES]
        return list(self.connection.execute(sa.select(*_columns(table, SCOPES))))

    def options(self) -> tuple[dict[str, Any] | None, str]:
        """The com_redcore row's params as a JSON object, or (None, why they cannot be read)."""
        table = self.tables.get(EXTENSIONS)
        if table is None:
            return None, f"no table {self.prefix}{EXTENSIONS}"
        rows = self.connection.execute(
            sa.select(table.c.params).where(
                table.c.element == "com_redcore", table.c.type == "component"
            )
        ).all()
        if not rows:
            return None, f"no com_redcore component row in {self.prefix}{EXTENSIONS}"
        text = rows[0].params
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        if text is None or not text.strip():
            return {}, ""  # never saved: every option is redCORE's default
        try:
            params = json.loads(text)
        except ValueError:
            params = None
        if not isinstance(params, dict):
            return None, "the com_redcore row's params are not a JSON object"
        return params, ""

    def count(self, name: str) -> int:
        """How many rows a table holds."""
        return self.connection.execute(
            sa.select(sa.func.count()).select_from(self.tables[name])
        ).scalar_one()

    def count_users(self) -> int:
        """How many rows the users table holds (0 when it is not read)."""
        users = self.user_tables.get(USERS)
        if users is None:
            return 0
        return self.connection.execute(
            sa.select(sa.func.count()).select_from(users.table)
        ).scalar_one()

    def user_groups(self) -> dict[int, list[str]]:
        """Each user's group titles, in group id order (a map row of no group is ignored).

        Read whole before the users are streamed: a streamed result leaves the connection
        busy (MySQL), and the map holds a few small rows per user.
        """
        groups, members = self.user_tables.get(USERGROUPS), self.user_tables.get(USER_GROUP_MAP)
        if groups is None or members is None:
            return {}
        rows = self.connection.execute(
            sa.select(members.col("user_id"), groups.col("title"))
            .join_from(members.table, groups.table, members.col("group_id") == groups.col("id"))
            .order_by(members.col("user_id"), groups.col("id"))
        )
        found: dict[int, list[str]] = {}
        for user_id, title in rows:
            found.setdefault(user_id, []).append(title)
        return found

    def user_batches(self, size: int) -> Iterator[list[sa.Row]]:
        """The users table's rows in id order, in batches of ``size``, streamed; each row's
        columns named as Joomla spells them (``otpKey`` None where the table has none)."""
        users = self.user_tables[USERS]
        columns = [users.col(name).label(name) for name in USER_COLUMNS[USERS]]
        columns += [
            users.col(name).label(name) if users.has(name) else sa.null().label(name)
            for name in OPTIONAL_USER_COLUMNS[USERS]
        ]
        result = self.connection.execute(
            sa.select(*columns).order_by(users.col("id")).execution_options(yield_per=size)
        )
        try:
            yield from result.partitions(size)
        finally:
            result.close()

    def token_batches(self, kind: str, size: int) -> Iterator[list[sa.Row]]:
        """The rows of a token table in batches of ``size``, streamed (never all in memory)."""
        name = TOKEN_TABLES[kind]
        table = self.tables[name]
        result = self.connection.execute(
            sa.select(*_columns(table, name)).execution_options(yield_per=size)
        )
        try:
            yield from result.partitions(size)
        finally:
            result.close()


def _columns(table: sa.TableClause, name: str) -> list[sa.ColumnClause]:
    return [table.c[column] for column in COLUMNS[name]]


def _find_tables(
    connection: sa.Connection, prefix: str, shown: str
) -> tuple[dict[str, sa.TableClause], dict[str, int]]:
    """The documented tables under ``prefix``, checked for their columns, or LegacyError."""
    inspector = sa.inspect(connection)
    present = set(inspector.get_table_names())
    tables: dict[str, sa.TableClause] = {}
    for name, columns in COLUMNS.items():
        actual = prefix + name
        if actual not in present:
            found = sorted(t for t in present if t.lower().endswith(CLIENTS))
            prefixes = ", ".join(f"{t[: -len(CLIENTS)]!r} ({t})" for t in found) or "none"
            raise LegacyError(
                f"--from {shown}: no table {actual!r} (prefix {prefix!r}); prefixes with a "
                f"{CLIENTS} table there: {prefixes}."
            )
        have = {column["name"] for column in inspector.get_columns(actual)}
        missing = [column for column in columns if column not in have]
        if missing:
            raise LegacyError(
                f"--from {shown}: table {actual!r} has no column {', '.join(missing)}; "
                "is it redCORE's layout?"
            )
        tables[name] = sa.table(actual, *(sa.column(c) for c in sorted(have)))
    if prefix + EXTENSIONS in present:
        have = {column["name"] for column in inspector.get_columns(prefix + EXTENSIONS)}
        if {"element", "type", "params"} <= have:
            tables[EXTENSIONS] = sa.table(
                prefix + EXTENSIONS, sa.column("element"), sa.column("type"), sa.column("params")
            )
    not_carried = {}
    for name in NOT_CARRIED:
        if prefix + name in present:
            count = connection.execute(
                sa.select(sa.func.count()).select_from(sa.table(prefix + name))
            ).scalar_one()
            if count:
                not_carried[name] = count
    return tables, not_carried


@dataclass(frozen=True)
class FoundTable:
    """A Joomla table as found: its columns by Joomla's spelling, whatever their case there."""

    table: sa.TableClause
    names: dict[str, str]  # Joomla's spelling -> the column's name in this database

    def col(self, name: str) -> sa.ColumnClause:
        """The column Joomla calls ``name``."""
        return self.table.c[self.names[name]]

    def has(self, name: str) -> bool:
        """Whether the table has the column Joomla calls ``name``."""
        return name in self.names


def _find_user_tables(connection: sa.Connection, prefix: str) -> tuple[dict[str, FoundTable], str]:
    """Joomla's user tables under ``prefix`` (columns found in any case), and why the users
    cannot be read ("" when they can). Without the group tables users come without groups."""
    inspector = sa.inspect(connection)
    present = set(inspector.get_table_names())
    found: dict[str, FoundTable] = {}
    for name, wanted in USER_COLUMNS.items():
        actual = prefix + name
        if actual not in present:
            if name == USERS:
                return {}, f"no table {actual}"
            continue
        have = {column["name"].lower(): column["name"] for column in inspector.get_columns(actual)}
        missing = [column for column in wanted if column.lower() not in have]
        if missing:
            if name == USERS:
                return {}, f"table {actual} has no column {', '.join(missing)}"
            continue
        names = {
            column: have[column.lower()]
            for column in (*wanted, *OPTIONAL_USER_COLUMNS.get(name, ()))
            if column.lower() in have
        }
        found[name] = FoundTable(sa.table(actual, *map(sa.column, names.values())), names)
    return found, ""


def _time_zone_notes(connection: sa.Connection) -> list[str]:
    """What the admin should know about how the server hands out times."""
    if connection.dialect.name != "mysql":
        return []
    session_zone, system_zone = connection.execute(
        sa.text("SELECT @@session.time_zone, @@system_time_zone")
    ).one()
    return [
        f"MySQL TIMESTAMP values are read in the server's session time zone {session_zone} "
        f"(system: {system_zone}), as a PHP connection that did not set one read them."
    ]


# --- times --------------------------------------------------------------------------------


def to_utc(local: datetime, zone: ZoneInfo) -> tuple[datetime, str]:
    """A wall-clock time of ``zone`` as naive UTC, and GAP, OVERLAP or "".

    A time around a change of offset is read with the offset in force before the change
    (``fold=0``), as PHP's ``strtotime`` read it on the old site: an ambiguous time (the
    hour that happens twice) is its first occurrence, so a token never lives longer than
    the old site let it; a time that did not exist (the hour skipped) is read as the same
    instant as the wall-clock time that far after the change (02:30 is 03:30 summer time).
    """
    first = local.replace(tzinfo=zone, fold=0)
    second = local.replace(tzinfo=zone, fold=1)
    utc = first.astimezone(UTC).replace(tzinfo=None)
    if first.utcoffset() == second.utcoffset():
        return utc, ""
    back = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    return utc, OVERLAP if back == local else GAP


def parse_expires(value: object) -> datetime | None:
    """The ``expires`` column as a naive wall-clock time (or an aware instant), or None."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str):
        try:
            return datetime.strptime(value.strip()[:19], LEGACY_TIME)
        except ValueError:
            return None
    return None


# --- rows ----------------------------------------------------------------------------------


def _text(value: object) -> str | None:
    """A column's value as text (PDO handed PHP strings); bytes must be UTF-8."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("not UTF-8") from None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"a {type(value).__name__}, not text")


def _php_list(text: str) -> str:
    """A space-separated list as bshaffer read it (``explode(' ', trim(...))``), single spaces."""
    return " ".join(name for name in text.split(" ") if name)


def map_client(row: Any, registered: Collection[str] = frozenset()) -> oauth.ClientSpec | Skip:
    """A client row as the engine's spec ('' secret = public client), or why it is skipped.

    ``registered``: the client ids stored here, which keep an id a new client may not take.
    """
    try:
        client_id = _text(row.client_id) or ""
        secret = _text(row.client_secret) or ""
        texts = {
            "redirect_uri": _text(row.redirect_uri) or "",
            "grant_types": _text(row.grant_types),
            "scope": _text(row.scope),
            "user_id": _text(row.user_id),
        }
    except ValueError as error:
        return Skip("malformed row: a column is not text", f"{row.client_id!r}: {error}")
    if not client_id:
        return Skip("malformed row: empty client_id")
    if oauth.has_control_characters(client_id):
        return Skip("malformed row: control character in client_id", repr(client_id))
    if oauth.has_control_characters(secret):  # the value is never shown
        return Skip("malformed row: control character in client_secret", client_id)
    for column, text in texts.items():
        if text is not None and oauth.has_control_characters(text):
            return Skip(f"malformed row: control character in {column}", client_id)
    if len(client_id) > 80 or client_id != client_id.strip():
        return Skip(
            "malformed row: client_id over 80 characters or with spaces around it", repr(client_id)
        )
    if client_id not in registered:
        try:
            oauth.check_new_client_id(client_id)
        except ValueError:
            return Skip(
                "malformed row: client_id with '/' or '\\', or '.' or '..' (it would name "
                "another client's admin page)",
                repr(client_id),
            )
    scope = texts["scope"]
    if scope is not None:
        scope = _php_list(scope) or None
        try:
            if scope is not None:
                oauth.validate_scope(scope)
        except ValueError as error:
            return Skip("malformed row: scope with bad characters", f"{client_id}: {error}")
    grant_types = texts["grant_types"]
    spec = oauth.ClientSpec(
        client_id=client_id,
        secret=secret or None,
        scope=scope,
        grant_types=None if grant_types is None else _php_list(grant_types),
        redirect_uri=texts["redirect_uri"],
        user_id=texts["user_id"],
    )
    try:
        return oauth.check_client_spec(spec, other_grant_types=True)
    except ValueError as error:  # no message names the secret (checked above)
        return Skip("malformed row: " + _category(str(error)), f"{client_id}: {error}")


def _category(message: str) -> str:
    """A short, value-free name for an engine's refusal, to group skips by."""
    lowered = message.lower()
    for word, category in (
        ("grant type", "grant types with bad characters"),
        ("user_id", "user_id too long"),
        ("redirect_uri", "redirect_uri too long"),
        ("scope", "scope with bad characters"),
    ):
        if word in lowered:
            return category
    return "refused by the registry"


def map_scope(row: Any) -> tuple[str, bool] | Skip:
    """A scopes-table row as (scope, is it a default), or why it is skipped."""
    try:
        name = _text(row.scope)
    except ValueError as error:
        return Skip("malformed row: the scope is not text", str(error))
    if not name:
        return Skip("malformed row: empty scope")
    if oauth.has_control_characters(name):
        return Skip("malformed row: control character in scope", repr(name))
    try:
        oauth.validate_scope_name(name)
    except ValueError:
        return Skip("malformed row: scope with bad characters", repr(name))
    return name, is_truthy(row.is_default)


@dataclass(frozen=True)
class MappedToken:
    """A token row that can be carried over, with how its expiry was read."""

    token: oauth.TokenImport
    client_id: str
    local: datetime | None  # the wall-clock expiry read in the time zone (None: an instant)
    time_kind: str  # GAP, OVERLAP or ""


def map_token(
    row: Any,
    kind: str,
    *,
    zone: ZoneInfo,
    now: datetime,
    client_pks: dict[str, int | None],
    skipped_clients: set[str],
) -> MappedToken | Skip:
    """A token row as the engine's TokenImport, or why it is skipped.

    Checked in this order: malformed, expired (against ``now``, after the expiry is read in
    ``zone``), of a client that is not carried over. ``client_pks`` maps the client ids
    being carried over to their primary key (None: not created yet, in a dry run).
    """
    raw = row.access_token if kind == "access" else row.refresh_token
    if not isinstance(raw, str) or not TOKEN_SHAPE.fullmatch(raw):
        return Skip("malformed row: token not 40 lowercase hex characters")
    try:
        client_id = _text(row.client_id) or ""
        user_id = _text(row.user_id)
        scope = _text(row.scope)
    except ValueError:
        return Skip("malformed row: a column is not text")
    if not client_id:
        return Skip("malformed row: empty client_id")
    for column, text in (("client_id", client_id), ("user_id", user_id), ("scope", scope)):
        if text is not None and oauth.has_control_characters(text):
            return Skip(f"malformed row: control character in {column}")
    scope = (scope or "").strip(" ") or None  # bshaffer trimmed a scope before splitting it
    expires = parse_expires(row.expires)
    if expires is None:
        return Skip("malformed row: expires is not a date and time", client_id)
    if expires.tzinfo is not None:  # a time zone-aware column: already an instant
        expires_at, local, time_kind = expires.astimezone(UTC).replace(tzinfo=None), None, ""
    else:
        (expires_at, time_kind), local = to_utc(expires, zone), expires
    if oauth.is_expired(expires_at, now):
        return Skip("expired")
    if client_id not in client_pks:
        if client_id in skipped_clients:
            return Skip("token of a client that was skipped", client_id)
        return Skip("token of an unknown client", client_id)
    token = oauth.TokenImport(
        raw=raw,
        client_pk=client_pks[client_id],
        user_id=user_id,
        scope=scope,
        expires_at=expires_at,
    )
    try:
        oauth.check_token_import(token)
    except ValueError as error:
        return Skip("malformed row: " + _category(str(error)), client_id)
    return MappedToken(token, client_id, local, time_kind)


# --- users ---------------------------------------------------------------------------------

ZERO_DATE = "0000-00-00"  # Joomla 3's "never" (Joomla 4 stores NULL)


def parse_utc(value: object) -> datetime | None:
    """A Joomla date column (stored in UTC, unlike redCORE's token expiry) as naive UTC; None
    for NULL, Joomla 3's zero date and anything else that is no date."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value.astimezone(UTC).replace(tzinfo=None)
        return value
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str) or value.strip().startswith(ZERO_DATE):
        return None
    try:
        return datetime.strptime(value.strip()[:19], LEGACY_TIME)
    except ValueError:
        return None


def map_user(row: Any, groups: Sequence[str]) -> oauth.UserImport | Skip:
    """A ``#__users`` row (columns as Joomla spells them) with its group titles as the
    engine's UserImport, or why it is skipped (never with the password hash).

    ``block`` is PHP-truthy; two-factor authentication is on when ``otpKey`` holds anything;
    the password is the hash as stored ("" = none). ``activation`` is not read: Joomla keeps
    a pending password reset there too, for a user who may log in.
    """
    user_id = row.id
    if isinstance(user_id, str) and user_id.isdigit():
        user_id = int(user_id)
    if isinstance(user_id, bool) or not isinstance(user_id, int) or user_id <= 0:
        return Skip("malformed row: id is not a positive number", repr(row.id))
    try:
        username = _text(row.username) or ""
        password = _text(row.password) or ""
        name = _text(row.name) or ""
        email = _text(row.email) or ""
        otp_key = _text(row.otpKey) or ""
        titles = [_text(title) or "" for title in groups]
    except ValueError as error:
        return Skip("malformed row: a column is not text", f"{user_id}: {error}")
    if not username:
        return Skip("malformed row: empty username", str(user_id))
    if oauth.has_control_characters(username):
        return Skip("malformed row: control character in username", f"{user_id}: {username!r}")
    if oauth.has_control_characters(password):  # the value is never shown
        return Skip("malformed row: control character in password", str(user_id))
    for column, text in (("name", name), ("email", email)):
        if oauth.has_control_characters(text):
            return Skip(f"malformed row: control character in {column}", str(user_id))
    user = oauth.UserImport(
        id=user_id,
        username=username,
        name=name,
        email=email,
        password_hash=password or None,
        blocked=is_truthy(row.block),
        two_factor=bool(otp_key.strip()),
        groups=tuple(title for title in titles if title.strip()),
        registered_at=parse_utc(row.registerDate),
        last_visit_at=parse_utc(row.lastvisitDate),
    )
    try:
        return oauth.check_user_import(user)
    except ValueError as error:  # no message names the password hash (checked above)
        return Skip("malformed row: " + _user_category(str(error)), f"{user_id}: {error}")


def _user_category(message: str) -> str:
    """A short, value-free name for the engine's refusal of a user, to group skips by."""
    lowered = message.lower()
    for word, category in (
        ("username", "username too long or with spaces around it"),
        ("group", "group title with a control character or too long"),
        ("password hash", "password hash too long"),
        ("user id", "id out of range"),
        ("name", "name too long"),
        ("email", "email too long"),
    ):
        if word in lowered:
            return category
    return "refused by the user store"
