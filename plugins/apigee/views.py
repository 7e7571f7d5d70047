"""The one handler behind every path of the apigee plugin.

Flask's routes are fixed when the app is built, but ``base_paths`` and the protected
proxies change at run time (a param, a CLI command), so every route of the manifest,
the catch-all included, comes here and the path is resolved against the current params
and the proxies table, in Apigee's order:

1. a token endpoint of ``base_paths`` whose verb condition holds -> GenerateAccessToken
   or RefreshAccessToken;
2. the protected proxy with the longest base path owning the path -> VerifyAccessToken,
   then the target;
3. any other path under a token proxy's base path (``/oauth/...``, or a wrong verb on a
   POST-only flow) -> the empty 200 of a flow-less NoRoute proxy;
4. anything else -> 404 "Unable to identify proxy".
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask import Response
from flask import request

from emulator import oauth
from emulator.clock import utcnow
from emulator.db import client_cache
from emulator.db import connection
from emulator.db import token_cache
from emulator.oauth.grants import TokenPolicy

from . import gateway
from . import render
from . import wire
from .apps import find_app
from .errors import ProxyNotFound
from .params import parse_flow
from .proxies import ProxyRoute
from .proxies import match_proxy

ALPHANUMERIC = string.ascii_letters + string.digits
# RefreshTokenExpiresIn unset: the refresh token does not expire. Rows need a date, so
# "never" is a century; purge never reaches it, a refresh consumes it.
NO_EXPIRY = timedelta(days=36_500)


def alphanumeric_token(length: int) -> str:
    """A random token of ``length`` characters [A-Za-z0-9] (§2.5: 28 for access, 32 for refresh)."""
    return "".join(secrets.choice(ALPHANUMERIC) for _ in range(length))


def access_token() -> str:
    """A new access token: 28 alphanumerics, about 166 bits."""
    return alphanumeric_token(28)


def refresh_token() -> str:
    """A new refresh token: 32 alphanumerics, about 190 bits."""
    return alphanumeric_token(32)


def refresh_lifetime(params: Mapping[str, Any]) -> timedelta:
    """How long a refresh token lives (``refresh_token_lifetime_ms`` 0: no expiry)."""
    ms = params["refresh_token_lifetime_ms"]
    return timedelta(milliseconds=ms) if ms else NO_EXPIRY


def policy(params: Mapping[str, Any]) -> TokenPolicy:
    """The engine's token policy from the plugin's params (compat/apigee.md, decisions 5-6)."""
    return TokenPolicy(
        access_lifetime=_seconds(timedelta(milliseconds=params["access_token_lifetime_ms"])),
        refresh_token_lifetime=_seconds(refresh_lifetime(params)),
        client_credentials_refresh_token=params["client_credentials_refresh_token"],
        # Apigee hands out a new refresh token on every refresh and, by default
        # (ReuseRefreshToken false), the old one works only once.
        always_issue_new_refresh_token=True,
        unset_refresh_token_after_use=True,
        access_token_factory=access_token,
        refresh_token_factory=refresh_token,
        scope_rule="intersect",
        empty_intersection=params["scope_no_overlap"],
    )


def _seconds(span: timedelta) -> int | float:
    seconds = span.total_seconds()
    return int(seconds) if seconds.is_integer() else seconds


def gateway_entry(params: Mapping[str, Any]) -> Response:
    """Answer any path the plugin's routes receive (see the module docstring for the order)."""
    path = request.path
    flow = params["base_paths"].get(path)
    if flow is not None:
        method, operation = parse_flow(flow)
        if method is None or request.method == method:
            return token(params, operation)
    proxy = match_proxy(connection(), path)
    if proxy is not None:
        return protected(params, proxy, path)
    if flow is not None or under_token_proxy(path, params):
        return render.no_route()
    raise ProxyNotFound(path)


def token(params: Mapping[str, Any], operation: str) -> Response:
    """GenerateAccessToken (client_credentials) or RefreshAccessToken (refresh_token)."""
    req = wire.token_request(params, operation)
    conn = connection()  # the hot-path Core connection, as the oauth2 plugin's token path
    issued = oauth.issue_token(conn, req, policy(params), now=utcnow(), client_cache=client_cache())
    conn.commit()  # before the app lookup: a writer's lock is held no longer than needed
    app = find_app(conn, issued.client_id)
    refresh_expires_at = (
        issued.issued_at + timedelta(milliseconds=params["refresh_token_lifetime_ms"])
        if issued.refresh_token is not None and params["refresh_token_lifetime_ms"]
        else None
    )
    return render.token(issued, app, params, now=utcnow(), refresh_expires_at=refresh_expires_at)


def protected(params: Mapping[str, Any], proxy: ProxyRoute, path: str) -> Response:
    """VerifyAccessToken (scope any-of, §3.1), then the target's answer."""
    raw = wire.bearer_token()
    conn = connection()
    oauth.verify_access_token(
        conn, raw, required_scope=proxy.scope, any_scope=True, now=utcnow(), cache=token_cache()
    )
    url = gateway.target_url(proxy, path)
    conn.rollback()  # end the read: no transaction stays open while the target answers
    return gateway.forward(url, timeout=params["target_timeout_ms"] / 1000)


def under_token_proxy(path: str, params: Mapping[str, Any]) -> bool:
    """Whether ``path`` lies under the base path of a token endpoint (its parent path)."""
    for endpoint in params["base_paths"]:
        base = endpoint.rsplit("/", 1)[0]
        if base and (path == base or path.startswith(base + "/")):
            return True
    return False
