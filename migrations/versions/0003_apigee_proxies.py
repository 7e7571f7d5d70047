"""apigee proxies: protected API proxies of the apigee plugin

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "apigee_proxies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("base_path", sa.String(length=255), nullable=False),
        sa.Column("target_url", sa.String(length=2000), nullable=False),
        sa.Column("scope", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apigee_proxies")),
        sa.UniqueConstraint("base_path", name=op.f("uq_apigee_proxies_base_path")),
    )


def downgrade():
    op.drop_table("apigee_proxies")
