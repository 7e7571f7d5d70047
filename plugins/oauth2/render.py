"""Engine results and errors -> the exact bytes, statuses and headers redCORE sent."""

from __future__ import annotations

import json
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response

from emulator.host import BodyTooLarge
from emulator.host import HostError
from emulator.host import MethodNotAllowed
from emulator.host import OperationMissing
from emulator.host import UnknownOperation
from emulator.host import app_object as _app
from emulator.host import exception_response
from emulator.host import header_bytes
from emulator.host import host_error_response
from emulator.host import json_encode
from emulator.host import json_encode_string
from emulator.host import quoted_string
from emulator.oauth import GRANTS
from emulator.oauth import ClientLocked
from emulator.oauth import InsufficientScope
from emulator.oauth import IssuedToken
from emulator.oauth import OAuthError
from emulator.oauth import TokenInfo
from emulator.oauth import TokenMissing
from emulator.oauth import UserLocked
from emulator.oauth import UserRecord

RFC6749 = "http://tools.ietf.org/html/rfc6749"
NO_STORE = {"Cache-Control": "no-store"}
TOKEN_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache"}
RESOURCE_MESSAGE = "You have successfully accessed this API!"
EMPTY_OPERATION = "OAuth2 operation name is empty. Please provide proper option name."
WRONG_METHOD = {
    "token": "The request method must be POST when requesting an access token",
    "revoke": "The request method must be POST when revoking an access token",
    "introspect": "The request method must be POST when introspecting a token",
}
DEFAULTS = {"www_realm": "Service"}


@dataclass(frozen=True)
class Wording:
    """How bshaffer/oauth2-server-php answered one engine error: its description (fixed,
    or made from the error's facts), and where they differ from the engine's, the wire's
    error code, the RFC 6749 section it linked (``error_uri``) and the status (400 at the
    token endpoint otherwise)."""

    description: str | Callable[[Mapping[str, Any]], str]
    error: str | None = None
    uri: str | None = None
    status: int | None = None


_INVALID_CLIENT = Wording("The client credentials are invalid")
_INVALID_REFRESH_TOKEN = Wording("Invalid refresh token")
_INVALID_SCOPE = Wording("The scope requested is invalid for this request")
_INVALID_TOKEN = Wording("The access token provided is invalid")

