"""A slow legacy site against the production server (bin/serve: 2 workers x 2 threads).

The passthrough plugin forwards to a legacy site that sends its answer a byte a second.
Each worker runs at most OUTBOUND_MAX_CONCURRENT (here 1) forwarded calls at once; the
others get a quick 503 in the plugin's shape, and the token URLs and /healthz keep
answering meanwhile. A forwarded call ends at its deadline however the bytes trickle.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.live.server import GranianServer
from tests.live.server import emptied_env
from tests.live.server import request
from tests.live.server import run_cli
from tests.live.server import scripted_target

pytestmark = pytest.mark.slow

CLIENT = ("share-test-client", "share-test-secret-1")
TOKEN_PATH = "/index.php?option=token&api=oauth2"
WORKERS, SHARE = 2, 1  # bin/serve's workers in GranianServer; OUTBOUND_MAX_CONCURRENT
FORWARDED = 6  # more forwarded requests at once than WORKERS x SHARE
DEADLINE_MS = 6000  # the passthrough plugin's deadline_ms
BUSY = {
    "error": "bad_gateway",
    "message": "Too many requests to the legacy site are under way; try again later",
}


def a_byte_a_second(conn: socket.socket) -> None:
    """An answer of 60 bytes (to the end of the connection), one a second: the gateway's
    deadline comes first."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
    for _ in range(60):
        time.sleep(1)
        conn.sendall(b"x")


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[GranianServer]:
    env = emptied_env(database_url, caches=False)
    run_cli(env, "clients", "create", CLIENT[0], "--secret", CLIENT[1])
    env["FLASK_OUTBOUND_MAX_CONCURRENT"] = str(SHARE)
    env["FLASK_METRICS_ENABLED"] = "true"
    live = GranianServer(env, tmp_path)
    live.start()
    try:
        yield live
    finally:
        live.stop()


def test_forwarded_calls_past_the_share_get_503_and_the_token_urls_keep_answering(
    server: GranianServer,
) -> None:
    with scripted_target(a_byte_a_second) as site:
        run_cli(
            server.env,
            "plugins",
            "set",
            "passthrough",
            f"legacy_url={site.base_url}",
            f"deadline_ms={DEADLINE_MS}",
        )
        run_cli(server.env, "plugins", "enable", "passthrough")
        with ThreadPoolExecutor(FORWARDED) as pool:
            forwarded = [
                pool.submit(request, "GET", f"{server.base_url}/index.php?option=com_slow{i}")
                for i in range(FORWARDED)
            ]
            time.sleep(1)  # the forwarded calls are under way
            health = request("GET", f"{server.base_url}/healthz")
            token = request(
                "POST",
                server.base_url + TOKEN_PATH,
                data={"grant_type": "client_credentials"},
                auth=CLIENT,
            )
            answers = [future.result() for future in forwarded]
    assert health.status_code == 200
    assert token.status_code == 200, token.text
    seen = [(rv.status_code, rv.text[:120]) for rv in answers]
    busy = [rv for rv in answers if rv.status_code == 503]
    assert len(busy) >= FORWARDED - WORKERS * SHARE
    assert all(rv.json() == BUSY for rv in busy)
    # The ones that were sent ended at the deadline, cut (the body never came whole).
    for rv in answers:
        if rv.status_code != 503:
            assert rv.status_code == 200, seen
            assert len(rv.content) < 60
    metrics = request("GET", f"{server.base_url}/metrics")
    assert metrics.status_code == 200
    refused = [
        line
        for line in metrics.text.splitlines()
        if line.startswith('emulator_outbound_refused_total{caller="legacy site"}')
    ]
    assert refused and float(refused[0].split()[-1]) == len(busy), metrics.text
