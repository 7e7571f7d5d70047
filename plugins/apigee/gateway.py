"""Forwarding a verified request to a proxy's target, as Apigee's HTTPTargetConnection does.

The target gets the method, the suffix of the very path that was matched (as the client
encoded it, ``RequestPath.suffix``), the query string, the body and the client's end-to-end
headers. Not passed on: hop-by-hop headers (RFC 9110 §7.6.1), ``Authorization`` (the token
was for the gateway), and every forwarding or identity header the client sent. The gateway
sets its own: ``X-Forwarded-For``, ``X-Forwarded-Proto``, ``X-Forwarded-Host``,
``X-Real-IP``, ``Forwarded`` (RFC 7239), and the verified caller's ``X-Apigee-Client-Id``
and ``X-Apigee-Scope``.

ProxyLimits (``ProxyLimits``, from the plugin's params): the client's body is read first and refused
over ``proxy_max_request_bytes`` (413 TooBigBody) before the target is called. The whole
target call, from connecting to the answer's last byte, has ``proxy_deadline_ms``
(``Deadline``); each read also has ``target_timeout_ms``. The answer is streamed: status
and headers as soon as the target sent them, then the body as it arrives, never more than
``proxy_max_response_bytes`` of it (a longer declared ``Content-Length``: 502 TooBigBody).

Trouble before the answer starts is one of Apigee's runtime faults, never a traceback.
Trouble once it has started (the deadline, the size limit, a cut connection) ends the
stream where it is: it is logged, the target's connection is closed, and nothing is raised
into the WSGI server, which has already sent the status line.
"""

from __future__ import annotations

import http.client
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
import requests.adapters
import urllib3
import urllib3.connection
from flask import Response
from flask import request

from emulator.body import read_body as read_request_body
from emulator.errors import BodyTooLarge
from emulator.http import quoted_string
from emulator.oauth import TokenInfo

from .errors import Fault
from .errors import GatewayTimeout
from .errors import ResponseBodyTooBig
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
CHUNK_SIZE = 64 * 1024
# An identity header carries printable ASCII (RFC 6749's client_id and scope characters)
# as is; anything else, and '%', percent-encoded as UTF-8, so the value stays one line.
_IDENTITY_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")
_DECIMAL = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class ProxyLimits:
    """How long a proxied call may take and how much it may carry (the plugin's params)."""

    read_timeout: float  # seconds for each read (target_timeout_ms)
    deadline: float  # seconds for the whole target call (proxy_deadline_ms)
    max_request_bytes: int  # proxy_max_request_bytes
    max_response_bytes: int  # proxy_max_response_bytes


def proxy_limits(params: Mapping[str, Any]) -> ProxyLimits:
    """The proxies' limits in the plugin's params."""
    return ProxyLimits(
        read_timeout=params["target_timeout_ms"] / 1000,
        deadline=params["proxy_deadline_ms"] / 1000,
        max_request_bytes=params["proxy_max_request_bytes"],
        max_response_bytes=params["proxy_max_response_bytes"],
    )


@dataclass(frozen=True)
class Outbound:
    """The request for the target, read whole from the client's before the call."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes


def outbound_request(
    route: ProxyRoute, path: RequestPath, caller: TokenInfo, limits: ProxyLimits
) -> Outbound:
    """The current request as the target gets it; raise BodyTooLarge over the limit."""
    return Outbound(
        method=request.method,
        url=target_url(route, path),
        headers=outbound_headers(caller),
        body=read_body(limits.max_request_bytes),
    )


def target_url(route: ProxyRoute, path: RequestPath) -> str:
    """The target URL: target + the matched path's suffix + the query, as the client sent them."""
    suffix = path.suffix(route.base_path)
    url = route.target_url.rstrip("/") + suffix if suffix else route.target_url
    if request.query_string:
        url += "?" + request.query_string.decode("latin-1")
    return url


def read_body(limit: int) -> bytes:
    """The client's body; raise BodyTooLarge past ``limit`` or the host's MAX_CONTENT_LENGTH.

    A declared Content-Length over either is refused unread; a chunked body is read until
    it passes one, and no further.
    """
    declared = request.content_length
    if declared is not None and declared > limit:
        raise BodyTooLarge(limit)
    if request.max_content_length is None:  # the host reads without a limit: ours applies
        return _read_stream(limit)
    body = read_request_body(request)  # BodyTooLarge past MAX_CONTENT_LENGTH
    if len(body) > limit:
        raise BodyTooLarge(limit)
    return body


