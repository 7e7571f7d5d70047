"""One thin handler per operation: read the request, call the engine, commit, render."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flask import Response
from flask import request

from emulator import oauth
from emulator.clock import utcnow
from emulator.db import client_cache
from emulator.db import connection
from emulator.db import db
from emulator.db import token_cache
from emulator.oauth.errors import InvalidRequest
from emulator.oauth.grants import GRANTS
from emulator.oauth.grants import TokenPolicy
from emulator.oauth.scopes import known_scopes
from emulator.php import php_input

from . import render
from . import wire


def policy(params: Mapping[str, Any]) -> TokenPolicy:
    """The engine's token policy from the plugin's params."""
    return TokenPolicy(
        access_lifetime=params["access_lifetime"],
        refresh_token_lifetime=params["refresh_token_lifetime"],
        client_credentials_refresh_token=params["client_credentials_refresh_token"],
        always_issue_new_refresh_token=params["always_issue_new_refresh_token"],
        unset_refresh_token_after_use=params["unset_refresh_token_after_use"],
    )


def token(params: Mapping[str, Any]) -> Response:
    """option=token: the client_credentials and refresh_token grants."""
    req = wire.token_request(php_input(), params)
    conn = connection()
    issued = oauth.issue_token(conn, req, policy(params), now=utcnow(), client_cache=client_cache())
    conn.commit()
    return render.token(issued, params)


def resource(params: Mapping[str, Any]) -> Response:
    """option=resource: is the bearer token valid (and, in default mode, does it hold ?scope=)?"""
    inp = php_input()
    raw = oauth.extract_bearer_token(
        wire.bearer_sources(inp, params), scheme=params["token_bearer_header_name"]
    )
    info = oauth.verify_access_token(
        connection(),
        raw,
        required_scope=wire.required_scope(inp, params),
        now=utcnow(),
        cache=token_cache(),
    )
    return render.resource(info)


def revoke(params: Mapping[str, Any]) -> Response:
    """option=revoke (RFC 7009): end one of the client's tokens; unknown tokens are fine."""
    inp = php_input()
    client = _authenticate(inp, params, allow_public=True)
    raw = _token_to_act_on(inp, params, "revoke")
    oauth.revoke_token(db.session, client, raw, _hint(inp, params), cache=token_cache())
    db.session.commit()
    return render.claims({"revoked": True})


def introspect(params: Mapping[str, Any]) -> Response:
    """option=introspect (RFC 7662): is this token of mine active, and what does it hold?"""
    inp = php_input()
    client = _authenticate(inp, params, allow_public=False)
    raw = _token_to_act_on(inp, params, "introspect")
    found = oauth.introspect_token(db.session, client, raw, _hint(inp, params), now=utcnow())
    return render.claims(found or {"active": False})


def metadata(params: Mapping[str, Any]) -> Response:
    """RFC 8414 authorization server metadata, naming the legacy URLs as the endpoints."""
    issuer = params["issuer"].rstrip("/") or request.host_url.rstrip("/")
    base = f"{issuer}/index.php?api=oauth2&option="
    auth_methods = ["client_secret_basic"]
    if params["allow_credentials_in_request_body"]:
        auth_methods.append("client_secret_post")
    body = {
        "issuer": issuer,
        "token_endpoint": base + "token",
        "revocation_endpoint": base + "revoke",
        "introspection_endpoint": base + "introspect",
        "grant_types_supported": sorted(GRANTS),
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": [*auth_methods, "none"],
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "scopes_supported": known_scopes(db.session),
    }
    return Response(
        json.dumps(body),
        content_type="application/json",
        headers={"Cache-Control": "public, max-age=3600"},
    )


def _authenticate(inp, params, *, allow_public):
    return oauth.authenticate_client(
        db.session,
        wire.client_credentials(inp, params),
        allow_public=allow_public,
        body_allowed=params["allow_credentials_in_request_body"],
    )


def _token_to_act_on(inp, params, verb: str) -> str:
    raw = wire.string_param(wire.token_param(inp, params, "token"), "token")
    if raw is None:
        raise InvalidRequest(f"Missing token parameter to {verb}", reason="missing")
    return raw


def _hint(inp, params) -> str | None:
    hint = wire.token_param(inp, params, "token_type_hint")
    return hint if isinstance(hint, str) else None
