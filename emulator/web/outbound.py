"""Outbound HTTP: passing a request on to another server and its answer back, for any plugin.

What every plugin that forwards needs alike, whatever its dialect (protected API proxies
in front of a backend, a legacy site behind this service):

- which request paths may be passed on (``is_plain_path``: no dot segment, encoded separator,
  backslash or ``//`` that a server behind could read as another place) and in which encoding
  (``RequestPath``);
- the headers: the client's end-to-end ones (RFC 9110 §7.6.1: hop-by-hop headers and those the
  ``Connection`` header names are dropped; this service's own cookies are taken out of
  ``Cookie``: a session here is never the other server's), then who asked as this service saw it
  (``X-Forwarded-For/Proto/Host``, ``X-Real-IP``, ``Forwarded``; whatever the client claimed is
  dropped);
- limits (``Limits``): the client's body is read first, and refused past the limit
  (``BodyTooLarge``); the whole call, from connecting to the answer's last byte, has a deadline
  (``Deadline``: a watchdog shuts the call's sockets down), and each read a timeout; the answer
  may carry only so many bytes;
- the call (``send``, ``forward``): redirects are not followed, environment proxies and
  ``.netrc`` are not used, the answer is streamed back as it arrives (``StreamedBody``), its
  bytes untouched.

Trouble before the answer started is one of a few kinds (``Trouble``); the caller says which of
its own errors each kind is (``fault``), so each dialect words it: an answer whose header
holds a CR, LF or NUL (a header break, passed on) is one of them. Trouble after the answer
started cannot be answered any more (the status line is out): the stream ends where it is, a
warning is logged, the other server's connection is closed, and ``AnswerCutOff`` (a
connection reset) is raised into the WSGI server, which ends the client's connection
without ending the answer, so the client sees it incomplete rather than whole.

Log lines name the caller's logger and what was called (``label``), and the URL without its
query (which may carry keys); never a header value.
"""

from __future__ import annotations

import enum
import errno
import http.client
import logging
import re
import socket
import threading
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from urllib.parse import unquote

import requests
import requests.adapters
import urllib3
import urllib3.connection
from flask import Response
from flask import request

from emulator.ops import metrics
from emulator.web.body import read_body as read_request_body
from emulator.web.context import app_object
from emulator.web.errors import BodyTooLarge
from emulator.web.http import cookie_name
from emulator.web.http import quoted_string

# RFC 9110 §7.6.1 (Connection, Proxy-Connection, Keep-Alive, TE, Transfer-Encoding, Upgrade),
# the proxy's own authentication (§11.7) and the trailer headers: for one hop only.
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
# Who asked, as the client claims it: replaced by what this service saw (any X-Forwarded-*
# header too).
FORWARDING = frozenset({"forwarded", "x-real-ip"})
# Never passed on: requests sets Host (the target's) and Content-Length (of the body sent).
NOT_FORWARDED = HOP_BY_HOP | FORWARDING | {"host", "content-length"}
CONNECT_TIMEOUT = 3.0  # seconds (the default connect.timeout.millis of the gateways we replace)
CHUNK_SIZE = 64 * 1024
_DECIMAL = re.compile(r"[0-9]+")

# --- paths --------------------------------------------------------------------------------

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
        was matched; otherwise the decoded suffix is percent-encoded again. An empty
        ``base_path`` gives the whole path.
        """
        depth = base_path.count("/")
        if self.raw is not None and unquote(self.raw) == self.decoded:
            return _tail(self.raw, depth)
        return quote(_tail(self.decoded, depth), safe=_PATH_SAFE)


def _tail(path: str, depth: int) -> str:
    """``path`` without its first ``depth`` segments: /a/b/c, 1 -> /b/c."""
    return "".join("/" + segment for segment in path.split("/")[depth + 1 :])


def request_path() -> RequestPath:
    """The current request's path, decoded and (where the server keeps it) as sent."""
    environ = request.environ
    # PEP 3333 hands PATH_INFO over as latin-1; Werkzeug reads it as UTF-8, and so do we,
    # but keep the leading slashes Werkzeug's request.path folds into one.
    decoded = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
    raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
    return RequestPath(decoded=decoded or "/", raw=raw_uri.split("?", 1)[0] or None)


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


