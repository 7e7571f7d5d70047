"""The clients pages: create, edit, disable, delete, the list, a plugin's panel."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

from emulator.manage import actions
from emulator.ops.clock import utcnow
from emulator.storage.database import db
from emulator.storage.models import Client
from tests.support.admin import AdminSession
from tests.support.admin import create
from tests.support.admin import secret_of

# --- clients ---------------------------------------------------------------------------


def test_create_shows_the_secret_once_with_both_dialects_commands(
    admin: AdminSession, client: FlaskClient, cli: Callable[..., str]
) -> None:
    cli("plugins", "enable", "apigee")
    rv = admin.post("/admin/clients/new", {"client_id": "web-1", "all_grants": "y"})
    assert rv.status_code == 201
    page = rv.get_data(as_text=True)
    secret = secret_of(page)
    assert re.fullmatch(r"[0-9a-f]{40}", secret)
    commands = [
        c.replace("&#34;", '"').replace("&amp;", "&")
        for c in re.findall(r'<pre id="example-\d+">(.*?)</pre>', page)
    ]
    legacy = next(c for c in commands if "option=token" in c)
    assert legacy == (
        'curl -X POST "http://localhost/index.php?option=token&api=oauth2'
        f'&grant_type=client_credentials&client_id=web-1&client_secret={secret}"'
    )
    basic = base64.b64encode(f"web-1:{secret}".encode()).decode()
    assert (
        f'curl -H "Authorization: Basic {basic}" '
        '"http://localhost/oauth/accesstoken?grant_type=client_credentials"'
    ) in commands
    # Both commands work as shown.
    assert client.post(legacy.split('"')[1]).status_code == 200
    rv = client.get(
        "/oauth/accesstoken?grant_type=client_credentials",
        headers={"Authorization": f"Basic {basic}"},
    )
    assert rv.status_code == 200, rv.get_data(as_text=True)
    assert secret not in admin.get("/admin/clients/web-1/edit").get_data(as_text=True)


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"client_id": ""}, "client_id"),
        ({"client_id": "x" * 81}, "client_id"),
        ({"client_id": "line\nbreak"}, "client_id"),
        ({"client_id": "ok", "scope": "a\u0000b"}, "scope"),
    ],
    ids=["empty-id", "long-id", "control-character", "nul-in-scope"],
)
def test_a_bad_client_field_is_shown_beside_it_and_nothing_is_saved(
    admin: AdminSession, count_rows: Callable[[str], int], data: dict, where: str
) -> None:
    rv = admin.post("/admin/clients/new", {"all_grants": "y", **data})
    assert rv.status_code == 400
    page = rv.get_data(as_text=True)
    field = page[page.index(f'id="{where}"') :]
    assert field.index('class="error"') < field.index("</div>")
    assert count_rows("oauth_clients") == 0


def test_a_refused_client_is_explained_and_nothing_is_saved(
    admin: AdminSession, count_rows: Callable[[str], int]
) -> None:
    create(admin, "taken")
    rv = admin.post("/admin/clients/new", {"client_id": "taken", "all_grants": "y"})
    assert rv.status_code == 400
    assert "Nothing was saved" in rv.get_data(as_text=True)
    assert count_rows("oauth_clients") == 1


PATH_LIKE_IDS = ["../../admin/clients/good", "a/b", "a\\b", ".", ".."]


@pytest.mark.parametrize("client_id", PATH_LIKE_IDS)
def test_a_new_id_that_is_a_path_is_refused(
    admin: AdminSession, count_rows: Callable[[str], int], client_id: str
) -> None:
    """A new id may not hold '/' or '\\', nor be '.' or '..': its pages' links would name
    another page (issue 20)."""
    rv = admin.post("/admin/clients/new", {"client_id": client_id, "all_grants": "y"})
    assert rv.status_code == 400
    page = rv.get_data(as_text=True)
    assert f"client_id {escape(repr(client_id))} may not hold" in page
    assert "Nothing was saved" in page
    assert count_rows("oauth_clients") == 0


def store_as_before(app: Flask, *client_ids: str) -> None:
    """Clients stored before ids were checked (an import of an older version)."""
    with app.app_context():
        for client_id in client_ids:
            db.session.add(Client(client_id=client_id, secret_hash=None, created_at=utcnow()))
        db.session.commit()


@pytest.mark.parametrize(
    ("client_id", "link"),
    [
        ("a/../good", "/admin/clients/a%2F..%2Fgood/edit"),
        ("../../admin/clients/good", "/admin/clients/..%2F..%2Fadmin%2Fclients%2Fgood/edit"),
        ("a/b", "/admin/clients/a%2Fb/edit"),
        ("a\\b", "/admin/clients/a%5Cb/edit"),
        ("/lead", "/admin/clients/%2Flead/edit"),
        ("a//b", "/admin/clients/a%2F%2Fb/edit"),
        ("trailing/", "/admin/clients/trailing%2F/edit"),
        ("50%", "/admin/clients/50%25/edit"),
    ],
    ids=[
        "dot-dot",
        "climbing",
        "slash",
        "backslash",
        "leading-slash",
        "double-slash",
        "trailing-slash",
        "percent",
    ],
)
def test_a_stored_id_that_is_a_path_opens_and_changes_its_own_page(
    admin: AdminSession, app: Flask, client_id: str, link: str
) -> None:
    """Links encode the id whole, so a browser resolves no dot segment of it; each page and
    form acts on that client, never on "good"."""
    store_as_before(app, "good", client_id)
    listing = admin.get("/admin/clients").get_data(as_text=True)
    assert f'href="{link}"' in listing
    page = admin.get(link)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert f"<h1><code>{escape(client_id)}</code>" in text
    state = link.removesuffix("/edit") + "/state"
    assert f'action="{state}"' in text
    assert admin.post(state, {"disabled": "1", "confirm": "1"}).status_code == 302
    with app.app_context():
        assert actions.show_client(db.session, client_id).disabled
        assert not actions.show_client(db.session, "good").disabled
    assert admin.get(link.removesuffix("/edit") + "/delete").status_code == 200


def test_edit_a_client(admin: AdminSession, app: Flask, cli: Callable[..., str]) -> None:
    cli("scopes", "add", "read")
    create(admin, "edited")
    rv = admin.post(
        "/admin/clients/edited/edit",
        {
            "scope": "read",
            "grant_types": "client_credentials",
            "user_id": "u-7",
            "redirect_uri": "https://app.example/cb",
        },
    )
    assert rv.status_code == 302
    with app.app_context():
        row = actions.show_client(db.session, "edited")
    assert (row.scope, row.grant_types, row.user_id, row.redirect_uri) == (
        "read",
        "client_credentials",
        "u-7",
        "https://app.example/cb",
    )
    page = admin.get("/admin/clients/edited/edit").get_data(as_text=True)
    assert 'value="u-7"' in page


def test_disable_enable_and_delete(
    admin: AdminSession, client: FlaskClient, count_rows: Callable[[str], int]
) -> None:
    secret = create(admin, "short-lived")

    def token_status(client_id: str = "short-lived") -> tuple[int, str | None]:
        rv = client.post(
            "/index.php?option=token&api=oauth2",
            data={"grant_type": "client_credentials"},
            auth=(client_id, secret),
        )
        return rv.status_code, rv.get_json().get("error")

    unknown = token_status("nobody-at-all")
    assert token_status()[0] == 200
    asked = admin.post("/admin/clients/short-lived/state", {"disabled": "1"})
    assert asked.status_code == 200 and "Disabling client short-lived" in asked.get_data(
        as_text=True
    )
    assert token_status()[0] == 200  # the first post only asks
    confirmed = {"disabled": "1", "confirm": "1"}
    assert admin.post("/admin/clients/short-lived/state", confirmed).status_code == 302
    assert "disabled" in admin.get("/admin/clients").get_data(as_text=True)
    assert token_status() == unknown  # answered as an unknown client
    assert admin.post("/admin/clients/short-lived/state", {"disabled": "0"}).status_code == 302
    assert token_status()[0] == 200
    confirm = admin.get("/admin/clients/short-lived/delete")
    assert "cannot be undone" in confirm.get_data(as_text=True)
    assert count_rows("oauth_clients") == 1  # a GET deletes nothing
    assert admin.post("/admin/clients/short-lived/delete").status_code == 200  # asks again
    assert count_rows("oauth_clients") == 1
    assert admin.post("/admin/clients/short-lived/delete", {"confirm": "1"}).status_code == 302
    assert count_rows("oauth_clients") == 0
    assert count_rows("oauth_access_tokens") == 0
    assert admin.get("/admin/clients/short-lived/edit").status_code == 404


def test_the_list_searches_and_pages_thousands_of_clients(admin: AdminSession, app: Flask) -> None:
    now = utcnow()
    with app.app_context():
        db.session.execute(
            sa.insert(Client),
            [
                {
                    "client_id": f"bulk-{n:05d}",
                    "secret_hash": None,
                    "redirect_uri": "",
                    "user_id": "owner-7" if n % 500 == 0 else None,
                    "created_at": now,
                }
                for n in range(3000)
            ],
        )
        db.session.commit()
    page = admin.get("/admin/clients?page=2").get_data(as_text=True)
    assert "bulk-00050" in page and "bulk-00099" in page and "bulk-00100" not in page
    assert "Page 2 of 60" in page
    found = admin.get("/admin/clients?q=owner-7").get_data(as_text=True)
    assert found.count('href="/admin/clients/bulk-') == 6
    assert "of 6" in found
    refused = admin.get("/admin/clients?q=%00")
    assert refused.status_code == 400
    assert "bulk-" not in refused.get_data(as_text=True)
    assert admin.get("/admin/clients?page=999").status_code == 200


# --- a plugin's client panel -------------------------------------------------------------


def test_a_plugins_client_panel_saves_through_the_plugin(
    admin: AdminSession, cli: Callable[..., str], audit_actions: Callable[[], list]
) -> None:
    cli("plugins", "enable", "apigee")  # a disabled plugin's panel is not shown
    cli("apigee", "products", "add", "Test App product", "--scope", "weather.read")
    create(admin, "app-1")
    rv = admin.post(
        "/admin/clients/app-1/panel/apigee",
        {"developer_email": "dev@example.com", "products": "Test App product\n"},
    )
    assert rv.status_code == 302
    shown = cli("apigee", "apps", "show", "app-1")
    assert "dev@example.com" in shown and "Test App product" in shown
    action = audit_actions()[-1]
    assert action[0] == "client.update" and action[3] == "app-1"
    rv = admin.post(
        "/admin/clients/app-1/panel/apigee",
        {"developer_email": "not an email", "products": "No such product"},
    )
    assert rv.status_code == 400
    assert "Nothing was saved" in rv.get_data(as_text=True)
    assert "dev@example.com" in cli("apigee", "apps", "show", "app-1")
