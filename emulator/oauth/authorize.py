"""The authorization endpoint (RFC 6749 §4.1.1, §4.2.1): validate a request, then issue
what the user approved (a code, or with the implicit grant an access token).

An error that may go back to the client carries ``redirect_to`` (the redirect URI it goes
to) and ``state`` among its facts (§4.1.2.1); one without ``redirect_to`` concerns the
client or its redirect URI itself, and must be shown to the user, never redirected
(§3.1.2.4: the URI is not trusted). The dialect words both and decides how they travel.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select

from emulator.oauth.clients import ClientRecord
from emulator.oauth.clients import ClientStore
from emulator.oauth.codes import MAX_REDIRECT_URI
from emulator.oauth.codes import IssuedCode
from emulator.oauth.codes import issue_code
from emulator.oauth.errors import AccessDenied
from emulator.oauth.errors import InvalidClient
from emulator.oauth.errors import InvalidRequest
from emulator.oauth.errors import InvalidScope
from emulator.oauth.errors import UnauthorizedClient
from emulator.oauth.errors import UnsupportedResponseType
from emulator.oauth.grants import AUTHORIZATION_CODE
from emulator.oauth.grants import TokenPolicy
from emulator.oauth.scopes import check_scope
from emulator.oauth.scopes import scopes_exist
from emulator.oauth.text import has_control_characters
from emulator.oauth.tokens import IssuedToken
from emulator.oauth.tokens import issue_tokens
from emulator.storage.models import Client
from emulator.storage.schema import DbHandle

CODE = "code"  # response_type of the authorization code grant (§4.1.1)
TOKEN = "token"  # response_type of the implicit grant (§4.2.1)
IMPLICIT = "implicit"  # the implicit grant's name where a client's grant types list it
_CLIENTS = Client.__table__


@dataclass(frozen=True)
class AuthorizationRequest:
    """An authorization request, read off the wire by a dialect (None: not given)."""

    client_id: str | None
    redirect_uri: str | None
    response_type: str | None
    state: str | None
    scope: str | None


@dataclass(frozen=True)
class AuthorizePolicy:
    """A dialect's rules for the authorization endpoint."""

    allow_implicit: bool = False
    enforce_state: bool = True
    # Whether a given redirect URI (first) is the registered one (second); RFC 6749 §3.1.2.3
    # says by simple string comparison, a dialect may be looser as its legacy system was.
    redirect_uri_allowed: Callable[[str, str], bool] = operator.eq


@dataclass(frozen=True)
class Authorization:
    """A valid authorization request: who asks, where the answer goes, what it may get."""

    client: ClientRecord
    response_type: str
    redirect_uri: str  # where the answer goes (the given one, else the registered one)
    given_redirect_uri: str | None  # what the request named: a code must be redeemed with it
    state: str | None
    requested_scope: str | None


def registered_redirect_uri(db: DbHandle, client: ClientRecord) -> str:
    """The client's registered redirect URI(s), space-separated ("" when none)."""
    return (
        db.execute(
            select(_CLIENTS.c.redirect_uri).where(_CLIENTS.c.id == client.id)
        ).scalar_one_or_none()
        or ""
    )


def validate_authorization(
    db: DbHandle, req: AuthorizationRequest, policy: AuthorizePolicy, *, clients: ClientStore
) -> Authorization:
    """Check an authorization request, in the order RFC 6749 §4.1.2.1 implies: the client
    and the redirect URI first (errors shown, not redirected), then the rest (redirected).

    A client that registered no redirect URI cannot use this endpoint at all: sending a code
    or a token to whatever URI a request names is an open redirector (§10.15).
    """
    if not req.client_id:
        raise InvalidClient(reason="no_client_id")
    client = None if has_control_characters(req.client_id) else clients.load(db, req.client_id)
    if client is None:
        raise InvalidClient(reason="unknown_client_id")
    registered = registered_redirect_uri(db, client)
    if req.redirect_uri:
        if len(req.redirect_uri) > MAX_REDIRECT_URI or has_control_characters(req.redirect_uri):
            raise InvalidRequest(reason="redirect_uri_mismatch")
        if urlsplit(req.redirect_uri).fragment:
            raise InvalidRequest(reason="redirect_uri_fragment")
        if not registered:
            raise InvalidRequest(reason="no_registered_redirect_uri")
        if not any(
            policy.redirect_uri_allowed(req.redirect_uri, uri)
            for uri in registered.split(" ")
            if uri
        ):
            raise InvalidRequest(reason="redirect_uri_mismatch")
        redirect_to = req.redirect_uri
    else:
        if not registered:
            raise InvalidRequest(reason="no_redirect_uri")
        if len(registered.split(" ")) > 1:
            raise InvalidRequest(reason="several_redirect_uris")
        redirect_to = registered
    back = {"redirect_to": redirect_to, "state": req.state}
    if req.response_type not in (CODE, TOKEN):
        raise InvalidRequest(reason="response_type", **back)
    if req.response_type == CODE and not client.allows_grant(AUTHORIZATION_CODE):
        raise UnauthorizedClient(reason="grant_not_allowed", **back)
    if req.response_type == TOKEN:
        if not policy.allow_implicit:
            raise UnsupportedResponseType(reason="implicit_off", **back)
        if not client.allows_grant(IMPLICIT):
            raise UnauthorizedClient(reason="grant_not_allowed", **back)
    if req.scope:
        allowed = client.allowed_scope
        if (allowed is None and not scopes_exist(db, req.scope)) or (
            allowed is not None and not check_scope(req.scope, allowed)
        ):
            raise InvalidScope(reason="unsupported", **back)
    if policy.enforce_state and not req.state:
        raise InvalidRequest(reason="no_state", redirect_to=redirect_to, state=None)
    return Authorization(
        client=client,
        response_type=req.response_type,
        redirect_uri=redirect_to,
        given_redirect_uri=req.redirect_uri or None,
        state=req.state,
        requested_scope=req.scope or None,
    )


def deny_authorization(auth: Authorization) -> AccessDenied:
    """The error that tells the client the user said no (§4.1.2.1), to raise."""
    return AccessDenied(reason="denied", redirect_to=auth.redirect_uri, state=auth.state)


def approve_authorization(
    db: DbHandle,
    auth: Authorization,
    *,
    user_id: str,
    scope: str | None,
    policy: TokenPolicy,
    now: datetime,
) -> IssuedCode | IssuedToken:
    """Issue what the user approved: a code (kept with the redirect URI as the request gave
    it, §4.1.3) or, for the implicit grant, an access token without a refresh token
    (§4.2.2). ``scope`` is what is granted (None: the default scopes). The caller commits."""
    if auth.response_type == CODE:
        return issue_code(
            db,
            auth.client,
            user_id=user_id,
            redirect_uri=auth.given_redirect_uri,
            scope=scope,
            lifetime=policy.auth_code_lifetime,
            now=now,
        )
    issued = issue_tokens(
        db,
        auth.client,
        user_id=user_id,
        scope=scope,
        access_lifetime=policy.access_lifetime,
        refresh_lifetime=None,
        access_token_factory=policy.access_token_factory,
        now=now,
    )
    assert issued is not None  # nothing is used up: the inserts always happen
    return issued
