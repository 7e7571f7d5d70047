"""A legacy redCORE database to import from: the documented layout (compat/legacy-schema.md),
with Joomla's user tables.

The tables are created from MySQL DDL under a table prefix: on SQLite always (the DDL
translated the way a converted site's would be), on a real MariaDB/MySQL when
``TEST_MYSQL_URL`` names a server (a scratch database ``legacy_<random>`` for the test
run, dropped after it), and on PostgreSQL when ``TEST_DATABASE_URL`` does. Rows are
written as PHP wrote them: plain secrets and tokens, ``expires`` as the PHP server's
local ``Y-m-d H:i:s``, the component's options as the JSON Joomla's form saved, users'
dates in UTC with Joomla 3's zero date for "never" (NULL on PostgreSQL, as Joomla 4), and
their passwords hashed in every format Joomla stored, by libpass and the bcrypt package. The
fixtures that build these sites are in tests/plugins/oauth2/legacy/conftest.py; reading
what an import run printed is at the end.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import string
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import bcrypt
import pytest
import sqlalchemy as sa
from passlib.hash import argon2 as libpass_argon2
from passlib.hash import hex_md5
from passlib.hash import hex_sha256
from passlib.hash import phpass

from emulator.ops.clock import utcnow

MYSQL_URL = os.environ.get("TEST_MYSQL_URL")
POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")
LEGACY_BACKENDS = (
    ["sqlite"] + (["mysql"] if MYSQL_URL else []) + (["postgresql"] if POSTGRES_URL else [])
)
ZONE = ZoneInfo("Europe/Copenhagen")
LOCAL = "%Y-%m-%d %H:%M:%S"


def random_prefix() -> str:
    """A prefix as Joomla's installer makes them: five letters and digits, then '_'."""
    alphabet = string.ascii_lowercase + string.digits
    return (
        secrets.choice(string.ascii_lowercase)
        + "".join(secrets.choice(alphabet) for _ in range(4))
        + "_"
    )


