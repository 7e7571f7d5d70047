"""Failed client authentication is throttled per (client, address) and per address."""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import limits
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.exc import OperationalError

from config import Config
from emulator.ops import audit
from emulator.ops import throttle
from emulator.ops.throttle import DatabaseStorage
from emulator.storage.database import db
from tests.support.app import empty_database
from tests.support.app import make_app

TOKEN_URL = "/index.php?option=token&api=oauth2"
APIGEE_URL = "/oauth/client_credential/accesstoken"
LOCKED = (
    b'{"error":"invalid_client",'
    b'"error_description":"Too many failed client authentications; retry later"}'
)
QUOTA = (
    b'{"fault":{"faultstring":"Rate limit quota violation. Quota limit  exceeded. '
    b'Identifier : _default","detail":{"errorcode":"policies.ratelimit.QuotaViolation"}}}'
)
ATTACKER = "203.0.113.7"
OTHER = "198.51.100.20"


@pytest.fixture
def throttled(database_url: str, request: pytest.FixtureRequest) -> Iterator[Flask]:
    """The app with the default limits (or those a test gives by indirect parametrize)."""
    settings = {
        "CLIENT_AUTH_FAILURE_LIMIT": Config.CLIENT_AUTH_FAILURE_LIMIT,
        "CLIENT_AUTH_ADDRESS_FAILURE_LIMIT": Config.CLIENT_AUTH_ADDRESS_FAILURE_LIMIT,
        **getattr(request, "param", {}),
    }
    app = make_app(database_url, **settings)
    empty_database(app)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def web(throttled: Flask) -> FlaskClient:
    return throttled.test_client()


@pytest.fixture
def shell(throttled: Flask):
    runner = throttled.test_cli_runner()

    def run(*args: str) -> str:
        result = runner.invoke(args=list(args))
        assert result.exit_code == 0, result.output
        return result.output

    return run


def token(web: FlaskClient, client_id: str, secret: str, address: str, **environ: str):
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    return web.post(TOKEN_URL, data=data, environ_base={"REMOTE_ADDR": address, **environ})


def count_counters(app: Flask) -> int:
    with app.app_context():
        return db.session.execute(db.text("SELECT count(*) FROM rate_limit_counters")).scalar()


def test_ten_failures_lock_the_pair_and_nothing_else(throttled, web, shell, caplog) -> None:
    shell("clients", "create", "shop", "--secret", "right-secret")
    shell("clients", "create", "other", "--secret", "other-secret")
    caplog.set_level(logging.WARNING, logger="emulator.ops.throttle")
    for attempt in range(10):
        rv = token(web, "shop", f"guess-{attempt}", ATTACKER)
        assert rv.status_code == 400, attempt
    rv = token(web, "shop", "right-secret", ATTACKER)  # the right secret is refused too
    assert (rv.status_code, rv.data) == (429, LOCKED)
    assert rv.headers["Cache-Control"] == "no-store"
    assert 295 <= int(rv.headers["Retry-After"]) <= 300
    assert token(web, "shop", "right-secret", OTHER).status_code == 200  # another address
    assert token(web, "other", "other-secret", ATTACKER).status_code == 200  # another client
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "client_id='shop' address=203.0.113.7" in logged
    # The time left when the lock is logged: a second or more may have passed since the
    # first failure opened the window on a slow run, as for Retry-After above.
    locked = re.search(r"locked for (\d+)s: client client_id='shop'", logged)
    assert locked and 295 <= int(locked[1]) <= 300, logged
    assert "guess-" not in logged and "right-secret" not in logged  # never a secret


def test_a_client_id_longer_than_any_registered_is_locked_too(throttled, web) -> None:
    """Ids up to 80 characters have their keys remembered; a longer guess is keyed anew."""
    for client_id in ("x" * 80, "y" * 81):
        for attempt in range(10):
            assert token(web, client_id, f"guess-{attempt}", ATTACKER).status_code == 400
        rv = token(web, client_id, "guess", ATTACKER)
        assert (rv.status_code, rv.data) == (429, LOCKED), client_id


