"""usage counts: per client, plugin, operation, credential and token form, and UTC day

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

MYSQL_DIALECTS = ("mysql", "mariadb")
# As emulator/db.py declares them, as of this revision: microsecond times on MySQL/MariaDB.
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *MYSQL_DIALECTS)


def _exact_string(length, dialect):
    """emulator.db.ExactString as of this revision: byte-for-byte on MySQL/MariaDB."""
    if dialect.name not in MYSQL_DIALECTS:
        return sa.String(length=length)
    if getattr(dialect, "is_mariadb", False):
        collation = "utf8mb4_nopad_bin"
    elif (dialect.server_version_info or ()) >= (8, 0, 17):
        collation = "utf8mb4_0900_bin"
    else:
        collation = "utf8mb4_bin"
    return mysql.VARCHAR(length=length, charset="utf8mb4", collation=collation)


revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "usage_counts",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("plugin", sa.String(length=64), nullable=False),
        # Compared exactly on MySQL/MariaDB too (a proxy's base path is case-sensitive).
        sa.Column("operation", _exact_string(255, op.get_bind().dialect), nullable=False),
        sa.Column("credential_form", sa.String(length=16), nullable=False),
        sa.Column("token_form", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("last_seen", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oauth_clients.id"],
            name=op.f("fk_usage_counts_client_id_oauth_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "client_id",
            "plugin",
            "operation",
            "credential_form",
            "token_form",
            "day",
            name=op.f("pk_usage_counts"),
        ),
    )
    with op.batch_alter_table("usage_counts") as batch:
        batch.create_index(batch.f("ix_usage_counts_day"), ["day"])


def downgrade():
    op.drop_table("usage_counts")
