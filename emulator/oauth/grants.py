"""The token endpoint's grants (RFC 6749 §4.1, §4.3, §4.4 and §6) and the order they are checked in.

Check order, as bshaffer's TokenController had it (compat/redcore.md): grant_type present
-> grant_type known -> client authentication -> grant-specific validation -> code or token
belongs to the client -> client's grant_types restriction -> scope -> issue. So a code of
another client that names the wrong redirect URI is a redirect mismatch, and a client
barred from a grant learns so only with a valid code or token.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar
from typing import Literal

from emulator.oauth.clients import AuthGuard
from emulator.oauth.clients import ClientCredentials
from emulator.oauth.clients import ClientRecord
from emulator.oauth.clients import ClientStore
from emulator.oauth.clients import authenticate_client
from emulator.oauth.codes import find_code
from emulator.oauth.errors import InvalidGrant
from emulator.oauth.errors import InvalidRequest
from emulator.oauth.errors import InvalidScope
from emulator.oauth.errors import RefreshTokenReused
from emulator.oauth.errors import UnauthorizedClient
from emulator.oauth.errors import UnsupportedGrantType
from emulator.oauth.memo import VerifiedSecrets
from emulator.oauth.scopes import check_scope
from emulator.oauth.scopes import default_scope
from emulator.oauth.scopes import intersect_scope
from emulator.oauth.scopes import scopes_exist
from emulator.oauth.scopes import split_scope
from emulator.oauth.tokens import IssuedToken
from emulator.oauth.tokens import UsedToken
from emulator.oauth.tokens import find_refresh_token
from emulator.oauth.tokens import find_used_refresh_token
from emulator.oauth.tokens import generate_token
from emulator.oauth.tokens import is_expired
from emulator.oauth.tokens import issue_tokens
from emulator.oauth.tokens import revoke_family
from emulator.oauth.users import PasswordVerifier
from emulator.oauth.users import UserGuard
from emulator.oauth.users import authenticate_user
from emulator.storage.schema import DbHandle
from emulator.storage.sqlite import write


def _no_wider(
    db: DbHandle, theirs: str | None, own: str | None, clients: ClientStore
) -> str | None:
    """Another client's scope (the scope quirk of a client_id parameter naming another
    client than the authenticated one) only when it is within the authenticated client's
    own; else the client's own. ``None`` stands for the default scopes. The original gave
    the other client's scope as it was: a client could widen its users' tokens so."""
    defaults = clients.default_scope(db)
    theirs_names = set(split_scope(theirs if theirs is not None else defaults or ""))
    own_names = set(split_scope(own if own is not None else defaults or ""))
    return theirs if theirs_names <= own_names else own


@dataclass(frozen=True)
class TokenRequest:
    """A token request, already read off the wire by a dialect.

    ``None`` means "not given": the dialect decides what counts as given (PHP's
    truthiness for redCORE). ``credentials`` is None when the request carried none.
    """

    grant_type: str | None
    credentials: ClientCredentials | None
    scope: str | None = None
    refresh_token: str | None = None
    code: str | None = None
    redirect_uri: str | None = None
    # The password grant's resource owner (RFC 6749 §4.3.2); None: not given.
    username: str | None = None
    password: str | None = None
    # The client_id the request named as a parameter, whichever way the client
    # authenticated (a policy may take the password grant's scope from that client).
    client_id_param: str | None = None
    # Whether the dialect looked for credentials in the body (changes one error text).
    credentials_body_allowed: bool = True


@dataclass(frozen=True)
class TokenPolicy:
    """A dialect's params in engine terms: lifetimes, token shapes, scope and refresh rules."""

    access_lifetime: int = 3600
    refresh_token_lifetime: int = 1_209_600
    client_credentials_refresh_token: bool = False
    always_issue_new_refresh_token: bool = False
    unset_refresh_token_after_use: bool = True
    access_token_factory: Callable[[], str] = generate_token
    refresh_token_factory: Callable[[], str] = generate_token
    # "subset": a requested scope outside what is allowed is an error (RFC 6749, bshaffer);
    # "intersect": the request is narrowed to what is allowed, and an empty
    # result is an error or an empty scope, as ``empty_intersection`` says.
    scope_rule: Literal["subset", "intersect"] = "subset"
    empty_intersection: Literal["error", "empty"] = "error"
    # RFC 6819 §5.2.2.3: a used-up refresh token presented again ends its whole chain.
    revoke_on_refresh_token_reuse: bool = False
    # Seconds an authorization code lives (bshaffer's auth_code_lifetime; RFC 6749 §4.1.2
    # recommends at most ten minutes).
    auth_code_lifetime: int = 30
    # Whether the redirect URI of a token request (first argument) is the code's (second).
    # RFC 6749 §4.1.3 says identical; a dialect may compare as its legacy system did.
    redirect_uri_matches: Callable[[str, str], bool] = operator.eq
    # Which client's scope a password grant makes available: the authenticated client's
    # (False), or the one the request's ``client_id_param`` names, none when it names none
    # (True: a legacy system's quirk that its clients were built against).
    user_scope_from_client_id_param: bool = False


