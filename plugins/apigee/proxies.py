"""Protected API proxies: storage, and which one a request path belongs to.

As on Apigee, a proxy owns every path under its base path (whole segments: ``/weather``
owns ``/weather`` and ``/weather/forecastrss``, not ``/weatherman``), and the longest
matching base path wins.

A path is matched only when it can mean nothing but itself (``is_plain_path``): a dot
segment, an empty segment, a backslash or an encoded ``/`` or ``\\`` would let a server
behind the proxy (or one that decodes twice) resolve it to a place outside the base path
that was matched, so such paths are refused before any proxy is looked at. The target
then gets the suffix of the very path that was matched (``RequestPath.suffix``). Both rules
are the host's (``emulator.web.outbound``), shared with every plugin that forwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from emulator.host import HOST_PATHS
from emulator.host import DbHandle
from emulator.host import RequestPath as RequestPath  # re-exported: the proxies' paths
from emulator.host import is_plain_path as is_plain_path  # re-exported: which are matched
from emulator.oauth import has_control_characters
from emulator.oauth import normalize_scope
from emulator.oauth import validate_plain_text

from .models import ApigeeProxy
from .params import PATH

_PROXIES = ApigeeProxy.__table__


@dataclass(frozen=True)
class ProxyRoute:
    """A matched proxy, detached from the session (the target call happens without one)."""

    base_path: str
    target_url: str
    scope: str | None


# The proxies table's columns (models.py): longer is refused, never cut or a database error.
BASE_PATH_MAX = 255
TARGET_URL_MAX = 2000


def normalize_base_path(text: str) -> str:
    """Return the base path without trailing '/'; raise ValueError when it is not one."""
    path = text.rstrip("/")
    if not PATH.fullmatch(path) or path in HOST_PATHS:
        raise ValueError(
            f"{text!r} is not a base path: give one like /weather (not /, no query, no '//')."
        )
    if len(path) > BASE_PATH_MAX:
        raise ValueError(f"A base path is at most {BASE_PATH_MAX} characters.")
    return path


def validate_target_url(url: str) -> str:
    """Return an http(s) target URL without query or fragment; raise ValueError otherwise."""
    validate_plain_text(url, "The target")
    if len(url) > TARGET_URL_MAX:
        raise ValueError(f"A target URL is at most {TARGET_URL_MAX} characters.")
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


def remove_proxy(session: Session, base_path: str) -> ApigeeProxy | None:
    """Remove the proxy at ``base_path``; return it, or None if there was none."""
    if has_control_characters(base_path):  # no base path holds one
        return None
    row = session.scalar(select(ApigeeProxy).where(ApigeeProxy.base_path == base_path.rstrip("/")))
    if row is not None:
        session.delete(row)
    return row


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
