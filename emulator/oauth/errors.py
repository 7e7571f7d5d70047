"""Typed OAuth2 errors: one class per RFC 6749 §5.2 / RFC 6750 §3.1 code.

An error carries facts, not words: its ``code``, a ``reason`` that says which rule failed
(``unknown``, ``expired``, ``redirect_uri_mismatch``, ...) and keyword facts such as the
requested scope or the grant type. The engine raises them without a description; each
dialect words them itself, keyed by code and reason (the redCORE dialect with
bshaffer/oauth2-server-php's texts, another with its own), and decides status,
headers and bytes. A dialect or the host may still raise one with words of its own
(``description``), which its renderer then sends as they are.
"""

from __future__ import annotations

from typing import ClassVar


class OAuthError(Exception):
    """An OAuth2 failure; the dialect decides how it sounds on the wire."""

    code: ClassVar[str | None] = "invalid_request"
    # Whether the request's writes stand although it fails (a security measure taken).
    commit_writes: ClassVar[bool] = False

    def __init__(self, description: str = "", *, reason: str = "", **facts: object) -> None:
        super().__init__(description or f"{self.code or 'no_token'}: {reason or 'unspecified'}")
        self.description = description
        self.reason = reason
        self.facts = facts


class InvalidRequest(OAuthError):
    """RFC 6749 §5.2 invalid_request: a parameter is missing, repeated or malformed."""

    code = "invalid_request"


class InvalidClient(OAuthError):
    """RFC 6749 §5.2 invalid_client: client authentication failed."""

    code = "invalid_client"


class InvalidGrant(OAuthError):
    """RFC 6749 §5.2 invalid_grant: the code or refresh token is unknown, expired or not
    yours, or the redirect URI differs from the code's (§4.1.3)."""

    code = "invalid_grant"


class RefreshTokenReused(InvalidGrant):
    """A used-up refresh token came back: its whole chain was revoked (RFC 6819 §5.2.2.3).

    The revocation must stand although the request fails: ``commit_writes`` asks the
    dispatcher to commit what the request wrote instead of rolling it back.
    """

    commit_writes: ClassVar[bool] = True


class UnauthorizedClient(OAuthError):
    """RFC 6749 §5.2 unauthorized_client: this client may not use this grant."""

    code = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    """RFC 6749 §5.2 unsupported_grant_type."""

    code = "unsupported_grant_type"


class InvalidScope(OAuthError):
    """RFC 6749 §5.2 invalid_scope."""

    code = "invalid_scope"


class UnsupportedResponseType(OAuthError):
    """RFC 6749 §4.1.2.1 unsupported_response_type: the server does not offer this one."""

    code = "unsupported_response_type"


class AccessDenied(OAuthError):
    """RFC 6749 §4.1.2.1 access_denied: the user said no."""

    code = "access_denied"


class ClientLocked(InvalidClient):
    """invalid_client, before any check: too many failed attempts for this client and source.

    ``retry_after`` is the number of seconds until attempts are taken again (RFC 6749
    §10.10: the server must keep credentials from being guessed).
    """

    def __init__(self, description: str = "", *, retry_after: int) -> None:
        super().__init__(description, reason="locked", retry_after=retry_after)
        self.retry_after = retry_after


class InvalidToken(OAuthError):
    """RFC 6750 §3.1 invalid_token: the access token is unknown."""

    code = "invalid_token"


class ExpiredToken(OAuthError):
    """bshaffer's expired_token (RFC 6750 would say invalid_token): the token has expired."""

    code = "expired_token"


class InsufficientScope(OAuthError):
    """RFC 6750 §3.1 insufficient_scope: the token lacks a required scope."""

    code = "insufficient_scope"


class TokenMissing(OAuthError):
    """RFC 6750 §3.1: no token at all; the answer carries no error code."""

    code = None
