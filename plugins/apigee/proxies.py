"""Protected API proxies: storage, and which one a request path belongs to.

As on Apigee, a proxy owns every path under its base path (whole segments: ``/weather``
owns ``/weather`` and ``/weather/forecastrss``, not ``/weatherman``), and the longest
matching base path wins.

A path is matched only when it can mean nothing but itself (``is_plain_path``): a dot
segment, an empty segment, a backslash or an encoded ``/`` or ``\\`` would let a server
behind the proxy (or one that decodes twice) resolve it to a place outside the base path
that was matched, so such paths are refused before any proxy is looked at. The target
then gets the suffix of the very path that was matched (``RequestPath.suffix``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote
from urllib.parse import unquote
from urllib.parse import urlsplit

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from emulator.db import DbHandle
from emulator.oauth import has_control_characters
from emulator.oauth import normalize_scope
from emulator.oauth import validate_plain_text
from emulator.plugin import HOST_PATHS

from .models import ApigeeProxy
from .params import PATH

_PROXIES = ApigeeProxy.__table__
# What quote() may leave as is in a path (RFC 3986 pchar and '/').
_PATH_SAFE = "/:@!$&'()*+,;=~"
# An encoded separator in the raw path: %2F is '/' and %5C is '\\' to many servers.
_ENCODED_SEPARATOR = re.compile(r"%(2f|5c)", re.IGNORECASE)
_DOT_SEGMENTS = frozenset({".", ".."})


@dataclass(frozen=True)
class RequestPath:
    """A request's path: decoded (what is matched) and as the client encoded it.

    ``decoded`` is the server's PATH_INFO read as UTF-8, leading slashes and all.
    ``raw`` is the path as it came on the request line (gunicorn's ``RAW_URI``,
    Werkzeug's ``REQUEST_URI``), or None where the server gives only the decoded path
    (granian).
    """

    decoded: str
    raw: str | None = None

    @property
    def sent(self) -> str:
        """The path as the client sent it, as far as the server tells."""
        return self.raw if self.raw is not None else self.decoded

    def suffix(self, base_path: str) -> str:
        """The path below ``base_path`` (which owns it), keeping the client's encoding.

        The raw form is used only when it is an encoding of exactly the decoded path that
        was matched; otherwise the decoded suffix is percent-encoded again.
        """
        depth = base_path.count("/")
        if self.raw is not None and unquote(self.raw) == self.decoded:
            return _tail(self.raw, depth)
        return quote(_tail(self.decoded, depth), safe=_PATH_SAFE)


def _tail(path: str, depth: int) -> str:
    """``path`` without its first ``depth`` segments: /a/b/c, 1 -> /b/c."""
    return "".join("/" + segment for segment in path.split("/")[depth + 1 :])


def is_plain_path(path: RequestPath) -> bool:
    """Whether ``path`` names one place for every server that reads it.

    Refused: a dot segment (``.``, ``..``, also ``..;x``, which Tomcat reads as ``..``),
    an empty segment other than a trailing slash (``//``), a backslash, and an encoded
    ``/`` or ``\\`` (``%2F``, ``%5C``), in the path and in the path decoded once more (for
    servers that decode twice: ``%252e%252e``).
    """
    if path.raw is not None and _ENCODED_SEPARATOR.search(path.raw):
        return False
    once_more = unquote(path.decoded)
    return _ENCODED_SEPARATOR.search(path.decoded) is None and all(
        _is_plain(form) for form in (path.decoded, once_more)
    )


def _is_plain(decoded: str) -> bool:
    if not decoded.startswith("/") or "\\" in decoded:
        return False
    segments = decoded.split("/")[1:]
    for position, segment in enumerate(segments, start=1):
        if segment.split(";", 1)[0] in _DOT_SEGMENTS:
            return False
        if not segment and position < len(segments):
            return False
    return True


@dataclass(frozen=True)
class ProxyRoute:
    """A matched proxy, detached from the session (the target call happens without one)."""

    base_path: str
    target_url: str
    scope: str | None


def normalize_base_path(text: str) -> str:
    """Return the base path without trailing '/'; raise ValueError when it is not one."""
    path = text.rstrip("/")
    if not PATH.fullmatch(path) or path in HOST_PATHS:
        raise ValueError(
            f"{text!r} is not a base path: give one like /weather (not /, no query, no '//')."
        )
    return path


def validate_target_url(url: str) -> str:
    """Return an http(s) target URL without query or fragment; raise ValueError otherwise."""
    validate_plain_text(url, "The target")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"{url!r} is not a target: give http(s)://host[:port][/path], no query.")
    return url


def add_proxy(
    session: Session, base_path: str, target_url: str, scope: str | None, *, now: datetime
) -> tuple[ApigeeProxy, bool]:
    """Add a proxy, or replace the target and scope of the one at ``base_path``.

    Returns the row and whether it is new. Raises ValueError on bad input.
    """
    path = normalize_base_path(base_path)
    validate_target_url(target_url)
    normalized = normalize_scope(scope)
    row = session.scalar(select(ApigeeProxy).where(ApigeeProxy.base_path == path))
    created = row is None
    if row is None:
        row = ApigeeProxy(base_path=path, created_at=now)
        session.add(row)
    row.target_url = target_url
    row.scope = normalized
    return row, created


def remove_proxy(session: Session, base_path: str) -> bool:
    """Remove the proxy at ``base_path``; return whether there was one."""
    if has_control_characters(base_path):  # no base path holds one
        return False
    row = session.scalar(select(ApigeeProxy).where(ApigeeProxy.base_path == base_path.rstrip("/")))
    if row is None:
        return False
    session.delete(row)
    return True


def list_proxies(session: Session) -> list[ApigeeProxy]:
    """Every proxy, by base path."""
    return list(session.scalars(select(ApigeeProxy).order_by(ApigeeProxy.base_path)))


def base_path_prefixes(path: str) -> list[str]:
    """Every whole-segment prefix of ``path``: /a/b/c -> /a, /a/b, /a/b/c."""
    segments = path.split("/")[1:]
    return ["/" + "/".join(segments[:n]) for n in range(1, len(segments) + 1) if segments[n - 1]]


def match_proxy(db: DbHandle, path: str) -> ProxyRoute | None:
    """The proxy with the longest base path that owns ``path``, or None (one indexed query).

    A prefix with a control character (``/a%00``) is no base path, and is not looked up
    (PostgreSQL would refuse its NUL); the shorter prefixes still are.
    """
    prefixes = [p for p in base_path_prefixes(path) if not has_control_characters(p)]
    if not prefixes:
        return None
    row = db.execute(
        select(_PROXIES.c.base_path, _PROXIES.c.target_url, _PROXIES.c.scope)
        .where(_PROXIES.c.base_path.in_(prefixes))
        .order_by(func.length(_PROXIES.c.base_path).desc())
        .limit(1)
    ).first()
    return None if row is None else ProxyRoute(*row)
