"""Forwarding a verified request to a proxy's target, as Apigee's HTTPTargetConnection does.

The target gets the method, the suffix of the very path that was matched (as the client
encoded it, ``RequestPath.suffix``), the query string, the body and the client's end-to-end
headers. Not passed on: hop-by-hop headers (RFC 9110 §7.6.1), ``Authorization`` (the token
was for the gateway), and every forwarding or identity header the client sent. The gateway
sets its own: ``X-Forwarded-For``, ``X-Forwarded-Proto``, ``X-Forwarded-Host``,
``X-Real-IP``, ``Forwarded`` (RFC 7239), and the verified caller's ``X-Apigee-Client-Id``
and ``X-Apigee-Scope``. The client gets the target's status, headers and body bytes
untouched (a gzip body stays gzip). Trouble reaching the target is one of Apigee's runtime
faults, never a traceback.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import requests
import urllib3
from flask import Response
from flask import request

from emulator.oauth import TokenInfo

from .errors import GatewayTimeout
from .errors import ServiceUnavailable
from .errors import UnexpectedEOFAtTarget
from .proxies import ProxyRoute
from .proxies import RequestPath

log = logging.getLogger(__name__)

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# The verified caller, for the target; a client-sent copy never reaches it.
CLIENT_ID_HEADER = "X-Apigee-Client-Id"
SCOPE_HEADER = "X-Apigee-Scope"
# Who asked, as the client claims it: replaced by what the gateway saw (plus any X-Forwarded-*).
FORWARDING = frozenset({"forwarded", "x-real-ip"})
# Not passed on: requests sets Host and Content-Length for the target request.
NOT_FORWARDED = (
    HOP_BY_HOP
    | FORWARDING
    | {"authorization", "host", "content-length", CLIENT_ID_HEADER.lower(), SCOPE_HEADER.lower()}
)
# Edge's default connect.timeout.millis; the read timeout is the plugin's target_timeout_ms.
CONNECT_TIMEOUT = 3.0
# An identity header carries printable ASCII (RFC 6749's client_id and scope characters)
# as is; anything else, and '%', percent-encoded as UTF-8, so the value stays one line.
_IDENTITY_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")


def target_url(route: ProxyRoute, path: RequestPath) -> str:
    """The target URL: target + the matched path's suffix + the query, as the client sent them."""
    suffix = path.suffix(route.base_path)
    url = route.target_url.rstrip("/") + suffix if suffix else route.target_url
    if request.query_string:
        url += "?" + request.query_string.decode("latin-1")
    return url


def outbound_headers(caller: TokenInfo) -> dict[str, str]:
    """The client's end-to-end headers, then the gateway's forwarding and identity headers."""
    connection_tokens = {
        token.strip().lower() for token in request.headers.get("Connection", "").split(",")
    }
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        lower = name.lower()
        if lower in NOT_FORWARDED or lower in connection_tokens or lower.startswith("x-forwarded-"):
            continue
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    headers.update(forwarding_headers())
    headers[CLIENT_ID_HEADER] = identity_value(caller.client_id)
    headers[SCOPE_HEADER] = identity_value(caller.scope or "")
    return headers


def forwarding_headers() -> dict[str, str]:
    """Who called and how, as the gateway saw it (the client's claims are dropped)."""
    client = request.remote_addr or ""
    return {
        "X-Forwarded-For": client,
        "X-Forwarded-Proto": request.scheme,
        "X-Forwarded-Host": request.host,
        "X-Real-IP": client,
        "Forwarded": forwarded_element(client, request.host, request.scheme),
    }


def forwarded_element(client: str, host: str, proto: str) -> str:
    """RFC 7239 §4: ``for=`` (IPv6 bracketed and quoted), ``host=`` quoted, ``proto=``."""
    node = f'"[{client}]"' if ":" in client else client or "unknown"
    quoted_host = host.replace("\\", "\\\\").replace('"', '\\"')
    return f'for={node};host="{quoted_host}";proto={proto}'


def identity_value(text: str) -> str:
    """A client id or scope as a header value: as is when printable ASCII (without '%')."""
    return quote(text, safe=_IDENTITY_SAFE)


def forward(url: str, caller: TokenInfo, *, timeout: float) -> Response:
    """Send the current request to ``url`` for ``caller``; return the target's answer as it came."""
    body = request.get_data(cache=False)
    try:
        with requests.Session() as session:
            session.trust_env = False  # no environment proxies or .netrc credentials for targets
            session.headers.clear()  # no requests defaults (Accept-Encoding: gzip, User-Agent)
            with session.request(
                request.method,
                url,
                headers=outbound_headers(caller),
                data=body or None,
                timeout=(CONNECT_TIMEOUT, timeout),
                allow_redirects=False,
                stream=True,
            ) as upstream:
                content = upstream.raw.read(decode_content=False)
                status = upstream.status_code
                headers = list(upstream.raw.headers.items())
    except requests.exceptions.ConnectTimeout:
        log.warning("target %s: connect timeout", _loggable(url))
        raise ServiceUnavailable() from None
    except (requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError):
        log.warning("target %s: no answer within %.1f s", _loggable(url), timeout)
        raise GatewayTimeout() from None
    except requests.exceptions.ConnectionError as error:
        cause = error.args[0] if error.args else None
        log.warning("target %s: %s", _loggable(url), cause)
        if isinstance(cause, urllib3.exceptions.ProtocolError):  # connected, then cut off
            raise UnexpectedEOFAtTarget() from None
        raise ServiceUnavailable() from None
    except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError) as error:
        log.warning("target %s: %s", _loggable(url), error)
        raise UnexpectedEOFAtTarget() from None
    rv = Response(content, status=status)
    del rv.headers["Content-Type"]  # only what the target sent
    for name, value in headers:
        if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
            rv.headers.add(name, value)
    return rv


def _loggable(url: str) -> str:
    """The URL without its query (which may carry keys)."""
    return url.split("?", 1)[0]
