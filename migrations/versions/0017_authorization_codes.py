"""authorization codes: the codes of RFC 6749 §4.1, stored by hash, used once

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03

A new, empty table. A code is kept by its SHA-256 (as tokens are), with its client, its
user, the redirect URI its authorization request named, its scope and its expiry; the
token endpoint deletes it when it is used.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

MYSQL_DIALECTS = ("mysql", "mariadb")
# As emulator/storage/schema.py declares them, as of this revision.
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *MYSQL_DIALECTS)
LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), *MYSQL_DIALECTS)


def upgrade():
    op.create_table(
        "oauth_authorization_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("redirect_uri", sa.String(length=2000), nullable=True),
        sa.Column("scope", LONG_TEXT, nullable=True),
        sa.Column("issued_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oauth_clients.id"],
            name=op.f("fk_oauth_authorization_codes_client_id_oauth_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_oauth_authorization_codes")),
    )
    for column in ("client_id", "expires_at"):
        op.create_index(
            op.f(f"ix_oauth_authorization_codes_{column}"), "oauth_authorization_codes", [column]
        )


def downgrade():
    op.drop_table("oauth_authorization_codes")