@dataclass(frozen=True)
class GrantServices:
    """What grants use besides the request: the client store, and for logging users in,
    the plugins' password verifiers, the guard against guessing and the worker's memo of
    verified passwords."""

    clients: ClientStore
    verifiers: Sequence[PasswordVerifier] = ()
    user_guard: UserGuard | None = None
    verified_passwords: VerifiedSecrets | None = None


@dataclass(frozen=True)
class GrantContext:
    """What a validated grant contributes: its scope, its user and the refresh token used."""

    available_scope: str | None
    user_id: str | None
    refresh_token_hash: str | None = None
    # The chain the refresh token used belongs to (its own hash when it started one).
    family_hash: str | None = None
    refresh_expires_at: datetime | None = None
    code_hash: str | None = None  # the authorization code used


class Grant:
    """A grant type: how it authenticates, validates and issues."""

    grant_type: ClassVar[str]
    allow_public_clients: ClassVar[bool]
    # Whether ``validate`` checks a user's password: its failures are counted by a guard
    # that writes apart, which must come before the request writes anything (on SQLite
    # the request's own write lock would keep the count waiting on it for ever).
    checks_user_password: ClassVar[bool] = False

    @classmethod
    def validate(
        cls,
        db: DbHandle,
        req: TokenRequest,
        client: ClientRecord,
        policy: TokenPolicy,
        *,
        now: datetime,
        services: GrantServices,
    ) -> GrantContext:
        """Check the grant's own parameters; raise an OAuthError when they fail."""
        raise NotImplementedError

    @classmethod
    def issue(
        cls,
        db: DbHandle,
        client: ClientRecord,
        ctx: GrantContext,
        scope: str | None,
        policy: TokenPolicy,
        *,
        now: datetime,
    ) -> IssuedToken:
        """Store and return the new token(s)."""
        raise NotImplementedError


class ClientCredentialsGrant(Grant):
    """RFC 6749 §4.4: a confidential client asks for a token for itself."""

    grant_type = "client_credentials"
    allow_public_clients = False  # RFC 6749 §4.4: confidential clients only

    @classmethod
    def validate(
        cls,
        db: DbHandle,
        req: TokenRequest,
        client: ClientRecord,
        policy: TokenPolicy,
        *,
        now: datetime,
        services: GrantServices,
    ) -> GrantContext:
        """Nothing to check: the grant makes the client's own allowed scope available."""
        return GrantContext(available_scope=client.allowed_scope, user_id=client.user_id)

    @classmethod
    def issue(
        cls,
        db: DbHandle,
        client: ClientRecord,
        ctx: GrantContext,
        scope: str | None,
        policy: TokenPolicy,
        *,
        now: datetime,
    ) -> IssuedToken:
        """Issue an access token, and a refresh token when the policy and the client allow."""
        # RFC 6749 §4.4.3 says no refresh token; redCORE's manual promised one, so it is
        # the dialect's choice, and never for a client that may not use it.
        with_refresh = policy.client_credentials_refresh_token and may_refresh(client)
        return issue_tokens(
            db,
            client,
            user_id=ctx.user_id,
            scope=scope,
            access_lifetime=policy.access_lifetime,
            refresh_lifetime=policy.refresh_token_lifetime if with_refresh else None,
            access_token_factory=policy.access_token_factory,
            refresh_token_factory=policy.refresh_token_factory,
            now=now,
        )


