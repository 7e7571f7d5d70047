"""apigee owns apps and products: its own tables; the engine's client table is neutral again

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

Every client's app id and developer email move to apigee_apps, the API products to
apigee_products and the app-product links, in order, to apigee_app_products; then the
engine's oauth_clients loses app_id and developer_email, and the oauth_api_products and
oauth_client_products tables go. plugin_state.revision, which nothing read, goes too.
Products are copied by name (new ids), so no backend's id sequence needs resetting.
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# plugins/apigee/apps.py APP_ID_NAMESPACE: the downgrade gives app-less clients the app id
# the plugin showed for them.
APP_ID_NAMESPACE = uuid.UUID("b8e3e148-9095-4404-b879-b65175ce90c0")


def _derived_app_id(client_id):
    """plugins/apigee/apps.py derived_app_id, as of this revision."""
    return str(uuid.UUID(bytes=uuid.uuid5(APP_ID_NAMESPACE, client_id).bytes, version=4))


def upgrade():
    op.create_table(
        "apigee_apps",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.String(length=36), nullable=False),
        sa.Column("developer_email", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oauth_clients.id"],
            name=op.f("fk_apigee_apps_client_id_oauth_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_apigee_apps")),
        sa.UniqueConstraint("app_id", name=op.f("uq_apigee_apps_app_id")),
    )
    op.create_table(
        "apigee_products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apigee_products")),
        sa.UniqueConstraint("name", name=op.f("uq_apigee_products_name")),
    )
    op.create_table(
        "apigee_app_products",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["apigee_apps.client_id"],
            name=op.f("fk_apigee_app_products_client_id_apigee_apps"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["apigee_products.id"],
            name=op.f("fk_apigee_app_products_product_id_apigee_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", "product_id", name=op.f("pk_apigee_app_products")),
    )
    op.execute(
        "INSERT INTO apigee_apps (client_id, app_id, developer_email) "
        "SELECT id, app_id, developer_email FROM oauth_clients"
    )
    op.execute(
        "INSERT INTO apigee_products (name, scopes) "
        "SELECT name, scopes FROM oauth_api_products ORDER BY id"
    )
    op.execute(
        "INSERT INTO apigee_app_products (client_id, product_id, position) "
        "SELECT link.client_id, product.id, link.position "
        "FROM oauth_client_products link "
        "JOIN oauth_api_products old ON old.id = link.product_id "
        "JOIN apigee_products product ON product.name = old.name"
    )
    op.drop_table("oauth_client_products")
    op.drop_table("oauth_api_products")
    with op.batch_alter_table("oauth_clients") as batch:
        batch.drop_constraint(batch.f("uq_oauth_clients_app_id"), type_="unique")
        batch.drop_column("developer_email")
        batch.drop_column("app_id")
    with op.batch_alter_table("plugin_state") as batch:
        batch.drop_column("revision")


def downgrade():
    with op.batch_alter_table("plugin_state") as batch:
        batch.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="1"))
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
    conn = op.get_bind()
    clients = sa.table(
        "oauth_clients",
        sa.column("id", sa.Integer),
        sa.column("client_id", sa.String),
        sa.column("app_id", sa.String),
        sa.column("developer_email", sa.String),
    )
    apps = {
        row.client_id: row
        for row in conn.execute(
            sa.text("SELECT client_id, app_id, developer_email FROM apigee_apps")
        )
    }
    for pk, client_id in conn.execute(sa.select(clients.c.id, clients.c.client_id)).all():
        app = apps.get(pk)
        conn.execute(
            clients.update()
            .where(clients.c.id == pk)
            .values(
                app_id=app.app_id if app else _derived_app_id(client_id),
                developer_email=app.developer_email if app else None,
            )
        )
    op.execute(
        "INSERT INTO oauth_api_products (name, scopes) "
        "SELECT name, scopes FROM apigee_products ORDER BY id"
    )
    op.execute(
        "INSERT INTO oauth_client_products (client_id, product_id, position) "
        "SELECT link.client_id, old.id, link.position "
        "FROM apigee_app_products link "
        "JOIN apigee_products product ON product.id = link.product_id "
        "JOIN oauth_api_products old ON old.name = product.name"
    )
    with op.batch_alter_table("oauth_clients") as batch:
        batch.alter_column("app_id", existing_type=sa.String(length=36), nullable=False)
        batch.create_unique_constraint(batch.f("uq_oauth_clients_app_id"), ["app_id"])
    op.drop_table("apigee_app_products")
    op.drop_table("apigee_products")
    op.drop_table("apigee_apps")
