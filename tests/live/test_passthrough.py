"""Passthrough and shadow end to end: gunicorn serves the app, a real HTTP server on
127.0.0.1 plays the old Joomla site, and the site owner's commands run as subprocesses.

What a browser or an API client sees through the service: the old site's redirect and
cookies unchanged, a 502 when the old site is down; and what the owner sees after shadow
mode compared our answers with the old site's: ``flask legacy shadow-report``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler

import pytest
import requests

from tests.live.server import HOST
from tests.live.server import GranianServer
from tests.live.server import LiveServer
from tests.live.server import free_port
from tests.live.server import http
from tests.live.server import request
from tests.live.server import run_cli
from tests.live.server import scripted_target
from tests.live.server import serve_in_thread
from tests.live.server import subprocess_env
from tests.live.server import wait_until

pytestmark = pytest.mark.slow

SECRET = "live-Secret-0042"
INVALID_CLIENT = (
    b'{"error":"invalid_client","error_description":"The client credentials are invalid"}'
)


@dataclass
class OldSite:
    """The legacy Joomla site: records each request; a login form that redirects with two
    cookies, and an OAuth2 token endpoint that refuses every client."""

    base_url: str = ""
    received: list[dict] = field(default_factory=list)


@pytest.fixture(scope="module")
def env(database_url: str) -> dict[str, str]:
    # Every cache off: the tests change things through the CLI and want the server to see
    # them at once.
    return subprocess_env(database_url, caches=False)


@pytest.fixture(scope="module")
def server(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(env, tmp_path_factory.mktemp("passthrough-live"))
    live.start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def old_site() -> Iterator[OldSite]:
    site = OldSite()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            site.received.append(
                {"method": self.command, "path": self.path, "headers": dict(self.headers.items())}
            )
            if "option=token" in self.path:
                status, payload = 400, INVALID_CLIENT
                headers = [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
            elif self.command == "POST" and "task=user.login" in self.path:
                status, payload = 303, b"<html>see other</html>"
                headers = [
                    ("Location", f"{site.base_url}/index.php?option=com_users&view=profile"),
                    ("Set-Cookie", "joomla_session=abc123; path=/; HttpOnly"),
                    ("Set-Cookie", "joomla_user_state=logged_in; path=/"),
                    ("Content-Type", "text/html; charset=utf-8"),
                ]
            else:
                status, payload = 200, b"<html>" + body + b"</html>"
                headers = [("Content-Type", "text/html; charset=utf-8")]
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer

        def log_message(self, *_args: object) -> None:  # quiet
            return

    with serve_in_thread(Handler, "passthrough-old-site") as base_url:
        site.base_url = base_url
        yield site


def test_a_login_redirect_and_its_cookies_pass_through(server, old_site, cli) -> None:
    cli("plugins", "set", "passthrough", f"legacy_url={old_site.base_url}")
    cli("plugins", "enable", "passthrough")
    rv = request(
        "POST",
        f"{server.base_url}/index.php?option=com_users&task=user.login",
        data={"username": "admin", "password": "pw"},
        cookies={"joomla_session": "before"},
        allow_redirects=False,
    )
    assert rv.status_code == 303
    assert rv.headers["Location"] == f"{old_site.base_url}/index.php?option=com_users&view=profile"
    assert rv.raw.headers.getlist("Set-Cookie") == [
        "joomla_session=abc123; path=/; HttpOnly",
        "joomla_user_state=logged_in; path=/",
    ]
    assert rv.content == b"<html>see other</html>"
    # Ours alone: the old site runs in a sandbox, away from the admin pages (issue 20).
    assert rv.headers["Content-Security-Policy"].startswith("sandbox allow-scripts ")
    [seen] = old_site.received
    assert seen["path"] == "/index.php?option=com_users&task=user.login"
    assert seen["headers"]["Host"] == old_site.base_url.removeprefix("http://")
    assert seen["headers"]["X-Forwarded-Host"] == server.base_url.removeprefix("http://")
    assert seen["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert seen["headers"]["Cookie"] == "joomla_session=before"


def test_the_joomla_site_itself_passes_through(server, old_site, cli) -> None:
    cli("plugins", "set", "passthrough", f"legacy_url={old_site.base_url}")
    cli("plugins", "enable", "passthrough")
    rv = request("GET", f"{server.base_url}/index.php?option=com_content&view=article&id=1")
    assert (rv.status_code, rv.content) == (200, b"<html></html>")


def test_a_site_that_is_down_gives_a_502(server, cli) -> None:
    cli("plugins", "set", "passthrough", f"legacy_url=http://{HOST}:{free_port()}")
    cli("plugins", "enable", "passthrough")
    rv = request("GET", f"{server.base_url}/index.php?option=com_content")
    assert rv.status_code == 502
    assert rv.headers["Content-Type"] == "application/json"
    assert rv.json() == {"error": "bad_gateway", "message": "The legacy site could not be reached"}
    assert "legacy site http://127.0.0.1:" in server.stderr()


def test_a_header_break_from_the_old_site_is_a_502(server, cli) -> None:
    """A bare CR in a header's value is one header to the old site's server, two (a
    Set-Cookie of the attacker's) to a lenient parser: never passed on (issue 20)."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Echo: a\rSet-Cookie: evil=1\r\n\r\nok"
    with scripted_target(lambda conn: conn.sendall(answer)) as site:
        cli("plugins", "set", "passthrough", f"legacy_url={site.base_url}")
        cli("plugins", "enable", "passthrough")
        rv = request("GET", f"{server.base_url}/index.php?option=com_content")
    assert rv.status_code == 502
    assert "Set-Cookie" not in rv.headers and "X-Echo" not in rv.headers
    assert rv.json() == {
        "error": "bad_gateway",
        "message": "The legacy site's answer has a malformed header",
    }
    assert "evil" not in server.stderr()


CHUNKED_16 = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    + b"".join(b"4\r\nabcd\r\n" for _ in range(4))
    + b"0\r\n\r\n"
)