class RefreshTokenGrant(Grant):
    """RFC 6749 §6: trade a refresh token for a new access token."""

    grant_type = "refresh_token"
    allow_public_clients = True  # a public client refreshes by client_id alone

    @classmethod
    def validate(
        cls,
        db: DbHandle,
        req: TokenRequest,
        client: ClientRecord,
        policy: TokenPolicy,
        *,
        now: datetime,
        services: GrantServices,
    ) -> GrantContext:
        """The refresh token must exist, be live and belong to the client (in that order)."""
        if not req.refresh_token:
            raise InvalidRequest(reason="missing", parameter="refresh_token")
        row = find_refresh_token(db, req.refresh_token)
        if row is None:
            if policy.revoke_on_refresh_token_reuse:
                used = find_used_refresh_token(db, req.refresh_token)
                if used is not None and used.client_id == client.id:
                    revoke_family(db, client, used.family_hash, cache=None)
                    raise RefreshTokenReused(reason="reused")
            raise InvalidGrant(reason="unknown")
        if is_expired(row.expires_at, now):
            raise InvalidGrant(reason="expired")
        if row.client_id != client.id:
            raise InvalidGrant(reason="other_client", grant_type=cls.grant_type)
        return GrantContext(
            available_scope=row.scope or None,
            user_id=row.user_id,
            refresh_token_hash=row.token_hash,
            family_hash=row.family_hash or row.token_hash,
            refresh_expires_at=row.expires_at,
        )

    @classmethod
    def issue(
        cls,
        db: DbHandle,
        client: ClientRecord,
        ctx: GrantContext,
        scope: str | None,
        policy: TokenPolicy,
        *,
        now: datetime,
    ) -> IssuedToken:
        """Consume the refresh token (when the policy says so) and issue an access token."""
        # The refresh token is used up in the same write: of several concurrent uses exactly
        # one deletes its row and issues; the others are told it is unknown, as it now is.
        consume = policy.unset_refresh_token_after_use
        remember = (
            UsedToken(client.id, ctx.family_hash, ctx.refresh_expires_at)
            if consume and policy.revoke_on_refresh_token_reuse
            else None
        )
        issued = issue_tokens(
            db,
            client,
            user_id=ctx.user_id,
            scope=scope,
            access_lifetime=policy.access_lifetime,
            refresh_lifetime=(
                policy.refresh_token_lifetime if policy.always_issue_new_refresh_token else None
            ),
            linked_refresh_hash=ctx.refresh_token_hash,
            family_hash=ctx.family_hash,
            consume=ctx.refresh_token_hash if consume else None,
            remember=remember,
            access_token_factory=policy.access_token_factory,
            refresh_token_factory=policy.refresh_token_factory,
            now=now,
        )
        if issued is None:
            raise InvalidGrant(reason="unknown")
        return issued


