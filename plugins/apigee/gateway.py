"""Forwarding a verified request to a proxy's target, as Apigee's HTTPTargetConnection does.

The target gets the method, the path below the base path (as the client encoded it), the
query string, the body and the headers, minus hop-by-hop headers (RFC 9110 §7.6.1) and
``Authorization`` (the token was for the gateway). The client gets the target's status,
headers and body bytes untouched (a gzip body stays gzip). Trouble reaching the target is
one of Apigee's runtime faults, never a traceback.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import requests
import urllib3
from flask import Response
from flask import request

from .errors import GatewayTimeout
from .errors import ServiceUnavailable
from .errors import UnexpectedEOFAtTarget
from .proxies import ProxyRoute

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
# Not passed on: requests sets Host and Content-Length for the target request.
NOT_FORWARDED = HOP_BY_HOP | {"authorization", "host", "content-length"}
# Edge's default connect.timeout.millis; the read timeout is the plugin's target_timeout_ms.
CONNECT_TIMEOUT = 3.0
# What quote() may leave as is in a path (RFC 3986 pchar and '/').
_PATH_SAFE = "/:@!$&'()*+,;=~"


def target_url(route: ProxyRoute, path: str) -> str:
    """The target URL for ``path``: target + path suffix + the query, as the client sent them."""
    suffix = _raw_suffix(route.base_path, path)
    url = route.target_url.rstrip("/") + suffix if suffix else route.target_url
    if request.query_string:
        url += "?" + request.query_string.decode("latin-1")
    return url


def _raw_suffix(base_path: str, path: str) -> str:
    """The path below the base path, percent-encoded as it arrived (``%2F`` stays ``%2F``)."""
    raw_uri = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or ""
    raw = raw_uri.split("?", 1)[0]
    if raw.startswith(base_path) and (len(raw) == len(base_path) or raw[len(base_path)] == "/"):
        return raw[len(base_path) :]
    return quote(path[len(base_path) :], safe=_PATH_SAFE)


def outbound_headers() -> dict[str, str]:
    """The client's headers for the target (end-to-end ones only) plus X-Forwarded-For/-Proto."""
    connection_tokens = {
        token.strip().lower() for token in request.headers.get("Connection", "").split(",")
    }
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        lower = name.lower()
        if lower in NOT_FORWARDED or lower in connection_tokens:
            continue
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    forwarded_for = request.headers.get("X-Forwarded-For")
    client = request.remote_addr or ""
    headers["X-Forwarded-For"] = f"{forwarded_for}, {client}" if forwarded_for else client
    headers["X-Forwarded-Proto"] = request.scheme
    return headers


def forward(url: str, body: bytes, *, timeout: float) -> Response:
    """Send the current request (with ``body``) to ``url``; return the answer as it came."""
    try:
        with requests.Session() as session:
            session.trust_env = False  # no environment proxies or .netrc credentials for targets
            session.headers.clear()  # no requests defaults (Accept-Encoding: gzip, User-Agent)
            with session.request(
                request.method,
                url,
                headers=outbound_headers(),
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
