"""What the admin pages show of this plugin: the sample's token call, and a client's app
(its developer email and API products), saved with the functions ``apigee apps set`` uses."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session

from emulator.host import ClientPanel
from emulator.host import PanelField
from emulator.host import TokenExample

from .apps import changed_fields
from .apps import find_app
from .apps import list_products
from .apps import set_app
from .params import GENERATE
from .params import parse_flow


def token_examples(
    base_url: str, client_id: str, secret: str | None, params: Mapping[str, Any]
) -> Sequence[TokenExample]:
    """The sample's ``invoke.sh`` call (seed 000), with the Basic header worked out.

    The first GenerateAccessToken path of ``base_paths``; POST when the flow asks for it.
    Base64 and a percent-encoded path hold nothing a shell reads inside double quotes.
    """
    if secret is None:
        return ()  # an Apigee app always authenticates with its key and secret
    flows = [(path, *parse_flow(flow)) for path, flow in params["base_paths"].items()]
    generate = [(path, method) for path, method, operation in flows if operation == GENERATE]
    if not generate:
        return ()
    path, method = next((f for f in generate if f[1] in (None, "GET")), generate[0])
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    verb = f"-X {method} " if method not in (None, "GET") else ""
    url = f"{base_url}{quote(path)}?grant_type=client_credentials"
    return (
        TokenExample(
            title="Apigee token URL",
            command=f'curl {verb}-H "Authorization: Basic {basic}" "{url}"',
        ),
    )


def _fields(session: Session, client_pk: int, client_id: str) -> Sequence[PanelField]:
    app = find_app(session, client_pk, client_id)
    known = ", ".join(product.name for product in list_products(session)) or "none yet"
    return (
        PanelField(
            "app_id", "App id (application_name)", app.app_id, "Fixed for good.", readonly=True
        ),
        PanelField(
            "developer_email",
            "Developer email",
            app.developer_email or "",
            "The app's developer (developer_email in token answers); empty for none.",
        ),
        PanelField(
            "products",
            "API products",
            "\n".join(app.products),
            f"One per line, in order; their scopes are the app's when the client has no "
            f"scope of its own. Known products: {known} (products are added with the "
            "plugin's command-line tool).",
            multiline=True,
        ),
    )


def _save(
    session: Session, client_pk: int, client_id: str, values: Mapping[str, str]
) -> Mapping[str, tuple[Any, Any]]:
    before = find_app(session, client_pk, client_id)
    email = (values.get("developer_email") or "").strip() or None
    products = [line.strip() for line in (values.get("products") or "").splitlines()]
    after = set_app(
        session,
        client_pk,
        client_id,
        developer_email=email,
        product_names=[name for name in products if name],
    )
    return changed_fields(before, after)


client_panel = ClientPanel(title="Apigee app", fields=_fields, save=_save)