# --- the request ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """How long an outbound call may take and how much it may carry."""

    read_timeout: float  # seconds for each read
    deadline: float  # seconds for the whole call, first connect to last byte
    max_request_bytes: int  # the longest client body passed on
    max_response_bytes: int  # the longest answer body passed back


@dataclass(frozen=True)
class Outbound:
    """The request for the other server, read whole from the client's before the call."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes


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


def end_to_end_headers(
    headers: Iterable[tuple[str, str]],
    drop: frozenset[str] = frozenset(),
    *,
    own_cookies: frozenset[str] = frozenset(),
) -> dict[str, str]:
    """The client's headers that go on: not hop-by-hop, not named by its ``Connection``
    header, not a forwarding claim (any ``X-Forwarded-*``), not ``Host`` or
    ``Content-Length``, and not in ``drop`` (lower-case names). Repeated names are joined
    with ``", "`` (RFC 9110 §5.3), ``Cookie`` with ``"; "`` (RFC 9113 §8.2.3). The cookies
    named in ``own_cookies`` (lower case: this service's sessions,
    ``isolation.guarded_cookies``) are taken out of ``Cookie``; the others go on as sent."""
    pairs = list(headers)
    connection_tokens = named_by_connection(pairs)
    kept: dict[str, str] = {}
    for name, value in pairs:
        lower = name.lower()
        if (
            lower in NOT_FORWARDED
            or lower in drop
            or lower in connection_tokens
            or lower.startswith("x-forwarded-")
        ):
            continue
        joiner = ", "
        if lower == "cookie":
            value, joiner = without_cookies(value, own_cookies), "; "
            if not value:
                continue
        kept[name] = f"{kept[name]}{joiner}{value}" if name in kept else value
    return kept


def without_cookies(cookie_header: str, names: frozenset[str]) -> str:
    """A ``Cookie`` value without the cookies of ``names`` (lower case; each pair's
    ``cookie_name``, any case); the rest as it was, leading blanks off."""
    if not names:
        return cookie_header
    kept = [pair for pair in cookie_header.split(";") if cookie_name(pair).lower() not in names]
    return ";".join(kept).lstrip(" \t")


def named_by_connection(headers: Iterable[tuple[str, str]]) -> set[str]:
    """The header names a ``Connection`` header lists: hop-by-hop too (RFC 9110 §7.6.1)."""
    return {
        token.strip().lower()
        for name, value in headers
        if name.lower() == "connection"
        for token in value.split(",")
    }


def forwarding_headers(client: str, host: str, scheme: str) -> dict[str, str]:
    """Who called and how, as this service saw it (``client`` is the address the app trusts:
    the socket's, or ProxyFix's reading of ``TRUSTED_PROXIES`` hops)."""
    return {
        "X-Forwarded-For": client,
        "X-Forwarded-Proto": scheme,
        "X-Forwarded-Host": host,
        "X-Real-IP": client,
        "Forwarded": forwarded_element(client, host, scheme),
    }


def forwarded_element(client: str, host: str, proto: str) -> str:
    """RFC 7239 §4: ``for=`` (IPv6 bracketed and quoted), ``host=`` quoted, ``proto=``."""
    node = f'"[{client}]"' if ":" in client else client or "unknown"
    return f"for={node};host={quoted_string(host)};proto={proto}"


# --- the call ------------------------------------------------------------------------------


class Trouble(enum.Enum):
    """What went wrong before the answer started; the caller words it."""

    UNREACHABLE = "unreachable"  # refused, DNS failure, connect timeout
    TIMEOUT = "timeout"  # a read timed out, or the deadline passed
    CUT_OFF = "cut_off"  # connected, then cut off, or the answer was not HTTP
    TOO_LARGE = "too_large"  # the answer declares more bytes than the limit
    BAD_HEADER = "bad_header"  # a header's name or value holds a CR, LF or NUL
    BUSY = "busy"  # OUTBOUND_MAX_CONCURRENT calls of this worker are under way: not sent


# Trouble -> the caller's error to raise (a HostError, for the dispatcher to render).
FaultFor = Callable[[Trouble], Exception]


@dataclass(frozen=True)
class Upstream:
    """The other server's status and headers; its body streams from ``body``."""

    status: int
    headers: list[tuple[str, str]]  # every value apart (each Set-Cookie), in order
    declared_length: int | None
    body: StreamedBody