# The engine's errors in bshaffer's words, by (code, reason) (compat/redcore.md).
ERRORS: dict[tuple[str | None, str], Wording] = {
    # The token endpoint (TokenController, HttpBasic, the grant types).
    ("invalid_request", "no_grant_type"): Wording(
        "The grant type was not specified in the request"
    ),
    ("unsupported_grant_type", "unknown_grant"): Wording(
        lambda facts: f'Grant type "{facts.get("grant_type", "")}" not supported'
    ),
    ("invalid_client", "missing"): Wording(
        lambda facts: (
            "Client credentials were not found in the headers"
            + (" or body" if facts.get("body_allowed", True) else "")
        )
    ),
    ("invalid_client", "secret_required"): Wording(
        lambda facts: (
            "This client is invalid or must authenticate using a client secret"
            if facts.get("public_allowed")
            else "client credentials are required"
        )
    ),
    ("invalid_client", "unknown_client"): _INVALID_CLIENT,
    ("invalid_client", "wrong_secret"): _INVALID_CLIENT,
    ("invalid_request", "missing"): Wording(
        lambda facts: f'Missing parameter: "{facts.get("parameter", "")}" is required'
    ),
    ("invalid_grant", "unknown"): _INVALID_REFRESH_TOKEN,
    ("invalid_grant", "reused"): _INVALID_REFRESH_TOKEN,
    ("invalid_grant", "expired"): Wording("Refresh token has expired"),
    ("invalid_grant", "unknown_code"): Wording(
        "Authorization code doesn't exist or is invalid for the client"
    ),
    ("invalid_grant", "redirect_uri_mismatch"): Wording(
        "The redirect URI is missing or do not match",
        error="redirect_uri_mismatch",
        uri="#section-4.1.3",
    ),
    ("invalid_grant", "expired_code"): Wording("The authorization code has expired"),
    # TokenController names the grant type as sent (lower case: "authorization_code").
    ("invalid_grant", "other_client"): Wording(
        lambda facts: f"{facts.get('grant_type', '')} doesn't exist or is invalid for the client"
    ),
    # The password grant (GrantType\UserCredentials): a wrong password, an unknown, blocked
    # or two-factor user alike; 401 but no WWW-Authenticate (the token endpoint sends none).
    ("invalid_request", "missing_user_credentials"): Wording(
        'Missing parameters: "username" and "password" required'
    ),
    ("invalid_grant", "user_credentials"): Wording(
        "Invalid username and password combination", status=401
    ),
    ("unauthorized_client", "grant_not_allowed"): Wording(
        "The grant type is unauthorized for this client_id"
    ),
    ("invalid_scope", "not_available"): _INVALID_SCOPE,
    ("invalid_scope", "no_overlap"): _INVALID_SCOPE,
    ("invalid_scope", "not_client"): Wording("The scope requested is invalid for this client"),
    ("invalid_scope", "unsupported"): Wording("An unsupported scope was requested"),
    # The resource endpoint (ResourceController, TokenType\Bearer).
    ("invalid_request", "several_methods"): Wording(
        "Only one method may be used to authenticate at a time (Auth header, GET or POST)"
    ),
    ("invalid_request", "malformed_header"): Wording("Malformed auth header"),
    ("invalid_request", "body_method"): Wording(
        "When putting the token in the body, the method must be POST or PUT", uri="#section-2.2"
    ),
    ("invalid_request", "body_content_type"): Wording(
        'The content type for POST requests must be "application/x-www-form-urlencoded"'
    ),
    ("invalid_token", "unknown"): _INVALID_TOKEN,
    ("invalid_token", "not_a_string"): _INVALID_TOKEN,
    ("expired_token", "expired"): Wording("The access token provided has expired"),
    ("insufficient_scope", "scope_not_held"): Wording(
        "The request requires higher privileges than provided by the access token"
    ),
    # The authorization endpoint (AuthorizeController; pages.py shows or redirects them).
    ("invalid_client", "no_client_id"): Wording("No client id supplied"),
    ("invalid_client", "unknown_client_id"): Wording("The client id supplied is invalid"),
    ("invalid_request", "redirect_uri_fragment"): Wording(
        "The redirect URI must not contain a fragment", error="invalid_uri"
    ),
    ("invalid_request", "redirect_uri_mismatch"): Wording(
        "The redirect URI provided is missing or does not match",
        error="redirect_uri_mismatch",
        uri="#section-3.1.2",
    ),
    ("invalid_request", "no_redirect_uri"): Wording(
        "No redirect URI was supplied or stored", error="invalid_uri"
    ),
    # Ours: bshaffer took any redirect URI from a client that registered none.
    ("invalid_request", "no_registered_redirect_uri"): Wording(
        "No redirect URI is registered for this client", error="invalid_uri"
    ),
    ("invalid_request", "several_redirect_uris"): Wording(
        "A redirect URI must be supplied when multiple redirect URIs are registered",
        error="invalid_uri",
        uri="#section-3.1.2.3",
    ),
    ("invalid_request", "response_type"): Wording("Invalid or missing response type"),
    ("unsupported_response_type", "implicit_off"): Wording("implicit grant type not supported"),
    ("invalid_request", "no_state"): Wording("The state parameter is required"),
    ("access_denied", "denied"): Wording("The user denied access to your application"),
}


def wording(err: OAuthError) -> tuple[str, str, str | None]:
    """(error, error_description, error_uri anchor) of an error, as bshaffer answered it.

    Words given where the error was raised (this dialect's wire, the host's throttle) go
    out as they are; the engine gives none, so its errors are worded from ``ERRORS``.
    """
    code = err.code or "invalid_request"
    if err.description:
        return code, err.description, None
    found = ERRORS.get((err.code, err.reason))
    if found is None:  # a test keeps every engine error in ERRORS; never a 500 for one
        return code, code, None
    text = found.description
    description = text if isinstance(text, str) else text(err.facts)
    return found.error or code, description, found.uri


def json_response(
    body: Any,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    content_type: str = "application/json",
) -> Response:
    """A JSON body encoded as PHP's json_encode, with exactly these headers."""
    return _response(json_encode(body), status, headers, content_type)


