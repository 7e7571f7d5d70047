"""The redCORE dialect, rule by rule (compat/redcore.md).

These tests are built from the rules, not copied from the captured cases: other clients,
secrets, scopes, values and parameter names, so that an implementation that only learned
the cases fails here. Exact bytes are asserted wherever a rule fixes them.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import datetime
from datetime import timedelta
from typing import Any
from urllib.parse import quote
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from emulator.clock import utcnow
from emulator.db import db
from emulator.models import RefreshToken
from tests.conftest import make_app

TOKEN_URL = "/index.php?option=token&api=oauth2"
RESOURCE_URL = "/index.php?option=resource&api=oauth2"
FORM = "application/x-www-form-urlencoded"
STRICT = {
    "client_credentials_refresh_token": False,
    "token_params_in_query": False,
    "expires_in_as_string": False,
    "resource_scope_param": False,
}
DATETIME = "%Y-%m-%d %H:%M:%S"
WHEN = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"


# --- expected bytes ----------------------------------------------------------------------


def err(error: str, description: str) -> bytes:
    """A token error body; ``description`` is given already JSON-escaped."""
    return f'{{"error":"{error}","error_description":"{description}"}}'.encode()


NOT_SPECIFIED = err("invalid_request", "The grant type was not specified in the request")
NOT_FOUND = err("invalid_client", "Client credentials were not found in the headers or body")
NOT_FOUND_HEADERS_ONLY = err("invalid_client", "Client credentials were not found in the headers")
REQUIRED = err("invalid_client", "client credentials are required")
INVALID_CLIENT = err("invalid_client", "The client credentials are invalid")
MUST_AUTHENTICATE = err(
    "invalid_client", "This client is invalid or must authenticate using a client secret"
)
UNAUTHORIZED = err("unauthorized_client", "The grant type is unauthorized for this client_id")
SCOPE_INVALID = err("invalid_scope", "The scope requested is invalid for this request")
SCOPE_UNSUPPORTED = err("invalid_scope", "An unsupported scope was requested")
MISSING_RT = err("invalid_request", r"Missing parameter: \"refresh_token\" is required")
INVALID_RT = err("invalid_grant", "Invalid refresh token")
EXPIRED_RT = err("invalid_grant", "Refresh token has expired")
FOREIGN_RT = err("invalid_grant", "refresh_token doesn't exist or is invalid for the client")
WRONG_METHOD = (
    b'{"error":"invalid_request","error_description":"The request method must be POST when '
    b'requesting an access token",'
    b'"error_uri":"http:\\/\\/tools.ietf.org\\/html\\/rfc6749#section-3.2"}'
)


def unsupported(value_json: str) -> bytes:
    return err("unsupported_grant_type", rf"Grant type \"{value_json}\" not supported")


RESOURCE_OK = (
    b'{"success":true,"user_id":null,"message":"You have successfully accessed this API!"}'
)
EMPTY_OPTION = (
    b'{"message":"OAuth2 operation name is empty. Please provide proper option name.",'
    b'"code":0,"type":"RuntimeException"}'
)
# Resource errors: (body, challenge after `realm="..."`).
INVALID_TOKEN = (
    b'{"error":"invalid_token","error_description":"The access token provided is invalid"}',
    'error="invalid_token", error_description="The access token provided is invalid"',
)
EXPIRED_TOKEN = (
    b'{"error":"expired_token","error_description":"The access token provided has expired"}',
    'error="expired_token", error_description="The access token provided has expired"',
)
TWO_METHODS = (
    b'{"error":"invalid_request","error_description":"Only one method may be used to authenticate '
    b'at a time (Auth header, GET or POST)"}',
    'error="invalid_request", error_description="Only one method may be used to authenticate at a '
    'time (Auth header, GET or POST)"',
)
MALFORMED = (
    b'{"error":"invalid_request","error_description":"Malformed auth header"}',
    'error="invalid_request", error_description="Malformed auth header"',
)
CONTENT_TYPE = (
    b'{"error":"invalid_request","error_description":"The content type for POST requests must be '
    b'\\"application\\/x-www-form-urlencoded\\""}',
    'error="invalid_request", error_description="The content type for POST requests must be '
    '"application/x-www-form-urlencoded""',
)
BODY_METHOD = (
    b'{"error":"invalid_request","error_description":"When putting the token in the body, the '
    b'method must be POST or PUT",'
    b'"error_uri":"http:\\/\\/tools.ietf.org\\/html\\/rfc6749#section-2.2"}',
    'error="invalid_request", error_description="When putting the token in the body, the method '
    'must be POST or PUT"',
)
INSUFFICIENT = (
    b'{"error":"insufficient_scope","error_description":"The request requires higher privileges '
    b'than provided by the access token"}'
)
INSUFFICIENT_CHALLENGE = (
    'error="insufficient_scope", error_description="The request requires higher privileges than '
    'provided by the access token"'
)


# --- requests ----------------------------------------------------------------------------


def basic(user: str, password: str | None = None) -> str:
    """An HTTP Basic header value; without ``password`` there is no ':' at all."""
    raw = user if password is None else f"{user}:{password}"
    return "Basic " + base64.b64encode(raw.encode()).decode()


def send(
    client: FlaskClient,
    body: str | bytes | dict | None = None,
    *,
    query: str = "",
    headers: list[tuple[str, str]] | None = None,
    content_type: str | None = FORM,
    method: str = "POST",
    path: str = TOKEN_URL,
) -> Any:
    """Send exactly these bytes (a dict is form-encoded); no Content-Type when None."""
    all_headers = list(headers or [])
    if content_type is not None and body is not None:
        all_headers.append(("Content-Type", content_type))
    if isinstance(body, dict):
        body = urlencode(body)
    data = body.encode() if isinstance(body, str) else body
    url = path + ("&" + query if query else "")
    return client.open(url, method=method, headers=all_headers, data=data)


def as_json(body: dict) -> str:
    return json.dumps(body)


def multipart(fields: list[tuple[str, str]], boundary: str = "rules-7e3f1b") -> tuple[bytes, str]:
    parts = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields
    )
    return f"{parts}--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def bearer(token: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {token}")]


# --- assertions --------------------------------------------------------------------------


def assert_token_error(rv: Any, body: bytes, status: int = 400) -> None:
    assert (rv.status_code, rv.data) == (status, body)
    assert rv.headers["Cache-Control"] == "no-store"
    assert rv.headers["Content-Type"] == "application/json"
    assert "Pragma" not in rv.headers
    assert "WWW-Authenticate" not in rv.headers


def assert_token_ok(
    rv: Any,
    *,
    scope: str | None,
    refresh: bool,
    expires_in: int = 3600,
    as_string: bool = True,
    zone: str = "UTC",
) -> dict[str, Any]:
    """The exact success shape, key order included; returns the parsed body."""
    assert rv.status_code == 200, rv.data
    assert rv.headers["Cache-Control"] == "no-store"
    assert rv.headers["Pragma"] == "no-cache"
    assert rv.headers["Content-Type"] == "application/json"
    assert "WWW-Authenticate" not in rv.headers
    expires = f'"{expires_in}"' if as_string else str(expires_in)
    scope_json = "null" if scope is None else '"' + scope.replace("/", "\\/") + '"'
    pattern = (
        '{"access_token":"(?P<at>[0-9a-f]{40})","expires_in":'
        + re.escape(expires)
        + ',"token_type":"Bearer","scope":'
        + re.escape(scope_json)
        + (',"refresh_token":"(?P<rt>[0-9a-f]{40})"' if refresh else "")
        + f',"expireTimeFormatted":"(?P<exp>{WHEN})","created":"(?P<created>{WHEN})"}}'
    )
    text = rv.get_data(as_text=True)
    match = re.fullmatch(pattern, text)
    assert match, text
    created = datetime.strptime(match["created"], DATETIME)
    expire = datetime.strptime(match["exp"], DATETIME)
    assert expire - created == timedelta(seconds=expires_in)
    now = datetime.now(ZoneInfo(zone)).replace(tzinfo=None)
    assert abs((created - now).total_seconds()) <= 5, (created, now)
    if refresh:
        assert match["rt"] != match["at"]
    return rv.get_json()


def assert_resource_ok(rv: Any, user_id: str | None = None) -> None:
    body = RESOURCE_OK.replace(b"null", json.dumps(user_id).encode())
    assert (rv.status_code, rv.data) == (200, body)
    assert rv.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert rv.headers["Content-Length"] == str(len(body))
    assert "Cache-Control" not in rv.headers
    assert "WWW-Authenticate" not in rv.headers


def assert_resource_error(
    rv: Any, expected: tuple[bytes, str], realm: str = "Service", scheme: str = "Bearer"
) -> None:
    body, challenge = expected
    assert (rv.status_code, rv.data) == (401, body)
    assert rv.headers["Cache-Control"] == "no-store"
    assert rv.headers["Content-Type"] == "application/json"
    assert rv.headers["WWW-Authenticate"] == f'{scheme} realm="{realm}", {challenge}'
    assert "Pragma" not in rv.headers


def assert_no_token(rv: Any, realm: str = "Service") -> None:
    assert (rv.status_code, rv.data) == (401, b"[]")
    assert rv.headers["WWW-Authenticate"] == f'Bearer realm="{realm}"'
    assert rv.headers["Content-Type"] == "application/json"
    assert "Cache-Control" not in rv.headers


def assert_insufficient(rv: Any, scope: str) -> None:
    assert (rv.status_code, rv.data) == (401, INSUFFICIENT)
    assert rv.headers["Cache-Control"] == "no-store"
    assert rv.headers["Content-Type"] == "application/json"
    assert rv.headers["WWW-Authenticate"] == (
        f'Bearer realm="Service", scope="{scope}", {INSUFFICIENT_CHALLENGE}'
    )


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def strict(set_params: Callable[..., None]) -> None:
    set_params(**STRICT)


@pytest.fixture(params=["default", "strict"])
def mode(request: pytest.FixtureRequest, set_params: Callable[..., None]) -> str:
    if request.param == "strict":
        set_params(**STRICT)
    return request.param


@pytest.fixture
def scopes(cli: Callable[..., str]) -> Callable[..., None]:
    """Add scopes in table order; ``defaults`` marks the default ones."""

    def add(*names: str, defaults: tuple[str, ...] = ()) -> None:
        for name in names:
            cli("scopes", "add", name, *(["--default"] if name in defaults else []))

    return add


@pytest.fixture
def import_token(cli: Callable[..., str]) -> Callable[..., str]:
    """Carry a token over; ``expires_in`` seconds from now (negative = already expired)."""

    def run(
        kind: str,
        token: str,
        client_id: str,
        *,
        scope: str | None = None,
        user_id: str | None = None,
        expires_in: int = 86400,
    ) -> str:
        expires = utcnow() + timedelta(seconds=expires_in)
        args = [
            "tokens",
            "import",
            "--type",
            kind,
            "--token",
            token,
            "--client-id",
            client_id,
            "--expires",
            f"{expires:%Y-%m-%d %H:%M:%S}",
        ]
        if scope is not None:
            args += ["--scope", scope]
        if user_id is not None:
            args += ["--user-id", user_id]
        cli(*args)
        return token

    return run


@pytest.fixture
def shop(make_client: Callable[..., tuple[str, str | None]], scopes: Callable[..., None]) -> None:
    """A confidential client with a scope, and the scopes table around it."""
    scopes(
        "catalog.read",
        "catalog.write",
        "orders.read",
        "reports.view",
        defaults=("catalog.read", "reports.view"),
    )
    make_client("shop-app", secret="Sh0p-Secret!", scope=SHOP_SCOPE, user_id="1001")


SHOP = {"client_id": "shop-app", "client_secret": "Sh0p-Secret!"}
SHOP_SCOPE = "catalog.read catalog.write orders.read"


def cc(client: FlaskClient, creds: dict[str, str] = SHOP, **extra: str) -> Any:
    return send(client, {"grant_type": "client_credentials", **creds, **extra})


def refresh(client: FlaskClient, token: str, creds: dict[str, str] = SHOP, **extra: str) -> Any:
    return send(client, {"grant_type": "refresh_token", "refresh_token": token, **creds, **extra})


# =========================================================================================
# Token endpoint: check order
# =========================================================================================


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"])
@pytest.mark.parametrize("request_kind", ["valid-request", "bad-client-unknown-grant"])
def test_any_non_post_method_is_405_before_anything_else(
    client, shop, mode, count_rows, method, request_kind
) -> None:
    if request_kind == "valid-request":
        body, headers = urlencode({"grant_type": "client_credentials", **SHOP}), []
    else:
        body, headers = "grant_type=urn:acme:magic", [("Authorization", basic("ghost", "nope"))]
    rv = send(client, body, query=body, headers=headers, method=method)
    assert_token_error(rv, WRONG_METHOD, status=405)
    assert rv.headers["Allow"] == "POST"
    assert count_rows("oauth_access_tokens") == 0


def test_head_is_405_without_a_body(client, shop) -> None:
    rv = send(client, None, query="grant_type=client_credentials&client_id=shop-app", method="HEAD")
    assert rv.status_code == 405
    assert rv.data == b""
    assert rv.headers["Allow"] == "POST"


@pytest.mark.parametrize(
    "headers, body",
    [
        ([], "client_id=ghost&client_secret=nope"),
        ([("Authorization", basic("ghost", "nope"))], "scope=catalog.read"),
        ([], "refresh_token=abc"),
    ],
    ids=["unknown-body-client", "unknown-basic-client", "no-client"],
)
def test_grant_type_presence_is_checked_before_the_client(client, shop, headers, body) -> None:
    assert_token_error(send(client, body, headers=headers), NOT_SPECIFIED)


@pytest.mark.parametrize(
    "headers, body",
    [
        ([], "grant_type=urn:acme:magic&client_id=ghost&client_secret=nope"),
        ([("Authorization", basic("ghost", "nope"))], "grant_type=urn:acme:magic"),
        ([], "grant_type=urn:acme:magic"),
        ([], "grant_type=urn:acme:magic&client_id=shop-app"),
    ],
    ids=["unknown-body-client", "unknown-basic-client", "no-client", "missing-secret"],
)
def test_unknown_grant_type_is_checked_before_the_client(client, shop, headers, body) -> None:
    assert_token_error(send(client, body, headers=headers), unsupported("urn:acme:magic"))


@pytest.mark.parametrize(
    "creds",
    [
        {"client_id": "shop-app", "client_secret": "not-it"},
        {"client_id": "ghost-app", "client_secret": "Sh0p-Secret!"},
    ],
    ids=["wrong-secret", "unknown-client"],
)
@pytest.mark.parametrize(
    "rt_body",
    [{}, {"refresh_token": "rt-shop-expired"}, {"refresh_token": "nope"}],
    ids=["missing-rt", "expired-rt", "unknown-rt"],
)
def test_client_authentication_comes_before_grant_validation(
    client, shop, import_token, creds, rt_body
) -> None:
    import_token("refresh", "rt-shop-expired", "shop-app", expires_in=-60)
    rv = send(client, {"grant_type": "refresh_token", **creds, **rt_body})
    assert_token_error(rv, INVALID_CLIENT)


@pytest.fixture
def nightly(make_client, import_token) -> dict[str, str]:
    """A client restricted to client_credentials, with refresh tokens it may not use."""
    make_client(
        "nightly", secret="n1ghtly-pw", scope="reports.view", grant_types="client_credentials"
    )
    import_token("refresh", "rt-nightly-live", "nightly", scope="reports.view")
    import_token("refresh", "rt-nightly-old", "nightly", scope="reports.view", expires_in=-5)
    return {"client_id": "nightly", "client_secret": "n1ghtly-pw"}


@pytest.mark.parametrize(
    "rt_body, expected",
    [
        ({}, MISSING_RT),
        ({"refresh_token": ""}, MISSING_RT),
        ({"refresh_token": "never-issued-0001"}, INVALID_RT),
        ({"refresh_token": "rt-nightly-old"}, EXPIRED_RT),
        ({"refresh_token": "rt-nightly-live"}, UNAUTHORIZED),
    ],
    ids=["missing", "empty", "unknown", "expired", "valid-own"],
)
def test_grant_validation_comes_before_the_clients_grant_restriction(
    client, nightly, count_rows, rt_body, expected
) -> None:
    rv = send(client, {"grant_type": "refresh_token", **nightly, **rt_body})
    assert_token_error(rv, expected)
    assert count_rows("oauth_refresh_tokens") == 2


def test_foreign_refresh_token_wins_over_the_clients_grant_restriction(
    client, shop, nightly, import_token
) -> None:
    """Token ownership is checked before the grant_types restriction."""
    import_token("refresh", "rt-shop-live", "shop-app", scope="catalog.read")
    rv = send(client, {"grant_type": "refresh_token", "refresh_token": "rt-shop-live", **nightly})
    assert_token_error(rv, FOREIGN_RT)


def test_expiry_is_checked_before_ownership(client, shop, import_token, make_client) -> None:
    make_client("other-app", secret="other-pw")
    import_token("refresh", "rt-shop-gone", "shop-app", expires_in=-30)
    rv = refresh(client, "rt-shop-gone", {"client_id": "other-app", "client_secret": "other-pw"})
    assert_token_error(rv, EXPIRED_RT)


def test_grant_restriction_comes_before_scope(client, shop, make_client) -> None:
    make_client("rt-only", secret="rt-only-pw", scope="catalog.read", grant_types="refresh_token")
    rv = cc(client, {"client_id": "rt-only", "client_secret": "rt-only-pw"}, scope="orders.read")
    assert_token_error(rv, UNAUTHORIZED)


def test_ownership_comes_before_scope(client, shop, import_token, make_client, count_rows) -> None:
    make_client("other-app", secret="other-pw", scope="catalog.read")
    import_token("refresh", "rt-shop-live", "shop-app", scope="catalog.read")
    rv = refresh(
        client,
        "rt-shop-live",
        {"client_id": "other-app", "client_secret": "other-pw"},
        scope="nothing.at.all",
    )
    assert_token_error(rv, FOREIGN_RT)
    assert count_rows("oauth_refresh_tokens") == 1


def test_client_authentication_comes_before_scope(client, shop) -> None:
    rv = cc(client, {"client_id": "shop-app", "client_secret": "sh0p-secret!"}, scope="bogus")
    assert_token_error(rv, INVALID_CLIENT)


# =========================================================================================
# Token endpoint: success
# =========================================================================================


def test_client_credentials_success_shape_per_mode(client, shop, mode, count_rows) -> None:
    default = mode == "default"
    rv = cc(client)
    assert_token_ok(rv, scope=SHOP_SCOPE, refresh=default, as_string=default)
    assert count_rows("oauth_access_tokens") == 1
    assert count_rows("oauth_refresh_tokens") == (1 if default else 0)


def test_scope_is_null_when_nothing_resolves(client, mode, make_client, scopes) -> None:
    scopes("inventory.read", "inventory.write")  # none of them default
    make_client("bare-app", secret="bare-pw")
    rv = cc(client, {"client_id": "bare-app", "client_secret": "bare-pw"})
    assert_token_ok(rv, scope=None, refresh=mode == "default", as_string=mode == "default")


def test_scope_slash_is_escaped_in_the_success_body(client, make_client) -> None:
    make_client("files-app", secret="files-pw", scope="urn:acme:files/read urn:acme:files/write")
    rv = cc(
        client,
        {"client_id": "files-app", "client_secret": "files-pw"},
        scope="urn:acme:files/write",
    )
    assert_token_ok(rv, scope="urn:acme:files/write", refresh=True)
    assert b'"scope":"urn:acme:files\\/write"' in rv.data


@pytest.mark.parametrize("lifetime", [60, 7200, 86400])
@pytest.mark.parametrize("as_string", [True, False], ids=["string", "number"])
def test_access_lifetime_param_changes_expires_in(
    client, shop, set_params, import_token, lifetime, as_string
) -> None:
    set_params(access_lifetime=lifetime, expires_in_as_string=as_string)
    assert_token_ok(
        cc(client), scope=SHOP_SCOPE, refresh=True, expires_in=lifetime, as_string=as_string
    )
    import_token("refresh", "rt-shop-life", "shop-app", scope="orders.read")
    assert_token_ok(
        refresh(client, "rt-shop-life"),
        scope="orders.read",
        refresh=False,
        expires_in=lifetime,
        as_string=as_string,
    )


@pytest.mark.parametrize("as_string", [True, False], ids=["string", "number"])
def test_expires_in_as_string_alone_switches_the_type(client, shop, set_params, as_string) -> None:
    set_params(expires_in_as_string=as_string)  # the other three stay at their defaults
    body = assert_token_ok(cc(client), scope=SHOP_SCOPE, refresh=True, as_string=as_string)
    assert body["expires_in"] == ("3600" if as_string else 3600)


@pytest.mark.parametrize("zone", ["Europe/Paris", "Asia/Kolkata", "America/Los_Angeles"])
def test_site_timezone_changes_the_printed_times(database_url, client, shop, zone) -> None:
    utc_body = assert_token_ok(cc(client), scope=SHOP_SCOPE, refresh=True)
    local_app = make_app(database_url, SITE_TIMEZONE=zone)
    try:
        rv = cc(local_app.test_client())
        body = assert_token_ok(rv, scope=SHOP_SCOPE, refresh=True, zone=zone)
    finally:
        with local_app.app_context():
            db.engine.dispose()
    offset = datetime.now(ZoneInfo(zone)).utcoffset()
    shift = datetime.strptime(body["created"], DATETIME) - datetime.strptime(
        utc_body["created"], DATETIME
    )
    assert abs((shift - offset).total_seconds()) <= 5


def test_refresh_token_lives_fourteen_days(app, client, shop) -> None:
    assert_token_ok(cc(client), scope=SHOP_SCOPE, refresh=True)
    with app.app_context():
        issued, expires = db.session.execute(
            sa.select(RefreshToken.issued_at, RefreshToken.expires_at)
        ).one()
    assert expires - issued == timedelta(days=14)


# =========================================================================================
# Token endpoint: the error table, row by row
# =========================================================================================


@pytest.fixture
def table_world(shop, make_client, import_token) -> None:
    make_client(
        "nightly", secret="n1ghtly-pw", scope="reports.view", grant_types="client_credentials"
    )
    make_client("open-app", secret="open-pw")
    make_client("kiosk", public=True, scope="catalog.read")
    import_token("refresh", "rt-shop-live", "shop-app", scope="catalog.read")
    import_token("refresh", "rt-shop-stale", "shop-app", scope="catalog.read", expires_in=-120)
    import_token("refresh", "rt-nightly-live", "nightly", scope="reports.view")


CREDS = "client_id=shop-app&client_secret=Sh0p-Secret!"
CC = "grant_type=client_credentials"
RT = "grant_type=refresh_token"
JSON = "application/json"
ERROR_TABLE = [
    ("no-grant-type", CREDS, FORM, NOT_SPECIFIED),
    ("empty-grant-type", f"grant_type=&{CREDS}", FORM, NOT_SPECIFIED),
    ("php-falsy-grant-type", f"grant_type=0&{CREDS}", FORM, NOT_SPECIFIED),
    ("unparseable-json", '{"grant_type":"client_credentials",', JSON, NOT_SPECIFIED),
    ("json-not-an-object", '["client_credentials"]', JSON, NOT_SPECIFIED),
    ("unknown-grant", f"grant_type=device_code&{CREDS}", FORM, unsupported("device_code")),
    ("no-credentials", CC, FORM, NOT_FOUND),
    ("secret-without-id", f"{CC}&client_secret=Sh0p-Secret!", FORM, NOT_FOUND),
    ("cc-without-secret", f"{CC}&client_id=shop-app", FORM, REQUIRED),
    ("cc-empty-secret", f"{CC}&client_id=shop-app&client_secret=", FORM, REQUIRED),
    ("cc-public-client", f"{CC}&client_id=kiosk", FORM, REQUIRED),
    ("unknown-client", f"{CC}&client_id=nobody&client_secret=Sh0p-Secret!", FORM, INVALID_CLIENT),
    ("wrong-secret", f"{CC}&client_id=shop-app&client_secret=Sh0p-Secret", FORM, INVALID_CLIENT),
    (
        "grant-not-allowed",
        f"{RT}&refresh_token=rt-nightly-live&client_id=nightly&client_secret=n1ghtly-pw",
        FORM,
        UNAUTHORIZED,
    ),
    ("scope-outside-client", f"{CC}&{CREDS}&scope=reports.view", FORM, SCOPE_INVALID),
    (
        "scope-not-in-table",
        f"{CC}&client_id=open-app&client_secret=open-pw&scope=ledger.write",
        FORM,
        SCOPE_UNSUPPORTED,
    ),
    ("refresh-without-token", f"{RT}&{CREDS}", FORM, MISSING_RT),
    ("refresh-unknown-token", f"{RT}&refresh_token=rt-never&{CREDS}", FORM, INVALID_RT),
    ("refresh-expired-token", f"{RT}&refresh_token=rt-shop-stale&{CREDS}", FORM, EXPIRED_RT),
    (
        "refresh-foreign-token",
        f"{RT}&refresh_token=rt-shop-live&client_id=open-app&client_secret=open-pw",
        FORM,
        FOREIGN_RT,
    ),
]


@pytest.mark.parametrize(
    "body, content_type, expected",
    [row[1:] for row in ERROR_TABLE],
    ids=[row[0] for row in ERROR_TABLE],
)
def test_token_error_table(
    client, table_world, mode, count_rows, body, content_type, expected
) -> None:
    assert_token_error(send(client, body, content_type=content_type), expected)
    assert count_rows("oauth_access_tokens") == 0
    assert count_rows("oauth_refresh_tokens") == 3  # nothing used up, nothing added


@pytest.mark.parametrize(
    "value, echoed",
    [
        ("https://grants.example/custom", r"https:\/\/grants.example\/custom"),
        ("café", r"caf\u00e9"),
        ("Überweisung/ß", r"\u00dcberweisung\/\u00df"),
        ("\U0001f511", r"\ud83d\udd11"),
        ('quote"back\\slash', r"quote\"back\\slash"),
        ("Client_Credentials", "Client_Credentials"),
        ("refresh token", "refresh token"),
    ],
    ids=["slashes", "e-acute", "umlaut-and-slash", "astral", "quote-backslash", "case", "space"],
)
@pytest.mark.parametrize("encoding", ["form", "json"])
def test_unsupported_grant_type_is_echoed_json_encoded_like_php(
    client, value, echoed, encoding
) -> None:
    if encoding == "form":
        rv = send(client, "grant_type=" + quote(value, safe=""))
    else:
        rv = send(client, json.dumps({"grant_type": value}), content_type="application/json")
    assert_token_error(rv, unsupported(echoed))


# =========================================================================================
# Token endpoint: where parameters come from
# =========================================================================================


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded; charset=ISO-8859-1",
        "application/x-www-form-urlencoded;charset=utf-8",
    ],
)
def test_form_body_with_a_charset_is_read(client, shop, mode, content_type) -> None:
    rv = send(
        client,
        {"grant_type": "client_credentials", **SHOP, "scope": "orders.read"},
        content_type=content_type,
    )
    assert_token_ok(rv, scope="orders.read", refresh=mode == "default", as_string=mode == "default")


def test_multipart_body_is_read(client, shop, mode) -> None:
    body, content_type = multipart(
        [
            ("grant_type", "client_credentials"),
            ("client_id", "shop-app"),
            ("client_secret", "Sh0p-Secret!"),
            ("scope", "catalog.write"),
        ]
    )
    rv = send(client, body, content_type=content_type)
    assert_token_ok(
        rv, scope="catalog.write", refresh=mode == "default", as_string=mode == "default"
    )


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json;charset=UTF-8",
        "application/json-patch+json",
    ],
)
def test_json_body_when_content_type_starts_with_application_json(
    client, shop, mode, content_type
) -> None:
    body = as_json(
        {
            "client_secret": "Sh0p-Secret!",
            "scope": "catalog.read orders.read",
            "grant_type": "client_credentials",
            "client_id": "shop-app",
        }
    )
    rv = send(client, body, content_type=content_type)
    assert_token_ok(
        rv, scope="catalog.read orders.read", refresh=mode == "default", as_string=mode == "default"
    )


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "text/plain; charset=utf-8", "application/xml"],
    ids=["none", "text-plain", "text-plain-charset", "xml"],
)
@pytest.mark.parametrize("payload", ["form", "json"])
def test_other_bodies_are_not_parsed(client, shop, mode, count_rows, content_type, payload) -> None:
    fields = {"grant_type": "client_credentials", **SHOP}
    body = urlencode(fields) if payload == "form" else as_json(fields)
    headers = [] if content_type is None else [("Content-Type", content_type)]
    rv = send(client, body, headers=headers, content_type=None)
    assert_token_error(rv, NOT_SPECIFIED)
    if mode == "default":  # the query still counts, the body still does not
        rv = send(
            client, body, query="grant_type=client_credentials", headers=headers, content_type=None
        )
        assert_token_error(rv, NOT_FOUND)
    assert count_rows("oauth_access_tokens") == 0


@pytest.mark.parametrize(
    "body, content_type, scope",
    [
        (
            "grant_type=refresh_token&grant_type=client_credentials&client_id=shop-app"
            "&client_secret=wrong&client_secret=Sh0p-Secret!&scope=catalog.read&scope=orders.read",
            FORM,
            "orders.read",
        ),
        (
            "client_id=nobody&grant_type=client_credentials&client_id=shop-app&client_secret=Sh0p-Secret!",
            FORM,
            "catalog.read catalog.write orders.read",
        ),
        (
            '{"grant_type":"password","client_id":"shop-app","client_secret":"x","scope":"catalog.read",'
            '"grant_type":"client_credentials","client_secret":"Sh0p-Secret!","scope":"catalog.write"}',
            "application/json",
            "catalog.write",
        ),
    ],
    ids=["form-every-key", "form-client-id", "json"],
)
def test_duplicated_keys_last_wins(client, shop, mode, body, content_type, scope) -> None:
    rv = send(client, body, content_type=content_type)
    assert_token_ok(rv, scope=scope, refresh=mode == "default", as_string=mode == "default")


@pytest.mark.parametrize(
    "query, scope",
    [
        ("scope=orders.read", "orders.read"),
        ("scope=catalog.write+catalog.read", "catalog.write catalog.read"),
        ("scope=catalog.read&scope=catalog.write", "catalog.write"),
    ],
    ids=["one", "two-plus-encoded", "duplicate-last-wins"],
)
def test_scope_may_come_from_the_query_in_both_modes(client, shop, mode, query, scope) -> None:
    rv = send(client, {"grant_type": "client_credentials", **SHOP}, query=query)
    assert_token_ok(rv, scope=scope, refresh=mode == "default", as_string=mode == "default")


def test_scope_in_the_query_is_still_checked(client, shop, mode) -> None:
    rv = send(client, {"grant_type": "client_credentials", **SHOP}, query="scope=reports.view")
    assert_token_error(rv, SCOPE_INVALID)


def test_body_scope_wins_over_query_scope_even_when_empty(client, shop, mode) -> None:
    rv = send(
        client, {"grant_type": "client_credentials", **SHOP, "scope": ""}, query="scope=bogus.scope"
    )
    assert_token_ok(rv, scope=SHOP_SCOPE, refresh=mode == "default", as_string=mode == "default")
    rv = send(
        client,
        {"grant_type": "client_credentials", **SHOP, "scope": "orders.read"},
        query="scope=bogus.scope",
    )
    assert_token_ok(rv, scope="orders.read", refresh=mode == "default", as_string=mode == "default")


@pytest.mark.parametrize(
    "in_query",
    [
        ("grant_type",),
        ("client_id",),
        ("client_secret",),
        ("client_id", "client_secret"),
        ("grant_type", "client_id", "client_secret"),
    ],
    ids=lambda names: "+".join(names),
)
def test_strict_mode_reads_token_params_from_the_body_only(client, shop, strict, in_query) -> None:
    fields = {"grant_type": "client_credentials", **SHOP}
    body = {k: v for k, v in fields.items() if k not in in_query}
    query = urlencode({k: fields[k] for k in in_query})
    rv = send(client, body, query=query)
    expected = (
        NOT_SPECIFIED
        if "grant_type" in in_query
        else NOT_FOUND
        if "client_id" in in_query
        else REQUIRED
    )
    assert_token_error(rv, expected)


@pytest.mark.parametrize(
    "in_query",
    [
        ("grant_type",),
        ("client_id",),
        ("client_secret",),
        ("client_id", "client_secret"),
        ("grant_type", "client_secret"),
        ("grant_type", "client_id", "client_secret", "scope"),
    ],
    ids=lambda names: "+".join(names),
)
def test_default_mode_fills_each_missing_param_from_the_query(client, shop, in_query) -> None:
    fields = {"grant_type": "client_credentials", **SHOP, "scope": "catalog.write"}
    body = {k: v for k, v in fields.items() if k not in in_query}
    rv = send(client, body, query=urlencode({k: fields[k] for k in in_query}))
    assert_token_ok(rv, scope="catalog.write", refresh=True)


def test_default_mode_reads_the_refresh_token_from_the_query(client, shop, import_token) -> None:
    import_token("refresh", "rt-shop-q", "shop-app", scope="catalog.read")
    rv = send(client, {"grant_type": "refresh_token", **SHOP}, query="refresh_token=rt-shop-q")
    assert_token_ok(rv, scope="catalog.read", refresh=False)


@pytest.mark.parametrize(
    "body, query, expected",
    [
        (
            "grant_type=client_credentials&client_id=shop-app&client_secret=",
            "client_secret=Sh0p-Secret!",
            REQUIRED,
        ),
        (
            "grant_type=client_credentials&client_id=&client_secret=Sh0p-Secret!",
            "client_id=shop-app",
            INVALID_CLIENT,
        ),
        (
            "grant_type=refresh_token&refresh_token=&client_id=shop-app&client_secret=Sh0p-Secret!",
            "refresh_token=rt-shop-q",
            MISSING_RT,
        ),
        (
            "grant_type=&client_id=shop-app&client_secret=Sh0p-Secret!",
            "grant_type=client_credentials",
            NOT_SPECIFIED,
        ),
    ],
    ids=["empty-secret", "empty-client-id", "empty-refresh-token", "empty-grant-type"],
)
def test_default_mode_body_wins_even_when_empty(
    client, shop, import_token, count_rows, body, query, expected
) -> None:
    import_token("refresh", "rt-shop-q", "shop-app", scope="catalog.read")
    assert_token_error(send(client, body, query=query), expected)
    assert count_rows("oauth_refresh_tokens") == 1


def test_default_mode_json_null_counts_as_absent(client, shop) -> None:
    body = as_json(
        {"grant_type": None, "client_id": "shop-app", "client_secret": None, "scope": None}
    )
    rv = send(
        client,
        body,
        content_type="application/json",
        query="grant_type=client_credentials&client_secret=Sh0p-Secret!&scope=orders.read",
    )
    assert_token_ok(rv, scope="orders.read", refresh=True)


def test_strict_mode_json_null_secret_is_no_secret(client, shop, strict) -> None:
    body = as_json(
        {"grant_type": "client_credentials", "client_id": "shop-app", "client_secret": None}
    )
    rv = send(client, body, content_type="application/json", query="client_secret=Sh0p-Secret!")
    assert_token_error(rv, REQUIRED)


# --- HTTP Basic --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        basic("shop-app", "wrong"),
        basic("ghost-app", "Sh0p-Secret!"),
        basic("shop-app", ""),
    ],
    ids=["wrong-secret", "unknown-client", "empty-secret"],
)
def test_a_usable_basic_header_wins_even_when_wrong(client, shop, mode, header) -> None:
    rv = send(
        client,
        {"grant_type": "client_credentials", **SHOP},
        query=urlencode(SHOP),
        headers=[("Authorization", header)],
    )
    expected = REQUIRED if header == basic("shop-app", "") else INVALID_CLIENT
    assert_token_error(rv, expected)


def test_basic_wins_over_good_body_credentials_of_another_client(
    client, shop, mode, make_client
) -> None:
    make_client("open-app", secret="open-pw")
    rv = send(
        client,
        {"grant_type": "client_credentials", "client_id": "open-app", "client_secret": "open-pw"},
        headers=[("Authorization", basic("shop-app", "Sh0p-Secret!"))],
    )
    assert_token_ok(rv, scope=SHOP_SCOPE, refresh=mode == "default", as_string=mode == "default")


@pytest.mark.parametrize(
    "header",
    [basic("shop-app"), basic("shop-appSh0p-Secret!"), "Basic", "Basic "],
    ids=["id-only", "no-separator", "scheme-only", "scheme-space"],
)
def test_basic_without_colon_is_ignored(client, shop, mode, header) -> None:
    rv = send(
        client, {"grant_type": "client_credentials", **SHOP}, headers=[("Authorization", header)]
    )
    assert_token_ok(rv, scope=SHOP_SCOPE, refresh=mode == "default", as_string=mode == "default")
    rv = send(client, {"grant_type": "client_credentials"}, headers=[("Authorization", header)])
    assert_token_error(rv, NOT_FOUND)


def test_basic_without_colon_falls_back_to_query_credentials_in_default_mode(client, shop) -> None:
    rv = send(
        client,
        {"grant_type": "client_credentials"},
        query=urlencode(SHOP),
        headers=[("Authorization", basic("shop-app"))],
    )
    assert_token_ok(rv, scope=SHOP_SCOPE, refresh=True)


@pytest.mark.parametrize("scheme", ["basic", "BASIC", "bAsIc"])
def test_basic_scheme_is_case_insensitive(client, shop, scheme) -> None:
    value = scheme + basic("shop-app", "Sh0p-Secret!")[len("Basic") :]
    rv = send(client, {"grant_type": "client_credentials"}, headers=[("Authorization", value)])
    assert_token_ok(rv, scope=SHOP_SCOPE, refresh=True)


@pytest.mark.parametrize(
    "user, password, ok",
    [
        ("ops%2Fbot", "k%3Dv%26w", True),
        ("ops/bot", "k%3Dv%26w", False),
        ("ops%2Fbot", "k=v&w", False),
    ],
    ids=["literal", "decoded-id", "decoded-secret"],
)
def test_basic_parts_are_not_url_decoded(client, make_client, user, password, ok) -> None:
    make_client("ops%2Fbot", secret="k%3Dv%26w", scope="ops.run")
    if not ok:
        make_client("ops/bot", secret="other")
    rv = send(
        client,
        {"grant_type": "client_credentials"},
        headers=[("Authorization", basic(user, password))],
    )
    if ok:
        assert_token_ok(rv, scope="ops.run", refresh=True)
    else:
        assert_token_error(rv, INVALID_CLIENT)


def test_basic_secret_may_hold_a_colon(client, make_client) -> None:
    make_client("colon-app", secret="pa:ss:word", scope="ops.run")
    rv = send(
        client,
        {"grant_type": "client_credentials"},
        headers=[("Authorization", basic("colon-app", "pa:ss:word"))],
    )
    assert_token_ok(rv, scope="ops.run", refresh=True)


@pytest.mark.parametrize("where", ["body", "query", "json"])
def test_credentials_in_request_body_can_be_disallowed(
    client, shop, set_params, count_rows, where
) -> None:
    set_params(allow_credentials_in_request_body=False)
    if where == "body":
        rv = send(client, {"grant_type": "client_credentials", **SHOP})
    elif where == "query":
        rv = send(client, {"grant_type": "client_credentials"}, query=urlencode(SHOP))
    else:
        rv = send(
            client,
            as_json({"grant_type": "client_credentials", **SHOP}),
            content_type="application/json",
        )
    assert_token_error(rv, NOT_FOUND_HEADERS_ONLY)
    rv = send(
        client,
        {"grant_type": "client_credentials", "client_id": "x"},
        headers=[("Authorization", basic("shop-app", "Sh0p-Secret!"))],
    )
    assert_token_ok(rv, scope=SHOP_SCOPE, refresh=True)
    assert count_rows("oauth_access_tokens") == 1


# =========================================================================================
# Public clients
# =========================================================================================


@pytest.fixture
def kiosk(make_client, import_token) -> None:
    make_client("kiosk-7", public=True, scope="catalog.read orders.read")
    import_token("refresh", "rt-kiosk-1", "kiosk-7", scope="catalog.read orders.read", user_id="88")


@pytest.mark.parametrize(
    "body, headers, expected",
    [
        ("grant_type=client_credentials&client_id=kiosk-7", [], REQUIRED),
        ("grant_type=client_credentials&client_id=kiosk-7&client_secret=", [], REQUIRED),
        ("grant_type=client_credentials", [("Authorization", basic("kiosk-7", ""))], REQUIRED),
        (
            "grant_type=client_credentials&client_id=kiosk-7&client_secret=letmein",
            [],
            INVALID_CLIENT,
        ),
    ],
    ids=["no-secret", "empty-secret", "basic-empty-secret", "made-up-secret"],
)
def test_client_credentials_never_accepts_a_public_client(
    client, kiosk, mode, count_rows, body, headers, expected
) -> None:
    assert_token_error(send(client, body, headers=headers), expected)
    assert count_rows("oauth_access_tokens") == 0


@pytest.mark.parametrize(
    "body, headers",
    [
        ("grant_type=refresh_token&refresh_token=rt-kiosk-1&client_id=kiosk-7", []),
        ("grant_type=refresh_token&refresh_token=rt-kiosk-1&client_id=kiosk-7&client_secret=", []),
        (
            "grant_type=refresh_token&refresh_token=rt-kiosk-1",
            [("Authorization", basic("kiosk-7", ""))],
        ),
    ],
    ids=["client-id-only", "empty-secret", "basic-empty-secret"],
)
def test_refresh_accepts_a_public_client_by_client_id_alone(
    client, kiosk, mode, body, headers
) -> None:
    rv = send(client, body, headers=headers)
    token = assert_token_ok(
        rv, scope="catalog.read orders.read", refresh=False, as_string=mode == "default"
    )
    rv = client.get(RESOURCE_URL, headers=bearer(token["access_token"]))
    assert_resource_ok(rv, user_id="88")


def test_refresh_refuses_a_made_up_secret_for_a_public_client(client, kiosk, count_rows) -> None:
    rv = send(
        client,
        "grant_type=refresh_token&refresh_token=rt-kiosk-1&client_id=kiosk-7&client_secret=guessed",
    )
    assert_token_error(rv, INVALID_CLIENT)
    assert count_rows("oauth_refresh_tokens") == 1
    rv = send(client, "grant_type=refresh_token&refresh_token=rt-kiosk-1&client_id=kiosk-7")
    assert_token_ok(rv, scope="catalog.read orders.read", refresh=False)


@pytest.mark.parametrize("client_id", ["shop-app", "no-such-app"], ids=["confidential", "unknown"])
def test_refresh_without_a_secret_for_a_non_public_client(
    client, shop, import_token, client_id
) -> None:
    """bshaffer HttpBasic with allow_public_clients: a client_id alone only passes for a public
    client; any other client_id gets 'This client is invalid or must authenticate using a
    client secret' (the credentials *were* found in the body)."""
    import_token("refresh", "rt-shop-np", "shop-app", scope="catalog.read")
    rv = send(client, f"grant_type=refresh_token&refresh_token=rt-shop-np&client_id={client_id}")
    assert_token_error(rv, MUST_AUTHENTICATE)