def test_an_answer_over_the_limit_reaches_the_client_incomplete(server, cli) -> None:
    """Chunked, 16 bytes, over a limit of 10: the status line is out when the limit is
    passed, so the connection ends without the last chunk and the client's HTTP library
    says so, instead of taking 10 bytes for the whole answer (issue 20)."""
    with scripted_target(lambda conn: conn.sendall(CHUNKED_16)) as site:
        cli("plugins", "set", "passthrough", f"legacy_url={site.base_url}", "max_response_bytes=10")
        cli("plugins", "enable", "passthrough")
        try:
            with http() as session:
                rv = session.get(f"{server.base_url}/big.zip", stream=True, timeout=10)
                assert rv.status_code == 200
                with pytest.raises(requests.exceptions.ChunkedEncodingError):
                    _ = rv.content
                rv.close()
        finally:
            cli("plugins", "set", "passthrough", "max_response_bytes=104857600")
    wait_until(lambda: "answer cut off at 10 bytes" in server.stderr(), "the cut is logged")
    assert "Traceback" not in server.stderr()


def test_granian_cannot_end_a_cut_answer_as_an_error_and_logs_no_traceback(
    env: dict[str, str], cli, tmp_path
) -> None:
    """granian 2.8 ends a body cleanly whatever its iterator raises: there the cut is only
    logged (docs/dialects/passthrough.md), and nothing is raised into it."""
    granian = GranianServer(env, tmp_path)
    granian.start()
    try:
        with scripted_target(lambda conn: conn.sendall(CHUNKED_16)) as site:
            url = f"legacy_url={site.base_url}"
            cli("plugins", "set", "passthrough", url, "max_response_bytes=10")
            cli("plugins", "enable", "passthrough")
            try:
                rv = request("GET", f"{granian.base_url}/big.zip")
            finally:
                cli("plugins", "set", "passthrough", "max_response_bytes=104857600")
        assert (rv.status_code, rv.content) == (200, b"abcdabcdab")
        wait_until(lambda: "answer cut off at 10 bytes" in granian.stderr(), "the cut is logged")
        assert "Traceback" not in granian.stderr()
    finally:
        granian.stop()


def test_a_legacy_url_that_is_this_server_is_a_508_not_a_loop(server, cli) -> None:
    """legacy_url set to the service's own address (the port is not known to the CLI, so it
    is taken): the forwarded request comes back to one of the workers with the service's hop
    mark, which every worker shares, and is answered 508 there, once (issue 20)."""
    cli("plugins", "set", "passthrough", f"legacy_url={server.base_url}")
    cli("plugins", "enable", "passthrough")
    rv = request("GET", f"{server.base_url}/index.php?option=com_content")
    assert rv.status_code == 508
    assert rv.json() == {
        "error": "loop_detected",
        "message": "The request came back to this service: the legacy site's URL leads here",
    }
    logged = server.stderr().count(f"came back from legacy_url {server.base_url}")
    assert logged == 1


def test_shadow_records_a_difference_and_the_report_prints_it(
    server, old_site, cli, env, make_client
) -> None:
    make_client("live-shop", secret=SECRET, scope="catalog.read")
    cli("plugins", "set", "passthrough", f"legacy_url={old_site.base_url}", "shadow=true")
    cli("plugins", "enable", "passthrough")
    rv = request(
        "POST",
        f"{server.base_url}/index.php?option=token&api=oauth2",
        data={
            "grant_type": "client_credentials",
            "client_id": "live-shop",
            "client_secret": SECRET,
        },
    )
    assert rv.status_code == 200  # ours, whatever the old site says
    token = rv.json()["access_token"]

    def reported() -> bool:
        return "1 requests compared" in run_cli(env, "legacy", "shadow-report")

    wait_until(reported, "the shadow comparison is written")
    out = run_cli(env, "legacy", "shadow-report")
    assert "0 matched, 1 differed (1 kinds kept)" in out
    assert "\n1 x POST /index.php?api=oauth2&option=token: status 200 vs 400; body" in out
    assert json.dumps("invalid_client")[1:-1] in out
    assert SECRET not in out and token not in out
    [seen] = old_site.received  # the shadow's request, as a forward would send it
    assert seen["method"] == "POST" and seen["path"] == "/index.php?option=token&api=oauth2"
