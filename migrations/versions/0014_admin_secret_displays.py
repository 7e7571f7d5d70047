"""admin secret displays: a rotated secret is shown once, on the page a POST redirects to

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02

The rotation page answered its POST with the new secret, so reloading it posted again and
rotated again. The POST now keeps the secret for one showing (half here, sealed with a pad
the admin's session holds) and redirects to a page that shows it. The table starts empty.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

MYSQL_DIALECTS = ("mysql", "mariadb")
# As emulator/db.py declares it, as of this revision: microsecond times on MySQL/MariaDB.
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *MYSQL_DIALECTS)


def upgrade():
    op.create_table(
        "admin_secret_displays",
        sa.Column("pad_hash", sa.String(length=64), nullable=False),
        sa.Column("sealed", sa.String(length=255), nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("pad_hash", name=op.f("pk_admin_secret_displays")),
    )
    with op.batch_alter_table("admin_secret_displays") as batch:
        batch.create_index(batch.f("ix_admin_secret_displays_expires_at"), ["expires_at"])


def downgrade():
    op.drop_table("admin_secret_displays")
