"""Engine results and errors -> the bytes, statuses and headers Apigee Edge sends.

Three shapes (compat/apigee.md):
- a token (§2.2): every scalar a JSON string, Jackson's pretty printer
  (two-space indent, ``"key" : "value"``, arrays inline as ``[ "a", "b" ]``), field order
  by ``response_profile``;
- a token endpoint error with GenerateResponse on (§2.4, §4.1):
  ``{"ErrorCode" : "<code>", "Error" :"<text>"}``, spacing exactly as documented;
- a runtime or VerifyAccessToken fault (§3.2, §2.4):
  ``{"fault":{"faultstring":…,"detail":{"errorcode":…}}}``, compact, ``/`` escaped.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from datetime import datetime
from datetime import timedelta
from typing import Any

from flask import Response

from emulator.host import BodyTooLarge
from emulator.host import HostError
from emulator.host import header_bytes
from emulator.host import json_encode
from emulator.oauth import ClientLocked
from emulator.oauth import ExpiredToken
from emulator.oauth import InsufficientScope
from emulator.oauth import InvalidClient
from emulator.oauth import InvalidGrant
from emulator.oauth import InvalidRequest
from emulator.oauth import InvalidScope
from emulator.oauth import InvalidToken
from emulator.oauth import IssuedToken
from emulator.oauth import OAuthError
from emulator.oauth import TokenMissing
from emulator.oauth import UnauthorizedClient
from emulator.oauth import UnsupportedGrantType
from emulator.oauth import scope_names

from .apps import App
from .errors import Fault
from .errors import NoRoute

EPOCH = datetime(1970, 1, 1)
JSON = "application/json"
# RFC 6749 §5.1 asks for it; Apigee is not known to send it (§8.9), and it harms no client.
TOKEN_HEADERS = {"Cache-Control": "no-store"}
_JSON_TYPE = ("Content-Type", JSON)

# §2.2 field order; refresh fields (§4.1) sit where BCBSA's capture shows them: the
# status after refresh_token_expires_in, the token after access_token, its issue time
# before expires_in. Fields a token does not have are skipped.
FIELD_ORDER = {
    "edge-2014": (
        "issued_at",
        "application_name",
        "scope",
        "status",
        "api_product_list",
        "refresh_token_issued_at",
        "expires_in",
        "developer.email",
        "organization_id",
        "token_type",
        "client_id",
        "access_token",
        "refresh_token",
        "organization_name",
        "refresh_token_expires_in",
        "refresh_token_status",
        "refresh_count",
    ),
    "modern": (
        "refresh_token_expires_in",
        "refresh_token_status",
        "api_product_list",
        "api_product_list_json",
        "organization_name",
        "developer.email",
        "token_type",
        "issued_at",
        "client_id",
        "access_token",
        "refresh_token",
        "application_name",
        "scope",
        "refresh_token_issued_at",
        "expires_in",
        "refresh_count",
        "status",
    ),
}

# Token endpoint errors: (status, ErrorCode, Error text) by engine error and reason.
CLIENT_ERRORS = {
    "missing": "ClientId is Invalid",  # no credentials: no client id to look up
    "unknown_client": "ClientId is Invalid",
    "wrong_secret": "Client credentials are invalid",
    "secret_required": "Client credentials are invalid",  # an id without its secret
}
REFRESH_ERRORS = {"expired": "Refresh Token expired"}  # unknown, used, another app's: invalid
INVALID_REFRESH_TOKEN = "Invalid Refresh Token"

# Failed authentications past the limit: the Quota policy's fault (compat/apigee.md §9).
QUOTA_VIOLATION = "Rate limit quota violation. Quota limit  exceeded. Identifier : _default"
QUOTA_ERRORCODE = "policies.ratelimit.QuotaViolation"

# VerifyAccessToken faults (§3.2): (status, faultstring, errorcode).
MISSING_TOKEN = (401, "Invalid access token", "oauth.v2.InvalidAccessToken")
INVALID_TOKEN = (401, "Invalid Access Token", "keymanagement.service.invalid_access_token")
EXPIRED_TOKEN = (401, "Access Token expired", "keymanagement.service.access_token_expired")
INSUFFICIENT_SCOPE = "steps.oauth.v2.InsufficientScope"
# Edge printed its unresolved template (S17); "OAuth-v20-1" is the Edge UI's default name
# for a new OAuth v2.0 policy. X prints the list (S18).
EDGE_SCOPE_LIST = "VerifyAccessToken.OAuth-v20-1.scopeSet"
# A request body over the limit (Edge's troubleshooting page "413 Request Entity Too Large -
# TooBigBody"; Edge's own limit is 10 MB, here MAX_CONTENT_LENGTH).
TOO_BIG_BODY = (413, "Body buffer overflow", "protocol.http.TooBigBody")


# --- tokens ---------------------------------------------------------------------------


def token(
    issued: IssuedToken,
    app: App,
    params: Mapping[str, Any],
    *,
    now: datetime,
    refresh_expires_at: datetime | None,
) -> Response:
    """200 with the token in the profile's field set and order (§2.2, §4.1)."""
    body = token_fields(issued, app, params, now=now, refresh_expires_at=refresh_expires_at)
    # One list, in the order the headers always had: a mapping and a content type set
    # apart cost another pass over the headers (~2 us).
    return Response(pretty_json(body), status=200, headers=[*TOKEN_HEADERS.items(), _JSON_TYPE])


