"""The request the legacy site gets: its URL and headers, for a forward and for a shadow.

Only ever the configured site: its scheme, host and port, and its base path in front of the
request's path, which must be plain (``emulator.web.outbound.is_plain_path``; anything else is
refused, never normalised) and is sent as the client encoded it. The query string goes as
the client sent it. Headers: the client's end-to-end ones (credentials and cookies
included: the old site needs them), then who asked as this service saw it
(``X-Forwarded-For``/``-Proto``/``-Host``, ``X-Real-IP``, ``Forwarded``); ``Host`` is the
legacy site's (requests sets it from the URL).

Every request sent carries this service's hop mark (``HOP_HEADER``): one that comes back
with it went round in a loop (a ``legacy_url`` that leads back here) and is not sent again
(issue 20). Not ``Via``: the old site's nginx would stop compressing (``gzip_proxied``), and
its answers reach clients as they come.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

from flask import Flask

from emulator.host import RequestPath
from emulator.host import outbound

from .errors import NotConfigured
from .params import SET_URL

log = logging.getLogger(__name__)

# This service's mark on what it sends the old site, after any mark already there.
HOP_HEADER = "X-Emulator-Hop"
HOP_EXTENSION = "passthrough.hop_mark"


def legacy_base(params: Mapping[str, Any]) -> str:
    """The configured legacy site URL without a trailing '/'; raise NotConfigured if none."""
    url = params["legacy_url"]
    if not url:
        log.error("passthrough is enabled without legacy_url: not forwarding (%s)", SET_URL)
        raise NotConfigured()
    return url.rstrip("/")


def legacy_url(base: str, path: RequestPath, query_string: bytes) -> str:
    """``base`` + the whole (plain) path as the client encoded it + the query as sent."""
    url = base + path.suffix("")
    if query_string:
        url += "?" + query_string.decode("latin-1")
    return url


def legacy_headers(
    headers: Iterable[tuple[str, str]],
    client: str,
    host: str,
    scheme: str,
    mark: str,
    own_cookies: frozenset[str],
) -> dict[str, str]:
    """The client's end-to-end headers without this service's ``own_cookies``, then this
    service's forwarding headers and its hop ``mark`` (after the marks of the services it
    came through)."""
    kept = outbound.end_to_end_headers(headers, own_cookies=own_cookies)
    name = next((key for key in kept if key.lower() == HOP_HEADER.lower()), HOP_HEADER)
    kept[name] = f"{kept[name]}, {mark}" if name in kept else mark
    kept.update(outbound.forwarding_headers(client, host, scheme))
    return kept


def hop_mark(app: Flask) -> str:
    """This service's hop mark: the same in every worker, and in every instance that shares
    its secret key (an HMAC of it, which tells nothing of the key); random per process
    without one."""
    mark = app.extensions.get(HOP_EXTENSION)
    if mark is None:
        key = app.secret_key
        if key:
            raw = key if isinstance(key, bytes) else str(key).encode("utf-8")
            digest = hmac.new(raw, b"passthrough.hop-mark", hashlib.sha256).hexdigest()
        else:
            digest = secrets.token_hex(32)
        mark = app.extensions[HOP_EXTENSION] = "emulator-" + digest[:16]
    return mark


def came_back(headers: Iterable[tuple[str, str]], mark: str) -> bool:
    """Whether a request carries ``mark`` already: this service sent it, so it looped."""
    return any(
        name.lower() == HOP_HEADER.lower() and mark in (entry.strip() for entry in value.split(","))
        for name, value in headers
    )
