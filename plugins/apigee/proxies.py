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

Nested proxies (issue 20): with ``/shop`` (a weak scope) and ``/shop/admin`` (a strict one),
``/shop/admin;x/users`` is not under ``/shop/admin`` byte for byte, so it would go to
``/shop``'s target as ``/admin;x/users``, which Tomcat, Jetty and Spring read as
``/admin/users``. A path that a common backend could read as one under a more specific
proxy than the one it matches is refused (``AmbiguousPath``; the flow answers Apigee's
``InvalidPath``). Each segment is compared as such backends read it (``segment_readings``):
``;params`` dropped (Tomcat, Jetty, Spring); cut at a NUL (C strings); Unicode compatibility
forms folded (NFKC: fullwidth ``ａｄｍｉｎ``, IIS's best-fit mapping); ``%uXXXX`` decoded and a
second ``%`` decoding applied (IIS; servers that decode twice); any case (IIS and Windows
file names, case-insensitive routes); trailing dots and spaces dropped and an NTFS stream
(``admin::$DATA``) cut at its ``:`` (Windows: nginx's Win32 build refuses these for the same
reason); and the last segment also without its extension (Spring's suffix pattern match,
``/admin.json`` is ``/admin`` before Spring 5.3). A segment that reads as empty, ``.`` or
``..`` that way (``;x``, ``.%20``) is refused wherever it is. Paths without a more specific
proxy are left alone: ``/shop/ADMIN`` reaches ``/shop``'s target when there is no
``/shop/admin``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote
from urllib.parse import urlsplit

from sqlalchemy import or_
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


class AmbiguousPath(Exception):
    """A path that a common backend could read as one under a more specific proxy than the
    one it matches, or with a segment that such a backend reads as empty or a dot segment."""


# IIS's %uXXXX escapes (a non-standard encoding it still decodes).
_PERCENT_U = re.compile(r"%u([0-9a-fA-F]{4})")
_DOT_READINGS = frozenset({"", ".", ".."})


def segment_readings(segment: str, *, last: bool = False) -> frozenset[str]:
    """What a lenient backend may read a (decoded) path segment as: see the module's notes.

    The segment as decoded once, and decoded once more (``%uXXXX`` too); each without
    ``;params``, cut at a NUL, NFKC-folded, case-folded, without trailing dots and spaces
    (and an NTFS stream); the last segment also without its extension.
    """
    forms = {segment, _PERCENT_U.sub(lambda m: chr(int(m.group(1), 16)), unquote(segment))}
    readings = set()
    for form in forms:
        text = form.split(";", 1)[0].split("\0", 1)[0]
        text = unicodedata.normalize("NFKC", text).casefold()
        if ":$" in text:  # an NTFS stream: name:stream:$TYPE, name::$DATA
            text = text.split(":", 1)[0]
        text = text.rstrip(" .\t")
        readings.add(text)
        if last and "." in text.lstrip("."):
            readings.add(text.rsplit(".", 1)[0].rstrip(" .\t"))
    return frozenset(readings)


def check_segments(path: str) -> None:
    """Raise AmbiguousPath when a segment (not an empty last one: a trailing slash) reads
    as empty, ``.`` or ``..``, though it is none of these as sent."""
    for segment in path.split("/")[1:]:
        if segment in _DOT_READINGS:  # as sent: is_plain_path judged these already
            continue
        if segment_readings(segment) & _DOT_READINGS:
            raise AmbiguousPath(path)


def read_under(path: str, base_path: str) -> bool:
    """Whether a lenient backend could read ``path`` as ``base_path`` or below it."""
    segments = path.split("/")[1:]
    bases = base_path.split("/")[1:]
    if len(segments) < len(bases):
        return False
    for position, (segment, base) in enumerate(zip(segments, bases, strict=False), start=1):
        wanted = segment_readings(base) - {""}
        if not wanted & segment_readings(segment, last=position == len(segments)):
            return False
    return True


def match_proxy(db: DbHandle, path: str) -> ProxyRoute | None:
    """The proxy with the longest base path that owns ``path``, or None (one query).

    A prefix with a control character (``/a%00``) is no base path, and is not looked up
    (PostgreSQL would refuse its NUL); the shorter prefixes still are. Raise AmbiguousPath
    when a lenient backend could read the path as one under a proxy more specific than
    the one matched (the proxies under the same first segment are read with it).
    """
    check_segments(path)
    prefixes = [p for p in base_path_prefixes(path) if not has_control_characters(p)]
    if not prefixes:
        return None
    rows = db.execute(
        select(_PROXIES.c.base_path, _PROXIES.c.target_url, _PROXIES.c.scope).where(
            or_(
                _PROXIES.c.base_path.in_(prefixes),
                _PROXIES.c.base_path.startswith(prefixes[0] + "/", autoescape=True),
            )
        )
    ).all()
    owners = [row for row in rows if row.base_path in prefixes]
    if not owners:
        return None
    best = max(owners, key=lambda row: len(row.base_path))
    depth = best.base_path.count("/")
    for row in rows:
        if row.base_path.count("/") > depth and read_under(path, row.base_path):
            raise AmbiguousPath(path)
    return ProxyRoute(*best)
