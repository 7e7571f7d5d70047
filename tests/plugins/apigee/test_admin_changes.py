"""A disabled or deleted app's client, a rotated secret: what the Apigee dialect answers.

Exactly what an unknown client id gets at the token endpoints, and what an unknown token
gets at a protected proxy (status, headers, bytes); the target is never called.
"""

from __future__ import annotations

import pytest
import responses

from tests.support.apigee import CC_TOKEN_URL
from tests.support.apigee import REFRESH_URL
from tests.support.apigee import basic
from tests.support.apigee import bearer

from .wire_format import SEED_CLIENT_ID
from .wire_format import SEED_SECRET

GRANT = "?grant_type=client_credentials"
CLIENT_ID_INVALID = b'{"ErrorCode" : "invalid_client", "Error" :"ClientId is Invalid"}'
INVALID_TOKEN = (
    b'{"fault":{"faultstring":"Invalid Access Token",'
    b'"detail":{"errorcode":"keymanagement.service.invalid_access_token"}}}'
)
HOW = ["disabled", "deleted"]


def answer(rv) -> tuple:
    return rv.status_code, {k: v for k, v in rv.headers.items() if k != "Date"}, rv.data


@pytest.fixture
def app_token(client, cli, enable_apigee, make_app_client):
    """The sample's app behind a /weather proxy; returns its token pair."""
    enable_apigee(client_credentials_refresh_token=True)
    cli("apigee", "proxies", "add", "/weather", "--target", "http://weather.test")
    make_app_client(SEED_CLIENT_ID, secret=SEED_SECRET, products={"Weather": None})
    rv = client.post(CC_TOKEN_URL + GRANT, headers=basic(SEED_CLIENT_ID, SEED_SECRET))
    assert rv.status_code == 200, rv.data
    return rv.get_json()


def change(cli, how: str) -> None:
    if how == "disabled":
        cli("clients", "disable", SEED_CLIENT_ID)
    else:
        cli("clients", "delete", SEED_CLIENT_ID, "--yes")


@pytest.mark.parametrize("how", HOW, ids=HOW)
def test_the_token_endpoint_answers_as_for_an_unknown_client_id(client, cli, app_token, how):
    change(cli, how)
    rv = client.post(CC_TOKEN_URL + GRANT, headers=basic(SEED_CLIENT_ID, SEED_SECRET))
    unknown = client.post(CC_TOKEN_URL + GRANT, headers=basic("NoSuchClientId", SEED_SECRET))
    assert answer(rv) == answer(unknown)
    assert (rv.status_code, rv.data) == (401, CLIENT_ID_INVALID)


@pytest.mark.parametrize("how", HOW, ids=HOW)
def test_its_refresh_token_answers_as_for_an_unknown_client_id(client, cli, app_token, how):
    change(cli, how)
    url = REFRESH_URL + "?grant_type=refresh_token&refresh_token=" + app_token["refresh_token"]
    rv = client.post(url, headers=basic(SEED_CLIENT_ID, SEED_SECRET))
    unknown = client.post(url, headers=basic("NoSuchClientId", SEED_SECRET))
    assert answer(rv) == answer(unknown)


@pytest.mark.parametrize("how", HOW, ids=HOW)
def test_its_token_at_a_proxy_answers_as_an_unknown_token(client, cli, app_token, how):
    change(cli, how)
    with responses.RequestsMock():  # any call to the target would fail this test
        rv = client.get("/weather/forecastrss", headers=bearer(app_token["access_token"]))
        unknown = client.get("/weather/forecastrss", headers=bearer("NoSuchToken00000000000A"))
    assert answer(rv) == answer(unknown)
    assert (rv.status_code, rv.data) == (401, INVALID_TOKEN)


def test_the_old_secret_works_during_the_grace_only(client, cli, app_token):
    cli("clients", "rotate-secret", SEED_CLIENT_ID, "--grace", "2d", "--secret", "N3w-Secret")
    for secret in (SEED_SECRET, "N3w-Secret"):
        rv = client.post(CC_TOKEN_URL + GRANT, headers=basic(SEED_CLIENT_ID, secret))
        assert rv.status_code == 200, rv.data
    cli("clients", "rotate-secret", SEED_CLIENT_ID, "--secret", "Th1rd-Secret")
    rv = client.post(CC_TOKEN_URL + GRANT, headers=basic(SEED_CLIENT_ID, "N3w-Secret"))
    assert rv.status_code == 401
