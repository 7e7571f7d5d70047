"""The redCORE dialect's tests (compat/redcore.md): expected bytes, requests, assertions.

The tests are built from the rules, not copied from the captured cases: other clients,
secrets, scopes, values and parameter names, so that an implementation that only learned
the cases fails here. Exact bytes are asserted wherever a rule fixes them. The fixtures
that set up clients, scopes and tokens are in tests/plugins/oauth2/conftest.py.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask.testing import FlaskClient

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
MISSING_CODE = err("invalid_request", r"Missing parameter: \"code\" is required")
UNKNOWN_CODE = err("invalid_grant", "Authorization code doesn't exist or is invalid for the client")
EXPIRED_CODE = err("invalid_grant", "The authorization code has expired")
FOREIGN_CODE = err("invalid_grant", "authorization_code doesn't exist or is invalid for the client")
REDIRECT_MISMATCH = (
    b'{"error":"redirect_uri_mismatch","error_description":"The redirect URI is missing or '
    b'do not match","error_uri":"http:\\/\\/tools.ietf.org\\/html\\/rfc6749#section-4.1.3"}'
)
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


SHOP = {"client_id": "shop-app", "client_secret": "Sh0p-Secret!"}
SHOP_SCOPE = "catalog.read catalog.write orders.read"


def cc(client: FlaskClient, creds: dict[str, str] = SHOP, **extra: str) -> Any:
    return send(client, {"grant_type": "client_credentials", **creds, **extra})


def refresh(client: FlaskClient, token: str, creds: dict[str, str] = SHOP, **extra: str) -> Any:
    return send(client, {"grant_type": "refresh_token", "refresh_token": token, **creds, **extra})


def exchange(client: FlaskClient, code: str, creds: dict[str, str] = SHOP, **extra: str) -> Any:
    """grant_type=authorization_code with ``code`` (and ``redirect_uri`` etc. in ``extra``)."""
    return send(client, {"grant_type": "authorization_code", "code": code, **creds, **extra})


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
