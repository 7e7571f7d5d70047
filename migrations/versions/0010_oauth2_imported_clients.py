"""oauth2 imported clients: which clients came from the redCORE database (for --prune)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

MYSQL_DIALECTS = ("mysql", "mariadb")
# As emulator/db.py declares it, as of this revision: microsecond times on MySQL/MariaDB.
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *MYSQL_DIALECTS)


def upgrade():
    op.create_table(
        "oauth2_imported_clients",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("imported_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oauth_clients.id"],
            name=op.f("fk_oauth2_imported_clients_client_id_oauth_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_oauth2_imported_clients")),
    )


def downgrade():
    op.drop_table("oauth2_imported_clients")
