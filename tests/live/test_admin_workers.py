"""Admin changes to a client reach every worker within CACHE_MAX_AGE: a disabled or
deleted client's credentials and its cached tokens, a rotated-out secret.

Real gunicorn workers (tests/live/server.py) with their caches on: each worker has read
the client and verified the token before the change, so only the caches' max age can end
what they trust.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.live.server import STATE_MAX_AGE
from tests.live.server import LiveServer
from tests.live.server import emptied_env
from tests.live.server import request
from tests.live.server import run_cli
from tests.live.server import wait_until

pytestmark = pytest.mark.slow

CLIENT = ("admin-client", "admin-secret-0001")
TOKEN_PATH = "/index.php?option=token&api=oauth2"
RESOURCE_PATH = "/index.php?option=resource&api=oauth2"
INVALID_CLIENT = {
    "error": "invalid_client",
    "error_description": "The client credentials are invalid",
}
INVALID_TOKEN = {
    "error": "invalid_token",
    "error_description": "The access token provided is invalid",
}
ROUNDS = 16  # requests per check: every worker of the server answers some of them
# A change must reach every worker within the caches' max age; the margin is for the
# CLI's commit to be seen and for one check round's requests (full argon2 hashes).
MARGIN = 0.5


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    assert STATE_MAX_AGE > 0  # the caches are on: the test is about them
    env = emptied_env(database_url)
    # Many refused attempts from one address on purpose: the throttle would answer 429.
    env["FLASK_CLIENT_AUTH_FAILURE_LIMIT"] = ""
    run_cli(env, "clients", "create", CLIENT[0], "--secret", CLIENT[1])
    live = LiveServer(env, tmp_path)
    live.start()
    try:
        yield live, env
    finally:
        live.stop()
        assert "Traceback" not in live.stderr(), live.stderr()


def token_call(base: str, secret: str = CLIENT[1]) -> requests.Response:
    return request(
        "POST",
        base + TOKEN_PATH,
        auth=(CLIENT[0], secret),
        data={"grant_type": "client_credentials"},
    )


def resource_call(base: str, token: str) -> requests.Response:
    return request("GET", base + RESOURCE_PATH, headers={"Authorization": f"Bearer {token}"})


def every(call: Callable[[], requests.Response], status: int, body: dict | None = None) -> bool:
    answers = [call() for _ in range(ROUNDS)]
    return all(a.status_code == status and (body is None or a.json() == body) for a in answers)


def warm(base: str, token: str) -> None:
    """Every worker reads the client, verifies its secret and caches the token."""
    assert every(lambda: token_call(base), 200)
    assert every(lambda: resource_call(base, token), 200)


def within_max_age(check: Callable[[], bool], what: str) -> float:
    """Seconds from the change to the start of the first round in which every answer is the
    new one; fail if that round started later than the max age (and a margin)."""
    changed = time.monotonic()
    while True:
        started = time.monotonic() - changed
        if check():
            return started
        assert started <= STATE_MAX_AGE + MARGIN, f"not within {STATE_MAX_AGE} s: {what}"
        time.sleep(0.05)


def test_disable_enable_and_delete_reach_every_worker(server) -> None:
    live, env = server
    base = live.base_url
    token = token_call(base).json()["access_token"]
    warm(base, token)
    run_cli(env, "clients", "disable", CLIENT[0])
    within_max_age(
        lambda: every(lambda: token_call(base), 400, INVALID_CLIENT),
        "every worker refuses the disabled client's credentials",
    )
    within_max_age(
        lambda: every(lambda: resource_call(base, token), 401, INVALID_TOKEN),
        "every worker refuses the disabled client's cached token",
    )
    run_cli(env, "clients", "enable", CLIENT[0])
    wait_until(lambda: every(lambda: resource_call(base, token), 200), "enabled again")
    warm(base, token)
    run_cli(env, "clients", "delete", CLIENT[0], "--yes")
    within_max_age(
        lambda: every(lambda: resource_call(base, token), 401, INVALID_TOKEN),
        "every worker refuses the deleted client's cached token",
    )
    assert every(lambda: token_call(base), 400, INVALID_CLIENT)


def test_a_rotated_out_secret_stops_in_every_worker(server) -> None:
    live, env = server
    base = live.base_url
    warm(base, token_call(base).json()["access_token"])
    out = run_cli(env, "clients", "rotate-secret", CLIENT[0], "--secret", "admin-secret-0002")
    assert "client_secret: admin-secret-0002" in out
    within_max_age(
        lambda: every(lambda: token_call(base), 400, INVALID_CLIENT),
        "every worker refuses the old secret",
    )
    assert every(lambda: token_call(base, "admin-secret-0002"), 200)
    run_cli(
        env, "clients", "rotate-secret", CLIENT[0], "--secret", "admin-secret-0003", "--grace", "1h"
    )
    wait_until(lambda: every(lambda: token_call(base, "admin-secret-0003"), 200), "new secret")
    assert every(lambda: token_call(base, "admin-secret-0002"), 200)  # in its grace
