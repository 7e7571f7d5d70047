"""option=revoke (RFC 7009), option=introspect (RFC 7662) and the RFC 8414 metadata."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

BASE = "/index.php?api=oauth2&option="
TOKEN_URL = BASE + "token"
RESOURCE_URL = BASE + "resource"


@pytest.fixture
def tokens(client, make_client):
    """A client with a scope and a token pair of its own."""
    client_id, secret = make_client(
        "app-1", secret="pw-1", scope="site.read site.create", user_id="5"
    )
    rv = client.post(TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    assert rv.status_code == 200
    return rv.get_json()


def resource_status(client, access_token) -> int:
    return client.get(RESOURCE_URL, headers={"Authorization": f"Bearer {access_token}"}).status_code


def test_revoke_an_access_token(client, tokens) -> None:
    rv = client.post(
        BASE + "revoke",
        data={"token": tokens["access_token"], "token_type_hint": "access_token"},
        auth=("app-1", "pw-1"),
    )
    assert rv.status_code == 200
    assert rv.data == b'{"revoked":true}'
    assert rv.headers["Cache-Control"] == "no-store" and rv.content_type == "application/json"
    assert resource_status(client, tokens["access_token"]) == 401


def test_revoking_the_refresh_token_ends_the_access_tokens_issued_with_it(client, tokens) -> None:
    rv = client.post(
        BASE + "revoke",
        data={"token": tokens["refresh_token"], "client_id": "app-1", "client_secret": "pw-1"},
    )
    assert rv.data == b'{"revoked":true}'
    assert resource_status(client, tokens["access_token"]) == 401
    rv = client.post(
        TOKEN_URL,
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=("app-1", "pw-1"),
    )
    assert rv.get_json() == {"error": "invalid_grant", "error_description": "Invalid refresh token"}


@pytest.mark.parametrize(
    "hint",
    ["refresh_token", "access_token", "bogus", None],
    ids=["refresh-token", "access-token", "bogus", "no-hint"],
)
def test_the_hint_only_decides_the_search_order(client, tokens, hint) -> None:
    data = {"token": tokens["access_token"]} | ({"token_type_hint": hint} if hint else {})
    assert client.post(BASE + "revoke", data=data, auth=("app-1", "pw-1")).status_code == 200
    assert resource_status(client, tokens["access_token"]) == 401


def test_unknown_or_foreign_tokens_answer_revoked_but_stay_valid(
    client, make_client, tokens
) -> None:
    make_client("app-2", secret="pw-2")
    for token in ("never-issued", tokens["access_token"]):
        rv = client.post(BASE + "revoke", data={"token": token}, auth=("app-2", "pw-2"))
        assert (rv.status_code, rv.data) == (200, b'{"revoked":true}')
    assert resource_status(client, tokens["access_token"]) == 200


def test_public_client_may_revoke_its_own_refresh_token(client, cli, make_client) -> None:
    make_client("mobile", public=True, scope="site.read")
    cli(
        "tokens",
        "import",
        "--type",
        "refresh",
        "--token",
        "rt-mobile",
        "--client-id",
        "mobile",
        "--expires",
        "2099-01-01 00:00:00",
    )
    rv = client.post(BASE + "revoke", data={"token": "rt-mobile", "client_id": "mobile"})
    assert rv.data == b'{"revoked":true}'
    rv = client.post(
        TOKEN_URL,
        data={"grant_type": "refresh_token", "refresh_token": "rt-mobile", "client_id": "mobile"},
    )
    assert rv.get_json()["error_description"] == "Invalid refresh token"


@pytest.mark.parametrize("operation", ["revoke", "introspect"], ids=["revoke", "introspect"])
def test_errors_are_in_the_token_endpoint_dialect(client, tokens, operation) -> None:
    rv = client.get(BASE + operation)
    assert rv.status_code == 405 and rv.headers["Allow"] == "POST"
    verb = "revoking an access token" if operation == "revoke" else "introspecting a token"
    assert (
        json.loads(rv.data)["error_description"] == f"The request method must be POST when {verb}"
    )
    rv = client.post(BASE + operation, data={"token": tokens["access_token"]})
    assert (rv.status_code, rv.get_json()["error"]) == (400, "invalid_client")
    rv = client.post(
        BASE + operation, data={"token": tokens["access_token"]}, auth=("app-1", "wrong")
    )
    assert rv.get_json()["error_description"] == "The client credentials are invalid"
    rv = client.post(BASE + operation, data={}, auth=("app-1", "pw-1"))
    assert rv.status_code == 400
    assert rv.get_json() == {
        "error": "invalid_request",
        "error_description": f"Missing token parameter to {operation}",
    }
    assert resource_status(client, tokens["access_token"]) == 200


def test_introspect_an_active_token(client, tokens) -> None:
    rv = client.post(
        BASE + "introspect", data={"token": tokens["access_token"]}, auth=("app-1", "pw-1")
    )
    assert rv.status_code == 200 and rv.headers["Cache-Control"] == "no-store"
    claims = rv.get_json()
    assert list(claims) == ["active", "scope", "client_id", "token_type", "exp", "iat", "sub"]
    assert claims["active"] is True and claims["scope"] == "site.read site.create"
    assert (
        claims["client_id"] == "app-1" and claims["token_type"] == "Bearer" and claims["sub"] == "5"
    )
    assert claims["exp"] - claims["iat"] == 3600


def test_introspect_inactive_tokens(client, make_client, tokens) -> None:
    make_client("app-2", secret="pw-2")
    for token, auth in (
        ("never-issued", ("app-1", "pw-1")),
        (tokens["access_token"], ("app-2", "pw-2")),
    ):
        rv = client.post(BASE + "introspect", data={"token": token}, auth=auth)
        assert rv.data == b'{"active":false}'


def test_public_clients_cannot_introspect(client, make_client) -> None:
    make_client("mobile", public=True)
    rv = client.post(BASE + "introspect", data={"token": "x", "client_id": "mobile"})
    assert rv.get_json()["error_description"] == "client credentials are required"


def test_existing_answers_are_unchanged_by_the_new_operations(client, tokens) -> None:
    rv = client.get(BASE + "nosuchop")
    assert (rv.status_code, rv.data) == (200, b"")


def test_metadata_names_the_legacy_urls(client, cli, tokens) -> None:
    cli("scopes", "add", "site.read")
    rv = client.get("/.well-known/oauth-authorization-server", base_url="https://api.example.com")
    doc = rv.get_json()
    assert rv.status_code == 200 and rv.content_type == "application/json"
    assert doc["issuer"] == "https://api.example.com"
    assert doc["token_endpoint"] == "https://api.example.com/index.php?api=oauth2&option=token"
    assert doc["revocation_endpoint"].endswith("option=revoke")
    assert doc["introspection_endpoint"].endswith("option=introspect")
    assert doc["authorization_endpoint"].endswith("option=authorize")
    assert doc["grant_types_supported"] == [
        "authorization_code",
        "client_credentials",
        "password",
        "refresh_token",
    ]
    assert doc["response_types_supported"] == ["code"]
    assert doc["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
    ]
    assert doc["scopes_supported"] == ["site.read"]
    cli(
        "plugins",
        "set",
        "oauth2",
        "issuer=https://sso.example.org/",
        "allow_credentials_in_request_body=false",
    )
    doc = client.get("/.well-known/oauth-authorization-server").get_json()
    assert doc["issuer"] == "https://sso.example.org"
    assert doc["token_endpoint_auth_methods_supported"] == ["client_secret_basic"]


def test_concurrent_uses_of_one_refresh_token_give_exactly_one_success(app, make_client) -> None:
    client_id, secret = make_client("racer", secret="pw", scope="site.read")
    first = app.test_client().post(
        TOKEN_URL, data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    refresh_token = first.get_json()["refresh_token"]

    def use(_):
        rv = app.test_client().post(
            TOKEN_URL,
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            auth=(client_id, secret),
        )
        return rv.status_code, rv.get_json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(use, range(16)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [400] * 15
    assert all(
        body == {"error": "invalid_grant", "error_description": "Invalid refresh token"}
        for status, body in results
        if status == 400
    )


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x7f"], ids=["nul", "soh", "del"])
def test_a_token_with_a_control_character_is_an_unknown_token(client, tokens, char) -> None:
    """Revoked (as every unknown token is), never active; the real tokens stay valid."""
    for token in (tokens["access_token"] + char, char + tokens["refresh_token"]):
        rv = client.post(BASE + "revoke", data={"token": token}, auth=("app-1", "pw-1"))
        assert (rv.status_code, rv.data) == (200, b'{"revoked":true}')
        rv = client.post(BASE + "introspect", data={"token": token}, auth=("app-1", "pw-1"))
        assert (rv.status_code, rv.data) == (200, b'{"active":false}')
    assert resource_status(client, tokens["access_token"]) == 200


def test_a_client_id_with_a_control_character_cannot_revoke(client, tokens) -> None:
    rv = client.post(
        BASE + "revoke", data={"token": tokens["access_token"], "client_id": "app-1\x00"}
    )
    assert rv.get_json()["error_description"] == (
        "This client is invalid or must authenticate using a client secret"
    )
    assert resource_status(client, tokens["access_token"]) == 200
