"""user token index: a site user's tokens found without reading every token

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07

A site user's admin page counts and lists the user's live tokens newest first, and
blocking or deleting a user deletes them. With no index on user_id each of those read the
whole token table. An index on (user_id, issued_at, token_hash) hands a user's tokens over
in the listing's order, as the client index of 0013 does for a client's.

On a large table the index takes a while to build (about as long as 0013's): run the
upgrade in a quiet hour on a site with tens of millions of tokens, or purge expired tokens
first (`flask tokens purge`).
"""

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

TABLES = ("oauth_access_tokens", "oauth_refresh_tokens")


def upgrade():
    for table in TABLES:
        op.create_index(
            f"ix_{table}_user_id_issued_at", table, ["user_id", "issued_at", "token_hash"]
        )


def downgrade():
    for table in TABLES:
        op.drop_index(f"ix_{table}_user_id_issued_at", table_name=table)
