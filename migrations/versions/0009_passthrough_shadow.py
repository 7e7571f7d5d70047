"""passthrough shadow: the kinds of difference shadow mode found, and its counters

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "passthrough_shadow_differences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("example", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_passthrough_shadow_differences")),
        sa.UniqueConstraint("kind_hash", name=op.f("uq_passthrough_shadow_differences_kind_hash")),
    )
    op.create_table(
        "passthrough_shadow_counters",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_passthrough_shadow_counters")),
    )


def downgrade():
    op.drop_table("passthrough_shadow_counters")
    op.drop_table("passthrough_shadow_differences")
