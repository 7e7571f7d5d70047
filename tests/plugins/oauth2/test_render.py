"""The redCORE dialect's renderer: engine results and errors -> the exact bytes and headers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from datetime import timedelta

import pytest
from flask import Flask

from emulator.oauth import IssuedToken
from emulator.oauth import TokenInfo
from emulator.oauth.errors import ExpiredToken
from emulator.oauth.errors import InsufficientScope
from emulator.oauth.errors import InvalidRequest
from emulator.oauth.errors import InvalidScope
from emulator.oauth.errors import TokenMissing
from emulator.web.errors import BodyTooLarge
from emulator.web.errors import MethodNotAllowed
from emulator.web.errors import OperationMissing
from emulator.web.errors import UnknownApi
from emulator.web.errors import UnknownOperation
from emulator.web.http import header_bytes
from emulator.web.http import json_encode
from plugins.oauth2 import render
from plugins.oauth2.params import OAuth2Params

ISSUED_AT = datetime(2026, 3, 29, 0, 30, 0)  # 1 h before Europe/Copenhagen springs forward
PARAMS = OAuth2Params().load({})
NO_STORE = {"Cache-Control": "no-store"}


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


def issued(**overrides: object) -> IssuedToken:
    values = {
        "access_token": "a" * 40,
        "token_type": "Bearer",
        "expires_in": 3600,
        "scope": "site.read site/docs",
        "refresh_token": "r" * 40,
        "issued_at": ISSUED_AT,
        "expires_at": datetime(2026, 3, 29, 1, 30, 0),
        "client_id": "c1",
        "client_pk": 1,
        "user_id": None,
    }
    return IssuedToken(**{**values, **overrides})


def headers(rv) -> dict[str, str]:
    return {k: v for k, v in rv.headers.items() if k != "Content-Length"}


def test_token_fields_in_bshaffers_order_then_redcores_dates(ctx) -> None:
    rv = render.token(issued(), PARAMS)
    assert rv.status_code == 200
    assert rv.data == (
        b'{"access_token":"' + b"a" * 40 + b'","expires_in":"3600","token_type":"Bearer",'
        b'"scope":"site.read site\\/docs","refresh_token":"' + b"r" * 40 + b'",'
        b'"expireTimeFormatted":"2026-03-29 01:30:00","created":"2026-03-29 00:30:00"}'
    )
    assert headers(rv) == {
        "Content-Type": "application/json",
        "Cache-Control": "no-store",
        "Pragma": "no-cache",
    }


def test_token_without_refresh_token_or_scope_and_a_numeric_expires_in(ctx) -> None:
    params = {**PARAMS, "expires_in_as_string": False}
    rv = render.token(issued(refresh_token=None, scope=None), params)
    assert rv.data.startswith(
        b'{"access_token":"' + b"a" * 40 + b'","expires_in":3600,"token_type":"Bearer",'
        b'"scope":null,"expireTimeFormatted":'
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"scope": None, "refresh_token": None},
        {"scope": 'a/b "q" \\ \u00e9\u20ac \U0001f600 \x01', "token_type": "bearer/x"},
        {"access_token": "</script>", "issued_at": datetime(2026, 12, 31, 23, 59, 59, 999999)},
    ],
    ids=["usual", "no-scope-no-refresh", "odd-characters", "microseconds"],
)
@pytest.mark.parametrize("as_string", [True, False], ids=["string", "number"])
def test_token_bytes_are_json_encodes(ctx, overrides, as_string) -> None:
    """The token answer is written field by field; json_encode of the same object (the
    legacy encoder's bytes) is what it must equal, dates as strftime prints them."""
    token = issued(**overrides)
    rv = render.token(token, {**PARAMS, "expires_in_as_string": as_string})
    expected = {
        "access_token": token.access_token,
        "expires_in": str(token.expires_in) if as_string else token.expires_in,
        "token_type": token.token_type,
        "scope": token.scope,
    }
    if token.refresh_token is not None:
        expected["refresh_token"] = token.refresh_token
    expires = token.issued_at + timedelta(seconds=token.expires_in)
    expected["expireTimeFormatted"] = expires.strftime("%Y-%m-%d %H:%M:%S")
    expected["created"] = token.issued_at.strftime("%Y-%m-%d %H:%M:%S")
    assert rv.get_data(as_text=True) == json_encode(expected)


@pytest.mark.parametrize("user_id", ["42", None, "a/b\u00e9"], ids=["id", "none", "odd"])
def test_resource_bytes_are_json_encodes(ctx, user_id) -> None:
    info = TokenInfo(
        client_pk=1,
        client_id="c",
        user_id=user_id,
        scope=None,
        issued_at=ISSUED_AT,
        expires_at=ISSUED_AT,
    )
    expected = {"success": True, "user_id": user_id, "message": render.RESOURCE_MESSAGE}
    assert render.resource(info).get_data(as_text=True) == json_encode(expected)


def test_dates_are_printed_in_the_site_zone_each_with_its_own_offset(app) -> None:
    app.config["SITE_TIMEZONE"] = "Europe/Copenhagen"
    with app.app_context():
        body = render.token(issued(), PARAMS).get_json()
    # 00:30 UTC is 01:30 CET; an hour later, 01:30 UTC, is 03:30 CEST (the clocks jumped).
    assert (body["created"], body["expireTimeFormatted"]) == (
        "2026-03-29 01:30:00",
        "2026-03-29 03:30:00",
    )


def test_resource_success_is_sent_with_a_charset(ctx) -> None:
    info = TokenInfo(
        client_pk=1,
        client_id="c",
        user_id="42",
        scope=None,
        issued_at=ISSUED_AT,
        expires_at=ISSUED_AT,
    )
    rv = render.resource(info)
    assert rv.data == (
        b'{"success":true,"user_id":"42","message":"You have successfully accessed this API!"}'
    )
    assert rv.content_type == "application/json; charset=UTF-8"


@pytest.mark.parametrize(
    ("error", "operation", "status", "body", "extra_headers"),
    [
        (
            OperationMissing("x"),
            "token",
            500,
            b'{"message":"OAuth2 operation name is empty. Please provide proper option name.",'
            b'"code":0,"type":"RuntimeException"}',
            {},
        ),
        (UnknownOperation("x"), "nosuch", 200, b"", {}),
        (
            UnknownApi('API "oauth2" is not available'),
            None,
            404,
            b'{"message":"API \\"oauth2\\" is not available","code":404,"type":"RuntimeException"}',
            {},
        ),
        (
            MethodNotAllowed("GET", allowed=frozenset({"POST"})),
            "token",
            405,
            b'{"error":"invalid_request","error_description":"The request method must be POST'
            b' when requesting an access token","error_uri":'
            b'"http:\\/\\/tools.ietf.org\\/html\\/rfc6749#section-3.2"}',
            {**NO_STORE, "Allow": "POST"},
        ),
        (
            InvalidScope(reason="unsupported"),
            "token",
            400,
            b'{"error":"invalid_scope","error_description":"An unsupported scope was requested"}',
            NO_STORE,
        ),
        (
            BodyTooLarge(1048576),
            "resource",
            413,
            b'{"error":"invalid_request",'
            b'"error_description":"The request body is larger than 1048576 bytes"}',
            NO_STORE,
        ),
    ],
    ids=[
        "empty-operation",
        "unknown-operation",
        "host-error",
        "wrong-method",
        "token-error",
        "body-too-large",
    ],
)
def test_error_bytes(ctx, error, operation, status, body, extra_headers) -> None:
    rv = render.error(error, operation, PARAMS)
    assert (rv.status_code, rv.data) == (status, body)
    content_type = "text/html; charset=UTF-8" if status in (200, 404, 500) else "application/json"
    assert headers(rv) == {"Content-Type": content_type, **extra_headers}


def test_a_method_error_never_allows_head_or_options(ctx) -> None:
    error = MethodNotAllowed("GET", allowed=frozenset({"POST", "HEAD", "OPTIONS", "PUT"}))
    assert render.error(error, "resource", PARAMS).headers["Allow"] == "POST, PUT"


def test_an_error_uri_is_made_absolute(ctx) -> None:
    error = InvalidRequest(reason="body_method")
    assert render.error(error, "token", PARAMS).get_json()["error_uri"] == (
        "http://tools.ietf.org/html/rfc6749#section-2.2"
    )


@pytest.mark.parametrize(
    ("error", "body", "challenge"),
    [
        (TokenMissing(), b"[]", 'Bearer realm="Service"'),
        (
            ExpiredToken(reason="expired"),
            b'{"error":"expired_token",'
            b'"error_description":"The access token provided has expired"}',
            'Bearer realm="Service", error="expired_token", '
            'error_description="The access token provided has expired"',
        ),
        (
            InsufficientScope("Needs more", scope="a b"),
            b'{"error":"insufficient_scope","error_description":"Needs more"}',
            'Bearer realm="Service", scope="a b", error="insufficient_scope", '
            'error_description="Needs more"',
        ),
    ],
    ids=["no-token", "expired", "insufficient-scope"],
)
def test_every_resource_error_is_a_401_with_a_bearer_challenge(ctx, error, body, challenge):
    rv = render.error(error, "resource", PARAMS)
    assert (rv.status_code, rv.data) == (401, body)
    assert rv.headers["WWW-Authenticate"] == challenge


def test_the_realm_param_and_its_default_when_params_could_not_load(ctx) -> None:
    rv = render.error(TokenMissing(), "resource", {**PARAMS, "www_realm": "Shop API"})
    assert rv.headers["WWW-Authenticate"] == 'Bearer realm="Shop API"'
    assert render.error(TokenMissing(), "resource", None).headers["WWW-Authenticate"] == (
        'Bearer realm="Service"'
    )


def test_a_challenge_cannot_carry_a_line_break(ctx) -> None:
    rv = render.error(InsufficientScope("x", scope="a\r\nSet-Cookie: s=1"), "resource", PARAMS)
    assert "\r" not in rv.headers["WWW-Authenticate"]
    assert "\n" not in rv.headers["WWW-Authenticate"]
    assert header_bytes("é\r\n") == "Ã©  "  # UTF-8 bytes, as PHP sent them


def test_metadata_names_the_legacy_urls() -> None:
    rv = render.metadata("https://site.test", cacheable=True, body_credentials=False, scopes=["a"])
    body = rv.get_json()
    assert body["token_endpoint"] == "https://site.test/index.php?api=oauth2&option=token"
    assert body["token_endpoint_auth_methods_supported"] == ["client_secret_basic"]
    assert body["revocation_endpoint_auth_methods_supported"] == ["client_secret_basic", "none"]
    assert (body["grant_types_supported"], body["scopes_supported"]) == (
        ["authorization_code", "client_credentials", "password", "refresh_token"],
        ["a"],
    )
    assert rv.headers["Cache-Control"] == "public, max-age=3600"
    from_host = render.metadata(
        "http://evil.test", cacheable=False, body_credentials=True, scopes=[]
    )
    assert from_host.headers["Cache-Control"] == "no-store"