# =========================================================================================
# Scope rules
# =========================================================================================


@pytest.mark.parametrize(
    "requested, expected",
    [
        ("orders.read", "orders.read"),
        ("orders.read catalog.read", "orders.read catalog.read"),
        ("catalog.write orders.read catalog.read", "catalog.write orders.read catalog.read"),
        ("catalog.read catalog.read", "catalog.read catalog.read"),
        ("catalog.read reports.view", None),
        ("reports.view", None),
        ("catalog.read  orders.read", None),
        ("openid", None),
        ("Catalog.Read", None),
        ("catalog", None),
    ],
    ids=[
        "one",
        "reordered",
        "all-reordered",
        "repeated",
        "one-outside",
        "outside",
        "double-space",
        "reserved-not-in-client-scope",
        "case",
        "prefix",
    ],
)
def test_requested_scope_must_be_a_subset_of_the_client_scope(
    client, shop, mode, requested, expected
) -> None:
    rv = cc(client, scope=requested)
    if expected is None:
        assert_token_error(rv, SCOPE_INVALID)
    else:
        assert_token_ok(rv, scope=expected, refresh=mode == "default", as_string=mode == "default")


@pytest.mark.parametrize(
    "requested, ok",
    [
        ("ledger.read", True),
        ("ledger.write ledger.read", True),
        ("openid", True),
        ("offline_access", True),
        ("offline_access openid", True),
        ("ledger.read openid", True),
        ("ledger.read ledger.delete", False),
        ("ghost", False),
        ("openid ghost", False),
        ("ledger.read  ledger.write", False),
        ("Ledger.Read", False),
        ("OPENID", False),
    ],
    ids=[
        "exists",
        "two-reordered",
        "openid",
        "offline-access",
        "both-reserved",
        "mixed-reserved",
        "one-unknown",
        "unknown",
        "reserved-plus-unknown",
        "double-space",
        "case",
        "reserved-case",
    ],
)
def test_client_without_scope_checks_the_scopes_table(
    client, mode, make_client, scopes, requested, ok
) -> None:
    scopes("ledger.read", "ledger.write", "ledger.audit", defaults=("ledger.audit",))
    make_client("ledger-app", secret="ledger-pw")
    rv = cc(client, {"client_id": "ledger-app", "client_secret": "ledger-pw"}, scope=requested)
    if ok:
        assert_token_ok(rv, scope=requested, refresh=mode == "default", as_string=mode == "default")
    else:
        assert_token_error(rv, SCOPE_UNSUPPORTED)