def _read_stream(limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := request.stream.read(min(CHUNK_SIZE, limit + 1 - size)):
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


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
    return f"for={node};host={quoted_string(host)};proto={proto}"


def identity_value(text: str) -> str:
    """A client id or scope as a header value: as is when printable ASCII (without '%')."""
    return quote(text, safe=_IDENTITY_SAFE)


# --- the call -------------------------------------------------------------------------


def forward(outbound: Outbound, limits: ProxyLimits) -> Response:
    """Send ``outbound`` to the target; return its status and headers, its body streaming."""
    deadline = Deadline(limits.deadline)
    session = _target_session()
    url = _loggable(outbound.url)
    try:
        with deadline.watching():
            upstream = session.request(
                outbound.method,
                outbound.url,
                headers=outbound.headers,
                data=outbound.body or None,
                timeout=(deadline.clip(CONNECT_TIMEOUT), deadline.clip(limits.read_timeout)),
                allow_redirects=False,
                stream=True,
            )
    except Exception as error:
        deadline.cancel()
        session.close()
        fault = target_fault(error, url, deadline, limits)
        if fault is None:
            raise
        raise fault from None
    body = StreamedBody(upstream, session, deadline, limits.max_response_bytes, url)
    declared = declared_length(upstream)
    if declared is not None and declared > limits.max_response_bytes and outbound.method != "HEAD":
        body.close()
        log.warning("target %s: a %d-byte answer is over the limit", url, declared)
        raise ResponseBodyTooBig()
    rv = Response(body, status=upstream.status_code)
    del rv.headers["Content-Type"]  # only what the target sent
    for name, value in upstream.raw.headers.items():
        if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
            rv.headers.add(name, value)
    if declared is not None:
        rv.headers["Content-Length"] = str(declared)
    return rv


def target_fault(
    error: Exception, url: str, deadline: Deadline, limits: ProxyLimits
) -> Fault | None:
    """The Apigee fault for trouble before the answer started; None for anything else (a bug)."""
    if not isinstance(error, requests.RequestException | urllib3.exceptions.HTTPError):
        return None
    if deadline.expired:
        log.warning("target %s: no answer within the %.1f s deadline", url, limits.deadline)
        return GatewayTimeout()
    if isinstance(error, requests.exceptions.ConnectTimeout):
        log.warning("target %s: connect timeout", url)
        return ServiceUnavailable()
    if isinstance(error, requests.exceptions.ReadTimeout | urllib3.exceptions.ReadTimeoutError):
        log.warning("target %s: no answer within %.1f s", url, limits.read_timeout)
        return GatewayTimeout()
    if isinstance(error, requests.exceptions.ConnectionError):
        cause = error.args[0] if error.args else None
        log.warning("target %s: %s", url, _described(cause))
        if isinstance(cause, urllib3.exceptions.ProtocolError):  # connected, then cut off
            return UnexpectedEOFAtTarget()
        return ServiceUnavailable()
    log.warning("target %s: %s", url, _described(error))
    return UnexpectedEOFAtTarget()


def declared_length(upstream: requests.Response) -> int | None:
    """The target's Content-Length, when it sent one plain value and no chunked body."""
    value = upstream.raw.headers.get("Content-Length")
    if upstream.raw.chunked or value is None or not _DECIMAL.fullmatch(value):
        return None
    return int(value)


class StreamedBody:
    """The target's body, passed on as it arrives, within the deadline and the size limit.

    It closes the target's connection (and ends the deadline's watchdog) when the body has
    been passed on, when it stops early, or when Werkzeug closes it because the client
    went away, whichever comes first. It never raises: the status line is already out.
    """

    def __init__(
        self,
        upstream: requests.Response,
        session: requests.Session,
        deadline: Deadline,
        limit: int,
        url: str,
    ) -> None:
        self._upstream = upstream
        self._session = session
        self._deadline = deadline
        self._limit = limit
        self._url = url
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._chunks()
        finally:
            self.close()

    def _chunks(self) -> Iterator[bytes]:
        raw = self._upstream.raw
        sent = 0
        try:
            while not self._deadline.expired:
                chunk = raw.read1(CHUNK_SIZE, decode_content=False)
                if not chunk:
                    break
                if sent + len(chunk) > self._limit:
                    if self._limit > sent:
                        yield chunk[: self._limit - sent]
                    log.warning("target %s: answer cut off at %d bytes", self._url, self._limit)
                    return
                sent += len(chunk)
                yield chunk
        except (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError) as error:
            if not self._deadline.expired:
                log.warning(
                    "target %s: answer cut off after %d bytes: %s",
                    self._url,
                    sent,
                    _described(error),
                )
                return
        except Exception:
            log.exception("target %s: answer cut off after %d bytes", self._url, sent)
            return
        if self._deadline.expired:
            log.warning("target %s: answer cut off after %d bytes by the deadline", self._url, sent)

    def close(self) -> None:
        """Close the target's connection; safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        self._deadline.cancel()
        self._upstream.close()
        self._session.close()


# --- the deadline ---------------------------------------------------------------------

_WATCHING: ContextVar[Deadline | None] = ContextVar("apigee_target_deadline", default=None)


class Deadline:
    """One target call's time budget, kept by a watchdog on the call's sockets.

    A socket timeout bounds each read, so a target that sends a byte now and then is never
    timed out by it. When the budget is spent the watchdog shuts down every socket the call
    opened (``watching``), which ends a read in progress at once.
    """

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer: threading.Timer | None = None
        self._fired = False
        self._cancelled = False

    @property
    def expired(self) -> bool:
        """Whether the budget is spent."""
        return self._fired or time.monotonic() >= self._end

    def clip(self, seconds: float) -> float:
        """``seconds``, or what is left of the budget when that is less (at least 1 ms)."""
        return max(min(seconds, self._end - time.monotonic()), 0.001)

    @contextmanager
    def watching(self) -> Iterator[None]:
        """Put every target socket this thread opens in the block under the watchdog."""
        token = _WATCHING.set(self)
        try:
            yield
        finally:
            _WATCHING.reset(token)

    def guard(self, sock: socket.socket) -> None:
        """Shut ``sock`` down when the budget is spent (at once if it already is)."""
        with self._lock:
            if self._cancelled:
                return
            if self._fired:
                _shutdown(sock)
                return
            self._sockets.append(sock)
            if self._timer is None:
                self._timer = threading.Timer(max(self._end - time.monotonic(), 0), self._fire)
                self._timer.daemon = True
                self._timer.start()

    def cancel(self) -> None:
        """Stop the watchdog: the call is over."""
        with self._lock:
            self._cancelled = True
            self._sockets = []
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _fire(self) -> None:
        # Under the lock, so that cancel() (then the socket's close) waits for the shutdowns.
        with self._lock:
            self._fired = True
            for sock in self._sockets:
                _shutdown(sock)
            self._sockets = []


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed
        pass


def _guard_current(sock: socket.socket | None) -> None:
    deadline = _WATCHING.get()
    if deadline is not None and sock is not None:
        deadline.guard(sock)


class _GuardedHTTPConnection(urllib3.connection.HTTPConnection):
    """An HTTP connection whose socket the current call's Deadline watches."""

    def connect(self) -> None:
        super().connect()
        _guard_current(self.sock)


class _GuardedHTTPSConnection(urllib3.connection.HTTPSConnection):
    """An HTTPS connection whose socket the current call's Deadline watches."""

    def connect(self) -> None:
        super().connect()
        _guard_current(self.sock)


class _GuardedHTTPConnectionPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSConnectionPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter, with connections the Deadline watches."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _GuardedHTTPConnectionPool,
            "https": _GuardedHTTPSConnectionPool,
        }


def _target_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no environment proxies or .netrc credentials for targets
    session.headers.clear()  # no requests defaults (Accept-Encoding: gzip, User-Agent)
    adapter = _GuardedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _described(error: object) -> str:
    """An outbound error as logged: its kind only (requests' texts repeat the URL, query
    and all, which may carry keys)."""
    return type(error).__name__


def _loggable(url: str) -> str:
    """The URL without its query (which may carry keys)."""
    return url.split("?", 1)[0]
