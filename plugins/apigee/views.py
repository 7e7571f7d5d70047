"""The handler behind the plugin's one route: resolve the flow, then run it.

Each flow is thin: read the request, call the engine, render. One ``now`` per request.
Every handler runs on the request's Core connection; an answer to an identified client is
an ``Answer`` that names its flow (a proxy by its base path), which the dispatcher
finishes (commit, counts, deprecation notices); it rolls back when one raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from emulator import oauth
from emulator.host import Answer
from emulator.host import connection
from emulator.host import metrics
from emulator.host import release_connection
from emulator.host import stores
from emulator.host import throttle
from emulator.host import utcnow

from . import gateway
from . import render
from . import tokens
from . import wire
from .apps import App
from .apps import find_app
from .flows import ProxyFlow
from .flows import TokenFlow
from .flows import resolve

# This worker's copies of apps (stores.plugin_cache), by (client row, client id).
APPS_CACHE = "apigee.apps"
MAX_APPS = 10_000


def gateway_entry(params: Mapping[str, Any]) -> Answer:
    """Answer any path of the plugin: a token flow or a protected proxy (else resolve raises)."""
    now = utcnow()
    flow = resolve(connection, wire.request_line(), params)
    if isinstance(flow, TokenFlow):
        metrics.label_operation(flow.operation)
        return token(params, flow.operation, now=now)
    assert isinstance(flow, ProxyFlow)
    metrics.label_operation("proxy")  # not the base path: one label value for every proxy
    return protected(params, flow, now=now)


def token(params: Mapping[str, Any], operation: str, *, now: datetime) -> Answer:
    """GenerateAccessToken (client_credentials) or RefreshAccessToken (refresh_token)."""
    req = wire.token_request(params, operation)
    conn = connection()
    policy = stores.derived("apigee.token_policy", tokens.policy, params)
    issued = oauth.issue_token(
        conn, req, policy, clients=stores.clients(), guard=throttle.guard(), now=now
    )
    app = _app(conn, issued.client_pk, issued.client_id)
    return Answer(
        render.token(
            issued,
            app,
            params,
            now=now,
            refresh_expires_at=tokens.refresh_expires_at(issued, params),
        ),
        issued.client_pk,
        credentials=req.credentials.source,
        issued=req.grant_type,
        operation=operation,
    )


def _app(conn: Connection, client_pk: int, client_id: str) -> App:
    """The client's app as this worker read it at most ``CACHE_MAX_AGE`` seconds ago.

    Like the client records: an admin's change reaches every worker within that time,
    and a token request reads nothing the worker read a moment ago.
    """
    cache = stores.plugin_cache(APPS_CACHE, MAX_APPS)
    key = (client_pk, client_id)
    app = cache.get(key)
    if app is None:
        app = find_app(conn, client_pk, client_id)
        cache.put(key, app)
    return app


def protected(params: Mapping[str, Any], flow: ProxyFlow, *, now: datetime) -> Answer:
    """VerifyAccessToken (scope any-of, §3.1), then the target's answer, streamed."""
    raw = wire.bearer_token()
    caller = oauth.verify_access_token(
        connection,  # asked for only when the token cache cannot answer
        raw,
        required_scope=flow.proxy.scope,
        any_scope=True,
        now=now,
        cache=stores.access_tokens(),
    )
    # No transaction or pooled connection is held while the body and the answer come in.
    release_connection()
    limits = gateway.proxy_limits(params)
    outbound = gateway.outbound_request(flow.proxy, flow.path, caller, limits)
    return Answer(
        gateway.forward(outbound, limits),
        caller.client_pk,
        token="header",  # VerifyAccessToken reads the Authorization header only
        operation=flow.proxy.base_path,
    )
