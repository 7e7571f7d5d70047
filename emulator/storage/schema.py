"""The schema's building blocks: the declarative base with stable constraint names, and
column types that behave alike on SQLite, PostgreSQL and MariaDB/MySQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy import DateTime
from sqlalchemy import Dialect
from sqlalchemy import Float
from sqlalchemy import MetaData
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.dialects import mysql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import TypeCompiler

# Stable constraint names, so Alembic migrations are the same on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Where a function runs both on a request's Core connection and on the ORM session (the
# CLI's), it takes either: both execute Core statements alike.
DbHandle = Session | Connection


# The names SQLAlchemy gives MySQL's dialect: "mariadb" for a mariadb:// URL, else "mysql"
# (a mysql:// URL on a MariaDB server too).
MYSQL_DIALECTS = ("mysql", "mariadb")

# MySQL/MariaDB keep what SQLite and PostgreSQL keep without being asked:
# - Times with microseconds: a bare DATETIME drops the fraction (MariaDB cuts it, MySQL
#   rounds it, up to the next second), so an issue time would read back other than it was
#   handed out, and `expires_at` could move a second later.
# - Double-precision floats: a bare FLOAT is 4 bytes there, 128 s apart at today's epoch
#   seconds, so a throttle window would end anywhere within two minutes.
# - Long text: TEXT holds 64 KiB there, so a scope list the others store would be refused;
#   MEDIUMTEXT (16 MiB) holds more than any request (MAX_CONTENT_LENGTH) or argument can carry.
Timestamp = DateTime().with_variant(mysql.DATETIME(fsp=6), *MYSQL_DIALECTS)
EpochSeconds = Float().with_variant(mysql.DOUBLE(asdecimal=False), *MYSQL_DIALECTS)
LongText = Text().with_variant(mysql.MEDIUMTEXT(), *MYSQL_DIALECTS)


class ExactString(String):
    """A string that matches only itself, byte for byte: ids and names that find a row.

    SQLite and PostgreSQL compare text by its bytes; MySQL/MariaDB's default collations
    ignore case and trailing spaces (``CONF-CLIENT`` found ``conf-client``). There the
    column gets the server's binary collation that pads nothing (``binary_collation``), so
    both lookups and UNIQUE are exact, as the compat rules want (compat/redcore.md).
    """


def binary_collation(dialect: Dialect) -> str:
    """The utf8mb4 collation of this MySQL/MariaDB server that compares bytes, no padding.

    MariaDB 10.2+ and MySQL 8.0.17+ have one; older MySQL only ``utf8mb4_bin``, which still
    ignores trailing spaces (the client lookup checks the id it found, emulator.oauth.clients).
    """
    if getattr(dialect, "is_mariadb", False):
        return "utf8mb4_nopad_bin"
    if (dialect.server_version_info or ()) >= (8, 0, 17):
        return "utf8mb4_0900_bin"
    return "utf8mb4_bin"


@compiles(ExactString, *MYSQL_DIALECTS)
def _exact_string_on_mysql(type_: ExactString, compiler: TypeCompiler, **_kw: Any) -> str:
    collation = binary_collation(compiler.dialect)
    return f"VARCHAR({type_.length}) CHARACTER SET utf8mb4 COLLATE {collation}"


class Base(DeclarativeBase):
    """Declarative base for every model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