def test_nothing_requested_grants_the_client_scope_verbatim(
    client, mode, make_client, scopes
) -> None:
    scopes("a.read", "b.read", defaults=("a.read",))
    make_client("order-app", secret="order-pw", scope="b.read a.read")
    rv = cc(client, {"client_id": "order-app", "client_secret": "order-pw"})
    assert_token_ok(
        rv, scope="b.read a.read", refresh=mode == "default", as_string=mode == "default"
    )


def test_nothing_requested_grants_all_default_scopes_in_table_order(
    client, mode, make_client, scopes, cli
) -> None:
    scopes("zeta.read", "alpha.read", "mid.read", "beta.read", defaults=("zeta.read", "mid.read"))
    make_client("plain-app", secret="plain-pw")
    creds = {"client_id": "plain-app", "client_secret": "plain-pw"}
    assert_token_ok(
        cc(client, creds),
        scope="zeta.read mid.read",
        refresh=mode == "default",
        as_string=mode == "default",
    )
    cli("scopes", "default", "beta.read", "alpha.read")  # listed out of table order
    assert_token_ok(
        cc(client, creds),
        scope="alpha.read beta.read",
        refresh=mode == "default",
        as_string=mode == "default",
    )
    cli("scopes", "default")
    assert_token_ok(
        cc(client, creds), scope=None, refresh=mode == "default", as_string=mode == "default"
    )