def _response(
    payload: str, status: int, headers: Mapping[str, str] | None, content_type: str
) -> Response:
    """``payload`` with these headers, then the content type (the order they always had).

    Handed to the Response as one list: a mapping and a content type set apart cost
    another pass over the headers (~2 us of a token's answer).
    """
    return Response(
        payload,
        status=status,
        headers=[*(headers or {}).items(), ("Content-Type", content_type)],
    )


def token(issued: IssuedToken, params: Mapping[str, Any]) -> Response:
    """200 for option=token: bshaffer's fields, then redCORE's two date fields.

    Written field by field, as json_encode writes this object (tests compare the two):
    the shape is fixed, and a general encoder costs several microseconds more.
    """
    expires_in = (
        json_encode_string(str(issued.expires_in))
        if params["expires_in_as_string"]
        else str(issued.expires_in)
    )
    refresh = (
        ""
        if issued.refresh_token is None
        else f',"refresh_token":{json_encode_string(issued.refresh_token)}'
    )
    # Each converted on its own: the zone's offset may differ between the two (DST).
    zone = _app().config["SITE_TIMEZONE"]
    expires = _site_text(issued.issued_at + timedelta(seconds=issued.expires_in), zone)
    created = _site_text(issued.issued_at, zone)
    payload = (
        f'{{"access_token":{json_encode_string(issued.access_token)},"expires_in":{expires_in},'
        f'"token_type":{json_encode_string(issued.token_type)},"scope":{_php_nullable(issued.scope)}'
        f'{refresh},"expireTimeFormatted":"{expires}","created":"{created}"}}'
    )
    return _response(payload, 200, TOKEN_HEADERS, "application/json")


def resource(info: TokenInfo) -> Response:
    """200 for option=resource (redCORE's own JSON, sent by Joomla with a charset).

    Written as json_encode writes ``{"success": true, "user_id": ..., "message": ...}``.
    """
    payload = (
        f'{{"success":true,"user_id":{_php_nullable(info.user_id)},'
        f'"message":{json_encode_string(RESOURCE_MESSAGE)}}}'
    )
    return Response(payload, content_type="application/json; charset=UTF-8")


def profile(raw: str, info: TokenInfo, user: UserRecord | None) -> Response:
    """200 for option=profile: the token row as bshaffer's storage returned it (``expires``
    a unix time), redCORE's formatted expiry, and the user's profile as Joomla's user
    object gave it (the guest's, id 0, for a token without a user or whose user is gone).

    The user's dates are in UTC, as Joomla stores them; the expiry in the site's zone.
    """
    zone = _app().config["SITE_TIMEZONE"]
    body = {
        "access_token": raw,
        "client_id": info.client_id,
        "user_id": info.user_id,
        "expires": int(info.expires_at.replace(tzinfo=UTC).timestamp()),
        "scope": info.scope,
        "expireTimeFormatted": _site_text(info.expires_at, zone),
        "profile": _profile(user),
    }
    return Response(json_encode(body), content_type="application/json; charset=UTF-8")


def _profile(user: UserRecord | None) -> dict[str, Any]:
    if user is None:
        return {
            "id": 0,
            "name": None,
            "username": None,
            "email": None,
            "registerDate": None,
            "lastVisitDate": None,
            "authorisedGroups": [],
        }
    return {
        "id": user.id,
        "name": user.name,
        "username": user.username,
        "email": user.email,
        "registerDate": _utc_text(user.registered_at),
        "lastVisitDate": _utc_text(user.last_visit_at),
        "authorisedGroups": list(user.groups),
    }


def _utc_text(moment: datetime | None) -> str | None:
    return None if moment is None else _site_text(moment, "UTC")


def _php_nullable(text: str | None) -> str:
    """json_encode of a string or null."""
    return "null" if text is None else json_encode_string(text)


def _site_text(moment: datetime, zone: str) -> str:
    """A naive UTC datetime as ``YYYY-MM-DD HH:MM:SS`` in the site's time ``zone``.

    strftime's ``%Y-%m-%d %H:%M:%S`` for every year of four digits, in a third of the
    time (the ISO format); a UTC site's moments need no conversion.
    """
    if zone != "UTC":
        moment = moment.replace(tzinfo=UTC).astimezone(_zone(zone)).replace(tzinfo=None)
    return moment.isoformat(" ", "seconds")


def claims(body: Mapping[str, Any]) -> Response:
    """200 for revoke and introspect: a bshaffer-style JSON answer, never cached."""
    return json_response(dict(body), headers=TOKEN_HEADERS)


