"""Forwarding a verified request to a proxy's target, as Apigee's HTTPTargetConnection does.

The call itself (limits, the deadline, streaming, hop-by-hop headers) is the host's
(``emulator.web.outbound``); what is Apigee's is here: which URL and headers the target gets,
the limits from the plugin's params, and which runtime fault each kind of trouble is.

The target gets the method, the suffix of the very path that was matched (as the client
encoded it, ``RequestPath.suffix``), the query string, the body and the client's end-to-end
headers. Not passed on: hop-by-hop headers (RFC 9110 §7.6.1), ``Authorization`` (the token
was for the gateway), this service's own cookies (an admin's or a site user's session), and
every forwarding or identity header the client sent. The gateway
sets its own: ``X-Forwarded-For``, ``X-Forwarded-Proto``, ``X-Forwarded-Host``,
``X-Real-IP``, ``Forwarded`` (RFC 7239), and the verified caller's ``X-Apigee-Client-Id``
and ``X-Apigee-Scope``.

Limits (``proxy_limits``, from the plugin's params): the client's body is read first and
refused over ``proxy_max_request_bytes`` (413 TooBigBody) before the target is called. The
whole target call, from connecting to the answer's last byte, has ``proxy_deadline_ms``;
each read also has ``target_timeout_ms``. The answer is streamed: status and headers as soon
as the target sent them, then the body as it arrives, never more than
``proxy_max_response_bytes`` of it (a longer declared ``Content-Length``: 502 TooBigBody).

A ``Set-Cookie`` of the target's that would land on this service's admin session cookie
(its name, or the admin pages' path) is dropped (``emulator.web.isolation``).

Trouble before the answer starts is one of Apigee's runtime faults, never a traceback.
Trouble once it has started (the deadline, the size limit, a cut connection) ends the
stream where it is: it is logged, the target's connection is closed, and nothing is raised
into the WSGI server, which has already sent the status line.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from flask import Response
from flask import request

from emulator.host import Limits
from emulator.host import Outbound
from emulator.host import RequestPath
from emulator.host import Trouble
from emulator.host import isolation
from emulator.host import outbound
from emulator.oauth import TokenInfo

from .errors import Fault
from .errors import GatewayTimeout
from .errors import ResponseBodyTooBig
from .errors import ServiceUnavailable
from .errors import UnexpectedEOFAtTarget
from .proxies import ProxyRoute

log = logging.getLogger(__name__)

# The verified caller, for the target; a client-sent copy never reaches it.
CLIENT_ID_HEADER = "X-Apigee-Client-Id"
SCOPE_HEADER = "X-Apigee-Scope"
# Besides what no forwarded request carries (emulator.web.outbound.NOT_FORWARDED): the token
# was for the gateway, and the identity headers are the gateway's to set.
NOT_FORWARDED = frozenset({"authorization", CLIENT_ID_HEADER.lower(), SCOPE_HEADER.lower()})
# An identity header carries printable ASCII (RFC 6749's client_id and scope characters)
# as is; anything else, and '%', percent-encoded as UTF-8, so the value stays one line.
_IDENTITY_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")
# Edge's runtime faults for each kind of trouble before the answer started.
FAULTS: Mapping[Trouble, type[Fault]] = {
    Trouble.UNREACHABLE: ServiceUnavailable,
    Trouble.TIMEOUT: GatewayTimeout,
    Trouble.CUT_OFF: UnexpectedEOFAtTarget,
    Trouble.TOO_LARGE: ResponseBodyTooBig,
    Trouble.BAD_HEADER: UnexpectedEOFAtTarget,  # what Edge answers for an answer not HTTP
    Trouble.BUSY: ServiceUnavailable,  # the gateway's own bound on calls under way
}


def proxy_limits(params: Mapping[str, Any]) -> Limits:
    """The proxies' limits in the plugin's params."""
    return Limits(
        read_timeout=params["target_timeout_ms"] / 1000,
        deadline=params["proxy_deadline_ms"] / 1000,
        max_request_bytes=params["proxy_max_request_bytes"],
        max_response_bytes=params["proxy_max_response_bytes"],
    )


def outbound_request(
    route: ProxyRoute, path: RequestPath, caller: TokenInfo, limits: Limits
) -> Outbound:
    """The current request as the target gets it; raise BodyTooLarge over the limit."""
    return Outbound(
        method=request.method,
        url=target_url(route, path),
        headers=outbound_headers(caller),
        body=outbound.read_body(limits.max_request_bytes),
    )


def target_url(route: ProxyRoute, path: RequestPath) -> str:
    """The target URL: target + the matched path's suffix + the query, as the client sent them."""
    suffix = path.suffix(route.base_path)
    url = route.target_url.rstrip("/") + suffix if suffix else route.target_url
    if request.query_string:
        url += "?" + request.query_string.decode("latin-1")
    return url


def outbound_headers(caller: TokenInfo) -> dict[str, str]:
    """The client's end-to-end headers, then the gateway's forwarding and identity headers."""
    headers = outbound.end_to_end_headers(
        request.headers.items(), drop=NOT_FORWARDED, own_cookies=isolation.guarded_cookies().names
    )
    headers.update(
        outbound.forwarding_headers(request.remote_addr or "", request.host, request.scheme)
    )
    headers[CLIENT_ID_HEADER] = identity_value(caller.client_id)
    headers[SCOPE_HEADER] = identity_value(caller.scope or "")
    return headers


def identity_value(text: str) -> str:
    """A client id or scope as a header value: as is when printable ASCII (without '%')."""
    return quote(text, safe=_IDENTITY_SAFE)


def forward(request_out: Outbound, limits: Limits) -> Response:
    """Send the request to the target; its status and headers, its body streaming. A
    ``Set-Cookie`` that would land on the admin pages' session cookie is dropped
    (``emulator.web.isolation``; an API answer is not sandboxed)."""
    answer = outbound.forward(request_out, limits, fault=target_fault, log=log, label="target")
    return isolation.guard(
        answer,
        request_path=outbound.request_path().decoded,
        sandbox=False,
        plugin="apigee",
        log=log,
        label=f"target {outbound.loggable(request_out.url)}",
    )


def target_fault(trouble: Trouble) -> Fault:
    """The Apigee fault for trouble before the target's answer started."""
    return FAULTS[trouble]()