@pytest.mark.parametrize(
    "requested, expected",
    [
        (None, "catalog.read orders.read"),
        ("", "catalog.read orders.read"),
        ("orders.read", "orders.read"),
        ("orders.read catalog.read", "orders.read catalog.read"),
        ("catalog.write", None),
        ("orders.read catalog.write", None),
        ("catalog.read  orders.read", None),
    ],
    ids=[
        "nothing",
        "empty",
        "narrower",
        "reordered",
        "in-client-not-in-token",
        "one-outside",
        "double-space",
    ],
)
def test_refresh_scope_must_be_a_subset_of_the_tokens_scope(
    client, shop, mode, import_token, count_rows, requested, expected
) -> None:
    import_token("refresh", "rt-shop-scoped", "shop-app", scope="catalog.read orders.read")
    extra = {} if requested is None else {"scope": requested}
    rv = refresh(client, "rt-shop-scoped", **extra)
    if expected is None:
        assert_token_error(rv, SCOPE_INVALID)
        assert count_rows("oauth_refresh_tokens") == 1  # not used up by the failed attempt
        assert_token_ok(
            refresh(client, "rt-shop-scoped"),
            scope="catalog.read orders.read",
            refresh=False,
            as_string=mode == "default",
        )
    else:
        assert_token_ok(rv, scope=expected, refresh=False, as_string=mode == "default")