def send(
    outbound: Outbound,
    limits: Limits,
    *,
    fault: FaultFor,
    log: logging.Logger,
    label: str,
    request_thread: bool = True,
) -> Upstream:
    """Send ``outbound``; return the answer's head, its body to stream, or raise ``fault``.

    The answer's hop-by-hop headers (and those its ``Connection`` names) are left out, and
    so is ``Content-Length``, which is ``declared_length``. A declared body over
    ``limits.max_response_bytes`` is ``Trouble.TOO_LARGE`` (not for HEAD); a header whose
    name or value holds a CR, LF or NUL (also a bare CR that the parser took for a line
    break) is ``Trouble.BAD_HEADER``: passed on, it would be a header break.
    """
    url = loggable(outbound.url)
    release = take_slot() if request_thread else _nothing
    if release is None:
        log.warning("%s %s: not sent, the worker's outbound calls are all in use", label, url)
        metrics.outbound_refused(label)
        raise fault(Trouble.BUSY)
    deadline = Deadline(limits.deadline)
    deadline.on_cancel = release
    session = _outbound_session()
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
        trouble = trouble_of(error, deadline, limits, log=log, what=f"{label} {url}")
        if trouble is None:
            raise
        raise fault(trouble) from None
    body = StreamedBody(upstream, session, deadline, limits.max_response_bytes, log, label, url)
    received = list(upstream.raw.headers.items())
    if any(_LINE_BREAK.search(name + value) for name, value in received):
        body.close()
        log.warning("%s %s: %s", label, url, BAD_HEADER_LOGGED)
        raise fault(Trouble.BAD_HEADER)
    declared = declared_length(upstream)
    if declared is not None and declared > limits.max_response_bytes and outbound.method != "HEAD":
        body.close()
        log.warning("%s %s: a %d-byte answer is over the limit", label, url, declared)
        raise fault(Trouble.TOO_LARGE)
    return Upstream(
        status=upstream.status_code,
        headers=answer_headers(received),
        declared_length=declared,
        body=body,
    )


_SLOTS = "emulator.outbound.slots"


def _nothing() -> None:
    pass


def take_slot() -> Callable[[], None] | None:
    """One of this worker's OUTBOUND_MAX_CONCURRENT outbound calls, or None when all are
    taken; the function returned gives it back (once, however often it is called).

    A forwarded call holds one of the worker's threads for as long as the other server
    takes (up to its deadline): without a bound, a slow legacy site or target took every
    thread and the token URLs waited. Past the bound a call is refused at once
    (``Trouble.BUSY``: each dialect's 503), which leaves the rest of the threads to the
    URLs this service answers itself.
    """
    app = app_object()
    slots = app.extensions.get(_SLOTS)
    if slots is None:  # a race makes two; setdefault keeps one, the other is never used
        size = max(1, int(app.config.get("OUTBOUND_MAX_CONCURRENT", 2)))
        slots = app.extensions.setdefault(_SLOTS, threading.BoundedSemaphore(size))
    if not slots.acquire(blocking=False):
        return None
    released = threading.Lock()

    def release() -> None:
        if released.acquire(blocking=False):
            slots.release()

    return release


def forward(
    outbound: Outbound, limits: Limits, *, fault: FaultFor, log: logging.Logger, label: str
) -> Response:
    """Send ``outbound``; return its status and headers as sent, its body streaming.

    An answer that does not come whole (the size limit, the deadline, a cut connection)
    ends the client's connection without a proper end (AnswerCutOff), where the server can.
    """
    answer = send(outbound, limits, fault=fault, log=log, label=label)
    answer.body.abort_when_cut = server_can_abort()
    rv = Response(answer.body, status=answer.status)
    del rv.headers["Content-Type"]  # only what the other server sent
    for name, value in answer.headers:
        rv.headers.add(name, value)
    if answer.declared_length is not None:
        rv.headers["Content-Length"] = str(answer.declared_length)
    return rv


def answer_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """An answer's end-to-end headers, every value apart, without Content-Length."""
    pairs = list(headers)
    connection_tokens = named_by_connection(pairs)
    return [
        (name, value)
        for name, value in pairs
        if name.lower() not in HOP_BY_HOP
        and name.lower() not in connection_tokens
        and name.lower() != "content-length"
    ]


