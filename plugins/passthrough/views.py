"""The plugin's two request hooks: the fallback (forward) and the observer (shadow)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Response
from flask import current_app
from flask import request

from emulator.host import Exchange
from emulator.host import Outbound
from emulator.host import isolation
from emulator.host import outbound
from emulator.host import release_connection

from . import shadow
from .errors import InvalidPath
from .errors import LegacyUnavailable
from .errors import LoopDetected
from .legacy import came_back
from .legacy import hop_mark
from .legacy import legacy_base
from .legacy import legacy_headers
from .legacy import legacy_url
from .params import SET_URL
from .params import limits

log = logging.getLogger(__name__)


def forward(params: Mapping[str, Any]) -> Response:
    """Pass a request no plugin answers on to the legacy site; its answer back, unchanged
    but for ``emulator.web.isolation``: a cookie that would land on the admin's is dropped,
    and the answer is sandboxed (``sandbox``, on by default).

    A request this service sent already (its hop mark) went round a loop: 508, not sent
    again.
    """
    mark = hop_mark(current_app)
    if came_back(request.headers.items(), mark):
        log.error(
            "passthrough: a request came back from legacy_url %s, which leads to this "
            "service itself: not forwarded again (%s)",
            outbound.loggable(params["legacy_url"]),
            SET_URL,
        )
        raise LoopDetected()
    base = legacy_base(params)
    path = outbound.request_path()
    if not outbound.is_plain_path(path):
        raise InvalidPath()
    # No transaction or pooled connection is held while the body and the answer come in.
    release_connection()
    bounds = limits(params)
    request_out = Outbound(
        method=request.method,
        url=legacy_url(base, path, request.query_string),
        headers=legacy_headers(
            request.headers.items(),
            request.remote_addr or "",
            request.host,
            request.scheme,
            mark,
            isolation.guarded_cookies().names,
        ),
        body=outbound.read_body(bounds.max_request_bytes),
    )
    answer = outbound.forward(
        request_out, bounds, fault=LegacyUnavailable, log=log, label="legacy site"
    )
    # Never in the admin's origin, never on the admin's cookie (issue 20).
    return isolation.guard(
        answer,
        request_path=path.decoded,
        sandbox=params["sandbox"],
        plugin="passthrough",
        log=log,
        label=f"legacy site {outbound.loggable(request_out.url)}",
    )


def observe(exchange: Exchange, params: Mapping[str, Any]) -> None:
    """With ``shadow`` on, queue a plugin's answered request for comparison (never waits)."""
    if not params["shadow"] or not params["legacy_url"]:
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if came_back(exchange.headers, hop_mark(app)):  # a shadowed request, answered here
        log.warning(
            "passthrough: a shadowed request came back from legacy_url %s, which leads to "
            "this service itself: not shadowed again (%s)",
            outbound.loggable(params["legacy_url"]),
            SET_URL,
        )
        return
    shadow.offer(app, exchange, params)
