"""Issue 20: a page the passthrough plugin forwards from the old site never acts as the
logged-in admin. Chromium (Debian's) with an admin logged in opens a legacy page whose
script, as an XSS on the old Joomla site would, fetches ``/admin/clients/new``, takes the
CSRF token and posts a new client; and a legacy page that sets a cookie of the admin
session's name on ``/admin``. gunicorn serves the app; a real HTTP server on 127.0.0.1
plays the old site.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser
from playwright.sync_api import expect

from emulator.storage.database import db
from emulator.storage.models import AuditEvent
from emulator.storage.models import Client
from tests.live.server import BIN
from tests.live.server import CLI_TIMEOUT
from tests.live.server import ROOT
from tests.live.server import LiveServer
from tests.live.server import emptied_env
from tests.live.server import run_cli
from tests.live.server import serve_in_thread
from tests.support.app import make_app
from tests.support.browser import chromium

pytestmark = pytest.mark.slow

ADMIN = "site-admin"
PASSWORD = "a long admin password for the browser"
STOLEN = "stolen-client"
# What an XSS on the old site runs: the admin's form, its CSRF token, a new client.
ATTACK = b"""<!doctype html><html><head><title>article</title></head><body>
<p>An article of the old site.</p>
<script>
(async () => {
  try {
    const form = await (await fetch("/admin/clients/new", {credentials: "include"})).text();
    const token = form.match(/name="csrf_token"[^>]*value="([^"]+)"/)[1];
    const body = new URLSearchParams({
      csrf_token: token, client_id: "%s", scope: "", all_grants: "y"});
    const rv = await fetch("/admin/clients/new", {method: "POST", body, credentials: "include"});
    const page = await rv.text();
    document.title = "posted " + rv.status + (page.includes("Client created") ? " created" : "");
  } catch (error) {
    document.title = "refused " + error.name;
  }
})();
</script></body></html>""".replace(b"%s", STOLEN.encode())


@pytest.fixture
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def old_site() -> Iterator[str]:
    """The old site: an article with the attack in it, and a page that sets a cookie of
    the admin session's name and path."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            headers = [("Content-Type", "text/html; charset=utf-8")]
            status = 200
            if "view=article" in self.path:
                payload = ATTACK
            elif "view=welcome" in self.path:
                payload = b"<!doctype html><title>cookie</title><p>welcome back</p>"
                headers.append(("Set-Cookie", "emulator_admin=forged; Path=/admin; HttpOnly"))
                headers.append(("Set-Cookie", "joomla_session=abc123; Path=/; HttpOnly"))
            else:  # /favicon.ico, which the browser asks for on every page
                status, payload = 404, b"<!doctype html><title>not found</title>"
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_args: object) -> None:  # quiet
            return

    with serve_in_thread(Handler, "isolation-old-site") as base_url:
        yield base_url


@pytest.fixture
def site(database_url: str, old_site: str, tmp_path: Path) -> Iterator[LiveServer]:
    """gunicorn with an admin user and the passthrough plugin forwarding to the old site."""
    env = emptied_env(database_url)
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
    run_cli(env, "plugins", "set", "passthrough", f"legacy_url={old_site}")
    run_cli(env, "plugins", "enable", "passthrough")
    server = LiveServer(env, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def stolen_client_traces(database_url: str) -> tuple[int, int]:
    """The stolen client's rows and the audit events naming it."""
    app = make_app(database_url)
    with app.app_context():
        clients = db.session.scalar(
            sa.select(sa.func.count()).select_from(Client).where(Client.client_id == STOLEN)
        )
        events = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action.like("client.%"), AuditEvent.target == STOLEN)
        )
        db.session.remove()
    return clients, events


def test_a_forwarded_page_cannot_act_as_the_admin(
    browser: Browser, site: LiveServer, database_url: str
) -> None:
    context = browser.new_context(base_url=site.base_url)
    page = context.new_page()
    try:
        page.goto("/admin/login")
        page.fill("#username", ADMIN)
        page.fill("#password", PASSWORD)
        page.click("button:has-text('Log in')")
        expect(page).to_have_url(f"{site.base_url}/admin/clients")

        # The old site's article, forwarded: its script runs, and gets nothing of the admin.
        page.goto("/index.php?option=com_content&view=article&id=7")
        expect(page).to_have_title("refused TypeError")
        assert stolen_client_traces(database_url) == (0, 0)

        # A cookie of the admin session's name on /admin is not passed on; the old site's
        # own cookie is.
        page.goto("/index.php?option=com_users&view=welcome")
        expect(page).to_have_title("cookie")
        names = {cookie["name"]: cookie["value"] for cookie in context.cookies()}
        assert names["joomla_session"] == "abc123"
        assert names["emulator_admin"] != "forged"
        page.goto("/admin/clients")
        expect(page).to_have_url(f"{site.base_url}/admin/clients")
    finally:
        context.close()
