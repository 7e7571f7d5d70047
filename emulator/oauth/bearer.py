"""Finding the access token in a resource request (RFC 6750 §2, bshaffer's Bearer rules)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal

from emulator.oauth.errors import InvalidRequest
from emulator.oauth.errors import InvalidToken
from emulator.oauth.errors import TokenMissing

# Where a request carried a token, in neutral words: the Authorization header, the query
# string, a form body, a JSON body (a parameter such as RFC 7009's ``token`` may be in one).
TokenSource = Literal["header", "query", "body", "json"]

# PCRE's \s and \S without the /u flag: ASCII whitespace only.
_WS = " \t\n\r\f\v"


@dataclass(frozen=True)
class BearerSources:
    """The three places a token may travel; None where the request carries nothing usable.

    ``body_token`` is whatever a parsed body held (a JSON body may hold a non-string);
    ``content_type`` is the raw header, or None when absent.
    """

    authorization: str | None
    query_token: object
    body_token: object
    method: str
    content_type: str | None

    @property
    def source(self) -> TokenSource | None:
        """Where the token was (once ``extract_bearer_token`` accepted it); None: nowhere."""
        if self.authorization is not None:
            return "header"
        if self.query_token is not None:
            return "query"
        if self.body_token is not None:
            return "body"
        return None


def extract_bearer_token(src: BearerSources, *, scheme: str = "Bearer") -> str:
    """Return the one access token the request carries, or raise.

    Exactly one of header, query and body may be used (RFC 6750 §2); a header must hold
    "<scheme> <token>" (scheme in any case); a body token needs POST or PUT and a
    form-encoded body (RFC 6750 §2.2).
    """
    used = (
        (src.authorization is not None)
        + (src.query_token is not None)
        + (src.body_token is not None)
    )
    if used > 1:
        raise InvalidRequest(reason="several_methods")
    if used == 0:
        raise TokenMissing(reason="no_token")
    if src.authorization is not None:
        match = _header_pattern(scheme).search(src.authorization)
        if match is None:
            raise InvalidRequest(reason="malformed_header")
        return match.group(1)
    if src.body_token is not None:
        if src.method not in ("POST", "PUT"):
            raise InvalidRequest(reason="body_method")
        if src.content_type is not None and src.content_type.split(";", 1)[0] != (
            "application/x-www-form-urlencoded"
        ):
            raise InvalidRequest(reason="body_content_type")
        token = src.body_token
    else:
        token = src.query_token
    if not isinstance(token, str):  # e.g. access_token[]=x
        raise InvalidToken(reason="not_a_string")
    return token


@functools.lru_cache(maxsize=16)
def _header_pattern(scheme: str) -> re.Pattern[str]:
    """``<scheme> <token>`` anywhere in the header, the scheme in any case (bshaffer's
    preg_match), compiled once per scheme (a dialect's param: a handful at most)."""
    return re.compile(re.escape(scheme) + f"[{_WS}]([^{_WS}]+)", flags=re.IGNORECASE)
