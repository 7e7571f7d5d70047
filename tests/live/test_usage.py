"""Usage telemetry on real servers: counts reach the table within USAGE_FLUSH_SECONDS while
serving, and a clean stop (SIGTERM) writes what the workers still held.

Both servers the project runs: gunicorn (gthread workers end through sys.exit, so atexit
runs) and granian through bin/serve (multiprocessing workers end with os._exit, so only
multiprocessing's finalizers run). ``flask legacy usage`` is run as an operator would.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.live.server import GranianServer
from tests.live.server import LiveServer
from tests.live.server import emptied_env
from tests.live.server import request
from tests.live.server import run_cli
from tests.live.server import wait_until

pytestmark = pytest.mark.slow

CLIENT = ("usage-client", "usage-secret-1")
TOKEN_PATH = "/index.php?option=token&api=oauth2"
REQUESTS = 12


SERVERS = {"gunicorn": LiveServer, "granian": GranianServer}


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    environment = emptied_env(database_url)
    run_cli(environment, "clients", "create", CLIENT[0], "--secret", CLIENT[1])
    return environment


def reported(env: dict[str, str]) -> dict[tuple, int]:
    report = json.loads(run_cli(env, "legacy", "usage", "--since", "30m", "--json"))
    return {(r["client_id"], r["operation"], r["credentials"]): r["count"] for r in report["rows"]}


def send_tokens(server: LiveServer) -> None:
    """REQUESTS token requests with the secret in the query, each on a fresh connection."""
    url = f"{server.base_url}{TOKEN_PATH}&grant_type=client_credentials"
    url += f"&client_id={CLIENT[0]}&client_secret={CLIENT[1]}"
    for _ in range(REQUESTS):
        response = request("POST", url)
        assert response.status_code == 200, response.text


@pytest.mark.parametrize("kind", SERVERS)
def test_counts_reach_the_table_while_serving(env, tmp_path: Path, kind: str) -> None:
    server = SERVERS[kind]({**env, "FLASK_USAGE_FLUSH_SECONDS": "1"}, tmp_path)
    server.start()
    try:
        send_tokens(server)
        wait_until(
            lambda: reported(env) == {(CLIENT[0], "token", "query"): REQUESTS},
            "the counts in the table",
            timeout=20,
        )
    finally:
        server.stop()
    assert "Traceback" not in server.stderr(), server.stderr()


@pytest.mark.parametrize("kind", SERVERS)
def test_a_clean_stop_writes_what_the_workers_held(env, tmp_path: Path, kind: str) -> None:
    server = SERVERS[kind]({**env, "FLASK_USAGE_FLUSH_SECONDS": "3600"}, tmp_path)
    server.start()
    try:
        send_tokens(server)
        assert reported(env) == {}  # nothing flushed while serving
    finally:
        server.stop()  # SIGTERM: a graceful stop
    assert reported(env) == {(CLIENT[0], "token", "query"): REQUESTS}
    assert "Traceback" not in server.stderr(), server.stderr()
