"""A redCORE site carried over, end to end: the CLI in a subprocess, gunicorn serving.

The legacy database is a real MariaDB when TEST_MYSQL_URL is set (else SQLite), filled
as PHP wrote it (tests/support/legacy_site.py). The import runs as an operator
runs it, at the production argon2 cost; then clients talk to the running server with the
imported secret, access token and refresh token, at the oauth2 URLs and the apigee ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from tests.live.server import LiveServer
from tests.live.server import emptied_env
from tests.live.server import request
from tests.live.server import run_cli
from tests.support.legacy_site import AT_LIVE
from tests.support.legacy_site import RT_LIVE
from tests.support.legacy_site import SECRETS
from tests.support.legacy_site import LegacySite
from tests.support.legacy_site import filled_site

pytestmark = pytest.mark.slow

CONF = ("conf-client", SECRETS["conf-client"])
SUMMARY_ROW = re.compile(r"^clients\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$", re.M)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[LegacySite]:
    with filled_site(tmp_path) as site:
        yield site


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    return emptied_env(database_url, caches=False)


def test_an_imported_site_answers_over_http(site, env, tmp_path) -> None:
    args = ["legacy", "import", "--from", site.url, "--prefix", site.prefix]
    out = run_cli(env, *args, "--timezone", "Europe/Copenhagen")
    assert SUMMARY_ROW.search(out).groups() == ("5", "0", "0", "3", "0")
    assert "Committed, in one transaction" in out

    server = LiveServer(env, tmp_path)
    server.start()
    try:
        rv = request(
            "POST", server.url("token"), data={"grant_type": "client_credentials"}, auth=CONF
        )
        assert rv.status_code == 200, rv.text
        assert rv.json()["expires_in"] == "7200"  # the old site's lifetime, as a string
        assert rv.json()["scope"] == "site.read site.create"

        rv = request("GET", server.url("resource"), headers={"Authorization": f"Bearer {AT_LIVE}"})
        assert (rv.status_code, rv.json()["user_id"]) == (200, "42")
        rv = request("POST", server.url("introspect"), data={"token": AT_LIVE}, auth=CONF)
        expected = int((site.expiry["live"] - datetime(1970, 1, 1)).total_seconds())
        assert rv.json()["exp"] == expected

        rv = request(
            "POST",
            server.url("token"),
            data={"grant_type": "refresh_token", "refresh_token": RT_LIVE},
            auth=CONF,
        )
        assert rv.status_code == 200, rv.text

        run_cli(env, "plugins", "enable", "apigee")
        rv = request(
            "GET", server.base_url + "/oauth/accesstoken?grant_type=client_credentials", auth=CONF
        )
        assert rv.status_code == 200, rv.text
        rv = request(
            "POST",
            server.base_url + "/oauth/client_credential/refresh_accesstoken",
            params={"grant_type": "refresh_token"},
            data={"refresh_token": RT_LIVE},
            auth=CONF,
        )
        assert rv.status_code == 200, rv.text

        # Run again while serving: everything the old site holds is here already.
        again = run_cli(env, *args, "--timezone", "Europe/Copenhagen")
        assert SUMMARY_ROW.search(again).groups() == ("0", "0", "5", "3", "0")
    finally:
        server.stop()
