"""RefreshAccessToken at /oauth/client_credential/refresh_accesstoken (compat/apigee.md §4.1)."""

from __future__ import annotations

import pytest

from tests.support.apigee import CC_TOKEN_URL
from tests.support.apigee import PROFILES
from tests.support.apigee import REFRESH_URL
from tests.support.apigee import basic

from .wire_format import SEED_CLIENT_ID
from .wire_format import SEED_SECRET
from .wire_format import TEMPLATES
from .wire_format import field_line
from .wire_format import match_template

OK_BASIC = basic(SEED_CLIENT_ID, SEED_SECRET)
REFRESH = REFRESH_URL + "?grant_type=refresh_token"


def first_token(client) -> dict:
    rv = client.post(CC_TOKEN_URL + "?grant_type=client_credentials", headers=OK_BASIC)
    assert rv.status_code == 200, rv.data
    return rv.get_json()


@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_refresh_gives_a_new_pair_in_the_profiles_bytes(
    client, seed_app, app_id_of, count_rows, profile
) -> None:
    seed_app(response_profile=profile, client_credentials_refresh_token=True)
    first = first_token(client)
    rv = client.post(REFRESH, headers=OK_BASIC, data={"refresh_token": first["refresh_token"]})
    assert rv.status_code == 200, rv.data
    values = match_template(TEMPLATES[(profile, True)], rv.get_data(as_text=True))
    assert values["app_id"] == app_id_of(SEED_CLIENT_ID)
    assert values["access_token"] != first["access_token"]
    assert values["refresh_token"] != first["refresh_token"]
    assert count_rows("oauth_refresh_tokens") == 1  # the used one is gone, the new one is live


@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_a_refresh_token_works_once(client, seed_app, profile) -> None:
    seed_app(response_profile=profile, client_credentials_refresh_token=True)
    token = first_token(client)["refresh_token"]
    assert client.post(REFRESH, headers=OK_BASIC, data={"refresh_token": token}).status_code == 200
    again = client.post(REFRESH, headers=OK_BASIC, data={"refresh_token": token})
    assert (again.status_code, again.data) == (
        400,
        b'{"ErrorCode" : "invalid_request", "Error" :"Invalid Refresh Token"}',
    )


@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_refresh_keeps_the_scope(client, enable_apigee, make_app_client, profile) -> None:
    enable_apigee(response_profile=profile, client_credentials_refresh_token=True)
    cid, secret = make_app_client(products={"P": "read write"})
    first = client.post(
        CC_TOKEN_URL + "?grant_type=client_credentials",
        headers=basic(cid, secret),
        data={"scope": "write"},
    ).get_json()
    rv = client.post(
        REFRESH, headers=basic(cid, secret), data={"refresh_token": first["refresh_token"]}
    )
    assert field_line(rv.get_data(as_text=True), "scope") == '  "scope" : "write"'


@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_refresh_token_expires_in_counts_down_when_a_lifetime_is_set(
    client, seed_app, profile
) -> None:
    seed_app(
        response_profile=profile,
        client_credentials_refresh_token=True,
        refresh_token_lifetime_ms=86_400_000,
    )
    text = client.post(CC_TOKEN_URL + "?grant_type=client_credentials", headers=OK_BASIC).get_data(
        as_text=True
    )
    assert field_line(text, "refresh_token_expires_in") == '  "refresh_token_expires_in" : "86399"'


INVALID_REFRESH = b'{"ErrorCode" : "invalid_request", "Error" :"Invalid Refresh Token"}'
ROWS = [
    (
        "unknown-refresh-token",
        {"refresh_token": "NoSuchRefreshToken0000000000000"},
        OK_BASIC,
        REFRESH,
        400,
        INVALID_REFRESH,
    ),
    (
        "any-scope",
        {"refresh_token": "<token>", "scope": "read"},
        OK_BASIC,
        REFRESH,
        400,
        b'{"ErrorCode" : "invalid_request", "Error" :"Invalid Scope"}',
    ),
    (
        "missing-refresh-token",
        {},
        OK_BASIC,
        REFRESH,
        400,
        b'{"ErrorCode" : "invalid_request", "Error" :"Required param : refresh_token"}',
    ),
    (
        "unknown-client",
        {"refresh_token": "<token>"},
        basic("nobody", "x"),
        REFRESH,
        401,
        b'{"ErrorCode" : "invalid_client", "Error" :"ClientId is Invalid"}',
    ),
    (
        "wrong-secret",
        {"refresh_token": "<token>"},
        basic(SEED_CLIENT_ID, "x"),
        REFRESH,
        401,
        b'{"ErrorCode" : "invalid_client", "Error" :"Client credentials are invalid"}',
    ),
    (
        "missing-grant-type",
        {"refresh_token": "<token>"},
        OK_BASIC,
        REFRESH_URL,
        400,
        b'{"ErrorCode" : "invalid_request", "Error" :"Required param : grant_type"}',
    ),
    (
        "client-credentials-at-refresh",
        {"refresh_token": "<token>"},
        OK_BASIC,
        REFRESH_URL + "?grant_type=client_credentials",
        400,
        b'{"ErrorCode" : "invalid_request", '
        b'"Error" :"Unsupported grant type : client_credentials"}',
    ),
]


@pytest.mark.parametrize(
    ("form", "headers", "url", "status", "body"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS]
)
@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_refresh_errors(
    client, seed_app, count_rows, profile, form, headers, url, status, body
) -> None:
    seed_app(response_profile=profile, client_credentials_refresh_token=True)
    token = first_token(client)["refresh_token"]
    data = {k: (token if v == "<token>" else v) for k, v in form.items()}
    rv = client.post(url, headers=headers, data=data)
    assert (rv.status_code, rv.data) == (status, body)
    assert rv.headers["Content-Type"] == "application/json"
    assert count_rows("oauth_refresh_tokens") == 1  # nothing used up, nothing added
    assert count_rows("oauth_access_tokens") == 1


@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_expired_refresh_token(client, seed_app, run_sql, profile) -> None:
    seed_app(
        response_profile=profile,
        client_credentials_refresh_token=True,
        refresh_token_lifetime_ms=60_000,
    )
    token = first_token(client)["refresh_token"]
    run_sql("UPDATE oauth_refresh_tokens SET expires_at = '2000-01-01 00:00:00'")
    rv = client.post(REFRESH, headers=OK_BASIC, data={"refresh_token": token})
    assert (rv.status_code, rv.data) == (
        400,
        b'{"ErrorCode" : "invalid_request", "Error" :"Refresh Token expired"}',
    )


@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_another_apps_refresh_token_is_invalid(client, seed_app, make_app_client, profile) -> None:
    seed_app(response_profile=profile, client_credentials_refresh_token=True)
    token = first_token(client)["refresh_token"]
    other, secret = make_app_client(products={"Other": None})
    rv = client.post(REFRESH, headers=basic(other, secret), data={"refresh_token": token})
    assert (rv.status_code, rv.data) == (400, INVALID_REFRESH)


def test_refresh_tokens_of_the_redcore_dialect_refresh_here(client, seed_app) -> None:
    """One token store: a refresh token from option=token refreshes at the Apigee URL."""
    seed_app()
    legacy = client.post(
        "/index.php?option=token&api=oauth2",
        data={"grant_type": "client_credentials"},
        headers=OK_BASIC,
    ).get_json()
    rv = client.post(REFRESH, headers=OK_BASIC, data={"refresh_token": legacy["refresh_token"]})
    assert rv.status_code == 200, rv.data
    assert rv.get_json()["token_type"] == "BearerToken"
