"""passthrough shadow: the kinds of difference shadow mode found, and its counters

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

MYSQL_DIALECTS = ("mysql", "mariadb")
# As emulator/db.py declares them, as of this revision: microsecond times and long text on
# MySQL/MariaDB (a bare TEXT holds 64 KiB there).
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *MYSQL_DIALECTS)
LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), *MYSQL_DIALECTS)

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "passthrough_shadow_differences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", LONG_TEXT, nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("first_seen", TIMESTAMP, nullable=False),
        sa.Column("last_seen", TIMESTAMP, nullable=False),
        sa.Column("example", LONG_TEXT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_passthrough_shadow_differences")),
        sa.UniqueConstraint("kind_hash", name=op.f("uq_passthrough_shadow_differences_kind_hash")),
    )
    op.create_table(
        "passthrough_shadow_counters",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_passthrough_shadow_counters")),
    )


def downgrade():
    op.drop_table("passthrough_shadow_counters")
    op.drop_table("passthrough_shadow_differences")
