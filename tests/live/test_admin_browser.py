"""The admin pages in a real browser: headless Chromium (Debian's ``chromium``, driven by
Playwright through ``executable_path``) against gunicorn with 2 workers, and real API
clients over HTTP beside it.

The flow of issue 10: log in; create a client; copy its secret from the page; get a token
with it at the legacy URL; rotate the secret, reload the page that shows the new one (it is
not shown again, nor rotated again) and see the old one refused; disable the
``oauth2`` plugin and see the token URL answer as an unknown api; enter a bad option value
and see the error with nothing saved; delete a client and see its token refused at
``option=resource``; log out. Each page's screenshot goes to the test's temporary folder.

A second test lays the pages out at 1280x800 (no table wider than its card) and 390x844 (a
phone: the page never scrolls sideways), on a site with a client the legacy import
brought over and two weeks of usage; with ``DOCS_SCREENSHOTS=<folder>`` it saves the docs'
full-page screenshots there (admin-clients.png, admin-client.png, admin-confirm.png,
admin-audit.png, admin-plugins.png, admin-activity.png, and the site users' admin-users.png
and admin-user.png): `make screenshots` writes them
into docs/img/ (not on every run, which would change tracked files each time).

A third test runs the site users' pages: search, open a user, set a password, block the
user after the confirmation (the user's token is refused everywhere after it).

Changes made on one worker reach the other within CACHE_MAX_AGE: each check that another
worker sees a change waits until fresh connections see it, then until CACHE_MAX_AGE has
passed (a few fresh connections in a row may all have gone to one worker), and asks again
(``on_every_worker``).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser
from playwright.sync_api import Page
from playwright.sync_api import expect

from emulator.ops.clock import utcnow
from emulator.storage.database import db
from emulator.storage.models import Client
from emulator.storage.models import UsageCount
from plugins.oauth2.models import ImportedClient
from tests.live.server import BIN
from tests.live.server import CLI_TIMEOUT
from tests.live.server import ROOT
from tests.live.server import LiveServer
from tests.live.server import emptied_env
from tests.live.server import plugin_params
from tests.live.server import request
from tests.live.server import run_cli
from tests.live.server import settle
from tests.live.server import wait_until
from tests.support.app import make_app
from tests.support.users import login

pytestmark = pytest.mark.slow

ADMIN = "site-admin"
PASSWORD = "a long admin password for the browser"
UNKNOWN_API = (
    b'{"message":"API \\"oauth2\\" is not available","code":404,"type":"RuntimeException"}'
)
INVALID_TOKEN = (
    b'{"error":"invalid_token","error_description":"The access token provided is invalid"}'
)
# Enough fresh connections that both workers are asked (each request may go to either).
PROBES = 6


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    """gunicorn with 2 workers on an empty database with one admin user and a few clients."""
    env = emptied_env(database_url)
    # The flow waits for a refused secret on every worker, trying it on fresh connections as
    # often as a slow machine needs: each try is a failed authentication, which the
    # throttle (10 per client and address by default) must not turn into a 429 here.
    env["FLASK_CLIENT_AUTH_FAILURE_LIMIT"] = "1000/5minutes"
    env["FLASK_CLIENT_AUTH_ADDRESS_FAILURE_LIMIT"] = "1000/5minutes"
    subprocess.run(
        [str(BIN / "flask"), "--app", "app", "admin", "create-user", ADMIN, "--password-stdin"],
        cwd=ROOT,
        env=env,
        input=PASSWORD + "\n",
        text=True,
        capture_output=True,
        timeout=CLI_TIMEOUT,
        check=True,
    )
    run_cli(env, "scopes", "add", "site.read", "--default")
    run_cli(env, "scopes", "add", "site.documentation")
    for client_id, scope, user in (
        ("mobile-app", "site.read", "u-1042"),
        ("partner-portal", "site.read site.documentation", None),
        ("reporting-job", "site.documentation", "svc-reports"),
    ):
        args = ["clients", "create", client_id, "--scope", scope]
        run_cli(env, *args, *(["--user-id", user] if user else []))
    server = LiveServer(env, tmp_path)
    server.start()
    try:
        yield server, env
    finally:
        server.stop()


def token_with(server: LiveServer, client_id: str, secret: str) -> tuple[int, dict]:
    """client_credentials at the legacy URL (HTTP Basic), on a fresh connection."""
    rv = request(
        "POST",
        server.url("token"),
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
    )
    return rv.status_code, rv.json() if rv.content.startswith(b"{") else {}


def everywhere(check: object) -> bool:
    """``check()`` is true on PROBES fresh connections in a row (so on both workers)."""
    return all(check() for _ in range(PROBES))  # type: ignore[operator]


def on_every_worker(check: object, what: str) -> None:
    """``check()`` holds on every worker: seen on fresh connections, and still after
    CACHE_MAX_AGE, when no worker can be answering from a copy older than the change."""
    wait_until(lambda: everywhere(check), what)
    settle()
    assert everywhere(check), what


def shot(page: Page, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_admin_flow_in_a_browser(
    browser: Browser, site: tuple[LiveServer, dict[str, str]], tmp_path: Path
) -> None:
    server, env = site
    shots = tmp_path / "screenshots"
    shots.mkdir()
    context = browser.new_context(base_url=server.base_url, viewport={"width": 1280, "height": 800})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base_url)
    page = context.new_page()
    try:
        # A page without a session goes to the login.
        page.goto("/admin/clients")
        expect(page).to_have_url(f"{server.base_url}/admin/login?next=%2Fadmin%2Fclients")
        shot(page, shots, "login")
        page.fill("#username", ADMIN)
        page.fill("#password", PASSWORD)
        page.click("button:has-text('Log in')")
        expect(page).to_have_url(f"{server.base_url}/admin/clients")
        expect(page.locator("table.clients")).to_contain_text("partner-portal")
        shot(page, shots, "clients")

        # Create a client; copy its secret with the page's button.
        page.click("text=New client")
        shot(page, shots, "client-new")
        page.fill("#client_id", "browser-client")
        page.fill("#scope", "site.read")
        page.click("button:has-text('Create client')")
        expect(page.locator("h1")).to_contain_text("Client created")
        shown = page.inner_text("#client-secret")
        page.click("button[data-copy='client-secret']")
        expect(page.locator("button[data-copy='client-secret']")).to_have_text("Copied")
        secret = page.evaluate("navigator.clipboard.readText()")
        assert secret == shown and len(secret) == 40
        legacy = next(
            text for text in page.locator("pre").all_inner_texts() if "option=token" in text
        )
        shot(page, shots, "secret")

        # The token, with the copied secret, at the legacy URL the page shows.
        url = legacy.split('"')[1]
        assert url.startswith(server.base_url) and secret in url
        rv = request("POST", url)
        assert rv.status_code == 200, rv.text
        assert rv.json()["scope"] == "site.read"

        # Rotate the secret (grace 0): the old one is refused on every worker.
        page.click("text=Done: go to the client")
        shot(page, shots, "client")
        page.fill("#grace_minutes", "0")
        page.click("button:has-text('Rotate the secret')")
        expect(page.locator("h1")).to_contain_text("Secret rotated")
        expect(page).to_have_url(f"{server.base_url}/admin/clients/browser-client/secret")
        new_secret = page.inner_text("#client-secret")
        assert new_secret != secret
        # A reload asks for the page again (POST/redirect/GET): not shown twice, not rotated.
        page.reload()
        expect(page.locator("h1")).to_contain_text("Secret already shown")
        assert new_secret not in page.content()
        shot(page, shots, "secret-shown")
        on_every_worker(
            lambda: token_with(server, "browser-client", secret)[0] != 200,
            "the old secret is refused on every worker",
        )
        assert token_with(server, "browser-client", secret) == (
            400,
            {"error": "invalid_client", "error_description": "The client credentials are invalid"},
        )
        status, issued = token_with(server, "browser-client", new_secret)
        assert status == 200
        access_token = issued["access_token"]

        # Disable the oauth2 plugin (after its confirmation): its token URL answers as an
        # unknown api, everywhere.
        page.goto("/admin/plugins")
        page.click("#plugin-oauth2 button:has-text('Disable')")
        expect(page.locator("h1")).to_contain_text("Disable the oauth2 plugin?")
        expect(page.locator(".confirm .lead")).to_contain_text("index.php?option=token&api=oauth2")
        shot(page, shots, "plugin-confirm")
        page.click("button:has-text('Disable the plugin')")
        expect(page.locator("#plugin-oauth2")).to_contain_text("disabled")
        shot(page, shots, "plugins")
        on_every_worker(
            (
                lambda: (
                    (rv := request("POST", server.url("token"))).status_code == 404
                    and rv.content == UNKNOWN_API
                )
            ),
            "the disabled plugin's token URL answers as unknown on every worker",
        )
        page.click("#plugin-oauth2 button:has-text('Enable')")
        expect(page.locator("#plugin-oauth2")).to_contain_text("enabled")
        on_every_worker(
            lambda: token_with(server, "browser-client", new_secret)[0] == 200,
            "the plugin answers again on every worker",
        )

        # A bad option: the error beside its field, nothing saved.
        page.goto("/admin/plugins/oauth2")
        page.fill("#p-access_lifetime", "-5")
        page.click("button:has-text('Save options')")
        expect(page.locator("#param-access_lifetime .error")).to_be_visible()
        expect(page.locator("#p-access_lifetime")).to_have_value("-5")
        shot(page, shots, "plugin-options-error")
        assert plugin_params(env)["access_lifetime"] == 3600
        shown = run_cli(env, "plugins", "show", "oauth2").splitlines()
        assert [line for line in shown if "access_lifetime" in line] == [
            "    access_lifetime = 3600"  # no "*": not set by an admin
        ]

        # Delete the client: its token is refused at option=resource, on every worker.
        bearer = {"Authorization": f"Bearer {access_token}"}
        assert request("GET", server.url("resource"), headers=bearer).status_code == 200
        page.goto("/admin/clients/browser-client/edit")
        page.click("text=Delete…")
        shot(page, shots, "client-delete")
        page.click("button:has-text('Delete the client')")
        expect(page.locator(".flash")).to_contain_text("browser-client deleted")
        on_every_worker(
            (
                lambda: (
                    (rv := request("GET", server.url("resource"), headers=bearer)).status_code
                    == 401
                    and rv.content == INVALID_TOKEN
                )
            ),
            "the deleted client's token is refused on every worker",
        )

        # The other pages, for the record.
        for path, name in (
            ("/admin/scopes", "scopes"),
            ("/admin/activity", "activity"),
            ("/admin/audit", "audit"),
        ):
            page.goto(path)
            shot(page, shots, name)
        expect(page.locator("table.audit")).to_contain_text("client.delete")
        expect(page.locator("table.audit")).to_contain_text(f"admin:{ADMIN}")

        # Log out: the pages need a login again.
        page.click("button:has-text('Log out')")
        expect(page).to_have_url(f"{server.base_url}/admin/login")
        page.goto("/admin/clients")
        expect(page).to_have_url(f"{server.base_url}/admin/login?next=%2Fadmin%2Fclients")
    finally:
        context.close()
    assert {p.name for p in shots.iterdir()} >= {
        "login.png",
        "clients.png",
        "client-new.png",
        "secret.png",
        "client.png",
        "secret-shown.png",
        "plugins.png",
        "plugin-confirm.png",
        "plugin-options-error.png",
        "client-delete.png",
        "scopes.png",
        "activity.png",
        "audit.png",
    }
    assert "Traceback" not in server.stderr()


# Every admin page's tables, at the desktop size: the ones wider than their card (or than
# the main column, outside a card), or that must scroll inside it.
TABLES_OVERFLOWING = """() => [...document.querySelectorAll('main table')].filter((table) => {
  const card = table.closest('.card') || table.closest('main');
  const wrap = table.closest('.table-wrap');
  const wider = table.getBoundingClientRect().width > card.getBoundingClientRect().width + 0.5;
  const scrolls = wrap !== null && wrap.scrollWidth > wrap.clientWidth + 0.5;
  return wider || scrolls;
}).map((table) => table.id || table.className || table.rows[0].textContent.trim())"""
PAGE_SCROLLS_SIDEWAYS = "document.documentElement.scrollWidth > window.innerWidth"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
LONG_CLIENT_ID = "partner-integration-service-account-with-a-long-identifier-2019"


def seed_for_screenshots(database_url: str, env: dict[str, str]) -> None:
    """A site as the docs show it: an imported client, a disabled one, a long id, a long
    option value, and two weeks of token requests in the usage counts."""
    run_cli(env, "clients", "create", LONG_CLIENT_ID, "--scope", "site.read")
    run_cli(env, "clients", "create", "legacy-kiosk", "--grant-types", "client_credentials")
    run_cli(env, "clients", "disable", "legacy-kiosk")
    run_cli(env, "plugins", "set", "oauth2", "issuer=https://auth.example.com/oauth2/legacy-site")
    callback = "https://partner.example.com/integrations/oauth/callback?tenant=north-east&return=1"
    run_cli(env, "clients", "update", LONG_CLIENT_ID, "--redirect-uri", callback)
    app = make_app(database_url)
    now = utcnow().replace(microsecond=0)
    with app.app_context():
        ids = dict(db.session.execute(sa.select(Client.client_id, Client.id)).all())
        db.session.add(ImportedClient(client_id=ids["mobile-app"], imported_at=now))
        busy = {"mobile-app": 40, "partner-portal": 25, LONG_CLIENT_ID: 12, "reporting-job": 3}
        for n, (client_id, base) in enumerate(busy.items()):
            for days_ago in range(14):
                for form, share in (("basic", 3), ("query", 1)):
                    db.session.add(
                        UsageCount(
                            client_id=ids[client_id],
                            plugin="oauth2",
                            operation="token",
                            credential_form=form,
                            token_form="",
                            day=(now - timedelta(days=days_ago)).date(),
                            count=base * share + (days_ago * 7 + n) % 11,
                            last_seen=now - timedelta(days=days_ago, minutes=n),
                        )
                    )
        db.session.commit()
        db.engine.dispose()


def check_layout(page: Page, what: str) -> None:
    """At the desktop size no table is wider than its card; on a phone the page itself
    never scrolls sideways (its tables scroll inside their cards)."""
    page.set_viewport_size(DESKTOP)
    assert page.evaluate(TABLES_OVERFLOWING) == [], f"{what}: tables wider than their card"
    page.set_viewport_size(PHONE)
    assert not page.evaluate(PAGE_SCROLLS_SIDEWAYS), f"{what}: scrolls sideways on a phone"
    page.set_viewport_size(DESKTOP)


def docs_shot(page: Page, name: str) -> None:
    """A full-page screenshot for the docs, when DOCS_SCREENSHOTS names a folder."""
    folder = os.environ.get("DOCS_SCREENSHOTS")
    if folder:
        target = Path(folder) if Path(folder).is_absolute() else ROOT / folder
        target.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(target / f"{name}.png"), full_page=True)


def test_admin_pages_fit_a_desktop_and_a_phone(
    browser: Browser, site: tuple[LiveServer, dict[str, str]], database_url: str
) -> None:
    server, env = site
    seed_for_screenshots(database_url, env)
    context = browser.new_context(base_url=server.base_url, viewport=DESKTOP)
    page = context.new_page()
    try:
        page.goto("/admin/login")
        check_layout(page, "login")
        page.fill("#username", ADMIN)
        page.fill("#password", PASSWORD)
        page.click("button:has-text('Log in')")
        expect(page).to_have_url(f"{server.base_url}/admin/clients")

        # The clients list: the imported client has its badge, and a filter of its own.
        row = page.locator("table.clients tr", has_text="mobile-app")
        expect(row.locator(".badge.mark")).to_have_text("imported")
        check_layout(page, "clients")
        docs_shot(page, "admin-clients")
        page.select_option("select[name='oauth2.imported']", "yes")
        page.click("button:has-text('Filter')")
        expect(page.locator("table.clients tbody tr")).to_have_count(1)
        page.click("a.sort:has-text('Created')")  # the sort keeps the filter
        expect(page.locator("table.clients tbody tr")).to_have_count(1)
        assert "oauth2.imported=yes" in page.url and "sort=created" in page.url

        # A client's page, then the confirmation its Disable button asks for.
        page.goto("/admin/clients/mobile-app/edit")
        expect(page.locator("h1 .badge.mark")).to_have_text("imported")
        expect(page.locator("#panel-apigee")).to_have_count(0)  # apigee is disabled
        check_layout(page, "client")
        docs_shot(page, "admin-client")
        page.click("button:has-text('Disable…')")
        expect(page.locator(".confirm .lead")).to_contain_text("Disabling client mobile-app")
        check_layout(page, "client confirmation")
        page.click("text=Cancel")
        expect(page.locator("h1 .badge.on")).to_have_text("active")  # nothing was done

        # Enabling a plugin that lacks a required setting: refused, with a link to it.
        page.goto("/admin/plugins")
        page.click("#plugin-oauth2 button:has-text('Disable')")
        expect(page.locator(".confirm")).to_contain_text("4 clients used it in the last 30 days")
        check_layout(page, "plugin confirmation")
        docs_shot(page, "admin-confirm")
        page.click("text=Cancel")
        expect(page.locator("#plugin-oauth2")).to_contain_text("enabled")
        page.click("#plugin-passthrough button:has-text('Enable')")
        expect(page.locator(".flash.error")).to_contain_text("legacy_url is not set")
        check_layout(page, "plugins")
        page.click(".flash.error a:has-text('set legacy_url')")
        expect(page).to_have_url(f"{server.base_url}/admin/plugins/passthrough#param-legacy_url")
        check_layout(page, "plugin options")
        page.goto("/admin/plugins")
        docs_shot(page, "admin-plugins")

        page.goto("/admin/activity")
        expect(page.locator("#issued")).to_contain_text(LONG_CLIENT_ID)
        check_layout(page, "activity")
        docs_shot(page, "admin-activity")

        # The audit log, filtered: a count, and each change as field: old -> new.
        page.goto("/admin/audit")
        page.fill("#action", "plugin.")
        page.click("button:has-text('Filter')")
        expect(page.locator("#event-count")).to_have_text("1 event found")
        expect(page.locator("td.changes")).to_contain_text(
            'issuer: "" -> "https://auth.example.com/oauth2/legacy-site"'
        )
        check_layout(page, "audit")
        page.goto("/admin/audit?action=client.")
        check_layout(page, "audit, filtered")
        docs_shot(page, "admin-audit")

        for path in ("/admin/scopes", "/admin/clients/new", "/admin/audit?page=99"):
            page.goto(path)
            check_layout(page, path)
    finally:
        context.close()
    assert "Traceback" not in server.stderr()


USERS = (
    ("apiuser", "42", "API User", "apiuser@example.test", ("Registered",)),
    ("bjorn.berg", "43", "Bjørn Berg", "bjorn@shop.example", ("Registered", "Editor")),
    ("carol", "44", "Carol Jones", "carol@example.test", ("Registered", "Super Users")),
    ("kiosk-display", "45", "Lobby kiosk", "", ()),
)


def test_site_users_in_a_browser(
    browser: Browser, site: tuple[LiveServer, dict[str, str]], database_url: str
) -> None:
    server, env = site
    for username, user_id, name, email, groups in USERS:
        extra = [arg for group in groups for arg in ("--group", group)]
        run_cli(
            env, "users", "create", username, "--password-stdin", "--id", user_id,
            "--name", name, "--email", email, *extra, stdin="old password\n",
        )  # fmt: skip
    run_cli(env, "users", "block", "kiosk-display")
    run_cli(env, "clients", "create", "apiuser-sync", "--scope", "site.read", "--user-id", "42")
    token = "5e1f" * 10
    expires = (utcnow() + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")
    run_cli(
        env, "tokens", "import", "--type", "access", "--token", token, "--client-id",
        "mobile-app", "--user-id", "42", "--scope", "site.read", "--expires", expires,
    )  # fmt: skip
    bearer = {"Authorization": f"Bearer {token}"}
    assert request("GET", server.url("resource"), headers=bearer).status_code == 200
    context = browser.new_context(base_url=server.base_url, viewport=DESKTOP)
    page = context.new_page()
    try:
        page.goto("/admin/login")
        page.fill("#username", ADMIN)
        page.fill("#password", PASSWORD)
        page.click("button:has-text('Log in')")
        page.click("nav a:has-text('Users')")
        expect(page).to_have_url(f"{server.base_url}/admin/users")
        expect(page.locator("table.users tbody tr")).to_have_count(4)
        check_layout(page, "users")
        docs_shot(page, "admin-users")

        # Search (a name's part), then open the user.
        page.fill("#q", "api user")
        page.click("button:has-text('Filter')")
        expect(page.locator("table.users tbody tr")).to_have_count(1)
        page.click("table.users a:has-text('apiuser')")
        expect(page).to_have_url(f"{server.base_url}/admin/users/42")
        expect(page.locator("#groups")).to_have_text("Registered")
        expect(page.locator("#password-kind")).to_have_text("argon2id")
        expect(page.locator("#clients")).to_contain_text("apiuser-sync")
        expect(page.locator("#tokens tbody tr")).to_have_count(1)
        expect(page.locator("#tokens")).to_contain_text("mobile-app")
        assert token not in page.content()
        check_layout(page, "user")
        docs_shot(page, "admin-user")

        # A new password, asked twice: a short one is taken with the CLI's warning.
        page.fill("#password", "new pass")
        page.fill("#password_again", "new pass")
        page.click("button:has-text('Set the password')")
        expect(page.locator(".flash.info")).to_have_text("Password of apiuser changed.")
        expect(page.locator(".flash.warning")).to_contain_text("shorter than 12 characters")
        app = make_app(database_url)
        assert login(app, "apiuser", "old password") is None
        assert login(app, "apiuser", "new pass") is not None

        # Block, after the page that says what breaks; the user's token is refused.
        page.click("button:has-text('Block…')")
        expect(page.locator(".confirm .lead")).to_contain_text("their logins are refused")
        expect(page.locator(".confirm .lead")).to_contain_text("1 live token is revoked")
        check_layout(page, "block confirmation")
        page.click("button:has-text('Block the user')")
        expect(page.locator(".flash.info")).to_have_text("User apiuser blocked; 1 token revoked.")
        expect(page.locator("h1 .badge.off")).to_have_text("blocked")
        on_every_worker(
            lambda: request("GET", server.url("resource"), headers=bearer).status_code == 401,
            "the blocked user's token is refused on every worker",
        )
        assert login(app, "apiuser", "new pass") is None
        with app.app_context():
            db.engine.dispose()

        page.goto("/admin/audit?action=user.")
        expect(page.locator("table.audit")).to_contain_text("user.block")
        expect(page.locator("table.audit")).to_contain_text(f"admin:{ADMIN}")
        assert "new pass" not in page.content()
        page.goto("/admin/users/new")
        check_layout(page, "new user")
    finally:
        context.close()
    assert "Traceback" not in server.stderr()
