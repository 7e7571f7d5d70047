"""Typed OAuth2 errors: one class per RFC 6749 §5.2 / RFC 6750 §3.1 code.

An error carries the facts (``reason`` and keyword facts such as the requested scope)
and the engine's standard description, which is the bshaffer/oauth2-server-php text
redCORE answered with. Errors never render HTTP: each dialect decides status, headers and
bytes, and may word the description its own way from ``reason`` and ``facts``.
"""

from __future__ import annotations

from typing import ClassVar


class OAuthError(Exception):
    """An OAuth2 failure; the dialect decides how it sounds on the wire."""

    code: ClassVar[str | None] = "invalid_request"
    # Whether the request's writes stand although it fails (a security measure taken).
    commit_writes: ClassVar[bool] = False

    def __init__(
        self, description: str = "", *, reason: str = "", uri: str | None = None, **facts: object
    ) -> None:
        super().__init__(description or self.code or reason)
        self.description = description
        self.reason = reason
        self.uri = uri  # RFC 6749 section anchor, e.g. "#section-3.2"
        self.facts = facts


class InvalidRequest(OAuthError):
    """RFC 6749 §5.2 invalid_request: a parameter is missing, repeated or malformed."""

    code = "invalid_request"


class InvalidClient(OAuthError):
    """RFC 6749 §5.2 invalid_client: client authentication failed."""

    code = "invalid_client"


class InvalidGrant(OAuthError):
    """RFC 6749 §5.2 invalid_grant: the refresh token is unknown, expired or not yours."""

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


class ClientLocked(InvalidClient):
    """invalid_client, before any check: too many failed attempts for this client and source.

    ``retry_after`` is the number of seconds until attempts are taken again (RFC 6749
    §10.10: the server must keep credentials from being guessed).
    """

    def __init__(self, description: str, *, retry_after: int) -> None:
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