def token_fields(
    issued: IssuedToken,
    app: App,
    params: Mapping[str, Any],
    *,
    now: datetime,
    refresh_expires_at: datetime | None,
) -> dict[str, Any]:
    """The token response's fields, in wire order."""
    expires_in = seconds_left(issued.expires_at, now)
    values: dict[str, Any] = {
        "issued_at": str(epoch_ms(issued.issued_at)),
        "application_name": app.app_id,
        "scope": issued.scope or "",
        "status": "approved",
        "api_product_list": "[" + ", ".join(app.products) + "]",  # Java's List.toString()
        "api_product_list_json": list(app.products),
        "expires_in": str(expires_in) if params["expires_in_as_string"] else expires_in,
        "developer.email": app.developer_email or "",
        "organization_id": "0",
        "token_type": params["token_type"],
        "client_id": issued.client_id,
        "access_token": issued.access_token,
        "organization_name": params["organization_name"],
        "refresh_token_expires_in": "0",  # no refresh token, or one that never expires
        "refresh_count": "0",
    }
    if issued.refresh_token is not None:
        values["refresh_token"] = issued.refresh_token
        values["refresh_token_issued_at"] = str(epoch_ms(issued.issued_at))
        values["refresh_token_status"] = "approved"
        if refresh_expires_at is not None:
            values["refresh_token_expires_in"] = str(seconds_left(refresh_expires_at, now))
    return {key: values[key] for key in FIELD_ORDER[params["response_profile"]] if key in values}


def pretty_json(body: Mapping[str, Any]) -> str:
    """Jackson's DefaultPrettyPrinter for a flat object of strings and string arrays."""
    lines = [f"{_key(key)}{_value(value)}" for key, value in body.items()]
    return "{\n" + ",\n".join(lines) + "\n}"


def _value(value: Any) -> str:
    if type(value) is str:  # nearly every field: no other test needed
        return _string(value)
    if isinstance(value, list):
        return "[ " + ", ".join(_string(v) for v in value) + " ]" if value else "[ ]"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False)  # anything else, as the encoder wrote it


# json.dumps of a string with ensure_ascii=False (the C function it calls, with no encoder
# to build or type to test): Jackson writes UTF-8 as is, and '/' not escaped.
_string = json.encoder.encode_basestring


@functools.lru_cache(maxsize=64)
def _key(key: str) -> str:
    """A field's indented name and separator (the field names are a fixed set)."""
    return f"  {_string(key)} : "


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch of a naive UTC datetime."""
    return (moment - EPOCH) // timedelta(milliseconds=1)


def seconds_left(expires_at: datetime, now: datetime) -> int:
    """Whole seconds left, counting down from lifetime - 1 at the moment of issue.

    Apigee computes (expiry - now) / 1000 in integer ms after at least a millisecond has
    passed, so 3600000 ms reads "3599" (§2.2); this gives the same without depending on
    how fast the response is written.
    """
    left_us = (expires_at - now) // timedelta(microseconds=1)
    return max(0, (left_us - 1) // 1_000_000)


def no_route() -> Response:
    """A path under a token proxy that no flow takes: Edge's NoRoute answers an empty 200."""
    rv = Response(b"", status=200)
    del rv.headers["Content-Type"]
    return rv