# The layout, as MySQL DDL: (columns, keys) per table after the prefix.
LAYOUT: dict[str, tuple[list[str], list[str]]] = {
    "redcore_oauth_clients": (
        [
            "id int(10) unsigned NOT NULL AUTO_INCREMENT",
            "client_id varchar(80) NOT NULL",
            "client_secret varchar(80) NOT NULL DEFAULT ''",
            "redirect_uri varchar(2000) NOT NULL DEFAULT ''",
            "grant_types varchar(80) DEFAULT NULL",
            "scope text DEFAULT NULL",
            "user_id varchar(80) DEFAULT NULL",
        ],
        ["PRIMARY KEY (id)", "UNIQUE KEY idx_client_id (client_id)"],
    ),
    "redcore_oauth_access_tokens": (
        [
            "access_token varchar(40) NOT NULL",
            "client_id varchar(80) NOT NULL",
            "user_id varchar(255) DEFAULT NULL",
            "expires timestamp NOT NULL",
            "scope text DEFAULT NULL",
        ],
        ["PRIMARY KEY (access_token)", "KEY idx_client_id (client_id)"],
    ),
    "redcore_oauth_refresh_tokens": (
        [
            "refresh_token varchar(40) NOT NULL",
            "client_id varchar(80) NOT NULL",
            "user_id varchar(255) DEFAULT NULL",
            "expires timestamp NOT NULL",
            "scope text DEFAULT NULL",
        ],
        ["PRIMARY KEY (refresh_token)", "KEY idx_client_id (client_id)"],
    ),
    "redcore_oauth_authorization_codes": (
        [
            "authorization_code varchar(40) NOT NULL",
            "client_id varchar(80) NOT NULL",
            "user_id varchar(255) DEFAULT NULL",
            "redirect_uri varchar(2000) DEFAULT NULL",
            "expires timestamp NOT NULL",
            "scope text DEFAULT NULL",
            "id_token varchar(1000) DEFAULT NULL",
        ],
        ["PRIMARY KEY (authorization_code)"],
    ),
    "redcore_oauth_scopes": (["scope text", "is_default tinyint(1) DEFAULT NULL"], []),
    "redcore_oauth_users": (
        [
            "username varchar(255) NOT NULL",
            "password varchar(2000) DEFAULT NULL",
            "first_name varchar(255) DEFAULT NULL",
            "last_name varchar(255) DEFAULT NULL",
        ],
        ["PRIMARY KEY (username)"],
    ),
    "redcore_oauth_jwt": (
        [
            "client_id varchar(80) NOT NULL",
            "subject varchar(80) DEFAULT NULL",
            "public_key varchar(2000) DEFAULT NULL",
        ],
        ["PRIMARY KEY (client_id)"],
    ),
    # Joomla's own tables (the columns the importer reads, and a few around them).
    "users": (
        [
            "id int(11) NOT NULL AUTO_INCREMENT",
            "name varchar(400) NOT NULL DEFAULT ''",
            "username varchar(150) NOT NULL DEFAULT ''",
            "email varchar(100) NOT NULL DEFAULT ''",
            "password varchar(100) NOT NULL DEFAULT ''",
            "block tinyint(4) NOT NULL DEFAULT 0",
            "sendEmail tinyint(4) DEFAULT 0",
            "registerDate datetime NOT NULL",
            "lastvisitDate datetime DEFAULT NULL",
            "activation varchar(100) NOT NULL DEFAULT ''",
            "params text",
            "otpKey varchar(1000) NOT NULL DEFAULT ''",
            "otep varchar(1000) NOT NULL DEFAULT ''",
            "requireReset tinyint(4) NOT NULL DEFAULT 0",
        ],
        ["PRIMARY KEY (id)", "UNIQUE KEY idx_username (username)"],
    ),
    "usergroups": (
        [
            "id int(10) unsigned NOT NULL AUTO_INCREMENT",
            "parent_id int(10) unsigned NOT NULL DEFAULT 0",
            "lft int(11) NOT NULL DEFAULT 0",
            "rgt int(11) NOT NULL DEFAULT 0",
            "title varchar(100) NOT NULL DEFAULT ''",
        ],
        ["PRIMARY KEY (id)"],
    ),
    "user_usergroup_map": (
        [
            "user_id int(10) unsigned NOT NULL DEFAULT 0",
            "group_id int(10) unsigned NOT NULL DEFAULT 0",
        ],
        ["PRIMARY KEY (user_id, group_id)"],
    ),
    "extensions": (
        [
            "extension_id int(11) NOT NULL AUTO_INCREMENT",
            "name varchar(100) NOT NULL",
            "type varchar(20) NOT NULL",
            "element varchar(100) NOT NULL",
            "folder varchar(100) NOT NULL DEFAULT ''",
            "client_id tinyint(3) NOT NULL",
            "enabled tinyint(3) NOT NULL DEFAULT 0",
            "params text NOT NULL",
        ],
        ["PRIMARY KEY (extension_id)"],
    ),
}
MYSQL_TABLE_OPTIONS = "ENGINE=InnoDB DEFAULT CHARSET=utf8 COLLATE=utf8_general_ci"


def ddl(dialect: str, prefix: str) -> list[str]:
    """CREATE TABLE statements for the layout: MySQL's as written, translated for the others."""
    statements = []
    for name, (columns, keys) in LAYOUT.items():
        if dialect == "mysql":
            body = columns + keys
            suffix = " " + MYSQL_TABLE_OPTIONS
        else:
            body = []
            for column in columns:
                if "AUTO_INCREMENT" in column:
                    column_name = column.split()[0]
                    kind = (
                        "INTEGER PRIMARY KEY AUTOINCREMENT"
                        if dialect == "sqlite"
                        else "serial PRIMARY KEY"
                    )
                    body.append(f"{column_name} {kind}")
                    continue
                column = re.sub(r"\bint\(\d+\)( unsigned)?", "integer", column)
                column = re.sub(r"\btinyint\(\d+\)", "smallint", column)
                if dialect == "postgresql":  # Joomla 4 quotes its mixed-case names there
                    column = re.sub(r"\bdatetime\b", "timestamp", column)
                    named, _, rest = column.partition(" ")
                    column = f'"{named}" {rest}' if named != named.lower() else column
                body.append(column)
            for key in keys:
                if key.startswith("PRIMARY KEY") and any("AUTO_INCREMENT" in c for c in columns):
                    continue
                if key.startswith("UNIQUE KEY"):
                    body.append("UNIQUE " + key.split(" ", 3)[3])
                elif key.startswith("PRIMARY KEY"):
                    body.append(key)
            suffix = ""
        statements.append(
            f"CREATE TABLE {prefix}{name} (\n  " + ",\n  ".join(body) + f"\n){suffix}"
        )
    return statements