def metadata(
    issuer: str,
    *,
    cacheable: bool,
    body_credentials: bool,
    scopes: list[str],
    implicit: bool = False,
) -> Response:
    """RFC 8414 metadata: the legacy URLs as endpoints.

    Cacheable by anyone when the issuer is configured; when it was taken from the request's
    Host header, no-store, so a shared cache cannot be poisoned with another host's URLs.
    """
    base = f"{issuer}/index.php?api=oauth2&option="
    auth_methods = ["client_secret_basic"]
    if body_credentials:
        auth_methods.append("client_secret_post")
    body = {
        "issuer": issuer,
        "authorization_endpoint": base + "authorize",
        "token_endpoint": base + "token",
        "revocation_endpoint": base + "revoke",
        "introspection_endpoint": base + "introspect",
        "grant_types_supported": sorted(GRANTS) + (["implicit"] if implicit else []),
        "response_types_supported": ["code", "token"] if implicit else ["code"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": [*auth_methods, "none"],
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "scopes_supported": scopes,
    }
    return Response(
        json.dumps(body),
        content_type="application/json",
        headers={"Cache-Control": "public, max-age=3600" if cacheable else "no-store"},
    )


def error(err: Exception, operation: str | None, params: Mapping[str, Any] | None) -> Response:
    """Render any error under api=oauth2 the way redCORE/bshaffer did."""
    if isinstance(err, OperationMissing):
        return exception_response(EMPTY_OPERATION, 500, code=0)
    if isinstance(err, UnknownOperation):
        return Response(b"", status=200, content_type="text/html; charset=UTF-8")
    if isinstance(err, MethodNotAllowed):
        description = WRONG_METHOD.get(operation or "", "The request method is not allowed")
        body = {
            "error": "invalid_request",
            "error_description": description,
            "error_uri": RFC6749 + "#section-3.2",
        }
        allow = ", ".join(sorted(err.allowed - {"HEAD", "OPTIONS"}))
        return json_response(body, status=405, headers={**NO_STORE, "Allow": allow})
    if isinstance(err, BodyTooLarge):
        # No capture exists (compat/redcore.md, "Input limits"): bshaffer's error shape,
        # which every OAuth2 client of these URLs parses, with the 413
        # (docs/operate/input-limits.md).
        body = {"error": "invalid_request", "error_description": err.message}
        return json_response(body, status=413, headers=NO_STORE)
    if isinstance(err, HostError):
        return host_error_response(err)
    assert isinstance(err, OAuthError)
    if isinstance(err, (ClientLocked, UserLocked)):  # ours (RFC 6749 §10.10): no legacy bytes
        headers = {**NO_STORE, "Retry-After": str(err.retry_after)}
        return json_response(_error_body(err), status=429, headers=headers)
    if operation in ("resource", "profile"):
        return _resource_error(err, {**DEFAULTS, **(params or {})})
    found = ERRORS.get((err.code, err.reason)) if not err.description else None
    status = found.status if found is not None and found.status else 400
    return json_response(_error_body(err), status=status, headers=NO_STORE)


def _error_body(err: OAuthError) -> dict[str, str]:
    code, description, uri = wording(err)
    body = {"error": code, "error_description": description}
    if uri:
        body["error_uri"] = RFC6749 + uri
    return body


def _resource_error(err: OAuthError, params: Mapping[str, Any]) -> Response:
    """Every resource error is a 401 with a Bearer challenge (PHP forced 401 on it).

    The scheme is always "Bearer" (bshaffer's getTokenType()); the
    token_bearer_header_name param only changes what is accepted on the way in.
    """
    challenge = f'Bearer realm="{params["www_realm"]}"'  # validated: no quotes
    if isinstance(err, TokenMissing):  # RFC 6750 §3.1: no error information
        return json_response([], status=401, headers={"WWW-Authenticate": challenge})
    if isinstance(err, InsufficientScope):
        challenge += f", scope={quoted_string(str(err.facts['scope']))}"
    # The fixed descriptions go out as the original sent them, inner quotes and all
    # (compat case res_body_json); only what the request said is escaped.
    code, description, _ = wording(err)
    challenge += f', error="{code}", error_description="{description}"'
    return json_response(
        _error_body(err),
        status=401,
        headers={**NO_STORE, "WWW-Authenticate": header_bytes(challenge)},
    )


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)