def trouble_of(
    error: Exception, deadline: Deadline, limits: Limits, *, log: logging.Logger, what: str
) -> Trouble | None:
    """The kind of trouble before the answer started, logged; None for anything else (a bug)."""
    if not isinstance(error, requests.RequestException | urllib3.exceptions.HTTPError):
        return None
    if deadline.expired:
        log.warning("%s: no answer within the %.1f s deadline", what, limits.deadline)
        return Trouble.TIMEOUT
    if isinstance(error, requests.exceptions.ConnectTimeout):
        log.warning("%s: connect timeout", what)
        return Trouble.UNREACHABLE
    if isinstance(error, requests.exceptions.ReadTimeout | urllib3.exceptions.ReadTimeoutError):
        log.warning("%s: no answer within %.1f s", what, limits.read_timeout)
        return Trouble.TIMEOUT
    if isinstance(error, requests.exceptions.ConnectionError):
        cause = error.args[0] if error.args else None
        if isinstance(cause, urllib3.exceptions.ProtocolError) and any(
            isinstance(arg, MalformedHead) for arg in cause.args
        ):
            log.warning("%s: %s", what, BAD_HEADER_LOGGED)
            return Trouble.BAD_HEADER
        log.warning("%s: %s", what, described(cause))
        if isinstance(cause, urllib3.exceptions.ProtocolError):  # connected, then cut off
            return Trouble.CUT_OFF
        return Trouble.UNREACHABLE
    log.warning("%s: %s", what, described(error))
    return Trouble.CUT_OFF


def declared_length(upstream: requests.Response) -> int | None:
    """The answer's Content-Length, when it sent one plain value and no chunked body."""
    value = upstream.raw.headers.get("Content-Length")
    if upstream.raw.chunked or value is None or not _DECIMAL.fullmatch(value):
        return None
    return int(value)


class StreamedBody:
    """The answer's body, passed on as it arrives, within the deadline and the size limit.

    It closes the connection (and ends the deadline's watchdog) when the body has been
    passed on, when it stops early, or when Werkzeug closes it because the client went
    away, whichever comes first. Trouble is logged, never raised as it is; a body that
    did not come whole raises AnswerCutOff at its end when ``abort_when_cut`` is set.
    """

    def __init__(
        self,
        upstream: requests.Response,
        session: requests.Session,
        deadline: Deadline,
        limit: int,
        log: logging.Logger,
        label: str,
        url: str,
    ) -> None:
        self._upstream = upstream
        self._session = session
        self._deadline = deadline
        self._limit = limit
        self._log = log
        self._what = f"{label} {url}"
        self._closed = False
        self.complete = False  # whether the whole body came, within the limit and the deadline
        self.abort_when_cut = False  # raise AnswerCutOff at the end of an incomplete body

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._chunks()
        finally:
            self.close()
        if self.abort_when_cut and not self.complete:
            raise AnswerCutOff(self._what)

    def _chunks(self) -> Iterator[bytes]:
        raw = self._upstream.raw
        sent = 0
        try:
            while not self._deadline.expired:
                chunk = raw.read1(CHUNK_SIZE, decode_content=False)
                if not chunk:
                    self.complete = True
                    break
                if sent + len(chunk) > self._limit:
                    if self._limit > sent:
                        yield chunk[: self._limit - sent]
                    self._log.warning(
                        "%s: answer cut off at %d bytes (the size limit)", self._what, self._limit
                    )
                    return
                sent += len(chunk)
                yield chunk
        except (OSError, http.client.HTTPException, urllib3.exceptions.HTTPError) as error:
            if not self._deadline.expired:
                self._log.warning(
                    "%s: answer cut off after %d bytes: %s", self._what, sent, described(error)
                )
                return
        except Exception:
            self._log.exception("%s: answer cut off after %d bytes", self._what, sent)
            return
        if not self.complete and self._deadline.expired:
            self._log.warning("%s: answer cut off after %d bytes by the deadline", self._what, sent)

    def close(self) -> None:
        """Close the connection; safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        self._deadline.cancel()
        self._upstream.close()
        self._session.close()


class AnswerCutOff(ConnectionResetError):
    """Raised into the WSGI server at the end of a forwarded body that did not come whole.

    The status line is out, so the only way left to tell the client is to end its
    connection without ending the answer (no last chunk, or fewer bytes than declared).
    gunicorn and Werkzeug's server do that for an exception from the body, and drop a
    connection reset quietly (ECONNRESET: no traceback); what was wrong is logged already.
    """

    def __init__(self, what: str) -> None:
        super().__init__(errno.ECONNRESET, f"{what}: the answer did not come whole")


def server_can_abort() -> bool:
    """Whether the WSGI server serving this request ends a connection on AnswerCutOff.

    granian (2.8) ends the body cleanly whatever its iterator raises (and logs a
    traceback), so under it an incomplete undeclared body cannot be told from a whole one:
    not raised there (docs/dialects/passthrough.md says so).
    """
    return not request.environ.get("SERVER_SOFTWARE", "").startswith("Granian")


# A CR, LF or NUL in a header's name or value (RFC 9110 §5.5: never part of a field).
_LINE_BREAK = re.compile("[\r\n\0]")
BAD_HEADER_LOGGED = "a header of the answer holds a CR, LF or NUL (not passed on)"


class MalformedHead(http.client.HTTPException):
    """An answer's header line holds a bare CR or a NUL (RFC 9112 §2.2: a bare CR is
    invalid). http.client's parser splits a line at a bare CR, which made one header two."""


