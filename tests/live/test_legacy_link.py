"""The legacy link over HTTP, against the real MariaDB server and a stand-in old site.

The old site's database is a scratch database on the TEST_MYSQL_URL server, filled as PHP
wrote it (tests/support/legacy_site.py); the link reaches it through a TCP gate the test
closes to take it "down" (the shared server is never stopped). The stand-in old site
(tests/support/old_site.py) checks bearer tokens in that database exactly as redCORE's
storage did, and answers the password grant the test leaves there. The service runs under
gunicorn, the commands as an operator runs them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.live.server import LiveServer
from tests.live.server import emptied_env
from tests.live.server import request
from tests.live.server import run_cli
from tests.live.server import wait_until
from tests.support.legacy_site import MYSQL_URL
from tests.support.legacy_site import RT_LIVE
from tests.support.legacy_site import SECRETS
from tests.support.legacy_site import LegacySite
from tests.support.legacy_site import filled_site
from tests.support.legacy_site import local_now
from tests.support.old_site import DbGate
from tests.support.old_site import ask
from tests.support.old_site import serve_old_site

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not MYSQL_URL, reason="TEST_MYSQL_URL names no MariaDB/MySQL"),
]

CONF = ("conf-client", SECRETS["conf-client"])
ZONE = ("--timezone", "Europe/Copenhagen")


@pytest.fixture
def site(tmp_path: Path) -> Iterator[LegacySite]:
    with filled_site(tmp_path) as site:
        yield site


@pytest.fixture
def gate(site: LegacySite) -> Iterator[DbGate]:
    url = sa.make_url(site.url)
    gate = DbGate((url.host or "127.0.0.1", url.port or 3306))
    gate.open()
    try:
        yield gate
    finally:
        gate.close()


def token(server: LiveServer, **data: str) -> dict:
    rv = request("POST", server.url("token"), data=data, auth=CONF)
    assert rv.status_code == 200, rv.text
    return rv.json()


def rows(site: LegacySite, kind: str, value: str) -> int:
    column = "access_token" if kind == "access" else "refresh_token"
    return site.rows(
        f"SELECT count(*) FROM {{p}}redcore_oauth_{kind}_tokens WHERE {column} = :t", t=value
    )[0][0]


def test_one_token_world_while_the_site_moves(site, gate, database_url, tmp_path) -> None:
    env = emptied_env(database_url, caches=False)
    run_cli(env, "legacy", "import", "--from", site.url, "--prefix", site.prefix, *ZONE)
    through_gate = sa.make_url(site.url).set(host="127.0.0.1", port=gate.port)
    link = through_gate.render_as_string(hide_password=False)
    run_cli(env, "legacy", "link", "set", "--url", link, "--prefix", site.prefix, *ZONE)
    run_cli(
        env,
        "plugins",
        "set",
        "oauth2",
        "unset_refresh_token_after_use=true",
        "always_issue_new_refresh_token=true",
    )
    server = LiveServer(env, tmp_path)
    server.start()
    try:
        with serve_old_site(site) as old:
            # Issued here: accepted by the old site's web service at once.
            issued = token(server, grant_type="client_credentials")
            assert ask(old, issued["access_token"]) == 200
            assert ask(old, issued["access_token"], scope="site.delete") == 403
            # Revoked here: refused there.
            rv = request(
                "POST", server.url("revoke"), data={"token": issued["access_token"]}, auth=CONF
            )
            assert rv.status_code == 200
            assert ask(old, issued["access_token"]) == 401
            # A refresh here ends the used refresh token there; the new tokens work there.
            assert rows(site, "refresh", RT_LIVE) == 1
            fresh = token(server, grant_type="refresh_token", refresh_token=RT_LIVE)
            assert rows(site, "refresh", RT_LIVE) == 0
            assert rows(site, "refresh", fresh["refresh_token"]) == 1
            assert ask(old, fresh["access_token"]) == 200
            # A token the old site created after the import works here, no new import.
            made_there = "ab" * 20
            site.add_token(
                "access",
                made_there,
                "conf-client",
                local_now() + timedelta(hours=1),
                scope="site.read",
                user_id="42",
            )
            rv = request(
                "GET", server.url("resource"), headers={"Authorization": f"Bearer {made_there}"}
            )
            assert (rv.status_code, rv.json()["user_id"]) == (200, "42")

            # The old database down: tokens are still issued; the writes wait in the queue.
            gate.close()
            during = [token(server, grant_type="client_credentials") for _ in range(3)]
            request(
                "POST", server.url("revoke"), data={"token": during[0]["access_token"]}, auth=CONF
            )
            status = run_cli(env, "legacy", "link", "status")
            assert "Backlog: 7 mirror writes waiting since" in status, status
            assert all(ask(old, t["access_token"]) == 401 for t in during)
            # Back: every queued write lands, in order, once.
            gate.open()
            run_cli(env, "legacy", "link", "drain")
            wait_until(
                lambda: "Backlog: none" in run_cli(env, "legacy", "link", "status"),
                "the queue drained",
            )
            assert ask(old, during[0]["access_token"]) == 401  # revoked while down
            for issued_then in during[1:]:
                assert ask(old, issued_then["access_token"]) == 200
                assert rows(site, "access", issued_then["access_token"]) == 1
                assert rows(site, "refresh", issued_then["refresh_token"]) == 1
            assert "Landed 0 mirror writes; 0 waiting." in run_cli(env, "legacy", "link", "drain")
            events = run_cli(env, "audit", "list")
            assert "oauth2.link.behind" in events and "oauth2.link.caught_up" in events

            # The password grant left on the old site: forwarded, and its token works here.
            run_cli(env, "plugins", "set", "passthrough", f"legacy_url={old}")
            run_cli(env, "plugins", "enable", "passthrough")
            run_cli(
                env,
                "plugins",
                "set",
                "oauth2",
                "served_grants=client_credentials refresh_token authorization_code",
            )
            there = token(
                server, grant_type="password", username="ann", password="secret", client_id=CONF[0]
            )
            assert rows(site, "access", there["access_token"]) == 1
            rv = request(
                "GET",
                server.url("resource"),
                headers={"Authorization": f"Bearer {there['access_token']}"},
            )
            assert (rv.status_code, rv.json()["user_id"]) == (200, "42")
    finally:
        server.stop()