def test_refresh_token_without_scope_gets_the_default_scopes(
    client, mode, make_client, scopes, import_token
) -> None:
    scopes("one.read", "two.read", "three.read", defaults=("three.read", "one.read"))
    make_client("loose-app", secret="loose-pw")
    import_token("refresh", "rt-loose-1", "loose-app")
    rv = refresh(client, "rt-loose-1", {"client_id": "loose-app", "client_secret": "loose-pw"})
    assert_token_ok(rv, scope="one.read three.read", refresh=False, as_string=mode == "default")


def test_refresh_token_without_scope_and_no_defaults_gets_null(
    client, make_client, scopes, import_token
) -> None:
    scopes("one.read")
    make_client("loose-app", secret="loose-pw")
    import_token("refresh", "rt-loose-2", "loose-app")
    rv = refresh(client, "rt-loose-2", {"client_id": "loose-app", "client_secret": "loose-pw"})
    assert_token_ok(rv, scope=None, refresh=False)


# =========================================================================================
# Refresh rules
# =========================================================================================


def test_a_refresh_token_works_once(client, shop, count_rows) -> None:
    issued = assert_token_ok(cc(client, scope="orders.read"), scope="orders.read", refresh=True)
    rv = refresh(client, issued["refresh_token"])
    renewed = assert_token_ok(rv, scope="orders.read", refresh=False)
    assert renewed["access_token"] != issued["access_token"]
    assert count_rows("oauth_refresh_tokens") == 0
    assert count_rows("oauth_access_tokens") == 2
    assert_token_error(refresh(client, issued["refresh_token"]), INVALID_RT)
    assert count_rows("oauth_access_tokens") == 2


