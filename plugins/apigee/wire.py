"""Reading Apigee requests: where each parameter comes from (compat/apigee.md §2.1, §3.1, §4.1).

- ``grant_type``: the query string (the sample's ``request.queryparam.grant_type``); with
  ``grant_type_in_body`` also a form body when the query has none.
- Client credentials: an HTTP Basic header, else form ``client_id``/``client_secret``.
- ``scope`` and ``refresh_token``: the form body (the policies' default locations).
- The access token at a protected proxy: ``Authorization: Bearer <token>``, prefix
  case-sensitive (VerifyAccessToken's default ``<AccessTokenPrefix>``).
- Where the credentials were is kept in the engine's neutral words
  (``ClientCredentials.source``: ``basic`` or ``body``), for the host's usage counts.
- The path, decoded and as sent: the flow is picked by it and a proxy's target gets it.

A "form body" is an ``application/x-www-form-urlencoded`` body of any method; repeated
parameters give their first value, as Apigee's flow variables do. A body is read only
within MAX_CONTENT_LENGTH: past it, ``BodyTooLarge`` (Apigee's TooBigBody 413).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from emulator import oauth
from emulator.host import nothing_to_decode
from emulator.host import read_body
from emulator.host import request_object as _request
from emulator.host import request_path
from emulator.oauth import InvalidScope
from emulator.oauth import TokenMissing
from emulator.oauth import UnsupportedGrantType

from .flows import RequestLine
from .params import GENERATE
from .params import REFRESH

# The one grant each policy supports (the sample's <SupportedGrantTypes>, Edge's refresh flow).
SUPPORTED_GRANT = {GENERATE: oauth.CLIENT_CREDENTIALS, REFRESH: oauth.REFRESH_TOKEN}
BEARER_PREFIX = "Bearer "


def body() -> bytes:
    """The request body, read within MAX_CONTENT_LENGTH; raise BodyTooLarge past it."""
    return read_body(_request())


def form() -> Mapping[str, str]:
    """``request.formparam.*``: the form body's parameters (empty for any other body)."""
    req = _request()
    if req.mimetype != "application/x-www-form-urlencoded":
        return {}
    body()  # within the limit, then parsed from the bytes read
    return req.form


def grant_type(params: Mapping[str, Any]) -> str | None:
    """The grant_type: query first, then (when allowed) the form body; empty counts as absent."""
    value = query_param("grant_type")
    if not value and params["grant_type_in_body"]:
        value = form().get("grant_type")
    return value or None


def query_param(name: str) -> str | None:
    """``request.queryparam.<name>``: the first value in the query string, None without one.

    What ``request.args.get(name)`` gives; a query with nothing to decode (the usual one)
    is searched as it is, without building werkzeug's whole MultiDict of it.
    """
    req = _request()
    raw = req.query_string
    if not nothing_to_decode(raw):
        return req.args.get(name)
    for piece in raw.decode("ascii").split("&"):
        key, _, value = piece.partition("=")
        if key == name:
            return value
    return None


def basic_credentials(header: str | None) -> oauth.ClientCredentials | None:
    """``Authorization: Basic base64(id:secret)``; anything malformed counts as no credentials."""
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None
    client_id, colon, secret = decoded.partition(":")
    if not colon or not client_id:
        return None
    return oauth.ClientCredentials(client_id=client_id, client_secret=secret, source="basic")


def client_credentials() -> oauth.ClientCredentials | None:
    """The credentials a token request presents: Basic wins, else the form body."""
    basic = basic_credentials(_request().environ.get("HTTP_AUTHORIZATION"))
    if basic is not None:
        return basic
    body = form()
    client_id = body.get("client_id")
    if not client_id:
        return None
    return oauth.ClientCredentials(
        client_id=client_id, client_secret=body.get("client_secret"), source="body"
    )


def token_request(params: Mapping[str, Any], operation: str) -> oauth.TokenRequest:
    """Read a GenerateAccessToken or RefreshAccessToken request.

    Each policy supports one grant type; any other is "Unsupported grant type" before the
    client is looked at (§7 check order: grant_type, then client). A refresh may not
    carry a scope at all (§4.1, S14).
    """
    grant = grant_type(params)
    if grant is not None and grant != SUPPORTED_GRANT[operation]:
        raise UnsupportedGrantType(f'Grant type "{grant}" not supported', grant_type=grant)
    body = form()
    scope = body.get("scope") or None
    if grant is not None and operation == REFRESH and scope is not None:
        raise InvalidScope("A refresh cannot change the scope", reason="refresh_scope")
    return oauth.TokenRequest(
        grant_type=grant,
        credentials=client_credentials(),
        scope=scope,
        refresh_token=body.get("refresh_token") or None,
    )


def bearer_token() -> str:
    """The access token of a protected-proxy request; raise TokenMissing when there is none.

    Only ``Bearer <token>`` with exactly that capitalisation counts: ``bearer x`` or
    ``OAuth x`` is a missing token on Apigee too (§3.2, apigee-api-catalog-drupal#62).
    """
    header = _request().environ.get("HTTP_AUTHORIZATION")  # what request.headers would give
    if header is None:
        raise TokenMissing(reason="no_header")
    if not header.startswith(BEARER_PREFIX):
        raise TokenMissing(reason="other_scheme")
    token = header[len(BEARER_PREFIX) :].strip()
    if not token:
        raise TokenMissing(reason="empty")
    return token


def request_line() -> RequestLine:
    """The method, the path (decoded, and raw where the server keeps it) and the version."""
    req = _request()
    return RequestLine(
        method=req.method,
        path=request_path(),
        protocol=req.environ.get("SERVER_PROTOCOL") or "HTTP/1.1",
    )
