"""admin and audit: disabled clients, secret rotation's grace, audit events, admin users

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

Existing clients stay enabled, with no previous secret.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

MYSQL_DIALECTS = ("mysql", "mariadb")
# As emulator/db.py declares them, as of this revision: microsecond times and long text on
# MySQL/MariaDB.
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *MYSQL_DIALECTS)
LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), *MYSQL_DIALECTS)


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


def upgrade():
    dialect = op.get_bind().dialect
    with op.batch_alter_table("oauth_clients") as batch:
        batch.add_column(
            sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("previous_secret_hash", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("previous_secret_until", TIMESTAMP, nullable=True))
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", TIMESTAMP, nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("action", _exact_string(64, dialect), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("before", LONG_TEXT, nullable=True),
        sa.Column("after", LONG_TEXT, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events") as batch:
        batch.create_index(batch.f("ix_audit_events_occurred_at"), ["occurred_at"])
        batch.create_index(batch.f("ix_audit_events_action"), ["action"])
    op.create_table(
        "admin_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", _exact_string(150, dialect), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("password_changed_at", TIMESTAMP, nullable=False),
        sa.Column("last_login_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_users")),
        sa.UniqueConstraint("username", name=op.f("uq_admin_users_username")),
    )


def downgrade():
    op.drop_table("admin_users")
    op.drop_table("audit_events")
    with op.batch_alter_table("oauth_clients") as batch:
        batch.drop_column("previous_secret_until")
        batch.drop_column("previous_secret_hash")
        batch.drop_column("disabled")