def test_always_issue_new_refresh_token(client, shop, set_params, count_rows) -> None:
    set_params(always_issue_new_refresh_token=True)
    first = assert_token_ok(cc(client), scope=SHOP_SCOPE, refresh=True)
    second = assert_token_ok(
        refresh(client, first["refresh_token"], scope="catalog.write"),
        scope="catalog.write",
        refresh=True,
    )
    assert second["refresh_token"] != first["refresh_token"]
    assert count_rows("oauth_refresh_tokens") == 1
    assert_token_error(refresh(client, first["refresh_token"]), INVALID_RT)
    assert_token_ok(refresh(client, second["refresh_token"]), scope="catalog.write", refresh=True)


def test_unset_refresh_token_after_use_false_keeps_it_valid(
    client, shop, set_params, count_rows
) -> None:
    set_params(unset_refresh_token_after_use=False)
    first = assert_token_ok(cc(client), scope=SHOP_SCOPE, refresh=True)
    for _ in range(3):
        assert_token_ok(refresh(client, first["refresh_token"]), scope=SHOP_SCOPE, refresh=False)
    assert count_rows("oauth_refresh_tokens") == 1


def test_both_refresh_options_together_keep_old_and_add_new(
    client, shop, set_params, count_rows
) -> None:
    set_params(unset_refresh_token_after_use=False, always_issue_new_refresh_token=True)
    first = assert_token_ok(cc(client), scope=SHOP_SCOPE, refresh=True)
    assert_token_ok(refresh(client, first["refresh_token"]), scope=SHOP_SCOPE, refresh=True)
    assert_token_ok(refresh(client, first["refresh_token"]), scope=SHOP_SCOPE, refresh=True)
    assert count_rows("oauth_refresh_tokens") == 3


@pytest.mark.parametrize("seconds_ago", [1, 3600, 30 * 86400])
def test_an_expired_refresh_token_is_refused(client, shop, mode, import_token, seconds_ago) -> None:
    import_token(
        "refresh", "rt-shop-past", "shop-app", scope="orders.read", expires_in=-seconds_ago
    )
    assert_token_error(refresh(client, "rt-shop-past"), EXPIRED_RT)


def test_an_access_token_is_not_a_refresh_token(client, shop) -> None:
    issued = assert_token_ok(cc(client), scope=SHOP_SCOPE, refresh=True)
    assert_token_error(refresh(client, issued["access_token"]), INVALID_RT)
    rv = client.get(RESOURCE_URL, headers=bearer(issued["refresh_token"]))
    assert_resource_error(rv, INVALID_TOKEN)


def test_refreshed_token_carries_the_refresh_tokens_user(client, shop, import_token) -> None:
    import_token("refresh", "rt-shop-user", "shop-app", scope="orders.read", user_id="4242")
    renewed = assert_token_ok(refresh(client, "rt-shop-user"), scope="orders.read", refresh=False)
    rv = client.get(RESOURCE_URL, headers=bearer(renewed["access_token"]))
    assert_resource_ok(rv, user_id="4242")


# =========================================================================================
# Deliberate deviations
# =========================================================================================


@pytest.mark.parametrize(
    "creds",
    [
        {"client_id": "SHOP-APP", "client_secret": "Sh0p-Secret!"},
        {"client_id": "Shop-App", "client_secret": "Sh0p-Secret!"},
        {"client_id": "shop-app", "client_secret": "SH0P-SECRET!"},
        {"client_id": "shop-app", "client_secret": "sh0p-secret!"},
    ],
    ids=["id-upper", "id-title", "secret-upper", "secret-lower"],
)
def test_client_ids_and_secrets_are_case_sensitive(client, shop, mode, creds) -> None:
    assert_token_error(cc(client, creds), INVALID_CLIENT)
    basic_rv = send(
        client,
        {"grant_type": "client_credentials"},
        headers=[("Authorization", basic(creds["client_id"], creds["client_secret"]))],
    )
    assert_token_error(basic_rv, INVALID_CLIENT)


@pytest.mark.parametrize(
    "creds",
    [
        {"client_id": "shop-app ", "client_secret": "Sh0p-Secret!"},
        {"client_id": "shop-app", "client_secret": "Sh0p-Secret! "},
        {"client_id": "shop-app\x00", "client_secret": "Sh0p-Secret!"},
        {"client_id": "shop-app", "client_secret": "Sh0p-Secret!\x00"},
    ],
    ids=["id-trailing-space", "secret-trailing-space", "id-trailing-nul", "secret-trailing-nul"],
)
def test_client_ids_and_secrets_compare_exactly(client, shop, count_rows, creds) -> None:
    """Deviation "compare exactly": no padding rule, no C-string end. (A NUL in a client_id
    is simply another id; a secret with a trailing NUL is another secret.)"""
    assert_token_error(cc(client, creds), INVALID_CLIENT)
    assert count_rows("oauth_access_tokens") == 0


def test_tokens_are_case_sensitive(client, shop) -> None:
    issued = assert_token_ok(cc(client), scope=SHOP_SCOPE, refresh=True)
    assert_resource_error(
        client.get(RESOURCE_URL, headers=bearer(issued["access_token"].upper())), INVALID_TOKEN
    )
    assert_token_error(refresh(client, issued["refresh_token"].upper()), INVALID_RT)
    rv = client.get(RESOURCE_URL, headers=bearer(issued["access_token"]))
    assert_resource_ok(rv, user_id="1001")


def test_scopes_are_case_sensitive(client, shop, make_client, import_token) -> None:
    assert_token_error(cc(client, scope="ORDERS.READ"), SCOPE_INVALID)
    make_client("open-app", secret="open-pw")
    assert_token_error(
        cc(client, {"client_id": "open-app", "client_secret": "open-pw"}, scope="Reports.View"),
        SCOPE_UNSUPPORTED,
    )
    import_token("refresh", "rt-shop-case", "shop-app", scope="orders.read")
    assert_token_error(refresh(client, "rt-shop-case", scope="Orders.Read"), SCOPE_INVALID)


@pytest.mark.parametrize(
    "secret",
    [True, 1, 1.5, [], {}, ["Sh0p-Secret!"], {"0": "Sh0p-Secret!"}],
    ids=[
        "true",
        "one",
        "float",
        "empty-list",
        "empty-object",
        "list-of-secret",
        "object-with-secret",
    ],
)
def test_json_non_string_secret_never_authenticates(client, shop, mode, count_rows, secret) -> None:
    body = as_json(
        {"grant_type": "client_credentials", "client_id": "shop-app", "client_secret": secret}
    )
    assert_token_error(send(client, body, content_type="application/json"), INVALID_CLIENT)
    assert count_rows("oauth_access_tokens") == 0


@pytest.mark.parametrize(
    "body, content_type",
    [
        ("grant_type[]=client_credentials&client_id=shop-app&client_secret=Sh0p-Secret!", FORM),
        (
            "grant_type%5B%5D=refresh_token&grant_type%5B%5D=client_credentials&client_id=shop-app"
            "&client_secret=Sh0p-Secret!",
            FORM,
        ),
        ("grant_type[kind]=client_credentials&client_id=shop-app&client_secret=Sh0p-Secret!", FORM),
        (
            '{"grant_type":["client_credentials"],"client_id":"shop-app","client_secret":"Sh0p-Secret!"}',
            "application/json",
        ),
        (
            '{"grant_type":{"type":"client_credentials"},"client_id":"shop-app",'
            '"client_secret":"Sh0p-Secret!"}',
            "application/json",
        ),
    ],
    ids=["form-list", "form-list-of-two", "form-keyed", "json-list", "json-object"],
)
def test_array_grant_type_is_not_specified(
    client, shop, mode, count_rows, body, content_type
) -> None:
    rv = send(client, body, content_type=content_type, query="grant_type=client_credentials")
    assert_token_error(rv, NOT_SPECIFIED)
    assert count_rows("oauth_access_tokens") == 0


@pytest.mark.parametrize(
    "body, expected",
    [
        ("grant_type=%FF&client_id=shop-app&client_secret=Sh0p-Secret!", None),
        ("grant_type=client%E9credentials&client_id=shop-app&client_secret=Sh0p-Secret!", None),
        ("grant_type=client_credentials&client_id=%FF&client_secret=Sh0p-Secret!", INVALID_CLIENT),
        (
            "grant_type=client_credentials&client_id=shop-app&client_secret=Sh0p-Secret%A1",
            INVALID_CLIENT,
        ),
        (
            "grant_type=client_credentials&client_id=shop-app&client_secret=Sh0p-Secret!"
            "&scope=orders%C0.read",
            SCOPE_INVALID,
        ),
        (
            "grant_type=refresh_token&refresh_token=%C3%28&client_id=shop-app&client_secret=Sh0p-Secret!",
            INVALID_RT,
        ),
    ],
    ids=[
        "grant-type-ff",
        "grant-type-latin1",
        "client-id",
        "client-secret",
        "scope",
        "refresh-token",
    ],
)
def test_non_utf8_parameter_gets_a_json_error_body(client, shop, mode, body, expected) -> None:
    rv = send(client, body.encode())
    assert rv.status_code == 400
    assert rv.headers["Content-Type"] == "application/json"
    parsed = json.loads(rv.data)  # valid JSON, never an empty body
    rv.data.decode("ascii")  # PHP's json_encode escapes everything non-ASCII
    if expected is None:
        assert parsed["error"] == "unsupported_grant_type"
        assert re.fullmatch(r'Grant type ".+" not supported', parsed["error_description"])
    else:
        assert rv.data == expected


def test_non_utf8_in_the_query_gets_a_json_error_body(client, shop) -> None:
    rv = send(
        client,
        {"client_id": "shop-app", "client_secret": "Sh0p-Secret!"},
        query="grant_type=%FE%FF",
    )
    assert rv.status_code == 400
    assert json.loads(rv.data)["error"] == "unsupported_grant_type"


@pytest.mark.parametrize("field", ["client_id", "client_secret", "grant_type"])
def test_json_lone_surrogate_is_an_unparseable_body(client, shop, field) -> None:
    """PHP's json_decode rejects an unpaired UTF-16 surrogate: the whole body is unparseable."""
    fields = {"grant_type": "client_credentials", **SHOP}
    body = json.dumps(fields).replace(json.dumps(fields[field]), '"\\ud800"')
    rv = send(client, body, content_type="application/json")
    assert_token_error(rv, NOT_SPECIFIED)


