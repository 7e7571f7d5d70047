"""/metrics on real servers of 2 worker processes: every scrape, whichever worker answers
it, gives the sums over both workers of exactly what the test did.

Both servers the project runs: granian through bin/serve (production: it makes and empties
PROMETHEUS_MULTIPROC_DIR itself), and gunicorn (tests/live/server.py's LiveServer, given an
empty directory the way bin/serve makes one). Every request is on a fresh connection, so
both workers take some (the test checks that both wrote their files).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.live.server import BIN
from tests.live.server import CLI_TIMEOUT
from tests.live.server import ROOT
from tests.live.server import GranianServer
from tests.live.server import LiveServer
from tests.live.server import emptied_env
from tests.live.server import request
from tests.live.server import run_cli
from tests.live.server import wait_until

pytestmark = pytest.mark.slow

CLIENT = ("metrics-client", "metrics-secret-1")
TOKEN_PATH = "/index.php?option=token&api=oauth2"
RESOURCE_PATH = "/index.php?option=resource&api=oauth2"
TOKENS = 30  # N token requests
RESOURCES = 40  # M resource requests
WRONG_SECRETS = 3
UNKNOWN_CLIENTS = 2
SCRAPES = 4
SERVERS = {"granian": GranianServer, "gunicorn": LiveServer}
WORKER_FILE = re.compile(r"^counter_(\d+)\.db$")


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    environment = emptied_env(database_url)
    run_cli(environment, "clients", "create", CLIENT[0], "--secret", CLIENT[1])
    directory = tmp_path / "prometheus"
    directory.mkdir()
    environment["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    environment["FLASK_METRICS_ENABLED"] = "true"
    return environment


def scrape(server: LiveServer) -> dict[tuple[str, frozenset], float]:
    response = request("GET", f"{server.base_url}/metrics")
    assert response.status_code == 200, response.text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def total(samples: dict[tuple[str, frozenset], float], name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` that have all of ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, have), v in samples.items() if n == name and wanted <= have)


def worker_pids(directory: Path) -> set[int]:
    return {int(m.group(1)) for p in directory.iterdir() if (m := WORKER_FILE.match(p.name))}


def do_traffic(server: LiveServer) -> None:
    """TOKENS tokens, RESOURCES resource checks and a few refused clients, each on its own
    connection."""
    raw = []
    for _ in range(TOKENS):
        response = request(
            "POST",
            server.base_url + TOKEN_PATH,
            data={"grant_type": "client_credentials"},
            auth=CLIENT,
        )
        assert response.status_code == 200, response.text
        raw.append(response.json()["access_token"])
    for index in range(RESOURCES):
        response = request(
            "GET",
            server.base_url + RESOURCE_PATH,
            headers={"Authorization": f"Bearer {raw[index % TOKENS]}"},
        )
        assert response.status_code == 200, response.text
    for credentials in [(CLIENT[0], "wrong")] * WRONG_SECRETS + [("nobody", "x")] * UNKNOWN_CLIENTS:
        response = request(
            "POST",
            server.base_url + TOKEN_PATH,
            data={"grant_type": "client_credentials"},
            auth=credentials,
        )
        assert response.status_code == 400, response.text


def assert_sums(samples: dict[tuple[str, frozenset], float]) -> None:
    """Exactly what do_traffic did, over every worker."""
    requests = "emulator_requests_total"
    oauth2 = {"plugin": "oauth2"}
    failed = WRONG_SECRETS + UNKNOWN_CLIENTS
    assert total(samples, requests, operation="token", status="200", **oauth2) == TOKENS
    assert total(samples, requests, operation="token", status="400", **oauth2) == failed
    assert total(samples, requests, operation="resource", status="200", **oauth2) == RESOURCES
    assert total(samples, requests, **oauth2) == TOKENS + RESOURCES + failed
    latency = "emulator_request_duration_seconds_count"
    assert total(samples, latency, operation="token", **oauth2) == TOKENS + failed
    assert total(samples, latency, operation="resource", **oauth2) == RESOURCES
    tokens = "emulator_tokens_issued_total"
    assert total(samples, tokens, grant_type="client_credentials", **oauth2) == TOKENS
    assert total(samples, tokens) == TOKENS
    failures = "emulator_client_auth_failures_total"
    assert total(samples, failures, reason="wrong_secret", **oauth2) == WRONG_SECRETS
    assert total(samples, failures, reason="unknown_client", **oauth2) == UNKNOWN_CLIENTS
    assert total(samples, failures) == failed
    assert total(samples, "emulator_client_auth_lockouts_total") == 0


@pytest.mark.parametrize("kind", SERVERS)
def test_metrics_count_what_the_test_did_summed_over_workers(env, tmp_path: Path, kind) -> None:
    directory = Path(env["PROMETHEUS_MULTIPROC_DIR"])
    server = SERVERS[kind](env, tmp_path)
    server.start()
    try:
        do_traffic(server)
        assert len(worker_pids(directory)) >= 2  # both workers took requests and counted
        for _ in range(SCRAPES):  # each scrape on a fresh connection: either worker answers
            assert_sums(scrape(server))
    finally:
        server.stop()
    assert "Traceback" not in server.stderr(), server.stderr()


def test_a_dead_workers_counts_still_count(env, tmp_path: Path) -> None:
    """gunicorn replaces a killed worker; what the dead one counted stays in the sums."""
    directory = Path(env["PROMETHEUS_MULTIPROC_DIR"])
    server = LiveServer(env, tmp_path)
    server.start()
    try:
        do_traffic(server)
        before = worker_pids(directory)
        os.kill(min(before), signal.SIGKILL)
        # Its replacement writes its own file on the first request it counts (healthz's).
        wait_until(lambda: _new_worker_counted(server, directory, before), "a new worker")
        assert (directory / f"counter_{min(before)}.db").exists()
        for _ in range(SCRAPES):
            assert_sums(scrape(server))
    finally:
        server.stop()


def _new_worker_counted(server: LiveServer, directory: Path, before: set[int]) -> bool:
    request("GET", f"{server.base_url}/healthz")
    return bool(worker_pids(directory) - before)


def test_bin_serve_empties_the_directory_at_each_start(env, tmp_path: Path) -> None:
    server = GranianServer(env, tmp_path)
    server.start()
    try:
        do_traffic(server)
        assert total(scrape(server), "emulator_tokens_issued_total") == TOKENS
    finally:
        server.stop()
    server.start()  # a new run starts from zero: the old files are gone
    try:
        samples = scrape(server)
        assert total(samples, "emulator_tokens_issued_total") == 0
        assert total(samples, "emulator_requests_total", plugin="oauth2") == 0
    finally:
        server.stop()


def test_a_multiprocess_directory_that_is_not_there_stops_the_start(env, tmp_path: Path) -> None:
    missing = tmp_path / "not-made"
    result = subprocess.run(
        [str(BIN / "flask"), "--app", "app", "plugins", "list"],
        cwd=ROOT,
        env={**env, "PROMETHEUS_MULTIPROC_DIR": str(missing)},
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    assert result.returncode != 0
    assert f"PROMETHEUS_MULTIPROC_DIR='{missing}' is not a directory" in result.stderr
    assert not missing.exists()
