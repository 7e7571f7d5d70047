"""What the pages tell a browser user: a link to the page that does it, or plain words; never
a command to run on the server."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import Flask

from tests.support.admin import AdminSession
from tests.support.admin import create

COMMAND = re.compile(
    r"flask\b|--app\b|\b(plugins|clients|scopes|tokens|legacy|apigee|admin|audit|usage) "
    r"(set|enable|disable|add|remove|update|list|import|usage|products|apps|create-user|purge)\b"
)


def test_no_page_sends_a_browser_user_to_the_command_line(
    admin: AdminSession, app: Flask, cli: Callable[..., str]
) -> None:
    cli("scopes", "add", "read")
    cli("plugins", "enable", "apigee")
    create(admin, "reader", scope="read")
    pages = {
        "login": app.test_client().get("/admin/login"),
        "secret": admin.post("/admin/clients/new", {"client_id": "fresh", "all_grants": "y"}),
        "scope-in-use": admin.post("/admin/scopes/remove", {"name": "read"}),
        # oauth2 with no issuer and passthrough with no legacy_url: both advise.
        "enable-advice": admin.post(
            "/admin/plugins/oauth2/enabled", {"enabled": "1"}, follow_redirects=True
        ),
        "missing-setting": admin.post("/admin/plugins/passthrough/enabled", {"enabled": "1"}),
        "confirm-plugin": admin.post("/admin/plugins/apigee/enabled", {"enabled": "0"}),
        "confirm-client": admin.post("/admin/clients/reader/state", {"disabled": "1"}),
    }
    for path in (
        "/admin/clients",
        "/admin/clients/reader/edit",  # with the apigee panel
        "/admin/scopes",
        "/admin/plugins",
        "/admin/plugins/oauth2",
        "/admin/plugins/apigee",
        "/admin/plugins/passthrough",
        "/admin/activity",
        "/admin/audit",
    ):
        pages[path] = admin.get(path)
    assert "issuer is empty" in pages["enable-advice"].get_data(as_text=True)
    assert "legacy_url is empty" in pages["/admin/plugins/passthrough"].get_data(as_text=True)
    for name, rv in pages.items():
        text = re.sub(r"<[^>]+>", " ", rv.get_data(as_text=True))
        assert rv.status_code < 500, name
        assert not COMMAND.search(text), (name, COMMAND.search(text))


def test_a_scope_in_use_links_the_clients_that_hold_it(
    admin: AdminSession, cli: Callable[..., str]
) -> None:
    cli("scopes", "add", "read")
    for name in ("shop", 'a"<b>'):
        create(admin, name, scope="read")
    rv = admin.post("/admin/scopes/remove", {"name": "read"})
    assert rv.status_code == 400
    page = rv.get_data(as_text=True)
    assert (
        "Scope “read” is in the scope of client(s) "
        '<a href="/admin/clients/a%22%3Cb%3E/edit">a&#34;&lt;b&gt;</a>, '
        '<a href="/admin/clients/shop/edit">shop</a>: take it out of their scope on their pages '
        "first. Nothing was removed."
    ) in page


def test_the_advice_after_enabling_links_the_plugins_settings(
    admin: AdminSession, cli: Callable[..., str]
) -> None:
    cli("plugins", "disable", "oauth2")
    rv = admin.post("/admin/plugins/oauth2/enabled", {"enabled": "1"}, follow_redirects=True)
    page = rv.get_data(as_text=True)
    advice = page[page.index('class="flash warning"') :]
    advice = advice[: advice.index("</p>")]
    assert "issuer is empty" in advice
    assert '<a href="/admin/plugins/oauth2">Its settings</a>' in advice
