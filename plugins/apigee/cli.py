"""``flask --app app apigee products|apps|proxies ...``: Apigee's admin objects.

Apps, products and proxies live in this plugin's tables; an app is an engine client
(``clients create``) with a developer email and API products. The commands work while the
plugin is disabled, so an admin configures first and enables last.
"""

from __future__ import annotations

import click
from flask.cli import AppGroup

from emulator import oauth
from emulator.host import TEXT
from emulator.host import commit_change
from emulator.host import db
from emulator.host import record_change
from emulator.host import record_client_fields
from emulator.host import utcnow

from .apps import App
from .apps import add_product
from .apps import changed_fields
from .apps import find_app
from .apps import list_products
from .apps import set_app
from .models import ApigeeProduct
from .models import ApigeeProxy
from .params import NAME
from .proxies import add_proxy
from .proxies import list_proxies
from .proxies import remove_proxy

apigee = AppGroup("apigee", help="Apigee API products, developer apps and protected proxies.")


@apigee.group("products")
def products() -> None:
    """API products: a name and the scopes it grants."""


@apigee.group("apps")
def apps() -> None:
    """Developer apps: a client's developer email and API products."""


@apigee.group("proxies", short_help="Protected API proxies: base path -> target URL.")
def proxies() -> None:
    """Protected API proxies: base path -> target URL, behind token verification."""


@products.command("add")
@click.argument("name", type=TEXT)
@click.option(
    "--scope", type=TEXT, help='Space-separated scopes the product grants, e.g. "read write".'
)
def products_add(name: str, scope: str | None) -> None:
    """Add an API product (or replace its scopes)."""

    def change() -> ApigeeProduct:
        before = {product.name: product.scopes for product in list_products(db.session)}
        product = add_product(db.session, name, scope)
        if name not in before:
            record_change("apigee.product.add", name, after={"scopes": product.scopes})
        elif before[name] != product.scopes:
            record_change(
                "apigee.product.update",
                name,
                before={"scopes": before[name]},
                after={"scopes": product.scopes},
            )
        return product

    product = commit_change(change)
    click.echo(f"Product {name} added, scopes: {product.scopes or '(none)'}.")


@products.command("list")
def products_list() -> None:
    """List the API products and their scopes."""
    for product in list_products(db.session):
        click.echo(f"{product.name}  scopes={product.scopes or '-'}")


@apps.command("set", short_help="Make a client an Apigee app (email, API products).")
@click.argument("client_id", type=TEXT)
@click.option("--developer-email", type=TEXT, help="The app developer's email (developer.email).")
@click.option(
    "--products",
    "product_list",
    type=TEXT,
    help='Space-separated product names, in order, e.g. "P1 P2".',
)
@click.option(
    "--product",
    "product_names",
    multiple=True,
    type=TEXT,
    help='One product name, which may hold spaces ("Test App product"); repeat it for more.',
)
def apps_set(
    client_id: str,
    developer_email: str | None,
    product_list: str | None,
    product_names: tuple[str, ...],
) -> None:
    """Make a client an Apigee app: its developer's email and its API products.

    An option left out keeps what the app has.
    """
    if product_list is not None and product_names:
        raise click.ClickException("Give the products with --products or with --product, not both.")
    client = oauth.find_client(db.session, client_id)
    if client is None:
        raise click.ClickException(
            f"No client {client_id!r}; create it with `clients create` first."
        )
    current = find_app(db.session, client.id, client_id)
    if product_list is not None:
        names = product_list.split()
    elif product_names:
        names = list(product_names)
    else:
        names = list(current.products)
    email = developer_email if developer_email is not None else current.developer_email

    def change() -> App:
        app = set_app(db.session, client.id, client_id, developer_email=email, product_names=names)
        record_client_fields(NAME, client_id, changed_fields(current, app))
        return app

    app = commit_change(change)
    click.echo(
        f"App {app.app_id} (client {client_id}): developer {email or '-'}, "
        f"products [{', '.join(app.products)}]."
    )


@apps.command("show")
@click.argument("client_id", type=TEXT)
def apps_show(client_id: str) -> None:
    """Show a client as an Apigee app."""
    client = oauth.find_client(db.session, client_id)
    if client is None:
        raise click.ClickException(f"No client {client_id!r}.")
    app = find_app(db.session, client.id, client_id)
    click.echo(f"client_id: {client.client_id}")
    click.echo(f"application_name: {app.app_id}")
    click.echo(f"developer.email: {app.developer_email or '-'}")
    click.echo(f"api_product_list: [{', '.join(app.products)}]")


@proxies.command("add", short_help="Protect a base path and forward it to a target.")
@click.argument("base_path", type=TEXT)
@click.option(
    "--target",
    required=True,
    type=TEXT,
    help="The URL requests are forwarded to, e.g. http://127.0.0.1:9000/v1.",
)
@click.option(
    "--scope", type=TEXT, help="Space-separated scopes; a token needs at least one of them."
)
def proxies_add(base_path: str, target: str, scope: str | None) -> None:
    """Protect BASE_PATH with token verification and forward it to --target (or update it)."""

    def change() -> tuple[ApigeeProxy, bool]:
        before = {row.base_path: _proxy_fields(row) for row in list_proxies(db.session)}
        row, created = add_proxy(db.session, base_path, target, scope, now=utcnow())
        after = _proxy_fields(row)
        if created:
            record_change("apigee.proxy.add", row.base_path, after=after)
        elif before[row.base_path] != after:
            record_change(
                "apigee.proxy.update", row.base_path, before=before[row.base_path], after=after
            )
        return row, created

    row, created = commit_change(change)
    verb = "added" if created else "updated"
    click.echo(
        f"Proxy {row.base_path} {verb}: -> {row.target_url}, scope: {row.scope or '(any token)'}."
    )


@proxies.command("list")
def proxies_list() -> None:
    """List the protected proxies."""
    for row in list_proxies(db.session):
        click.echo(f"{row.base_path}  -> {row.target_url}  scope={row.scope or '-'}")


@proxies.command("remove")
@click.argument("base_path", type=TEXT)
def proxies_remove(base_path: str) -> None:
    """Remove a protected proxy."""
    row = remove_proxy(db.session, base_path)
    if row is None:
        raise click.ClickException(f"No proxy at {base_path!r}.")
    record_change("apigee.proxy.remove", row.base_path, before=_proxy_fields(row))
    db.session.commit()
    click.echo(f"Proxy {base_path.rstrip('/')} removed.")


def _proxy_fields(row: ApigeeProxy) -> dict[str, str | None]:
    """A proxy as the audit log records it (a password in the target URL is masked there)."""
    return {"target_url": row.target_url, "scope": row.scope}
