"""site users: the site's accounts (username, password hash, groups) and the import's records

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02

New tables, empty: `site_users` (the users who log in with a password; the id is the one
tokens name, an import keeps the old site's), `site_user_groups` (their groups' titles)
and `oauth2_imported_users` (the oauth2 plugin's record of the old site's values as last
imported, so that a re-import applies only what changed there).
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

MYSQL_DIALECTS = ("mysql", "mariadb")
# As emulator/storage/schema.py declares them, as of this revision: microsecond times and
# long text on MySQL/MariaDB.
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), *MYSQL_DIALECTS)
LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), *MYSQL_DIALECTS)


def _exact_string(length, dialect):
    """emulator.storage.schema.ExactString as of this revision: byte-for-byte on MySQL/MariaDB."""
    if dialect.name not in MYSQL_DIALECTS:
        return sa.String(length=length)
    if getattr(dialect, "is_mariadb", False):
        collation = "utf8mb4_nopad_bin"
    elif (dialect.server_version_info or ()) >= (8, 0, 17):
        collation = "utf8mb4_0900_bin"
    else:
        collation = "utf8mb4_bin"
    return mysql.VARCHAR(length=length, charset="utf8mb4", collation=collation)


def upgrade():
    dialect = op.get_bind().dialect
    op.create_table(
        "site_users",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("username", sa.String(length=150), nullable=False),
        sa.Column("username_key", _exact_string(255, dialect), nullable=False),
        sa.Column("name", sa.String(length=400), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("password_changed_at", TIMESTAMP, nullable=True),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        sa.Column("two_factor", sa.Boolean(), nullable=False),
        sa.Column("registered_at", TIMESTAMP, nullable=True),
        sa.Column("last_visit_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_users")),
        sa.UniqueConstraint("username_key", name=op.f("uq_site_users_username_key")),
    )
    op.create_table(
        "site_user_groups",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("title", _exact_string(100, dialect), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["site_users.id"],
            name=op.f("fk_site_user_groups_user_id_site_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "title", name=op.f("pk_site_user_groups")),
    )
    op.create_table(
        "oauth2_imported_users",
        sa.Column("user_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("password_digest", sa.String(length=64), nullable=False),
        sa.Column("profile", LONG_TEXT, nullable=False),
        sa.Column("imported_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_oauth2_imported_users")),
    )


def downgrade():
    op.drop_table("oauth2_imported_users")
    op.drop_table("site_user_groups")
    op.drop_table("site_users")
