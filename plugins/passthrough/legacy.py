"""The request the legacy site gets: its URL and headers, for a forward and for a shadow.

Only ever the configured site: its scheme, host and port, and its base path in front of the
request's path, which must be plain (``emulator.web.outbound.is_plain_path``; anything else is
refused, never normalised) and is sent as the client encoded it. The query string goes as
the client sent it. Headers: the client's end-to-end ones (credentials and cookies
included: the old site needs them), then who asked as this service saw it
(``X-Forwarded-For``/``-Proto``/``-Host``, ``X-Real-IP``, ``Forwarded``); ``Host`` is the
legacy site's (requests sets it from the URL).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

from emulator.host import RequestPath
from emulator.host import outbound

from .errors import NotConfigured
from .params import SET_URL

log = logging.getLogger(__name__)


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
    headers: Iterable[tuple[str, str]], client: str, host: str, scheme: str
) -> dict[str, str]:
    """The client's end-to-end headers, then this service's forwarding headers."""
    kept = outbound.end_to_end_headers(headers)
    kept.update(outbound.forwarding_headers(client, host, scheme))
    return kept
