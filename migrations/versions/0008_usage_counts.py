"""usage counts: per client, plugin, operation, credential and token form, and UTC day

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "usage_counts",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("plugin", sa.String(length=64), nullable=False),
        # Compared exactly on MySQL/MariaDB too (a proxy's base path is case-sensitive).
        sa.Column(
            "operation",
            sa.String(length=255).with_variant(
                mysql.VARCHAR(length=255, charset="utf8mb4", collation="utf8mb4_bin"),
                "mysql",
                "mariadb",
            ),
            nullable=False,
        ),
        sa.Column("credential_form", sa.String(length=16), nullable=False),
        sa.Column("token_form", sa.String(length=16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
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