# --- errors ---------------------------------------------------------------------------


def error(err: Exception, operation: str | None, params: Mapping[str, Any] | None) -> Response:
    """Render any error under a path of the apigee plugin."""
    profile = (params or {}).get("response_profile", "edge-2014")
    if isinstance(err, (TokenMissing, InvalidToken, ExpiredToken, InsufficientScope)):
        return verify_fault(err, profile)
    if isinstance(err, NoRoute):
        return no_route()
    if isinstance(err, Fault):
        return fault(err.status, err.message, err.errorcode)
    if isinstance(err, BodyTooLarge):
        return fault(*TOO_BIG_BODY)
    if isinstance(err, HostError):
        return fault(err.status, err.message, Fault.errorcode)
    assert isinstance(err, OAuthError)
    if isinstance(err, ClientLocked):  # Apigee X's Quota policy fault, at 429 (§9)
        headers = {"Retry-After": str(err.retry_after)}
        return fault(429, QUOTA_VIOLATION, QUOTA_ERRORCODE, headers=headers)
    status, code, text = token_error(err)
    return error_code_response(status, code, text)


def token_error(err: OAuthError) -> tuple[int, str, str]:
    """(status, ErrorCode, Error) of a token endpoint failure (§2.4, §4.1)."""
    if isinstance(err, InvalidClient):
        return 401, "invalid_client", CLIENT_ERRORS.get(err.reason, "ClientId is Invalid")
    if isinstance(err, UnauthorizedClient):
        # The client's grant types exclude this grant: Apigee's nearest case is an app
        # that is not approved (fault invalid_client-app_not_approved, §2.4).
        return 401, "invalid_client", "App not Approved"
    if isinstance(err, UnsupportedGrantType):
        return 400, "invalid_request", f"Unsupported grant type : {err.facts.get('grant_type', '')}"
    if isinstance(err, InvalidScope):
        return 400, "invalid_request", "Invalid Scope"
    if isinstance(err, InvalidGrant):
        return 400, "invalid_request", REFRESH_ERRORS.get(err.reason, INVALID_REFRESH_TOKEN)
    if isinstance(err, InvalidRequest) and err.reason == "no_grant_type":
        return 400, "invalid_request", "Required param : grant_type"
    if isinstance(err, InvalidRequest) and err.reason == "missing":  # refresh_token absent
        return 400, "invalid_request", "Required param : refresh_token"
    return 400, "invalid_request", err.description or "Invalid request"


def error_code_response(status: int, code: str, text: str) -> Response:
    """GenerateResponse's error body, with Apigee's documented spacing (S7)."""
    body = f'{{"ErrorCode" : {_string(code)}, "Error" :{_string(text)}}}'
    return Response(body, status=status, content_type=JSON)


def verify_fault(err: OAuthError, profile: str) -> Response:
    """A VerifyAccessToken failure: 401 (403 for scope), fault body, Bearer challenge (§3.2)."""
    if isinstance(err, InsufficientScope):
        required = str(err.facts.get("scope", ""))
        listed = (
            EDGE_SCOPE_LIST
            if profile == "edge-2014"
            else "[" + ", ".join(scope_names(required)) + "]"
        )
        status, faultstring, errorcode = 403, f"Required scope(s): {listed}", INSUFFICIENT_SCOPE
    elif isinstance(err, ExpiredToken):
        status, faultstring, errorcode = EXPIRED_TOKEN
    elif isinstance(err, InvalidToken):
        status, faultstring, errorcode = INVALID_TOKEN
    else:
        status, faultstring, errorcode = MISSING_TOKEN
    challenge = (
        f'Bearer realm="null",error="invalid_token",error_description="{errorcode}: {faultstring}"'
    )
    return fault(
        status, faultstring, errorcode, headers={"WWW-Authenticate": header_bytes(challenge)}
    )


def fault(
    status: int, faultstring: str, errorcode: str, headers: Mapping[str, str] | None = None
) -> Response:
    """Apigee's compact fault JSON (``/`` escaped as ``\\/``, as in "url: \\/foo")."""
    body = json_encode({"fault": {"faultstring": faultstring, "detail": {"errorcode": errorcode}}})
    return Response(body, status=status, content_type=JSON, headers=dict(headers or {}))