@dataclass
class LegacySite:
    """A redCORE database under ``prefix``, and helpers to write its rows as PHP did."""

    url: str
    prefix: str
    engine: sa.Engine
    backend: str
    expiry: dict[str, datetime] = field(default_factory=dict)  # the live tokens', in UTC
    _batch: sa.Connection | None = field(default=None, repr=False, compare=False)

    def run(self, sql: str, **params: Any) -> None:
        """One statement; ``{p}`` in it is the table prefix. Committed at once, or with the
        others of a ``batch``."""
        statement = sa.text(sql.replace("{p}", self.prefix))
        if self._batch is not None:
            self._batch.execute(statement, params)
            return
        with self.engine.begin() as conn:
            conn.execute(statement, params)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """The writes made inside, on one connection in one transaction: a server's commit
        costs a flush to disk, which a site's dozens of rows each paid."""
        with self.engine.begin() as conn:
            self._batch = conn
            try:
                yield
            finally:
                self._batch = None

    def rows(self, sql: str, **params: Any) -> list[sa.Row]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.text(sql.replace("{p}", self.prefix)), params))

    def add_client(
        self,
        client_id: str,
        secret: str = "",
        *,
        redirect_uri: str = "",
        grant_types: str | None = None,
        scope: str | None = None,
        user_id: str | None = None,
    ) -> None:
        self.run(
            "INSERT INTO {p}redcore_oauth_clients "
            "(client_id, client_secret, redirect_uri, grant_types, scope, user_id) "
            "VALUES (:client_id, :secret, :redirect_uri, :grant_types, :scope, :user_id)",
            client_id=client_id,
            secret=secret,
            redirect_uri=redirect_uri,
            grant_types=grant_types,
            scope=scope,
            user_id=user_id,
        )

    def add_token(
        self,
        kind: str,
        token: str,
        client_id: str,
        expires: datetime | str,
        *,
        scope: str | None = None,
        user_id: str | None = None,
    ) -> None:
        """A token row; ``expires`` is the PHP server's wall-clock time (written as text)."""
        column = "access_token" if kind == "access" else "refresh_token"
        text = expires if isinstance(expires, str) else expires.strftime(LOCAL)
        self.run(
            f"INSERT INTO {{p}}redcore_oauth_{kind}_tokens "
            f"({column}, client_id, user_id, expires, scope) "
            "VALUES (:token, :client_id, :user_id, :expires, :scope)",
            token=token,
            client_id=client_id,
            user_id=user_id,
            expires=text if self.backend != "postgresql" else datetime.strptime(text, LOCAL),
            scope=scope,
        )

    def add_scope(self, scope: str, is_default: bool = False) -> None:
        self.run(
            "INSERT INTO {p}redcore_oauth_scopes (scope, is_default) VALUES (:scope, :d)",
            scope=scope,
            d=int(is_default),
        )

    def set_options(self, params: dict[str, Any] | str) -> None:
        """The com_redcore row's params (a dict is saved as JSON)."""
        text = params if isinstance(params, str) else json.dumps(params)
        self.run("DELETE FROM {p}extensions WHERE element = 'com_redcore'")
        self.run(
            "INSERT INTO {p}extensions (name, type, element, client_id, enabled, params) "
            "VALUES ('com_redcore', 'component', 'com_redcore', 1, 1, :params)",
            params=text,
        )

    def add_group(self, group_id: int, title: str, parent_id: int = 0) -> None:
        self.run(
            "INSERT INTO {p}usergroups (id, parent_id, title) VALUES (:id, :parent, :title)",
            id=group_id,
            parent=parent_id,
            title=title,
        )

    def add_user(self, user: LegacyUser, *, password_hash: str | None = None) -> None:
        """A #__users row (the password hashed as ``user.kind`` says, unless given) and its
        group memberships."""
        stored = joomla_hash(user.kind, user.password) if password_hash is None else password_hash
        self.run(
            "INSERT INTO {p}users (id, name, username, email, password, block, "
            + ", ".join(map(self.quoted, ("registerDate", "lastvisitDate", "otpKey")))
            + ") "
            "VALUES (:id, :name, :username, :email, :password, :block, :registered, :visited, "
            ":otp)",
            id=user.id,
            name=user.name,
            username=user.username,
            email=user.email,
            password=stored,
            block=user.block,
            registered=self.date(REGISTERED),
            visited=self.date(user.last_visit),
            otp=user.otp_key,
        )
        for group_id in user.groups:
            self.run(
                "INSERT INTO {p}user_usergroup_map (user_id, group_id) VALUES (:u, :g)",
                u=user.id,
                g=group_id,
            )

    def quoted(self, column: str) -> str:
        """A mixed-case Joomla column as this database names it (quoted on PostgreSQL)."""
        return f'"{column}"' if self.backend == "postgresql" else column

    def date(self, text: str | None) -> Any:
        """A Joomla date as PHP wrote it (UTC text); "never" is Joomla 3's zero date, or NULL
        on PostgreSQL (Joomla 4)."""
        if text is None:
            return None if self.backend == "postgresql" else NEVER
        return datetime.strptime(text, LOCAL) if self.backend == "postgresql" else text

    def count(self, table: str) -> int:
        return self.rows(f"SELECT count(*) FROM {{p}}{table}")[0][0]

    def drop(self) -> None:
        with self.engine.begin() as conn:
            for name in LAYOUT:
                conn.execute(sa.text(f"DROP TABLE IF EXISTS {self.prefix}{name}"))


