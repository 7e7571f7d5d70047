"""The proxies' outbound call against a real local target (issue 8.5).

Headers the client may not set: forwarding and identity. The target is a real server on
127.0.0.1 that records what reaches it (tests/live/server.py's ``target_server``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from plugins.apigee.gateway import identity_value
from tests.live.server import Target
from tests.live.server import target_server

from .conftest import bearer
from .wire_format import SEED_CLIENT_ID


@pytest.fixture
def target() -> Iterator[Target]:
    with target_server() as real:
        yield real


def headers_named(seen: dict, name: str) -> list[str]:
    """Every value the target got for ``name`` (any case), in order."""
    return [value for key, value in seen["header_list"] if key.lower() == name.lower()]


# --- headers the client may not set -----------------------------------------------------

SPOOFED = {
    "X-Forwarded-For": "6.6.6.6",
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Port": "443",
    "X-Forwarded-Prefix": "/admin",
    "Forwarded": "for=6.6.6.6;host=evil.example;proto=https",
    "X-Real-IP": "6.6.6.6",
    "X-Apigee-Client-Id": "someone-else",
    "X-Apigee-Scope": "admin",
}


def test_forwarding_and_identity_headers_are_the_gateways(client, proxy_to, target) -> None:
    token = proxy_to(target.base_url)
    rv = client.get(
        "/weather/forecastrss", headers={**bearer(token), **SPOOFED, "X-Custom": "kept"}
    )
    assert rv.status_code == 200, rv.data
    [seen] = target.received
    expected = {
        "X-Forwarded-For": ["127.0.0.1"],
        "X-Forwarded-Host": ["localhost"],
        "X-Forwarded-Proto": ["http"],
        "X-Forwarded-Port": [],
        "X-Forwarded-Prefix": [],
        "Forwarded": ['for=127.0.0.1;host="localhost";proto=http'],
        "X-Real-IP": ["127.0.0.1"],
        "X-Apigee-Client-Id": [SEED_CLIENT_ID],
        "X-Apigee-Scope": ["read write"],
        "X-Custom": ["kept"],
    }
    assert {name: headers_named(seen, name) for name in expected} == expected


def test_spoofed_headers_are_dropped_in_any_spelling(client, proxy_to, target) -> None:
    token = proxy_to(target.base_url)
    spoofed = {"x-apigee-client-id": "someone-else", "x-forwarded-for": "6.6.6.6"}
    client.get("/weather/x", headers={**bearer(token), **spoofed})
    [seen] = target.received
    assert headers_named(seen, "X-Apigee-Client-Id") == [SEED_CLIENT_ID]
    assert headers_named(seen, "X-Forwarded-For") == ["127.0.0.1"]


def test_identity_headers_of_a_token_without_scope(
    client, cli, make_client, proxy_to, target
) -> None:
    proxy_to(target.base_url)
    cli("apigee", "proxies", "add", "/open", "--target", target.base_url)  # no scope required
    cid, secret = make_client("plain client", secret="s")
    token = client.post(
        "/index.php?option=token&api=oauth2",
        data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret},
    ).get_json()["access_token"]
    assert client.get("/open/x", headers=bearer(token)).status_code == 200
    [seen] = target.received
    assert headers_named(seen, "X-Apigee-Client-Id") == ["plain client"]
    assert headers_named(seen, "X-Apigee-Scope") == [""]


def test_forwarded_quotes_an_ipv6_client(client, proxy_to, target) -> None:
    token = proxy_to(target.base_url)
    client.get("/weather/x", headers=bearer(token), environ_overrides={"REMOTE_ADDR": "::1"})
    [seen] = target.received
    assert headers_named(seen, "Forwarded") == ['for="[::1]";host="localhost";proto=http']
    assert headers_named(seen, "X-Forwarded-For") == ["::1"]


@pytest.mark.parametrize(
    ("text", "value"),
    [("kWocGg", "kWocGg"), ("read write", "read write"), ("café 50%", "caf%C3%A9 50%25")],
    ids=["ascii-as-is", "spaces-as-is", "utf-8-and-percent-encoded"],
)
def test_identity_values_stay_one_printable_line(text, value) -> None:
    assert identity_value(text) == value
