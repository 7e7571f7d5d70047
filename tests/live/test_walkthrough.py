"""docs/migrate/from-redcore.md, every step in order, as a site owner runs it.

A redCORE database (MariaDB when TEST_MYSQL_URL is set, else SQLite; filled as PHP wrote
it, tests/support/legacy_site.py), a real old site on 127.0.0.1 (it answers its
Joomla pages and, like redCORE, its token URL), gunicorn serving this service, and the
owner's commands in subprocesses: import (a dry run first), the staging rehearsal with
shadow mode and its report, the service in front of the old site with the oauth2 plugin
off, the switch by the last import, then the usage report and a deprecation notice.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.live.server import LiveServer
from tests.live.server import emptied_env
from tests.live.server import request
from tests.live.server import run_cli
from tests.live.server import serve_in_thread
from tests.live.server import wait_until
from tests.support.legacy_site import AT_LIVE
from tests.support.legacy_site import SECRETS
from tests.support.legacy_site import LegacySite
from tests.support.legacy_site import filled_site

pytestmark = pytest.mark.slow

CONF = ("conf-client", SECRETS["conf-client"])
ARTICLE = b"<html><body>An article of the old site</body></html>"


@dataclass
class OldSite:
    """The old Joomla site: its pages, and its token URL answering as redCORE did."""

    base_url: str = ""
    token_requests: int = 0
    paths: list[str] = field(default_factory=list)


def redcore_token_answer() -> bytes:
    """What redCORE sent conf-client for client_credentials with the site's options."""
    now = datetime.now().replace(microsecond=0)
    body = {
        "access_token": secrets.token_hex(20),
        "expires_in": "7200",
        "token_type": "Bearer",
        "scope": "site.read site.create",
        "refresh_token": secrets.token_hex(20),
        "expireTimeFormatted": f"{now + timedelta(seconds=7200):%Y-%m-%d %H:%M:%S}",
        "created": f"{now:%Y-%m-%d %H:%M:%S}",
    }
    return json.dumps(body, separators=(",", ":")).encode()


@pytest.fixture
def old_site() -> Iterator[OldSite]:
    site = OldSite()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            site.paths.append(self.path)
            if "option=token" in self.path:
                site.token_requests += 1
                status, payload = 200, redcore_token_answer()
                headers = [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
            else:
                status, payload = 200, ARTICLE
                headers = [("Content-Type", "text/html; charset=utf-8")]
            self.send_response(status)
            for name, value in [*headers, ("X-Served-By", "old-site")]:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer

        def log_message(self, *_args: object) -> None:  # quiet
            return

    with serve_in_thread(Handler, "walkthrough-old-site") as base_url:
        site.base_url = base_url
        yield site


@pytest.fixture
def legacy_db(tmp_path: Path) -> Iterator[LegacySite]:
    with filled_site(tmp_path) as site:
        yield site


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    return {**emptied_env(database_url, caches=False), "FLASK_USAGE_FLUSH_SECONDS": "1"}


def token(server: LiveServer) -> object:
    """conf-client asks for a token at the legacy URL, credentials in the body."""
    client_id, secret = CONF
    return request(
        "POST",
        server.url("token"),
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )


def test_the_migration_walkthrough(legacy_db, old_site, env, tmp_path) -> None:
    flask = lambda *args: run_cli(env, *args)  # noqa: E731 - the README's shell function
    source = [
        "--from",
        legacy_db.url,
        "--prefix",
        legacy_db.prefix,
        "--timezone",
        "Europe/Copenhagen",
    ]

    # 1. Import: the dry run writes nothing, the import carries the site over.
    dry = flask("legacy", "import", *source, "--dry-run")
    assert "Dry run: nothing was written" in dry
    assert flask("clients", "list").strip() == ""
    out = flask("legacy", "import", *source)
    assert "Committed, in one transaction" in out
    assert "conf-client" in flask("clients", "list")

    server = LiveServer(env, tmp_path)
    server.start()
    try:
        # 2. Rehearsal with shadow mode: our answer goes out, the old site's is compared.
        flask("plugins", "set", "passthrough", f"legacy_url={old_site.base_url}", "shadow=true")
        flask("plugins", "enable", "passthrough")
        rv = token(server)
        assert rv.status_code == 200 and "X-Served-By" not in rv.headers  # ours
        assert rv.json()["expires_in"] == "7200"  # the old site's option, imported

        def compared() -> bool:
            return "1 requests compared" in flask("legacy", "shadow-report")

        wait_until(compared, "the shadow comparison is written")
        report = flask("legacy", "shadow-report")
        assert "1 matched, 0 differed" in report, report
        assert old_site.token_requests == 1
        flask("plugins", "set", "passthrough", "shadow=false")

        # 3. In front of the old site with the oauth2 plugin off: everything is the old site's.
        flask("plugins", "disable", "oauth2")
        rv = token(server)
        assert (rv.status_code, rv.headers["X-Served-By"]) == (200, "old-site")
        assert old_site.token_requests == 2
        page = request("GET", f"{server.base_url}/index.php?option=com_content&view=article&id=1")
        assert (page.status_code, page.content) == (200, ARTICLE)

        #    The switch: the last import turns the plugin on with the last tokens.
        out = flask("legacy", "import", *source)
        assert "plugin enabled = true (set; was false)" in out, out
        rv = token(server)
        assert rv.status_code == 200 and "X-Served-By" not in rv.headers
        assert old_site.token_requests == 2  # the old site's token URL is no longer reached
        rv = request("GET", server.url("resource"), headers={"Authorization": f"Bearer {AT_LIVE}"})
        assert (rv.status_code, rv.json()["user_id"]) == (200, "42")  # an old site's token
        page = request("GET", f"{server.base_url}/index.php?option=com_content&view=article&id=1")
        assert page.content == ARTICLE  # what no plugin answers still goes to the old site

        # 4. Watch usage: conf-client's body credentials and its header token, counted.
        def counted() -> dict:
            rows = json.loads(flask("legacy", "usage", "--json"))["rows"]
            return {(r["client_id"], r["operation"], r["credentials"], r["token"]): r for r in rows}

        wait_until(
            lambda: ("conf-client", "resource", None, "header") in counted(),
            "the usage counts are flushed",
        )
        rows = counted()
        assert rows[("conf-client", "token", "body", None)]["count"] == 2  # rehearsal + switch
        assert rows[("conf-client", "resource", None, "header")]["count"] == 1

        #    ... and nudge: a deprecation notice on the form the report shows.
        notice = {"body": {"deprecation": "2026-01-01", "sunset": "2027-07-01"}}
        flask("plugins", "set", "oauth2", f"deprecations={json.dumps(notice)}")
        rv = token(server)
        assert rv.status_code == 200
        assert rv.headers["Deprecation"] == "@1767225600"
        assert rv.headers["Sunset"] == "Thu, 01 Jul 2027 00:00:00 GMT"
        basic = request(
            "POST", server.url("token"), data={"grant_type": "client_credentials"}, auth=CONF
        )
        assert basic.status_code == 200 and "Deprecation" not in basic.headers
    finally:
        server.stop()
