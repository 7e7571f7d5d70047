"""refresh token families: the chain a refresh token belongs to, and used refresh tokens

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

Existing refresh tokens start chains of their own (family_hash NULL).
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("oauth_refresh_tokens") as batch:
        batch.add_column(sa.Column("family_hash", sa.String(length=64), nullable=True))
        batch.create_index(batch.f("ix_oauth_refresh_tokens_family_hash"), ["family_hash"])
    op.create_table(
        "oauth_used_refresh_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("family_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oauth_clients.id"],
            name=op.f("fk_oauth_used_refresh_tokens_client_id_oauth_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_oauth_used_refresh_tokens")),
    )
    with op.batch_alter_table("oauth_used_refresh_tokens") as batch:
        for column in ("client_id", "family_hash", "expires_at"):
            batch.create_index(batch.f(f"ix_oauth_used_refresh_tokens_{column}"), [column])


def downgrade():
    op.drop_table("oauth_used_refresh_tokens")
    with op.batch_alter_table("oauth_refresh_tokens") as batch:
        batch.drop_index(batch.f("ix_oauth_refresh_tokens_family_hash"))
        batch.drop_column("family_hash")