@contextmanager
def scratch_mysql() -> Iterator[str]:
    """A new database ``legacy_<random>`` on the TEST_MYSQL_URL server; dropped afterwards."""
    assert MYSQL_URL is not None
    server = sa.make_url(MYSQL_URL)
    name = f"legacy_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, poolclass=sa.NullPool)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name} CHARACTER SET utf8 COLLATE utf8_general_ci"))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


def build_site(url: str, backend: str, prefix: str = "jos_") -> LegacySite:
    """Create the layout's tables under ``prefix`` in the database at ``url`` (empty)."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    site = LegacySite(url=url, prefix=prefix, engine=engine, backend=backend)
    site.drop()
    with engine.begin() as conn:
        for statement in ddl(backend, prefix):
            conn.execute(sa.text(statement))
    return site


# --- Joomla's users ---------------------------------------------------------------------------

NEVER = "0000-00-00 00:00:00"  # Joomla 3's "never visited"
REGISTERED = "2015-03-04 05:06:07"  # UTC, as Joomla stores it
GROUPS = {1: "Public", 2: "Registered", 3: "Author", 8: "Super Users"}


@dataclass(frozen=True)
class LegacyUser:
    """A Joomla user, with the password in plain text and the format it is stored in."""

    id: int
    username: str
    password: str
    kind: str  # a key of HASHERS
    name: str = "A User"
    email: str = ""
    block: int = 0
    otp_key: str = ""
    groups: tuple[int, ...] = (2,)
    last_visit: str | None = "2024-01-02 03:04:05"


# Every format Joomla stored, made by an implementation that is not ours.
HASHERS = {
    "bcrypt": lambda pw: (
        bcrypt.hashpw(pw.encode(), bcrypt.gensalt(4)).decode().replace("$2b$", "$2y$")
    ),
    "phpass": lambda pw: phpass.using(rounds=8).hash(pw),
    "phpass-H": lambda pw: phpass.using(ident="H", rounds=8).hash(pw),
    "md5-salted": lambda pw: hex_md5.hash(pw + "SaLt1234abcdefgh") + ":SaLt1234abcdefgh",
    "md5": lambda pw: hex_md5.hash(pw),
    "sha256": lambda pw: "{SHA256}" + hex_sha256.hash(pw + "s4ltS4lt") + ":s4ltS4lt",
    "argon2i": lambda pw: libpass_argon2.using(type="I", rounds=1, memory_cost=512).hash(pw),
    "argon2id": lambda pw: libpass_argon2.using(type="ID", rounds=1, memory_cost=512).hash(pw),
    "none": lambda pw: "",
}


def joomla_hash(kind: str, password: str) -> str:
    """``password`` hashed as Joomla stored it in format ``kind``."""
    return HASHERS[kind](password)


# The site's users: one per stored format (each must log in), and those that must not.
USERS = [
    LegacyUser(42, "apiuser", "apipass", "bcrypt", "API User", "apiuser@example.test"),
    LegacyUser(43, "Phpass.User", "php pass", "phpass", groups=(2, 3)),
    LegacyUser(44, "phpbb.user", "phpbb pass", "phpass-H", groups=()),
    LegacyUser(45, "md5.salted", "salted pass", "md5-salted", last_visit=None),
    LegacyUser(46, "md5.bare", "bare pass", "md5"),
    LegacyUser(47, "sha.user", "sha pass", "sha256"),
    LegacyUser(48, "argon.i", "argon i pass", "argon2i"),
    LegacyUser(49, "argon.id", "argon id pass", "argon2id", groups=(8,)),
    LegacyUser(50, "Bjørn", "pässwörd ✓", "md5-salted"),
    LegacyUser(51, "blocked.user", "blocked pass", "bcrypt", block=1),
    LegacyUser(52, "two.factor", "otp pass", "bcrypt", otp_key="totp:c2VjcmV0"),
    LegacyUser(53, "no.password", "", "none"),
]
# Rows the import skips (never logged in here).
BAD_USERS = [
    LegacyUser(60, "", "empty name pass", "md5"),
    LegacyUser(61, "ctl\x01user", "ctl pass", "md5"),
]
LOGINS = {
    user.username: user.password
    for user in USERS
    if user.password and not (user.block or user.otp_key)
}


# The site most tests import: every kind of client, the shipped scopes plus a default one,
# live and expired tokens written in Copenhagen time (one in a DST gap, one in an overlap),
# malformed rows, the options as an admin saved them, and the users above.
SECRETS = {
    "conf-client": "201010425",  # a short legacy secret, as real sites had
    "cc-only": "cc-Pass-1",
    "no-grants": "ng-Pass-2",
    "code-app": "code-Pass-3",
}
SHIPPED_SCOPES = [
    f"{side}.{action}"
    for side in ("site", "administrator")
    for action in ("create", "read", "update", "delete", "documentation", "task")
]
AT_LIVE = "a1" * 20
AT_EXPIRED = "a2" * 20
AT_UNKNOWN = "a3" * 20
AT_GAP = "a4" * 20
AT_OVERLAP = "a5" * 20
AT_SKIPPED_CLIENT = "a6" * 20
AT_CC = "a7" * 20
RT_LIVE = "b1" * 20
RT_PUBLIC = "b2" * 20
RT_EXPIRED = "b3" * 20
# A DST gap and an overlap in Copenhagen (last Sundays of March and October 2031).
GAP_LOCAL = datetime(2031, 3, 30, 2, 30)
GAP_UTC = datetime(2031, 3, 30, 1, 30)
OVERLAP_LOCAL = datetime(2031, 10, 26, 2, 30)
OVERLAP_UTC = datetime(2031, 10, 26, 0, 30)
OPTIONS = {
    "enable_oauth2_server": "1",
    "oauth2_access_lifetime": "7200",
    "oauth2_unset_refresh_token_after_use": "0",
    "oauth2_allow_implicit": "1",  # carried over: allow_implicit
    "oauth2_enforce_state": "1",  # carried over, redCORE's default: unchanged
    "webservices_enable": "1",  # not an OAuth2 option: ignored
}


def local_now() -> datetime:
    """Now on the PHP server's wall clock (Copenhagen), to the second."""
    return (
        utcnow()
        .replace(tzinfo=ZoneInfo("UTC"))
        .astimezone(ZONE)
        .replace(tzinfo=None, microsecond=0)
    )


