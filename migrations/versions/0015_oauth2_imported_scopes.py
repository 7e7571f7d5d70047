"""oauth2 imported scopes: which scopes came from the redCORE database (for --prune)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02

`legacy import --prune` removed every scope the old site lacked, one created here too;
it now removes only scopes an import brought over, as it does for clients (0010). The
table starts empty: a scope the next import finds on the old site is recorded then; one
already gone from the old site before this revision cannot be told from a scope made
here, so it is kept (`flask scopes remove` removes it).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

MYSQL_DIALECTS = ("mysql", "mariadb")
# As emulator/db.py declares it, as of this revision: microsecond times on MySQL/MariaDB.
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *MYSQL_DIALECTS)


def upgrade():
    op.create_table(
        "oauth2_imported_scopes",
        sa.Column("scope_id", sa.Integer(), nullable=False),
        sa.Column("imported_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["scope_id"],
            ["oauth_scopes.id"],
            name=op.f("fk_oauth2_imported_scopes_scope_id_oauth_scopes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("scope_id", name=op.f("pk_oauth2_imported_scopes")),
    )


def downgrade():
    op.drop_table("oauth2_imported_scopes")
