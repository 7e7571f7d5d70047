"""What breaks clients asks first: the first post (or the GET of delete) shows what stops
working, with a Confirm button (CSRF token and ``confirm``) and a Cancel link; nothing is
done until the confirmation comes back."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from emulator.ops.clock import utcnow
from emulator.storage.database import db
from emulator.storage.models import Client
from emulator.storage.models import UsageCount
from tests.support.admin import AdminSession
from tests.support.admin import create
from tests.support.admin import token_status

TOKEN_URL = "/index.php?option=token&api=oauth2"
# (first post, its form, what the page says first, the Confirm button, where Cancel goes)
ACTIONS = {
    "disable-client": (
        "/admin/clients/victim/state",
        {"disabled": "1"},
        "Disabling client victim: its 1 live access token and 1 refresh token; they stop "
        "working and it can get no new ones.",
        "Disable the client",
        "/admin/clients/victim/edit",
    ),
    "revoke-tokens": (
        "/admin/clients/victim/revoke",
        {},
        "Revoking every token of client victim: its 1 live access token and 1 refresh token; "
        "they are deleted and stop working at once",
        "Revoke every token",
        "/admin/clients/victim/edit",
    ),
    "delete-client": (
        "/admin/clients/victim/delete",
        {},
        "Deleting client victim: its credentials stop working and its 1 live access token "
        "and 1 refresh token; they are removed",
        "Delete the client",
        "/admin/clients/victim/edit",
    ),
    "disable-plugin": (
        "/admin/plugins/oauth2/enabled",
        {"enabled": "0"},
        "Disabling the oauth2 plugin (redCORE OAuth2 server): every "
        "<code>index.php?option=token&amp;api=oauth2</code> request (and option=resource, profile, "
        "revoke, introspect, authorize) will be answered as the original did with the API off",
        "Disable the plugin",
        "/admin/plugins",
    ),
}


@pytest.fixture
def victim(admin: AdminSession, client: FlaskClient) -> str:
    """A client with a live access token and a refresh token; returns its secret."""
    secret = create(admin, "victim")
    rv = client.post(TOKEN_URL, data={"grant_type": "client_credentials"}, auth=("victim", secret))
    assert rv.status_code == 200 and "refresh_token" in rv.get_json()
    return secret


def hidden_fields(page: str) -> dict[str, str]:
    """The hidden fields of the confirmation form."""
    form = page[page.index('<form method="post"', page.index("What stops working")) :]
    form = form[: form.index("</form>")]
    return dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', form)) | dict(
        re.findall(r'name="([^"]+)" type="hidden" value="([^"]*)"', form)
    )


@pytest.mark.parametrize(
    ("path", "data", "lead", "button", "cancel"), ACTIONS.values(), ids=ACTIONS.keys()
)
def test_an_action_that_breaks_clients_asks_first_and_names_what_breaks(
    admin: AdminSession,
    client: FlaskClient,
    victim: str,
    audit_actions: Callable[[], list],
    path: str,
    data: dict[str, str],
    lead: str,
    button: str,
    cancel: str,
) -> None:
    before = audit_actions()
    rv = admin.post(path, data)
    assert rv.status_code == 200
    page = rv.get_data(as_text=True)
    assert lead in page, page[page.index("<main>") :][:2000]
    assert f'<button type="submit" class="danger">{button}</button>' in page
    assert f'<a class="button" href="{cancel}">Cancel</a>' in page
    fields = hidden_fields(page)
    # The session's CSRF token, signed anew with the time of this page (Flask-WTF): the
    # same value, perhaps a second newer.
    assert fields.pop("csrf_token").split(".")[0] == admin.token.split(".")[0]
    assert fields == {**data, "confirm": "1"}
    # Nothing was done: no event, the client and its token still work.
    assert audit_actions() == before
    assert token_status(client, "victim", victim) == 200
    # The Confirm button's post does it.
    assert admin.post(path, {**data, "confirm": "1"}).status_code == 302
    assert len(audit_actions()) == len(before) + 1


def test_the_confirmation_needs_the_csrf_token(
    admin: AdminSession, victim: str, audit_actions: Callable[[], list]
) -> None:
    before = audit_actions()
    rv = admin.client.post("/admin/clients/victim/delete", data={"confirm": "1"})
    assert rv.status_code == 400 and "Nothing was saved" in rv.get_data(as_text=True)
    assert audit_actions() == before


def test_delete_asks_on_a_get_too_and_a_get_deletes_nothing(
    admin: AdminSession, count_rows: Callable[[str], int]
) -> None:
    create(admin, "kept")
    page = admin.get("/admin/clients/kept/delete").get_data(as_text=True)
    assert "Delete client kept?" in page and "This cannot be undone." in page
    assert "it has no live token" not in page  # a client without tokens: no count of them
    assert "Deleting client kept: its credentials stop working" in page
    assert count_rows("oauth_clients") == 1


def test_what_mends_clients_does_not_ask(
    admin: AdminSession, client: FlaskClient, victim: str
) -> None:
    admin.post("/admin/clients/victim/state", {"disabled": "1", "confirm": "1"})
    assert admin.post("/admin/clients/victim/state", {"disabled": "0"}).status_code == 302
    assert token_status(client, "victim", victim) == 200
    admin.post("/admin/plugins/apigee/enabled", {"enabled": "1"})
    rv = admin.post("/admin/plugins/apigee/enabled", {"enabled": "1"})
    assert rv.status_code == 302  # enabling asks nothing


def test_disabling_a_plugin_names_the_clients_that_used_it_lately(
    admin: AdminSession, app: Flask
) -> None:
    for n in range(12):
        create(admin, f"user-{n:02d}")
    create(admin, "long-gone")
    today = utcnow().date()
    with app.app_context():
        ids = dict(db.session.execute(sa.select(Client.client_id, Client.id)).all())
        for client_id, days_ago in [*((f"user-{n:02d}", n) for n in range(12)), ("long-gone", 45)]:
            db.session.add(
                UsageCount(
                    client_id=ids[client_id],
                    plugin="oauth2",
                    operation="token",
                    credential_form="basic",
                    token_form="",
                    day=today - timedelta(days=days_ago),
                    count=3,
                    last_seen=utcnow(),
                )
            )
        db.session.commit()
    page = admin.post("/admin/plugins/oauth2/enabled", {"enabled": "0"}).get_data(as_text=True)
    named = ", ".join(f"user-{n:02d}" for n in range(10))
    assert f"12 clients used it in the last 30 days: {named} and 2 more." in page
    assert "long-gone" not in page
    assert "Its token commands leave the client pages until it is enabled again." in page


def test_disabling_a_plugin_says_where_its_requests_go_instead(
    admin: AdminSession, cli: Callable[..., str], set_params: Callable[..., None]
) -> None:
    set_params("passthrough", legacy_url="https://legacy.example")
    cli("plugins", "enable", "passthrough")
    cli("plugins", "enable", "apigee")
    page = admin.post("/admin/plugins/oauth2/enabled", {"enabled": "0"}).get_data(as_text=True)
    assert "The enabled passthrough plugin answers what no enabled plugin answers" in page
    page = admin.post("/admin/plugins/apigee/enabled", {"enabled": "0"}).get_data(as_text=True)
    assert "the paths it serves (any path no other route claims) will answer as unknown" in page
    assert "Its panel and its token commands leave the client pages" in page
    page = admin.post("/admin/plugins/passthrough/enabled", {"enabled": "0"}).get_data(as_text=True)
    assert "requests no enabled plugin answers stop going to it" in page
    assert "it stops watching the requests other plugins answer" in page
    assert "used it in the last 30 days" not in page  # it answers no URL of its own


def test_a_reset_lists_each_option_going_back_to_its_default(
    admin: AdminSession, cli: Callable[..., str]
) -> None:
    cli("plugins", "set", "oauth2", "access_lifetime=120", "www_realm=Shop <b>")
    page = admin.post("/admin/plugins/oauth2/reset").get_data(as_text=True)
    assert "Reset the options of oauth2?" in page
    assert "<li><code>access_lifetime</code>: 120 -&gt; 3600</li>" in page
    assert "<code>www_realm</code>: Shop &lt;b&gt; -&gt;" in page  # escaped
    assert "it serves with the defaults" in page
    assert admin.get("/admin/plugins/oauth2").get_data(as_text=True).count('value="120"') == 1


def test_a_confirmation_escapes_what_it_names(admin: AdminSession) -> None:
    create(admin, 'x"><b>bold<b>')  # no "/": a new id may not hold one
    rv = admin.post('/admin/clients/x"><b>bold<b>/state', {"disabled": "1"})
    page = rv.get_data(as_text=True)
    assert rv.status_code == 200
    assert "<b>bold" not in page
    assert "Disabling client x&#34;&gt;&lt;b&gt;bold&lt;b&gt;" in page