def test_the_lock_is_shared_by_both_dialects(throttled, web, shell) -> None:
    shell("plugins", "enable", "apigee")
    shell("clients", "create", "shop", "--secret", "right-secret")
    for attempt in range(10):
        token(web, "shop", f"guess-{attempt}", ATTACKER)
    rv = web.post(
        APIGEE_URL,
        data={"grant_type": "client_credentials", "client_id": "shop", "client_secret": "x"},
        environ_base={"REMOTE_ADDR": ATTACKER},
    )
    assert (rv.status_code, rv.data) == (429, QUOTA)
    assert rv.headers["Content-Type"] == "application/json"
    assert int(rv.headers["Retry-After"]) > 0


def test_refused_attempts_are_not_counted_and_the_lock_lifts(throttled, web, shell, monkeypatch):
    shell("clients", "create", "shop", "--secret", "right-secret")
    clock = [1_900_000_000.0]
    current = throttled.extensions[throttle.EXTENSION]
    current.clock = current.storage.clock = lambda: clock[0]
    for attempt in range(10):
        token(web, "shop", f"guess-{attempt}", ATTACKER)
    for _ in range(20):
        assert token(web, "shop", "guess", ATTACKER).status_code == 429
    clock[0] += 299
    assert token(web, "shop", "right-secret", ATTACKER).status_code == 429
    clock[0] += 2  # the window (5 minutes from the first failure) has ended
    assert token(web, "shop", "right-secret", ATTACKER).status_code == 200


@pytest.mark.parametrize(
    "throttled",
    [
        {
            "CLIENT_AUTH_FAILURE_LIMIT": "3/5minutes",
            "CLIENT_AUTH_ADDRESS_FAILURE_LIMIT": "5/5minutes",
        }
    ],
    ids=["low-limits"],
    indirect=True,
)
def test_one_address_trying_many_client_ids_is_locked_out(throttled, web, shell) -> None:
    shell("clients", "create", "shop", "--secret", "right-secret")
    for n in range(5):
        assert token(web, f"guess-{n}", "x", ATTACKER).status_code == 400
    assert token(web, "shop", "right-secret", ATTACKER).status_code == 429
    assert token(web, "shop", "right-secret", OTHER).status_code == 200


@pytest.mark.parametrize(
    "throttled",
    [
        {
            "CLIENT_AUTH_FAILURE_LIMIT": "3/5minutes",
            "CLIENT_AUTH_ADDRESS_FAILURE_LIMIT": "5/5minutes",
        }
    ],
    ids=["low-limits"],
    indirect=True,
)
def test_basic_credentials_tried_two_ways_fail_once(throttled, web, shell) -> None:
    """A form-urlencoded HTTP Basic header is tried as sent, then decoded (default mode):
    one failed request is one failure, for the client and for the address."""
    shell("clients", "create", "shop", "--secret", "right+secret")
    header = "Basic " + base64.b64encode(b"shop:wrong%2Bsecret").decode()
    for _ in range(2):
        rv = web.post(
            TOKEN_URL,
            data={"grant_type": "client_credentials"},
            headers={"Authorization": header},
            environ_base={"REMOTE_ADDR": ATTACKER},
        )
        assert rv.status_code == 400
    for n in range(2):  # the address has two failures left, not one
        assert token(web, f"guess-{n}", "x", ATTACKER).status_code == 400
    assert token(web, "shop", "right+secret", ATTACKER).status_code == 200  # 2 of 3, not 4


def test_a_successful_request_writes_nothing(throttled, web, shell) -> None:
    shell("clients", "create", "shop", "--secret", "right-secret")
    for _ in range(5):
        assert token(web, "shop", "right-secret", ATTACKER).status_code == 200
    assert count_counters(throttled) == 0
    token(web, "shop", "wrong", ATTACKER)
    assert count_counters(throttled) == 2  # the pair's window and the address's


@pytest.mark.parametrize(
    "throttled", [{"CLIENT_AUTH_FAILURE_LIMIT": ""}], ids=["limit-empty"], indirect=True
)
def test_an_empty_limit_turns_the_throttle_off(throttled, web, shell) -> None:
    shell("clients", "create", "shop", "--secret", "right-secret")
    for attempt in range(15):
        assert token(web, "shop", f"guess-{attempt}", ATTACKER).status_code == 400
    assert token(web, "shop", "right-secret", ATTACKER).status_code == 200