def test_json_body_with_a_byte_order_mark_is_unparseable(client, shop) -> None:
    """PHP's json_decode does not skip a UTF-8 BOM: the body is unparseable."""
    body = b"\xef\xbb\xbf" + as_json({"grant_type": "client_credentials", **SHOP}).encode()
    assert_token_error(send(client, body, content_type="application/json"), NOT_SPECIFIED)


@pytest.mark.parametrize(
    "grant_types, gets_refresh",
    [
        ("client_credentials", False),
        ("client_credentials refresh_token", True),
        (None, True),
    ],
    ids=["cc-only", "both", "unrestricted"],
)
def test_client_credentials_refresh_token_only_for_clients_that_may_refresh(
    client, make_client, count_rows, grant_types, gets_refresh
) -> None:
    make_client("cron-app", secret="cron-pw", scope="jobs.run", grant_types=grant_types)
    rv = cc(client, {"client_id": "cron-app", "client_secret": "cron-pw"})
    assert_token_ok(rv, scope="jobs.run", refresh=gets_refresh)
    assert count_rows("oauth_refresh_tokens") == (1 if gets_refresh else 0)


# =========================================================================================
# Resource endpoint
# =========================================================================================


@pytest.fixture
def at(client, shop) -> str:
    """An access token of shop-app (user 1001) holding catalog.read catalog.write orders.read."""
    return assert_token_ok(cc(client), scope=SHOP_SCOPE, refresh=True)["access_token"]


def test_resource_success(client, at, mode) -> None:
    assert_resource_ok(client.get(RESOURCE_URL, headers=bearer(at)), user_id="1001")


@pytest.mark.parametrize(
    "user_id",
    [None, "0", "007", "12345678901234567890"],
    ids=["none", "zero", "leading-zeros", "long"],
)
def test_resource_user_id_is_null_or_a_json_string(client, make_client, user_id) -> None:
    make_client("svc-app", secret="svc-pw", scope="svc.call", user_id=user_id)
    token = assert_token_ok(
        cc(client, {"client_id": "svc-app", "client_secret": "svc-pw"}),
        scope="svc.call",
        refresh=True,
    )["access_token"]
    assert_resource_ok(client.get(RESOURCE_URL, headers=bearer(token)), user_id=user_id)


@pytest.mark.parametrize(
    "how",
    [
        "Bearer",
        "bearer",
        "BEARER",
        "bEaReR",
        "tab",
        "query",
        "post-form",
        "put-form",
        "post-form-charset",
        "query-on-delete",
        "root-path",
    ],
)
def test_resource_token_sources(client, at, mode, how) -> None:
    if how in ("Bearer", "bearer", "BEARER", "bEaReR"):
        rv = client.get(RESOURCE_URL, headers=[("Authorization", f"{how} {at}")])
    elif how == "tab":
        rv = client.get(RESOURCE_URL, headers=[("Authorization", f"Bearer\t{at}")])
    elif how == "query":
        rv = client.get(f"{RESOURCE_URL}&access_token={at}")
    elif how == "query-on-delete":
        rv = client.delete(f"{RESOURCE_URL}&access_token={at}")
    elif how == "root-path":
        rv = client.get(f"/?api=oauth2&option=resource&access_token={at}")
    else:
        method = "PUT" if how.startswith("put") else "POST"
        content_type = FORM + "; charset=UTF-8" if how.endswith("charset") else FORM
        rv = send(
            client,
            f"access_token={at}&note=hello",
            method=method,
            path=RESOURCE_URL,
            content_type=content_type,
        )
    assert_resource_ok(rv, user_id="1001")


@pytest.mark.parametrize("method", ["GET", "PATCH"])
def test_resource_body_token_is_not_read_for_other_methods(client, at, method) -> None:
    rv = send(client, f"access_token={at}", method=method, path=RESOURCE_URL)
    assert_no_token(rv)


@pytest.mark.parametrize(
    "how", ["header+query", "header+body", "query+body", "all-three", "basic-header+query"]
)
def test_resource_two_token_sources_are_an_error(client, at, how) -> None:
    headers = []
    if how.startswith("header") or how == "all-three":
        headers = bearer(at)
    if how.startswith("basic"):
        headers = [("Authorization", basic("shop-app", "Sh0p-Secret!"))]
    query = f"access_token={at}" if "query" in how or how == "all-three" else ""
    body = f"access_token={at}" if "body" in how or how == "all-three" else "x=1"
    rv = send(client, body, query=query, headers=headers, path=RESOURCE_URL)
    assert_resource_error(rv, TWO_METHODS)


@pytest.mark.parametrize(
    "value",
    [
        "Bearer",
        "Basic c2hvcC1hcHA6U2gwcC1TZWNyZXQh",
        "Token {at}",
        'MAC id="{at}"',
        "{at}",
        "Bearer{at}",
    ],
    ids=["scheme-only", "basic", "token-scheme", "mac-scheme", "bare-token", "no-separator"],
)
def test_resource_malformed_or_foreign_authorization_header(client, at, value) -> None:
    rv = client.get(RESOURCE_URL, headers=[("Authorization", value.format(at=at))])
    assert_resource_error(rv, MALFORMED)


@pytest.mark.parametrize(
    "method, content_type, body",
    [
        ("POST", "application/json", '{{"access_token":"{at}"}}'),
        ("PUT", "application/json; charset=utf-8", '{{"access_token":"{at}"}}'),
        ("POST", "multipart", ""),
    ],
    ids=["post-json", "put-json", "post-multipart"],
)
def test_resource_body_token_needs_a_form_content_type(
    client, at, method, content_type, body
) -> None:
    if content_type == "multipart":
        data, content_type = multipart([("access_token", at)])
    else:
        data = body.format(at=at).encode()
    rv = send(client, data, method=method, path=RESOURCE_URL, content_type=content_type)
    assert_resource_error(rv, CONTENT_TYPE)


@pytest.mark.parametrize(
    "content_type, body",
    [
        (FORM, "access_token={at}"),
        ("application/json", '{{"access_token":"{at}"}}'),
    ],
    ids=["form", "json"],
)
def test_resource_body_token_on_delete(client, at, content_type, body) -> None:
    rv = send(
        client, body.format(at=at), method="DELETE", path=RESOURCE_URL, content_type=content_type
    )
    assert_resource_error(rv, BODY_METHOD)


@pytest.mark.parametrize(
    "how", ["nothing", "empty-query", "zero-query", "empty-body", "empty-header"]
)
def test_resource_without_a_token(client, at, mode, how) -> None:
    if how == "nothing":
        rv = client.get(RESOURCE_URL)
    elif how == "empty-query":
        rv = client.get(RESOURCE_URL + "&access_token=")
    elif how == "zero-query":
        rv = client.get(RESOURCE_URL + "&access_token=0")
    elif how == "empty-body":
        rv = send(client, "access_token=", path=RESOURCE_URL)
    else:
        rv = client.get(RESOURCE_URL, headers=[("Authorization", "")])
    assert_no_token(rv)


@pytest.mark.parametrize(
    "token",
    ["f" * 40, "0123456789abcdef0123456789abcdef01234567", "x", "%FF"],
    ids=["hex", "other-hex", "short", "non-utf8"],
)
def test_resource_unknown_token(client, shop, token) -> None:
    rv = client.get(f"{RESOURCE_URL}&access_token={token}")
    assert_resource_error(rv, INVALID_TOKEN)


@pytest.mark.parametrize("seconds_ago", [2, 3600, 86400 * 20])
def test_resource_expired_token(client, shop, import_token, seconds_ago) -> None:
    import_token(
        "access",
        "at-shop-expired-" + str(seconds_ago),
        "shop-app",
        scope="orders.read",
        expires_in=-seconds_ago,
    )
    rv = client.get(RESOURCE_URL, headers=bearer("at-shop-expired-" + str(seconds_ago)))
    assert_resource_error(rv, EXPIRED_TOKEN)


def test_resource_imported_live_token(client, shop, import_token) -> None:
    import_token(
        "access",
        "legacy-token-value-0042",
        "shop-app",
        scope="orders.read",
        user_id="9",
        expires_in=600,
    )
    rv = client.get(RESOURCE_URL, headers=bearer("legacy-token-value-0042"))
    assert_resource_ok(rv, user_id="9")


@pytest.mark.parametrize(
    "query, ok",
    [
        ("scope=orders.read", True),
        ("scope=orders.read+catalog.read", True),
        ("scope=catalog.write%20catalog.read%20orders.read", True),
        ("scope=", True),
        ("scope=reports.view", False),
        ("scope=orders.read+reports.view", False),
        ("scope=Orders.Read", False),
        ("scope=orders.read%20%20catalog.read", False),
    ],
    ids=[
        "one",
        "two",
        "all-three",
        "empty",
        "missing",
        "one-of-two-missing",
        "case",
        "double-space",
    ],
)
def test_resource_scope_param_requires_every_listed_scope_in_default_mode(
    client, at, query, ok
) -> None:
    rv = client.get(f"{RESOURCE_URL}&{query}", headers=bearer(at))
    if ok:
        assert_resource_ok(rv, user_id="1001")
    else:
        scope = query.split("=", 1)[1].replace("+", " ").replace("%20", " ")
        assert_insufficient(rv, scope)


def test_resource_scope_param_against_a_token_without_scope(client, make_client, scopes) -> None:
    scopes("misc.read")  # not a default scope: the token gets no scope
    make_client("bare-app", secret="bare-pw")
    token = assert_token_ok(
        cc(client, {"client_id": "bare-app", "client_secret": "bare-pw"}), scope=None, refresh=True
    )["access_token"]
    rv = client.get(f"{RESOURCE_URL}&scope=misc.read", headers=bearer(token))
    assert_insufficient(rv, "misc.read")
    assert_resource_ok(client.get(RESOURCE_URL, headers=bearer(token)))


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_resource_scope_param_is_read_from_the_query_only(client, at, method) -> None:
    rv = send(client, "scope=reports.view", method=method, path=RESOURCE_URL, headers=bearer(at))
    assert_resource_ok(rv, user_id="1001")
    rv = send(
        client,
        "scope=orders.read",
        query="scope=reports.view",
        method=method,
        path=RESOURCE_URL,
        headers=bearer(at),
    )
    assert_insufficient(rv, "reports.view")


