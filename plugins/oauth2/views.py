"""One thin handler per operation: read the request, call the engine, render.

Every handler runs on the request's Core connection (``connection``) with the worker's
stores; an answer to an identified client is an ``Answer``, which the dispatcher finishes
(commit, the token and usage counts, the deprecation notices); it rolls back when a
handler raises.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from flask import Response
from flask import request

from emulator import oauth
from emulator.host import Answer
from emulator.host import NotServedHere
from emulator.host import connection
from emulator.host import php_input
from emulator.host import stores
from emulator.host import throttle
from emulator.host import utcnow

from . import pages
from . import render
from . import wire
from .legacy import link
from .params import GRANT_NAMES
from .params import token_policy


def token(params: Mapping[str, Any]) -> Answer | Response:
    """option=token: the authorization_code, client_credentials, password and refresh_token
    grants.

    A guest asking for the implicit grant here goes to the login page, as the original
    sent them; a logged-in user gets the engine's unsupported_grant_type.
    """
    inp = php_input()
    if wire.token_param(inp, params, "grant_type") == oauth.IMPLICIT and pages.site_user() is None:
        return pages.login_redirect()
    req = wire.token_request(inp, params)
    served = params["served_grants"]
    if served and req.grant_type in GRANT_NAMES and req.grant_type not in served.split():
        # Left on the legacy site while the site moves: forwarded as an unported URL is.
        raise NotServedHere(
            f"grant_type {req.grant_type} is answered by the legacy site",
            instead=oauth.UnsupportedGrantType(reason="unknown_grant", grant_type=req.grant_type),
        )
    conn = connection()
    policy = stores.derived("oauth2.token_policy", token_policy, params)
    now = utcnow()
    joined = link.current()  # the legacy link, when one is set (one cache lookup)
    if joined is not None and req.grant_type == "refresh_token" and req.refresh_token:
        _take_over_refresh(conn, req.refresh_token, now)
    logs_in = req.grant_type == oauth.PASSWORD  # what only a user's login needs
    issued = oauth.issue_token(
        conn,
        req,
        policy,
        clients=stores.clients(),
        guard=throttle.guard(),
        verifiers=stores.password_verifiers() if logs_in else (),
        user_guard=throttle.user_guard() if logs_in else None,
        verified_passwords=stores.verified_passwords() if logs_in else None,
        now=now,
    )
    if joined is not None:
        used = req.refresh_token if req.grant_type == "refresh_token" else None
        writes = link.issued_writes(
            issued,
            refresh_lifetime=policy.refresh_token_lifetime,
            used_refresh=used if policy.unset_refresh_token_after_use else None,
        )
        link.mirror(conn, joined, writes, now=now)
    return Answer(
        render.token(issued, params),
        issued.client_pk,
        credentials=req.credentials.source,
        issued=req.grant_type,
    )


def resource(params: Mapping[str, Any]) -> Answer:
    """option=resource: is the bearer token valid (and, in default mode, does it hold ?scope=)?"""
    inp = php_input()
    sources = wire.bearer_sources(inp, params)
    raw = oauth.extract_bearer_token(sources, scheme=params["token_bearer_header_name"])
    verify = functools.partial(
        oauth.verify_access_token,
        connection,  # asked for only when the token cache cannot answer
        raw,
        required_scope=wire.required_scope(inp, params),
        now=utcnow(),
        cache=stores.access_tokens(),
    )
    try:
        info = verify()
    except oauth.InvalidToken as error:
        # Unknown here: the old site's, when a legacy link is set and it is live there.
        taken = error.reason == "unknown" and link.take_over(
            connection(), "access", raw, now=utcnow()
        )
        if not taken:
            raise
        info = verify()
        return Answer(render.resource(info), info.client_pk, token=sources.source, wrote=True)
    return Answer(render.resource(info), info.client_pk, token=sources.source)


def profile(params: Mapping[str, Any]) -> Answer:
    """option=profile: the bearer token's row and its user's profile (the guest's when the
    token has no user, or its user is gone)."""
    inp = php_input()
    sources = wire.bearer_sources(inp, params)
    raw = oauth.extract_bearer_token(sources, scheme=params["token_bearer_header_name"])
    conn = connection()
    info = oauth.verify_access_token(conn, raw, now=utcnow(), cache=stores.access_tokens())
    user = None
    if info.user_id is not None and info.user_id.isascii() and info.user_id.isdigit():
        user = oauth.get_user(conn, int(info.user_id))
    return Answer(render.profile(raw, info, user), info.client_pk, token=sources.source)


def revoke(params: Mapping[str, Any]) -> Answer:
    """option=revoke (RFC 7009): end one of the client's tokens; unknown tokens are fine."""
    inp = php_input()
    conn = connection()
    credentials = wire.client_credentials(inp, params)
    client = _authenticate(credentials, params, allow_public=True)
    raw = wire.token_to_act_on(inp, params, "revoke")
    oauth.revoke_token(
        conn, client, raw, wire.token_type_hint(inp, params), cache=stores.access_tokens()
    )
    if isinstance(raw, str) and raw:
        link.mirror_now(conn, [link.delete(raw)])  # the old site's copy too (with a link)
    return Answer(
        render.claims({"revoked": True}),
        client.id,
        credentials=credentials.source,
        token=wire.param_source(inp, params, "token"),
        wrote=True,
    )


def introspect(params: Mapping[str, Any]) -> Answer:
    """option=introspect (RFC 7662): is this token of mine active, and what does it hold?"""
    inp = php_input()
    credentials = wire.client_credentials(inp, params)
    client = _authenticate(credentials, params, allow_public=False)
    raw = wire.token_to_act_on(inp, params, "introspect")
    found = oauth.introspect_token(
        connection(), client, raw, wire.token_type_hint(inp, params), now=utcnow()
    )
    return Answer(
        render.claims(found or {"active": False}),
        client.id,
        credentials=credentials.source,
        token=wire.param_source(inp, params, "token"),
        wrote=True,  # authenticating may rehash a secret stored with older parameters
    )


def metadata(params: Mapping[str, Any]) -> Response:
    """RFC 8414 authorization server metadata, naming the legacy URLs as the endpoints."""
    issuer = params["issuer"].rstrip("/") or request.host_url.rstrip("/")
    return render.metadata(
        issuer,
        cacheable=bool(params["issuer"]),
        body_credentials=params["allow_credentials_in_request_body"],
        scopes=oauth.known_scopes(connection()),
        implicit=params["allow_implicit"],
    )


def _take_over_refresh(conn: Any, raw: str, now: Any) -> None:
    """A refresh token unknown here (never seen, not used up here) is looked up on the old
    site, and stored here when it is live there (the legacy link's read-through)."""
    known = oauth.find_refresh_token(conn, raw) or oauth.find_used_refresh_token(conn, raw)
    if known is None:
        link.take_over(conn, "refresh", raw, now=now)


def client_tokens_ended(db: Any, client_id: str) -> None:
    """Every token of a client ended here (disabled, deleted, revoked): the old site's too."""
    link.mirror_now(db, [link.end_client(client_id)])


def _authenticate(
    credentials: oauth.ClientCredentials | None, params: Mapping[str, Any], *, allow_public: bool
) -> oauth.ClientRecord:
    return oauth.authenticate_client(
        connection(),
        credentials,
        clients=stores.clients(),
        guard=throttle.guard(),
        allow_public=allow_public,
        body_allowed=params["allow_credentials_in_request_body"],
        now=utcnow(),
    )
