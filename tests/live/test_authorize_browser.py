"""A site user authorizes an app in a real browser: headless Chromium (Debian's
``chromium`` through Playwright's ``executable_path``) against gunicorn with 2 workers,
and the app's side played by requests-oauthlib.

The app sends the browser to option=authorize; the guest goes to the login page, logs in,
comes back to the consent page and approves; the browser lands on the app's callback (a
real HTTP server) with a code, which requests-oauthlib exchanges at option=token (state
checked, HTTP Basic) for a token that option=resource takes as the user's. A second
authorization is cancelled: the callback gets access_denied with the state. The pages are
laid out on a phone too (390x844: nothing wider than the screen).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from playwright.sync_api import Browser
from playwright.sync_api import expect
from requests_oauthlib import OAuth2Session

from tests.live.server import BIN
from tests.live.server import CLI_TIMEOUT
from tests.live.server import ROOT
from tests.live.server import LiveServer
from tests.live.server import emptied_env
from tests.live.server import request
from tests.live.server import run_cli
from tests.live.server import serve_in_thread

pytestmark = pytest.mark.slow

USERNAME = "alice"
PASSWORD = "a long password of a site user"
CLIENT_ID = "web-app"
SECRET = "web-app-Secret-1"
APPROVE = "Yes, I Authorize This Request"


class Callback(BaseHTTPRequestHandler):
    """The app's redirect URI: any GET is answered with a small page."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = b"<!doctype html><title>app</title><p>back at the app</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:  # quiet
        pass


@pytest.fixture
def callback() -> Iterator[str]:
    with serve_in_thread(Callback, "app-callback") as base_url:
        yield base_url + "/callback"


@pytest.fixture
def site(database_url: str, tmp_path: Path, callback: str) -> Iterator[LiveServer]:
    """gunicorn with a site user (made with the CLI) and an app registered with its URI."""
    env = emptied_env(database_url)
    subprocess.run(
        [str(BIN / "flask"), "--app", "app", "users", "create", USERNAME, "--password-stdin",
         "--id", "42"],
        cwd=ROOT,
        env=env,
        input=PASSWORD + "\n",
        text=True,
        capture_output=True,
        timeout=CLI_TIMEOUT,
        check=True,
    )  # fmt: skip
    run_cli(env, "scopes", "add", "site.read", "--default")
    run_cli(env, "clients", "create", CLIENT_ID, "--secret", SECRET, "--redirect-uri", callback,
            "--scope", "site.read")  # fmt: skip
    server = LiveServer(env, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_user_logs_in_approves_and_the_app_gets_a_token(
    browser: Browser,
    site: LiveServer,
    callback: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # 127.0.0.1 over plain http
    app = OAuth2Session(CLIENT_ID, redirect_uri=callback, scope=["site.read"])
    authorization_url, state = app.authorization_url(site.url("authorize"))
    context = browser.new_context(base_url=site.base_url, viewport={"width": 390, "height": 844})
    page = context.new_page()
    try:
        # A guest is sent to the login page, with the way back in `return`.
        page.goto(authorization_url)
        assert page.url.startswith(f"{site.base_url}/index.php?option=com_users&view=login&return=")
        assert fits_the_screen(page)
        page.screenshot(path=str(tmp_path / "login.png"), full_page=True)
        page.fill("#username", USERNAME)
        page.fill("#password", "not the password")
        page.click("button:has-text('Log in')")
        expect(page.locator("#login-error")).to_contain_text("do not match")
        page.fill("#password", PASSWORD)
        page.click("button:has-text('Log in')")

        # Back at option=authorize: the consent page.
        expect(page.locator("h1")).to_have_text(f"Welcome to the 127.0.0.1:{site.port} API Server!")
        expect(page.locator("main")).to_contain_text(CLIENT_ID)
        expect(page.locator("ul.scopes")).to_contain_text("site.read")
        assert fits_the_screen(page)
        page.screenshot(path=str(tmp_path / "consent.png"), full_page=True)
        page.click(f"input[value='{APPROVE}']")
        page.wait_for_url(callback + "?*")
        expect(page.locator("p")).to_have_text("back at the app")

        # The app exchanges the code (its state checked by the library) for a token.
        token = app.fetch_token(
            site.url("token"), authorization_response=page.url, client_secret=SECRET
        )
        assert token["token_type"] == "Bearer" and token["scope"] == ["site.read"]
        assert token["refresh_token"]
        bearer = {"Authorization": f"Bearer {token['access_token']}"}
        rv = request("GET", site.url("resource"), headers=bearer)
        assert rv.status_code == 200 and rv.json()["user_id"] == "42"

        # A second authorization: the user is logged in, and cancels.
        second_url, second_state = app.authorization_url(site.url("authorize"))
        page.goto(second_url)
        page.click("input[value='Cancel']")
        page.wait_for_url(callback + "?*")
        assert page.url == (
            f"{callback}?error=access_denied"
            f"&error_description=The+user+denied+access+to+your+application&state={second_state}"
        )

        # Logging out ends the session: option=authorize sends to the login page again.
        page.goto(site.url("authorize", client_id=CLIENT_ID, response_type="code", state="s"))
        page.click("button:has-text('Log out')")
        page.goto(site.url("authorize", client_id=CLIENT_ID, response_type="code", state="s"))
        assert "option=com_users&view=login" in page.url
    finally:
        context.close()
