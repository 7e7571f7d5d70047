"""apigee apps: app id, developer email, API products

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

Existing clients get a new random app id each (it stays stable from then on).
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "oauth_api_products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_api_products")),
        sa.UniqueConstraint("name", name=op.f("uq_oauth_api_products_name")),
    )
    op.create_table(
        "oauth_client_products",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oauth_clients.id"],
            ondelete="CASCADE",
            name=op.f("fk_oauth_client_products_client_id_oauth_clients"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["oauth_api_products.id"],
            ondelete="CASCADE",
            name=op.f("fk_oauth_client_products_product_id_oauth_api_products"),
        ),
        sa.PrimaryKeyConstraint("client_id", "product_id", name=op.f("pk_oauth_client_products")),
    )
    with op.batch_alter_table("oauth_clients") as batch:
        batch.add_column(sa.Column("app_id", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("developer_email", sa.String(length=255), nullable=True))
    clients = sa.table("oauth_clients", sa.column("id", sa.Integer), sa.column("app_id", sa.String))
    conn = op.get_bind()
    for (pk,) in conn.execute(sa.select(clients.c.id)).all():
        conn.execute(clients.update().where(clients.c.id == pk).values(app_id=str(uuid.uuid4())))
    with op.batch_alter_table("oauth_clients") as batch:
        batch.alter_column("app_id", existing_type=sa.String(length=36), nullable=False)
        batch.create_unique_constraint(batch.f("uq_oauth_clients_app_id"), ["app_id"])


def downgrade():
    with op.batch_alter_table("oauth_clients") as batch:
        batch.drop_constraint(batch.f("uq_oauth_clients_app_id"), type_="unique")
        batch.drop_column("developer_email")
        batch.drop_column("app_id")
    op.drop_table("oauth_client_products")
    op.drop_table("oauth_api_products")