class PasswordGrant(Grant):
    """RFC 6749 §4.3: a client trades a user's username and password for tokens for the user."""

    grant_type = "password"
    allow_public_clients = True  # a public client logs its users in by client_id alone
    checks_user_password = True

    @classmethod
    def validate(
        cls,
        db: DbHandle,
        req: TokenRequest,
        client: ClientRecord,
        policy: TokenPolicy,
        *,
        now: datetime,
        services: GrantServices,
    ) -> GrantContext:
        """Both given (reason ``missing_user_credentials``), then the user's password checked
        (``authenticate_user``: an unknown, blocked or two-factor user fails as a wrong
        password, reason ``user_credentials``; ``UserLocked`` while the guard refuses)."""
        if not req.username or not req.password:
            raise InvalidRequest(reason="missing_user_credentials")
        user = authenticate_user(
            db,
            req.username,
            req.password,
            verifiers=services.verifiers,
            guard=services.user_guard,
            verified=services.verified_passwords,
            now=now,
        )
        if user is None:
            raise InvalidGrant(reason="user_credentials")
        if policy.user_scope_from_client_id_param:
            named = services.clients.load(db, req.client_id_param) if req.client_id_param else None
            available = None if named is None else named.allowed_scope
            if named is not None and named.client_id != client.client_id:
                available = _no_wider(db, available, client.allowed_scope, services.clients)
        else:
            available = client.allowed_scope
        return GrantContext(available_scope=available, user_id=user.user_id)

    @classmethod
    def issue(
        cls,
        db: DbHandle,
        client: ClientRecord,
        ctx: GrantContext,
        scope: str | None,
        policy: TokenPolicy,
        *,
        now: datetime,
    ) -> IssuedToken:
        """Issue an access token for the user and (when the client may use it) a refresh
        token."""
        return issue_tokens(
            db,
            client,
            user_id=ctx.user_id,
            scope=scope,
            access_lifetime=policy.access_lifetime,
            refresh_lifetime=policy.refresh_token_lifetime if may_refresh(client) else None,
            access_token_factory=policy.access_token_factory,
            refresh_token_factory=policy.refresh_token_factory,
            now=now,
        )


class AuthorizationCodeGrant(Grant):
    """RFC 6749 §4.1.3: trade an authorization code for tokens for its user."""

    grant_type = "authorization_code"
    allow_public_clients = True  # a public client redeems its code by client_id alone

    @classmethod
    def validate(
        cls,
        db: DbHandle,
        req: TokenRequest,
        client: ClientRecord,
        policy: TokenPolicy,
        *,
        now: datetime,
        services: GrantServices,
    ) -> GrantContext:
        """The code must exist, its redirect URI be repeated, be live and belong to the
        client (in bshaffer's order: the redirect URI before the expiry)."""
        if not req.code:
            raise InvalidRequest(reason="missing", parameter="code")
        row = find_code(db, req.code)
        if row is None:
            raise InvalidGrant(reason="unknown_code")
        # §4.1.3: required and the same when the authorization request named one.
        if row.redirect_uri and not (
            req.redirect_uri and policy.redirect_uri_matches(req.redirect_uri, row.redirect_uri)
        ):
            raise InvalidGrant(reason="redirect_uri_mismatch")
        if is_expired(row.expires_at, now):
            raise InvalidGrant(reason="expired_code")
        if row.client_id != client.id:
            raise InvalidGrant(reason="other_client", grant_type=cls.grant_type)
        return GrantContext(
            available_scope=row.scope or None, user_id=row.user_id, code_hash=row.code_hash
        )

    @classmethod
    def issue(
        cls,
        db: DbHandle,
        client: ClientRecord,
        ctx: GrantContext,
        scope: str | None,
        policy: TokenPolicy,
        *,
        now: datetime,
    ) -> IssuedToken:
        """Use the code up and issue an access token and (when the client may use it) a
        refresh token."""
        # Of several concurrent uses of a code exactly one deletes its row and issues; the
        # others are told it is unknown, as it now is.
        issued = issue_tokens(
            db,
            client,
            user_id=ctx.user_id,
            scope=scope,
            access_lifetime=policy.access_lifetime,
            refresh_lifetime=policy.refresh_token_lifetime if may_refresh(client) else None,
            consume_code=ctx.code_hash,
            access_token_factory=policy.access_token_factory,
            refresh_token_factory=policy.refresh_token_factory,
            now=now,
        )
        if issued is None:
            raise InvalidGrant(reason="unknown_code")
        return issued


def may_refresh(client: ClientRecord) -> bool:
    """Whether a client may be given a refresh token: only one that may use it."""
    return client.allows_grant(RefreshTokenGrant.grant_type)