def fill(site: LegacySite) -> dict[str, datetime]:
    """Write the site's rows; returns the live tokens' expiry in UTC (naive), by name."""
    with site.batch():
        return _fill(site)


def _fill(site: LegacySite) -> dict[str, datetime]:
    site.add_client(
        "conf-client",
        SECRETS["conf-client"],
        redirect_uri="https://app.example/cb",
        scope="site.read site.create",
        user_id="42",
    )
    site.add_client("cc-only", SECRETS["cc-only"], grant_types="client_credentials")
    site.add_client("no-grants", SECRETS["no-grants"], grant_types="", scope="site.read")
    site.add_client("public-app", "", grant_types="refresh_token", scope="site.read site.update")
    site.add_client("code-app", SECRETS["code-app"], grant_types="authorization_code refresh_token")
    site.add_client("", "empty-id-pass")
    site.add_client("ctl\x01app", "ctl-pass")
    site.add_client("bad-scope", "bs-pass", scope='site."read"')
    for name in SHIPPED_SCOPES:
        site.add_scope(name, is_default=name == "site.read")
    site.add_scope("site.read")  # a duplicate row (the table has no key)
    site.add_scope("bad scope")
    now = local_now()
    live = now + timedelta(hours=2)
    site.add_token("access", AT_LIVE, "conf-client", live, scope="site.read", user_id="42")
    site.add_token("access", AT_CC, "cc-only", live)
    site.add_token("access", AT_EXPIRED, "conf-client", now - timedelta(hours=1), scope="site.read")
    site.add_token("access", AT_UNKNOWN, "ghost-client", live)
    site.add_token("access", AT_GAP, "conf-client", GAP_LOCAL, scope="site.read")
    site.add_token("access", AT_OVERLAP, "conf-client", OVERLAP_LOCAL, scope="site.read")
    site.add_token("access", AT_SKIPPED_CLIENT, "bad-scope", live)
    site.add_token("access", "not-a-token", "conf-client", live)
    site.add_token("access", "c1" * 20, "", live)
    site.add_token("access", "c2" * 20, "conf-client", live, scope="site.read\nsite.create")
    site.add_token("access", "c3" * 20, "conf-client", live, scope='site."x"')
    site.add_token(
        "refresh", RT_LIVE, "conf-client", now + timedelta(days=10), scope="site.read", user_id="42"
    )
    site.add_token(
        "refresh",
        RT_PUBLIC,
        "public-app",
        now + timedelta(days=10),
        scope="site.read",
        user_id="88",
    )
    site.add_token("refresh", RT_EXPIRED, "conf-client", now - timedelta(days=1), scope="site.read")
    site.run(
        "INSERT INTO {p}redcore_oauth_authorization_codes "
        "(authorization_code, client_id, expires) VALUES (:code, 'conf-client', :expires)",
        code="d1" * 20,
        expires=live.strftime(LOCAL) if site.backend != "postgresql" else live,
    )
    site.run(
        "INSERT INTO {p}extensions (name, type, element, client_id, enabled, params) "
        "VALUES ('com_content', 'component', 'com_content', 1, 1, '{\"x\":\"1\"}')"
    )
    site.set_options(OPTIONS)
    for group_id, title in GROUPS.items():
        site.add_group(group_id, title, parent_id=0 if group_id == 1 else 1)
    for user in USERS + BAD_USERS:
        site.add_user(user)
    site.run(  # a membership of a group that is no more: ignored
        "INSERT INTO {p}user_usergroup_map (user_id, group_id) VALUES (42, 77)"
    )
    utc = ZoneInfo("UTC")
    return {
        "live": live.replace(tzinfo=ZONE).astimezone(utc).replace(tzinfo=None),
        "refresh": (now + timedelta(days=10))
        .replace(tzinfo=ZONE)
        .astimezone(utc)
        .replace(tzinfo=None),
    }


