"""site user sessions: who is logged in to the site's pages (the login and consent pages)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07

A new table, empty: `site_user_sessions`, one row per browser login of a site user, keyed
by the SHA-256 of the cookie's random id (never the id itself), ending with the user.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

MYSQL_DIALECTS = ("mysql", "mariadb")
# As emulator/storage/schema.py declares it, as of this revision: microsecond times on MySQL.
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *MYSQL_DIALECTS)


def upgrade():
    op.create_table(
        "site_user_sessions",
        sa.Column("session_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["site_users.id"],
            name=op.f("fk_site_user_sessions_user_id_site_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_hash", name=op.f("pk_site_user_sessions")),
    )
    op.create_index(
        op.f("ix_site_user_sessions_user_id"), "site_user_sessions", ["user_id"], unique=False
    )
    op.create_index(
        op.f("ix_site_user_sessions_expires_at"),
        "site_user_sessions",
        ["expires_at"],
        unique=False,
    )


def downgrade():
    # The table takes its indexes with it (MySQL refuses to drop the foreign key's first).
    op.drop_table("site_user_sessions")