# The grant type names, for dialects that support one grant per endpoint.
AUTHORIZATION_CODE = AuthorizationCodeGrant.grant_type
CLIENT_CREDENTIALS = ClientCredentialsGrant.grant_type
PASSWORD = PasswordGrant.grant_type
REFRESH_TOKEN = RefreshTokenGrant.grant_type

# The grants the engine knows, by grant_type, in the order bshaffer's server registered
# them for redCORE (the one list of grant type names: the CLI names them in this order).
GRANTS: dict[str, type[Grant]] = {
    g.grant_type: g
    for g in (AuthorizationCodeGrant, ClientCredentialsGrant, PasswordGrant, RefreshTokenGrant)
}


def resolve_scope(
    db: DbHandle,
    requested: str | None,
    available: str | None,
    client: ClientRecord,
    policy: TokenPolicy = TokenPolicy(),
    defaults: Callable[[DbHandle], str | None] = default_scope,
) -> str | None:
    """Decide the granted scope (bshaffer TokenController::grantAccessToken).

    Requested: must be within what the grant makes available (the client's scope, or the
    refresh token's); when the grant has none, within the client's scope, else each must
    exist. Nothing requested: what the grant makes available, else the default scopes.
    The granted string is the requested one verbatim (order kept).
    With the "intersect" rule, a request is narrowed to what is available instead.
    """
    if policy.scope_rule == "intersect":
        if not requested:
            return available
        granted = intersect_scope(requested, available)
        if not granted and policy.empty_intersection == "error":
            raise InvalidScope(reason="no_overlap")
        return granted
    if requested:
        if available:
            if not check_scope(requested, available):
                raise InvalidScope(reason="not_available")
        elif client.allowed_scope:
            if not check_scope(requested, client.allowed_scope):
                raise InvalidScope(reason="not_client")
        elif not scopes_exist(db, requested):
            raise InvalidScope(reason="unsupported")
        return requested
    return available or defaults(db)


def issue_token(
    db: DbHandle,
    req: TokenRequest,
    policy: TokenPolicy,
    *,
    clients: ClientStore,
    now: datetime,
    guard: AuthGuard | None = None,
    verifiers: Sequence[PasswordVerifier] = (),
    user_guard: UserGuard | None = None,
    verified_passwords: VerifiedSecrets | None = None,
) -> IssuedToken:
    """Answer a token request: authenticate, apply the grant, decide scope, issue.

    The issue's writes go through ``storage.sqlite.write``: on SQLite they are committed in a
    group commit before this returns, on PostgreSQL (one statement, no transaction open)
    in autocommit; elsewhere, or after other writes, the caller's commit commits them.
    Callers commit after it either way, and nothing they do later can take the token back.
    ``verifiers``, ``user_guard`` and ``verified_passwords`` serve the password grant
    (``authenticate_user``).
    """
    if not req.grant_type:
        raise InvalidRequest(reason="no_grant_type")
    grant = GRANTS.get(req.grant_type)
    if grant is None:
        raise UnsupportedGrantType(reason="unknown_grant", grant_type=req.grant_type)
    client = authenticate_client(
        db,
        req.credentials,
        clients=clients,
        allow_public=grant.allow_public_clients,
        body_allowed=req.credentials_body_allowed,
        guard=guard,
        now=now,
        # The client's old secret hash is replaced by a request of another grant.
        rehash=not grant.checks_user_password,
    )
    services = GrantServices(clients, verifiers, user_guard, verified_passwords)
    ctx = grant.validate(db, req, client, policy, now=now, services=services)
    if not client.allows_grant(grant.grant_type):
        raise UnauthorizedClient(reason="grant_not_allowed", grant_type=grant.grant_type)
    scope = resolve_scope(
        db, req.scope, ctx.available_scope, client, policy, defaults=clients.default_scope
    )
    return write(db, lambda handle: grant.issue(handle, client, ctx, scope, policy, now=now))