def test_resource_scope_is_checked_after_the_token(client, shop, import_token) -> None:
    import_token("access", "at-shop-old", "shop-app", scope="orders.read", expires_in=-10)
    rv = client.get(f"{RESOURCE_URL}&scope=reports.view", headers=bearer("at-shop-old"))
    assert_resource_error(rv, EXPIRED_TOKEN)
    rv = client.get(f"{RESOURCE_URL}&scope=reports.view", headers=bearer("no-such-token"))
    assert_resource_error(rv, INVALID_TOKEN)


@pytest.mark.parametrize(
    "query", ["scope=reports.view", "scope=nothing+at+all", "scope=ORDERS.READ"]
)
def test_resource_scope_param_is_ignored_in_strict_mode(client, at, strict, query) -> None:
    assert_resource_ok(client.get(f"{RESOURCE_URL}&{query}", headers=bearer(at)), user_id="1001")


@pytest.mark.parametrize(
    "encoded, raw",
    [
        # Not UTF-8: emulator/php.py decodes it to U+FFFD (never raw bytes, which no database
        # driver would take), so the challenge carries U+FFFD's UTF-8 bytes.
        ("%FF", "\ufffd".encode()),
        ("%E2%82%AC", b"\xe2\x82\xac"),
        ("%C3%A9", b"\xc3\xa9"),
    ],
    ids=["non-utf8", "euro-sign", "e-acute"],
)
def test_resource_scope_param_is_echoed_in_the_challenge_as_sent(client, at, encoded, raw) -> None:
    """insufficient_scope as for any other missing scope (JSON body, 401), and the challenge
    carries the requested scope's bytes as PHP's sprintf did. A WSGI header is a latin-1
    string (PEP 3333): a value that cannot be encoded makes gunicorn answer a bare 500."""
    rv = client.get(f"{RESOURCE_URL}&scope={encoded}", headers=bearer(at))
    assert (rv.status_code, rv.data) == (401, INSUFFICIENT)
    for name, value in rv.headers.items():
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            pytest.fail(f"header {name} cannot be sent through WSGI: {value!r}")
    assert rv.headers["WWW-Authenticate"].encode("latin-1") == (
        b'Bearer realm="Service", scope="' + raw + b'", ' + INSUFFICIENT_CHALLENGE.encode()
    )


def test_www_realm_that_cannot_be_sent_is_refused_or_sent(client, at, cli) -> None:
    """A realm outside latin-1 must not turn every 401 into a bare gunicorn 500."""
    cli("plugins", "set", "oauth2", "www_realm=Dienst \u20ac", expect_ok=False)
    rv = client.get(RESOURCE_URL)
    assert (rv.status_code, rv.data) == (401, b"[]")
    rv.headers["WWW-Authenticate"].encode("latin-1")


@pytest.mark.parametrize("realm", ["Orders API", "example.com"])
def test_www_realm_param_changes_the_challenge(client, at, set_params, realm) -> None:
    set_params(www_realm=realm)
    assert_no_token(client.get(RESOURCE_URL), realm=realm)
    rv = client.get(RESOURCE_URL, headers=bearer(at.upper()))
    assert_resource_error(rv, INVALID_TOKEN, realm=realm)
    rv = client.get(f"{RESOURCE_URL}&scope=reports.view", headers=bearer(at))
    assert rv.headers["WWW-Authenticate"] == (
        f'Bearer realm="{realm}", scope="reports.view", {INSUFFICIENT_CHALLENGE}'
    )


@pytest.mark.parametrize("scheme", ["OAuth", "oauth", "OAUTH"])
def test_token_bearer_header_name_param_changes_the_accepted_scheme(
    client, at, set_params, scheme
) -> None:
    set_params(token_bearer_header_name="OAuth")
    assert_resource_ok(
        client.get(RESOURCE_URL, headers=[("Authorization", f"{scheme} {at}")]), user_id="1001"
    )
    rv = client.get(RESOURCE_URL, headers=[("Authorization", f"Bearer {at}")])
    assert (rv.status_code, rv.data) == (401, MALFORMED[0])


def test_token_bearer_header_name_does_not_change_the_challenge_scheme(
    client, at, set_params
) -> None:
    """bshaffer builds the challenge from the token type (getTokenType(), always Bearer);
    token_bearer_header_name only names the scheme read from the Authorization header."""
    set_params(token_bearer_header_name="OAuth")
    assert_no_token(client.get(RESOURCE_URL))
    rv = client.get(RESOURCE_URL, headers=[("Authorization", f"Bearer {at}")])
    assert_resource_error(rv, MALFORMED)


def test_token_param_name_param(client, at, set_params) -> None:
    set_params(token_param_name="api_key")
    assert_resource_ok(client.get(f"{RESOURCE_URL}&api_key={at}"), user_id="1001")
    assert_resource_ok(send(client, f"api_key={at}", path=RESOURCE_URL), user_id="1001")
    assert_no_token(client.get(f"{RESOURCE_URL}&access_token={at}"))
    rv = client.get(f"{RESOURCE_URL}&api_key={at}", headers=bearer(at))
    assert_resource_error(rv, TWO_METHODS)


# =========================================================================================
# Dispatcher
# =========================================================================================


@pytest.mark.parametrize("api", ["OAuth2", "OAUTH2", "oAuTh2"])
def test_api_is_matched_in_any_case(client, at, api) -> None:
    rv = client.get(f"/index.php?option=resource&api={api}", headers=bearer(at))
    assert_resource_ok(rv, user_id="1001")
    rv = send(
        client,
        {"grant_type": "client_credentials", **SHOP},
        path=f"/index.php?option=token&api={api}",
    )
    assert_token_ok(rv, scope=SHOP_SCOPE, refresh=True)


@pytest.mark.parametrize("encoding", ["form", "multipart"])
def test_api_may_come_from_the_form_body(client, shop, encoding) -> None:
    fields = [
        ("api", "OAuth2"),
        ("grant_type", "client_credentials"),
        ("client_id", "shop-app"),
        ("client_secret", "Sh0p-Secret!"),
    ]
    if encoding == "form":
        body, content_type = urlencode(fields), FORM
    else:
        body, content_type = multipart(fields)
    rv = send(client, body, content_type=content_type, path="/index.php?option=Token")
    assert_token_ok(rv, scope=SHOP_SCOPE, refresh=True)


@pytest.mark.parametrize("option", ["Token", "TOKEN", "com_token", "COM_TOKEN", "Com_Token"])
def test_option_is_matched_in_any_case_with_or_without_com_prefix(client, shop, option) -> None:
    rv = send(
        client,
        {"grant_type": "client_credentials", **SHOP},
        path=f"/index.php?api=oauth2&option={option}",
    )
    assert_token_ok(rv, scope=SHOP_SCOPE, refresh=True)


@pytest.mark.parametrize("option", ["Resource", "COM_RESOURCE", "com_Resource"])
def test_resource_option_any_case(client, at, option) -> None:
    assert_resource_ok(
        client.get(f"/index.php?api=oauth2&option={option}", headers=bearer(at)), user_id="1001"
    )


def test_option_comes_from_the_query_only(client, shop) -> None:
    rv = send(
        client,
        {"option": "token", "grant_type": "client_credentials", **SHOP},
        path="/index.php?api=oauth2",
    )
    assert (rv.status_code, rv.data) == (500, EMPTY_OPTION)


@pytest.mark.parametrize(
    "query",
    [
        "api=oauth2&option=",
        "api=oauth2",
        "api=oauth2&option=com_",
        "api=oauth2&option=COM_",
        "api=OAUTH2&option=Com_",
    ],
    ids=["empty", "missing", "prefix-only", "prefix-upper", "prefix-mixed"],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_empty_option_is_a_500_with_the_exception_body(client, query, method) -> None:
    rv = client.open(f"/index.php?{query}", method=method)
    assert (rv.status_code, rv.data) == (500, EMPTY_OPTION)
    assert rv.headers["Content-Type"].lower() == "text/html; charset=utf-8"


@pytest.mark.parametrize(
    "option", ["authorize", "com_profile", "tokens", "Resources", "com_content"]
)
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_unknown_option_is_an_empty_200(client, shop, count_rows, option, method) -> None:
    rv = send(
        client,
        {"grant_type": "client_credentials", **SHOP},
        method=method,
        path=f"/index.php?api=oauth2&option={option}",
    )
    assert (rv.status_code, rv.data) == (200, b"")
    assert rv.headers["Content-Type"].lower() == "text/html; charset=utf-8"
    assert count_rows("oauth_access_tokens") == 0


@pytest.mark.parametrize("path", ["/", "/index.php"])
def test_root_and_index_php_both_answer(client, shop, path) -> None:
    rv = send(
        client, {"grant_type": "client_credentials", **SHOP}, path=f"{path}?option=token&api=oauth2"
    )
    token = assert_token_ok(rv, scope=SHOP_SCOPE, refresh=True)
    rv = client.get(f"{path}?option=resource&api=oauth2", headers=bearer(token["access_token"]))
    assert_resource_ok(rv, user_id="1001")


@pytest.mark.parametrize(
    "query",
    ["api=oauth3&option=token", "option=token", "api=&option=token", "api=oauth2x&option=resource"],
    ids=["unknown", "absent", "empty", "near-miss"],
)
def test_unknown_or_absent_api_is_a_404_json(client, shop, count_rows, query) -> None:
    rv = send(client, {"grant_type": "client_credentials", **SHOP}, path=f"/index.php?{query}")
    assert_dispatcher_404(rv)
    assert count_rows("oauth_access_tokens") == 0


def test_disabled_plugin_is_a_404_json(client, shop, cli) -> None:
    cli("plugins", "disable", "oauth2")
    rv = send(client, {"grant_type": "client_credentials", **SHOP})
    assert_dispatcher_404(rv)


def assert_dispatcher_404(rv: Any) -> None:
    assert rv.status_code == 404
    body = json.loads(rv.data)
    assert list(body) == ["message", "code", "type"]
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["code"], int)
    assert isinstance(body["type"], str)
