"""Database URLs as people type them: checked, given an installed driver, shown without
their password; and one line saying why a database cannot be used.

The service's own database (``SQLALCHEMY_DATABASE_URI``, emulator/manage/startup.py) and the
legacy importer's source (``flask legacy import --from``) are checked here, so both answer
a bad URL the same way.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError
from sqlalchemy.exc import NoSuchModuleError
from sqlalchemy.exc import SQLAlchemyError

from emulator.oauth import has_control_characters

SUPPORTED = "mysql+pymysql://user:password@host/database, postgresql+psycopg://..., sqlite:///path"
BACKENDS = ("mysql", "mariadb", "postgresql", "sqlite")
# Names people type that SQLAlchemy does not know: postgres:// (libpq's and Heroku's
# spelling), and PHP's (Joomla's $dbtype) mysqli and pgsql.
ALIASES = {"postgres": "postgresql", "pgsql": "postgresql", "mysqli": "mysql"}
# The installed driver of each backend, for a URL that names none (SQLAlchemy's defaults,
# mysqlclient and psycopg2, are not installed; PyMySQL and psycopg are).
DEFAULT_DRIVERS = {
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
    "postgresql": "postgresql+psycopg",
    "sqlite": "sqlite",
}
# A URL as typed, scheme optional: user:password@host -> user:***@host. The password runs
# to the last "@" before the host (a raw "@" in it, as in u:p@ss@host, is the password's).
_TYPED_PASSWORD = re.compile(
    r"^(?P<head>(?:[^:/@\s]*://)?[^:/@\s]*:)[^/?#\s]*(?=@[^@/?#\s]*(?:[/?#\s]|$))"
)


class UnusableDatabase(click.ClickException):
    """A database that cannot be used: one line saying why, and what to write instead.

    A ClickException, as Flask's own NoAppException is: raised while ``flask`` loads the
    app or runs a command, click prints ``Error: <the line>`` and exits with status 1.
    """


def parse_database_url(text: str, label: str) -> URL:
    """The URL in ``text`` with an installed driver, or UnusableDatabase naming ``label``.

    A URL without a driver gets the installed one (postgres:// and postgresql:// become
    postgresql+psycopg://, mysql:// mysql+pymysql://, mariadb:// mariadb+pymysql://); the
    rest stays as typed.
    """
    if has_control_characters(text):
        raise UnusableDatabase(f"{label} holds a control character (such as a line break).")
    try:
        url = sa.make_url(text)
    except (ArgumentError, ValueError):
        raise UnusableDatabase(
            f"{label} {hide_password(text)!r} is not a database URL (e.g. {SUPPORTED})."
        ) from None
    backend, _, driver = url.drivername.partition("+")
    backend = ALIASES.get(backend, backend)
    if backend not in BACKENDS:
        raise UnusableDatabase(
            f"{label}: {backend!r} databases are not supported; use MySQL/MariaDB, PostgreSQL "
            f"or SQLite ({SUPPORTED})."
        )
    url = url.set(drivername=f"{backend}+{driver}" if driver else DEFAULT_DRIVERS[backend])
    if not has_driver(url):
        instead = url.set(drivername=DEFAULT_DRIVERS[backend])
        raise UnusableDatabase(
            f"{label}: no installed driver for {url.drivername!r}; write {shown(instead)}"
        )
    return url


def has_driver(url: URL) -> bool:
    """Whether SQLAlchemy knows the URL's driver and its module is installed."""
    try:
        url.get_dialect().import_dbapi()
    except (NoSuchModuleError, ImportError):
        return False
    return True


def check_sqlite_folder(url: URL, label: str, base: Path) -> None:
    """Raise UnusableDatabase when a SQLite file's folder does not exist.

    SQLite creates the file but not its folder, and says only "unable to open database
    file". A relative path is relative to ``base`` (Flask-SQLAlchemy's instance folder).
    """
    if url.get_backend_name() != "sqlite":
        return
    path = url.database or ""
    if url.query.get("uri"):
        path = path.removeprefix("file:")
    if not path or path == ":memory:" or url.query.get("mode") == "memory":
        return
    folder = (base / path).parent
    if not folder.is_dir():
        raise UnusableDatabase(
            f"{label} {shown(url)}: there is no folder {folder} for the SQLite file "
            "(create it, or name a file in a folder that exists)."
        )


def check_connection(engine: sa.Engine, url: URL | None = None) -> None:
    """Connect once, or raise UnusableDatabase naming ``url`` (the engine's by default)."""
    try:
        with engine.connect():
            pass
    except SQLAlchemyError as error:
        raise UnusableDatabase(
            f"cannot connect to the database {shown(url or engine.url)}: {describe_error(error)}"
        ) from None


def shown(url: URL) -> str:
    """The URL as printed: its password masked."""
    return url.render_as_string(hide_password=True)


def hide_password(text: str) -> str:
    """A URL as typed (parsed or not), its password (if any) masked, for an error message."""
    return _TYPED_PASSWORD.sub(r"\g<head>***", text)


def describe_error(error: BaseException) -> str:
    """One line saying what went wrong with a database (the driver's own words, prefixed)."""
    orig = getattr(error, "orig", None) or error
    code = orig.args[0] if getattr(orig, "args", None) else None
    text = str(orig.args[1]) if isinstance(code, int) and len(orig.args) > 1 else str(orig)
    text = " ".join(text.split())  # one line
    lowered = text.lower()
    sqlstate = getattr(orig, "sqlstate", None)
    # MySQL/MariaDB (PyMySQL) error numbers; PostgreSQL SQLSTATEs, or psycopg's words when
    # the connection itself failed (no SQLSTATE then).
    if (
        code in (1044, 1045, 1698)
        or sqlstate in ("28000", "28P01")
        or "password authentication failed" in lowered
        or re.search(r'role ".*" does not exist', lowered)
    ):
        return f"the server refused the credentials: {text}"
    if code == 1049 or sqlstate == "3D000" or re.search(r'database ".*" does not exist', lowered):
        return f"no such database: {text}"
    if code in (2003, 2005, 2006, 2013) or (sqlstate is None and "connect" in lowered):
        return f"cannot reach the database server: {text}"
    return text
