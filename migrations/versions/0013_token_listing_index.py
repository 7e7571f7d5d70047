"""token listing index: a client's tokens read newest first, not sorted

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02

The admin pages list a client's newest tokens. With only an index on client_id, the
database fetched and sorted every token of the client to keep a hundred: 1.4 s on SQLite
for a client with a million. An index on (client_id, issued_at, token_hash) hands them
over in order. It replaces the client_id index, which it serves as well (the foreign key,
deleting a client's tokens). Created before the old one is dropped: MySQL and MariaDB keep
an index under every foreign key and refuse to drop the only one.

On a large table the new index takes a while: about 0.7 s per million rows on SQLite,
where token writes wait for it; PostgreSQL too locks the table against writes while it
builds (a plain CREATE INDEX); MariaDB builds it online. On a site with tens of millions
of tokens, run the upgrade in a quiet hour, or purge expired tokens first (`flask tokens
purge`).
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TABLES = ("oauth_access_tokens", "oauth_refresh_tokens")


def upgrade():
    for table in TABLES:
        op.create_index(
            f"ix_{table}_client_id_issued_at", table, ["client_id", "issued_at", "token_hash"]
        )
        op.drop_index(f"ix_{table}_client_id", table_name=table)


def downgrade():
    for table in TABLES:
        op.create_index(f"ix_{table}_client_id", table, ["client_id"])
        op.drop_index(f"ix_{table}_client_id_issued_at", table_name=table)
