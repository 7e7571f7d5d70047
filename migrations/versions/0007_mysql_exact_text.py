"""mysql exact text: utf8mb4, ids compared byte for byte, times to the microsecond

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

MySQL/MariaDB only: on SQLite and PostgreSQL the schema already is what the models say,
and nothing is done. On MySQL/MariaDB the tables 0001-0006 made took the database's
defaults, which may be latin1 and case-insensitive, with bare TEXT, DATETIME and FLOAT
columns; so there:

- every text column becomes utf8mb4 (any Unicode text), and each table's default too; the
  database's default becomes utf8mb4, for the tables later migrations create; TEXT
  becomes MEDIUMTEXT (TEXT holds 64 KiB; the other backends' text has no such bound);
- the columns that find a row by an id or a name (client_id, scope names, the throttle's
  keys, Apigee product names and proxy base paths) get the server's binary collation that
  pads nothing (``emulator.db.binary_collation``): ``Client1`` is not ``client1``, and
  ``client1 `` is neither;
- times become DATETIME(6) (microseconds, as SQLite and PostgreSQL keep them), and the
  throttle's window ends DOUBLE (a FLOAT is 128 s coarse at today's epoch seconds).

Existing rows are kept (a binary collation is stricter, so no UNIQUE can break). The token
tables are rebuilt for their times: seconds per million rows, with writes to them held
meanwhile. MySQL runs DDL outside transactions, so each table is one ALTER TABLE, and the
upgrade can simply be run again if it was stopped halfway.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The tables of the schema as of 0006.
TABLES = (
    "plugin_state",
    "oauth_clients",
    "oauth_scopes",
    "oauth_access_tokens",
    "oauth_refresh_tokens",
    "oauth_used_refresh_tokens",
    "rate_limit_counters",
    "apigee_apps",
    "apigee_products",
    "apigee_app_products",
    "apigee_proxies",
)
# Columns compared byte for byte (emulator.db.ExactString in the models).
EXACT = {
    ("oauth_clients", "client_id"),
    ("oauth_scopes", "scope"),
    ("rate_limit_counters", "key"),
    ("apigee_products", "name"),
    ("apigee_proxies", "base_path"),
}
# Float columns that need double precision (emulator.db.EpochSeconds).
DOUBLES = {("rate_limit_counters", "expires_at")}

_COLUMNS = sa.text(
    "SELECT column_name AS name, column_type AS type, data_type AS kind, "
    "is_nullable = 'YES' AS nullable, character_set_name AS charset, "
    "collation_name AS collation FROM information_schema.columns "
    "WHERE table_schema = DATABASE() AND table_name = :table ORDER BY ordinal_position"
)


def _binary_collation(dialect):
    """emulator/db.py binary_collation, as of this revision."""
    if getattr(dialect, "is_mariadb", False):
        return "utf8mb4_nopad_bin"
    if (dialect.server_version_info or ()) >= (8, 0, 17):
        return "utf8mb4_0900_bin"
    return "utf8mb4_bin"


def _is_mysql(bind):
    return bind.dialect.name in ("mysql", "mariadb")


def _alter(table, clauses):
    if clauses:
        op.execute(f"ALTER TABLE `{table}` " + ", ".join(clauses))


def _modify(column, definition):
    return f"MODIFY `{column.name}` {definition} {'NULL' if column.nullable else 'NOT NULL'}"


def _wanted(table, column, exact):
    """The column's definition as the models have it on MySQL; None if it already is that."""
    if (table, column.name) in EXACT:
        wanted = f"{column.type} CHARACTER SET utf8mb4 COLLATE {exact}"
        done = column.charset == "utf8mb4" and column.collation == exact
    elif column.kind in ("text", "mediumtext"):  # TEXT holds 64 KiB (emulator.db.LongText)
        wanted = "MEDIUMTEXT CHARACTER SET utf8mb4"
        done = column.kind == "mediumtext" and column.charset == "utf8mb4"
    elif column.charset is not None:
        wanted = f"{column.type} CHARACTER SET utf8mb4"
        done = column.charset == "utf8mb4"
    elif column.kind == "datetime":
        wanted, done = "DATETIME(6)", column.type == "datetime(6)"
    elif (table, column.name) in DOUBLES:
        wanted, done = "DOUBLE", column.kind == "double"
    else:
        return None
    return None if done else wanted


def _as_before(table, column):
    """The column's definition as 0006 made it (but utf8mb4); None if 0007 did not change it."""
    if (table, column.name) in EXACT:
        return f"{column.type} CHARACTER SET utf8mb4"
    if column.kind == "mediumtext":
        return "TEXT CHARACTER SET utf8mb4"
    if column.kind == "datetime":
        return "DATETIME"
    if (table, column.name) in DOUBLES:
        return "FLOAT"
    return None


def upgrade():
    bind = op.get_bind()
    if not _is_mysql(bind):
        return
    op.execute("ALTER DATABASE CHARACTER SET utf8mb4")
    exact = _binary_collation(bind.dialect)
    for table in TABLES:
        clauses = ["DEFAULT CHARACTER SET utf8mb4"]
        for column in bind.execute(_COLUMNS, {"table": table}).all():
            wanted = _wanted(table, column, exact)
            if wanted is not None:
                clauses.append(_modify(column, wanted))
        _alter(table, clauses)


def downgrade():
    """Back to 0006's column types; text stays utf8mb4 (going back could lose characters).

    Ids that differ only in case or trailing spaces cannot both stay, nor text past 64 KiB:
    the downgrade stops at that table with MySQL's duplicate-entry or data-too-long error.
    """
    bind = op.get_bind()
    if not _is_mysql(bind):
        return
    for table in TABLES:
        clauses = []
        for column in bind.execute(_COLUMNS, {"table": table}).all():
            before = _as_before(table, column)
            if before is not None:
                clauses.append(_modify(column, before))
        _alter(table, clauses)
