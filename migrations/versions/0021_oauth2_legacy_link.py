"""oauth2 legacy link: the old site's database while a site moves, and the mirror's queue

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07

``flask legacy link set`` keeps the old redCORE site's database here (the URL without its
password; the password encrypted with a key derived from SECRET_KEY), and the mirror
writes that could not land on it yet wait in a queue, in order (their tokens encrypted).
Both tables start empty: no link, nothing changes.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

MYSQL_DIALECTS = ("mysql", "mariadb")
# As emulator/storage/schema.py declares them, as of this revision.
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *MYSQL_DIALECTS)
LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), *MYSQL_DIALECTS)


def upgrade():
    op.create_table(
        "oauth2_legacy_link",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("url", LONG_TEXT, nullable=False),
        sa.Column("password", LONG_TEXT, nullable=True),
        sa.Column("prefix", sa.String(length=64), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth2_legacy_link")),
    )
    op.create_table(
        "oauth2_legacy_link_queue",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("payload", LONG_TEXT, nullable=False),
        sa.Column("queued_at", TIMESTAMP, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth2_legacy_link_queue")),
    )


def downgrade():
    op.drop_table("oauth2_legacy_link_queue")
    op.drop_table("oauth2_legacy_link")