@contextmanager
def filled_site(tmp_path: Path) -> Iterator[LegacySite]:
    """The filled site for an end-to-end test: on a scratch MariaDB database under a random
    prefix when TEST_MYSQL_URL is set, else on SQLite under ``jos_``; dropped afterwards."""
    with ExitStack() as stack:
        if MYSQL_URL:
            site = build_site(stack.enter_context(scratch_mysql()), "mysql", random_prefix())
        else:
            site = build_site(f"sqlite:///{tmp_path / 'legacy.sqlite'}", "sqlite", "jos_")
        site.expiry = fill(site)
        yield site
        site.drop()
        site.engine.dispose()


# The `legacy` fixture's cases: each legacy backend, with the prefix `jos_` and a random one.
LEGACY_CASES = [
    pytest.param((backend, prefix), id=f"{backend}-{label}")
    for backend in LEGACY_BACKENDS
    for prefix, label in (("jos_", "jos_"), (random_prefix(), "random-prefix"))
]


# --- an import run and what it printed ---------------------------------------------------

# conf-client's credentials, as the service knows them after an import.
CONF = {"client_id": "conf-client", "client_secret": SECRETS["conf-client"]}
# The service's tables, as a dump compared before and after a run that must change nothing.
OUR_TABLES = (
    "oauth_clients",
    "oauth_scopes",
    "oauth_access_tokens",
    "oauth_refresh_tokens",
    "plugin_state",
    "site_users",
    "site_user_groups",
)
ROW = re.compile(r"^(clients|scopes|users|access tokens|refresh tokens|options)\s+([\d\s]+)$", re.M)


def table(output: str) -> dict[str, tuple[int, ...]]:
    """The summary table: per table (imported, updated, unchanged, skipped, removed)."""
    return {m[1]: tuple(int(n) for n in m[2].split()) for m in ROW.finditer(output)}


def ok(result: Any) -> str:
    """The output of a `flask legacy import` that succeeded (fail the test otherwise)."""
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.output