class _HeadLines:
    """The answer's file while its head is read: every line read is kept."""

    def __init__(self, fp: Any) -> None:
        self.fp = fp
        self.lines: list[bytes] = []

    def readline(self, limit: int = -1) -> bytes:
        line = self.fp.readline(limit)
        self.lines.append(line)
        return line

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fp, name)


class _CheckedHTTPResponse(http.client.HTTPResponse):
    """http.client's response, refusing a head with a bare CR or a NUL in a line."""

    def begin(self) -> None:
        if self.headers is not None:
            return
        real, head = self.fp, _HeadLines(self.fp)
        self.fp = head
        try:
            super().begin()
        finally:
            if self.fp is head:
                self.fp = real
        for line in head.lines:
            content = line.removesuffix(b"\n").removesuffix(b"\r")
            if b"\r" in content or b"\0" in content:
                self.close()
                raise MalformedHead("a header line holds a bare CR or a NUL")


# --- the deadline ----------------------------------------------------------------------------

_WATCHING: ContextVar[Deadline | None] = ContextVar("outbound_deadline", default=None)


class Deadline:
    """One call's time budget, kept by a watchdog on the call's sockets.

    A socket timeout bounds each read, so a server that sends a byte now and then is never
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
        self.on_cancel: Callable[[], None] | None = None  # called when the call is over

    @property
    def expired(self) -> bool:
        """Whether the budget is spent."""
        return self._fired or time.monotonic() >= self._end

    def clip(self, seconds: float) -> float:
        """``seconds``, or what is left of the budget when that is less (at least 1 ms)."""
        return max(min(seconds, self._end - time.monotonic()), 0.001)

    @contextmanager
    def watching(self) -> Iterator[None]:
        """Put every socket this thread opens in the block under the watchdog."""
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
        if self.on_cancel is not None:
            self.on_cancel()

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

    response_class = _CheckedHTTPResponse

    def connect(self) -> None:
        super().connect()
        _guard_current(self.sock)


class _GuardedHTTPSConnection(urllib3.connection.HTTPSConnection):
    """An HTTPS connection whose socket the current call's Deadline watches."""

    response_class = _CheckedHTTPResponse

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


class _Session(requests.Session):
    """A session that never follows a redirect, nor reads one's body to that end."""

    def get_redirect_target(self, resp: requests.Response) -> None:
        """No redirect is followed: a 3xx answer is passed back as it is.

        ``allow_redirects=False`` alone does not do it: requests still reads (and decodes)
        a redirect's body to prepare ``Response.next``, so it would be lost for the client.
        """
        return None


def _outbound_session() -> requests.Session:
    session = _Session()
    session.trust_env = False  # no environment proxies or .netrc credentials
    session.headers.clear()  # no requests defaults (Accept-Encoding: gzip, User-Agent)
    adapter = _GuardedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def described(error: object) -> str:
    """An outbound error as logged: its kind only (requests' texts repeat the URL, query
    and all, which may carry keys); urllib3's "max retries" names the one that counts."""
    if isinstance(error, urllib3.exceptions.MaxRetryError) and error.reason is not None:
        return type(error.reason).__name__
    return type(error).__name__


def loggable(url: str) -> str:
    """The URL without its query (which may carry keys)."""
    return url.split("?", 1)[0]
