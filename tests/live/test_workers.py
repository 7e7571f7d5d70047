"""Many workers, one database: durability under kill -9, exactly-once refresh rotation
across two app instances, and admin changes reaching every worker of both.

Real gunicorn processes (tests/live/server.py) on the session's test database: one SQLite file
shared by every process, or the PostgreSQL or MariaDB database when TEST_DATABASE_URL or
TEST_MYSQL_URL is set.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.live.server import LiveServer
from tests.live.server import emptied_env
from tests.live.server import http
from tests.live.server import request
from tests.live.server import run_cli
from tests.live.server import wait_until

pytestmark = pytest.mark.slow

CLIENT = ("worker-client", "worker-secret-1")
TOKEN_PATH = "/index.php?option=token&api=oauth2"
RESOURCE_PATH = "/index.php?option=resource&api=oauth2"
INVALID_GRANT = {"error": "invalid_grant", "error_description": "Invalid refresh token"}


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    """An empty database with one client, and the environment of the server processes."""
    environment = emptied_env(database_url)
    run_cli(environment, "scopes", "add", "site.read", "--default")
    run_cli(
        environment, "clients", "create", CLIENT[0], "--secret", CLIENT[1], "--scope", "site.read"
    )
    return environment


@pytest.fixture
def servers(env: dict[str, str], tmp_path: Path) -> Iterator[list[LiveServer]]:
    """Two app instances (2 gthread workers each) on different ports, one database."""
    started = []
    try:
        for index in range(2):
            log_dir = tmp_path / f"server-{index}"
            log_dir.mkdir()
            server = LiveServer(env, log_dir)
            server.start()
            started.append(server)
        yield started
    finally:
        for server in started:
            server.stop()
        for server in started:
            assert "Traceback" not in server.stderr(), server.stderr()


def new_token(base_url: str) -> dict:
    response = request(
        "POST", base_url + TOKEN_PATH, data={"grant_type": "client_credentials"}, auth=CLIENT
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_every_token_a_client_received_survives_kill_9(env: dict[str, str], tmp_path: Path) -> None:
    server = LiveServer(env, tmp_path)
    server.start()
    received: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def load() -> None:
        with http() as session:
            while not stop.is_set():
                try:
                    response = session.post(
                        server.base_url + TOKEN_PATH,
                        auth=CLIENT,
                        data={"grant_type": "client_credentials"},
                        timeout=5,
                    )
                except requests.RequestException:
                    return  # the server died under us: the request's fate is unknown to the client
                if response.status_code == 200:
                    with lock:
                        received.append(response.json()["access_token"])

    threads = [threading.Thread(target=load) for _ in range(6)]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(received) >= 200, "200 tokens issued under load", timeout=30)
    os.killpg(server.process.pid, signal.SIGKILL)  # master and workers, mid-load
    stop.set()
    for thread in threads:
        thread.join(timeout=10)
    server.process.wait(timeout=10)
    server.process = None
    server.stop()

    restarted = LiveServer(env, tmp_path / "after")
    (tmp_path / "after").mkdir()
    restarted.start()
    try:

        def verify(token: str) -> int:
            return request(
                "GET",
                restarted.base_url + RESOURCE_PATH,
                headers={"Authorization": f"Bearer {token}"},
            ).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(verify, received))
    finally:
        restarted.stop()
    assert len(received) >= 200
    assert statuses == [200] * len(received)


def test_refresh_rotation_is_exactly_once_across_two_instances(servers: list[LiveServer]) -> None:
    for round_ in range(5):
        refresh_token = new_token(servers[0].base_url)["refresh_token"]
        barrier = threading.Barrier(12)

        def use(
            index: int, barrier: threading.Barrier = barrier, refresh_token: str = refresh_token
        ) -> tuple[int, dict]:
            base = servers[index % 2].base_url
            barrier.wait(timeout=10)
            response = request(
                "POST",
                base + TOKEN_PATH,
                auth=CLIENT,
                data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            )
            return response.status_code, response.json()

        with ThreadPoolExecutor(max_workers=12) as pool:
            results = list(pool.map(use, range(12)))
        statuses = sorted(status for status, _ in results)
        assert statuses == [200] + [400] * 11, f"round {round_}: {results}"
        assert all(body == INVALID_GRANT for status, body in results if status == 400)


def test_admin_changes_reach_every_worker_of_both_instances(
    env: dict[str, str], servers: list[LiveServer]
) -> None:
    def all_answer(status: int, call) -> bool:
        return all(call(servers[i % 2].base_url).status_code == status for i in range(16))

    def token_for(client_id: str, secret: str):
        return lambda base: request(
            "POST",
            base + TOKEN_PATH,
            auth=(client_id, secret),
            data={"grant_type": "client_credentials"},
        )

    run_cli(env, "clients", "create", "late-client", "--secret", "late-secret")
    assert all_answer(200, token_for("late-client", "late-secret"))  # no cache: at once
    run_cli(env, "plugins", "disable", "oauth2")
    wait_until(
        lambda: all_answer(404, token_for(*CLIENT)), "every worker answers as an unknown api"
    )
    run_cli(env, "plugins", "enable", "oauth2")
    wait_until(lambda: all_answer(200, token_for(*CLIENT)), "every worker serves tokens again")
    run_cli(env, "plugins", "set", "oauth2", "access_lifetime=77", "expires_in_as_string=false")
    wait_until(
        lambda: all(new_token(servers[i % 2].base_url)["expires_in"] == 77 for i in range(16)),
        "every worker uses the new params",
    )
    run_cli(env, "plugins", "set", "oauth2", "access_lifetime=3600", "expires_in_as_string=true")


def test_concurrent_issuance_on_several_workers_gives_no_server_error(
    servers: list[LiveServer],
) -> None:
    started = time.monotonic()

    def burst(index: int) -> list[int]:
        with http() as session:
            return [
                session.post(
                    servers[index % 2].base_url + TOKEN_PATH,
                    auth=CLIENT,
                    data={"grant_type": "client_credentials"},
                    timeout=10,
                ).status_code
                for _ in range(25)
            ]

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = [status for batch in pool.map(burst, range(16)) for status in batch]
    assert statuses == [200] * 400, f"{sorted(set(statuses))} in {time.monotonic() - started:.1f} s"
