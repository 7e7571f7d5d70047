"""oauth2 imported tokens: which tokens came from the redCORE database (never twice)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02

A second `legacy import` brought back a token that was used up, revoked or deleted here
while it was still live on the old site (a used refresh token worked again). The import
now records each token it carries over, by the engine's hash, to the token's expiry, and
skips a recorded one that is no longer stored here. The table starts empty: the next
import records every old-site token still stored here; one already used or revoked here
before this revision cannot be told from a new one (unless the engine remembers it as a
used refresh token, or as the start of a chain), and is imported once more.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

MYSQL_DIALECTS = ("mysql", "mariadb")
# As emulator/db.py declares it, as of this revision: microsecond times on MySQL/MariaDB.
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *MYSQL_DIALECTS)


def upgrade():
    op.create_table(
        "oauth2_imported_tokens",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("kind", "token_hash", name=op.f("pk_oauth2_imported_tokens")),
    )
    op.create_index(
        op.f("ix_oauth2_imported_tokens_expires_at"),
        "oauth2_imported_tokens",
        ["expires_at"],
    )


def downgrade():
    op.drop_index(op.f("ix_oauth2_imported_tokens_expires_at"), table_name="oauth2_imported_tokens")
    op.drop_table("oauth2_imported_tokens")
