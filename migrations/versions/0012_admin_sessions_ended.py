"""admin sessions ended: a logout ends the admin's sessions begun before it

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02

A session is a signed cookie: without a time kept here, a copy of one taken before the
logout would log in until it expired. Existing admins have none (no session ended yet).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

MYSQL_DIALECTS = ("mysql", "mariadb")
# As emulator/db.py declares it, as of this revision: microsecond times on MySQL/MariaDB.
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *MYSQL_DIALECTS)


def upgrade():
    with op.batch_alter_table("admin_users") as batch:
        batch.add_column(sa.Column("sessions_ended_at", TIMESTAMP, nullable=True))


def downgrade():
    with op.batch_alter_table("admin_users") as batch:
        batch.drop_column("sessions_ended_at")