@pytest.mark.parametrize(
    ("throttled", "locked_sources", "free_source"),
    [
        ({"TRUSTED_PROXIES": 0}, ["10.9.9.1", "10.9.9.2"], ("10.0.0.2", "10.9.9.1")),
        ({"TRUSTED_PROXIES": 1}, ["10.9.9.1"], ("10.0.0.1", "10.9.9.2")),
    ],
    ids=["socket-address", "behind-one-proxy"],
    indirect=["throttled"],
)
def test_the_source_address_is_the_sockets_unless_proxies_are_trusted(
    throttled, web, shell, locked_sources, free_source
) -> None:
    shell("clients", "create", "shop", "--secret", "right-secret")
    for attempt in range(10):  # all from the socket 10.0.0.1, claiming to be 10.9.9.1
        token(web, "shop", f"g{attempt}", "10.0.0.1", HTTP_X_FORWARDED_FOR="10.9.9.1")
    for forwarded in locked_sources:
        rv = token(web, "shop", "right-secret", "10.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
        assert rv.status_code == 429, forwarded
    socket, forwarded = free_source
    rv = token(web, "shop", "right-secret", socket, HTTP_X_FORWARDED_FOR=forwarded)
    assert rv.status_code == 200


def test_an_ipv6_source_is_its_64_prefix(throttled, web, shell) -> None:
    shell("clients", "create", "shop", "--secret", "right-secret")
    for n in range(10):  # one host rotating through the addresses of its /64
        token(web, "shop", f"g{n}", f"2001:db8:1:2::{n + 1:x}")
    assert token(web, "shop", "right-secret", "2001:db8:1:2::ffff").status_code == 429
    assert token(web, "shop", "right-secret", "2001:db8:1:3::1").status_code == 200


@pytest.mark.parametrize(
    "throttled",
    [{"RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1"}],  # nothing listens there
    ids=["store-down"],
    indirect=True,
)
def test_a_store_outage_fails_open_and_says_so(throttled, web, shell, caplog) -> None:
    shell("clients", "create", "shop", "--secret", "right-secret")
    for n in range(12):
        assert token(web, "shop", f"g{n}", ATTACKER).status_code == 400  # checked, not locked
    assert token(web, "shop", "right-secret", ATTACKER).status_code == 200
    assert "throttle: store unavailable (ConnectionError)" in caplog.text
    assert "127.0.0.1:1" not in caplog.text


@pytest.mark.parametrize(
    "throttled",
    [{"CLIENT_AUTH_FAILURE_LIMIT": "3/5minutes", "CLIENT_AUTH_ADDRESS_FAILURE_LIMIT": ""}],
    ids=["no-address-limit"],
    indirect=True,
)
def test_an_empty_address_limit_counts_pairs_only(throttled, web, shell) -> None:
    shell("clients", "create", "shop", "--secret", "right-secret")
    for n in range(20):
        assert token(web, f"guess-{n}", "x", ATTACKER).status_code == 400
    assert token(web, "shop", "right-secret", ATTACKER).status_code == 200


def test_the_database_store_counts_every_concurrent_failure_once(throttled) -> None:
    """Failures from many workers at once, on every backend's upsert (MySQL's ON DUPLICATE
    KEY UPDATE included): each is counted, each sees its own count, one window."""
    start = 1_900_000_000.25
    with throttled.app_context():
        storage = DatabaseStorage(db.engine, clock=lambda: start)
    with ThreadPoolExecutor(max_workers=8) as pool:
        counts = list(pool.map(lambda _: storage.incr("pair", 300), range(40)))
    assert sorted(counts) == list(range(1, 41))
    assert storage.get("pair") == 40
    assert storage.get_expiry("pair") == start + 300  # to the fraction (not a 4-byte FLOAT)


def test_the_database_store_opens_a_new_window_when_the_old_one_ends(throttled) -> None:
    clock = [1_900_000_000.5]
    with throttled.app_context():
        storage = DatabaseStorage(db.engine, clock=lambda: clock[0])
    assert [storage.incr("pair", 300) for _ in range(3)] == [1, 2, 3]
    clock[0] += 299.75
    assert storage.incr("pair", 300) == 4  # still the first window
    assert storage.get_expiry("pair") == 1_900_000_300.5
    clock[0] += 0.25  # the window has ended
    assert storage.get("pair") == 0
    assert storage.incr("pair", 300) == 1
    assert storage.get_expiry("pair") == 1_900_000_600.5


def lockout_events(app: Flask) -> list[dict]:
    with app.app_context():
        return [
            audit.event_dict(event) for event in audit.events(db.session, action_prefix="security.")
        ]


def test_a_lockout_is_recorded_once_in_the_audit_log(throttled, web, shell) -> None:
    shell("clients", "create", "shop", "--secret", "right-secret")
    for _ in range(3):
        assert token(web, "shop", "right-secret", ATTACKER).status_code == 200
    for attempt in range(9):
        token(web, "shop", f"guess-{attempt}", ATTACKER)
    assert lockout_events(throttled) == []  # failures below the limit: counted, not audited
    token(web, "shop", "guess-9", ATTACKER)  # the tenth locks the pair
    for _ in range(3):  # refusals during the lock are not new lockouts
        assert token(web, "shop", "right-secret", ATTACKER).status_code == 429
    [event] = lockout_events(throttled)
    assert event["actor"] == "system" and event["address"] == ATTACKER
    assert (event["action"], event["target"], event["before"]) == ("security.lockout", "shop", None)
    after = event["after"]
    assert (after["kind"], after["client_id"], after["address"]) == ("client", "shop", ATTACKER)
    assert after["limit"] == str(limits.parse(Config.CLIENT_AUTH_FAILURE_LIMIT))
    assert "guess" not in json.dumps(event) and "right-secret" not in json.dumps(event)


@pytest.mark.parametrize(
    "throttled",
    [{"CLIENT_AUTH_ADDRESS_FAILURE_LIMIT": "4/5minutes"}],
    ids=["address-limit-4"],
    indirect=True,
)
def test_an_address_lockout_is_recorded_with_the_client_id_that_tripped_it(throttled, web) -> None:
    for n in range(4):
        token(web, f"guess-{n}", "x", ATTACKER)
    [event] = lockout_events(throttled)
    assert (event["target"], event["after"]["kind"]) == (ATTACKER, "address")
    assert event["after"]["client_id"] == "guess-3"


def test_a_lockout_the_audit_log_cannot_take_still_locks(
    throttled, web, shell, monkeypatch, caplog
) -> None:
    shell("clients", "create", "shop", "--secret", "right-secret")

    def broken(*args, **kwargs):
        raise OperationalError("INSERT", {}, Exception("disk full"))

    monkeypatch.setattr("emulator.ops.audit.record", broken)
    for attempt in range(10):
        assert token(web, "shop", f"guess-{attempt}", ATTACKER).status_code == 400
    assert token(web, "shop", "right-secret", ATTACKER).status_code == 429
    assert token(web, "shop", "right-secret", OTHER).status_code == 200
    assert "lockout not recorded (OperationalError)" in caplog.text
    assert lockout_events(throttled) == []


@pytest.mark.parametrize(
    "throttled",
    [{"RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379"}],
    ids=["redis-store"],
    indirect=True,
)
def test_a_lockout_counted_in_redis_is_recorded_in_the_database(throttled, web, shell) -> None:
    shell("clients", "create", "shop", "--secret", "right-secret")
    # Redis keeps its counts across tests for the window: an address of this run only.
    address = f"198.18.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"
    for attempt in range(10):
        token(web, "shop", f"guess-{attempt}", address)
    assert token(web, "shop", "right-secret", address).status_code == 429
    [event] = lockout_events(throttled)
    assert (event["address"], event["target"]) == (address, "shop")


def test_a_lockout_of_a_client_id_with_control_characters_is_recorded(throttled, web) -> None:
    for attempt in range(10):
        token(web, "shop\x00\nx", f"guess-{attempt}", ATTACKER)
    [event] = lockout_events(throttled)
    assert event["target"] == "shop\ufffd\ufffdx"
    assert event["after"]["client_id"] == "shop\x00\nx"  # JSON-escaped in its column
