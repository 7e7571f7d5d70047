"""Apigee's tokens in engine terms: their shapes and the policy the params make.

Apigee's access tokens are 28 alphanumerics and its refresh tokens 32 (compat/apigee.md
§2.5); lifetimes are milliseconds; a refresh always rotates (decisions 5-6).
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from datetime import datetime
from datetime import timedelta
from typing import Any

from emulator.oauth import IssuedToken
from emulator.oauth import TokenPolicy

ALPHANUMERIC = string.ascii_letters + string.digits
# RefreshTokenExpiresIn unset: the refresh token does not expire. Rows need a date, so
# "never" is a century; purge never reaches it, a refresh consumes it.
NO_EXPIRY = timedelta(days=36_500)


# Random bytes below this map evenly onto the 62 characters (4 bytes each); the rest are
# skipped, so every character is equally likely.
_EVEN_BYTES = 256 - 256 % len(ALPHANUMERIC)


def alphanumeric_token(length: int) -> str:
    """A random token of ``length`` characters [A-Za-z0-9], each uniformly chosen.

    From one read of random bytes (``secrets.choice`` per character read the system's
    random source once per character: 28 reads for an access token).
    """
    chars: list[str] = []
    while len(chars) < length:
        for byte in secrets.token_bytes(length - len(chars) + 8):  # spares for skipped bytes
            if byte < _EVEN_BYTES:
                chars.append(ALPHANUMERIC[byte % len(ALPHANUMERIC)])
                if len(chars) == length:
                    break
    return "".join(chars)


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


def refresh_expires_at(issued: IssuedToken, params: Mapping[str, Any]) -> datetime | None:
    """When the issued refresh token expires, or None (no refresh token, or it never does)."""
    ms = params["refresh_token_lifetime_ms"]
    if issued.refresh_token is None or not ms:
        return None
    return issued.issued_at + timedelta(milliseconds=ms)


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
