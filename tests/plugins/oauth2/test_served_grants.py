"""The oauth2 plugin's ``served_grants``: a grant left on the legacy site is forwarded to it
by the passthrough plugin exactly as an unported URL is (the old site is faked here with
``responses``; tests/live/test_legacy_link.py has a real one)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs

import pytest
import responses

from tests.support.oauth2 import SHOP
from tests.support.oauth2 import TOKEN_URL
from tests.support.oauth2 import assert_token_error
from tests.support.oauth2 import assert_token_ok
from tests.support.oauth2 import cc
from tests.support.oauth2 import send
from tests.support.oauth2 import unsupported

LEGACY = "http://legacy.test"
ANSWER = b'{"access_token":"' + b"9" * 40 + b'","expires_in":3600,"token_type":"Bearer"}'


@pytest.fixture
def legacy() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def shop(make_client) -> None:
    make_client(SHOP["client_id"], secret=SHOP["client_secret"], scope="catalog.read")


def password(client):
    return send(client, {"grant_type": "password", "username": "ann", "password": "pw", **SHOP})


def test_a_grant_not_served_is_forwarded_as_an_unported_url(
    client, shop, legacy, set_params, cli
) -> None:
    set_params("passthrough", legacy_url=LEGACY)
    cli("plugins", "enable", "passthrough")
    set_params(served_grants="client_credentials refresh_token")
    legacy.post(
        f"{LEGACY}/index.php?option=token&api=oauth2",
        body=ANSWER,
        headers={"X-Legacy": "1"},
        content_type="application/json",
    )
    rv = password(client)
    assert (rv.status_code, rv.data, rv.headers["X-Legacy"]) == (200, ANSWER, "1")
    sent = parse_qs(legacy.calls[0].request.body.decode())
    assert sent["grant_type"] == ["password"] and sent["client_id"] == [SHOP["client_id"]]
    # A grant in the list is answered here.
    assert_token_ok(cc(client), scope="catalog.read", refresh=True)


def test_without_passthrough_a_grant_not_served_is_unsupported(client, shop, set_params) -> None:
    set_params(served_grants="client_credentials")
    assert_token_error(password(client), unsupported("password"))
    assert_token_ok(cc(client), scope="catalog.read", refresh=True)


def test_all_grants_are_served_by_default(client, shop, legacy, set_params, cli) -> None:
    set_params("passthrough", legacy_url=LEGACY)
    cli("plugins", "enable", "passthrough")  # nothing is forwarded: no call is faked
    assert "served_grants" in cli("plugins", "show", "oauth2")
    assert client.post(TOKEN_URL, data={"grant_type": "password", **SHOP}).status_code == 400
    assert_token_ok(cc(client), scope="catalog.read", refresh=True)


@pytest.mark.parametrize("value", ["password jwt", "client_credentials  password", " password"])
def test_served_grants_names_known_grants_only(cli, value: str) -> None:
    out = cli("plugins", "set", "oauth2", f"served_grants={value}", expect_ok=False)
    assert "Grant types separated by single spaces" in out
