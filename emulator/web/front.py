"""The server's front: the request body is read before a thread is taken, with a deadline.

granian serves WSGI by handing each request to a blocking thread at once, and
``wsgi.input.read()`` in that thread waits for the client's bytes with no time limit
(granian 2.8 has a deadline for the request head, ``--http1-header-read-timeout``, and none
for the body). A client that declares ``Content-Length: 10`` and sends one byte held a
thread until it went away: sixteen such connections stopped a 2 x 4-thread server.

So bin/serve runs granian's ASGI interface with ``Front`` as the application. On the
worker's event loop, where a waiting connection costs a coroutine and no thread, it

- reads the body within ``REQUEST_BODY_TIMEOUT`` seconds of the head (a late body: 408
  and the connection closed), and no more of it than ``MAX_CONTENT_LENGTH`` + 1 bytes: a
  larger one is cut there and the app refuses it as before (413 in its dialect; the
  connection is closed after the answer, since the rest of the body is left unread);
- then runs the Flask app in one of ``threads`` threads with the whole body in memory, and
  sends what the app answered from the loop, so a client slow to read its answer holds no
  thread either.

The environ is the one granian's WSGI interface builds (same names and values, headers
joined with ``,``, ``SERVER_SOFTWARE`` "Granian"), plus ``RAW_URI``/``REQUEST_URI``: the path as
sent, as gunicorn gives it.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
import sys
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote_to_bytes

log = logging.getLogger(__name__)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

TIMEOUT_HEADERS = [(b"content-type", b"text/plain"), (b"connection", b"close")]
TIMEOUT_BODY = b"Request Timeout: the request body did not arrive in time.\n"


class Front:
    """An ASGI application that reads the body, then calls a WSGI app in a thread pool."""

    def __init__(
        self, app: WSGIApp, *, threads: int, body_timeout: float, max_body: int | None
    ) -> None:
        self.app = app
        self.threads = threads
        self.body_timeout = body_timeout
        self.max_body = max_body
        self._pool: ThreadPoolExecutor | None = None  # made in the worker, on first use
        self._base = {
            **os.environ,
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SCRIPT_NAME": "",
            "SERVER_SOFTWARE": "Granian",
            "wsgi.errors": sys.stderr,
            "wsgi.input_terminated": True,
            "wsgi.multiprocess": False,
            "wsgi.multithread": True,
            "wsgi.run_once": False,
            "wsgi.version": (1, 0),
        }

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        """Serve one HTTP request: its body within the deadline, then the app in a thread."""
        if scope["type"] != "http":
            return  # no websockets here (granian's asginl interface sends no lifespan)
        try:
            if _no_body(scope["headers"]):
                body, whole = b"", True  # nothing to wait for
            else:
                async with asyncio.timeout(self.body_timeout):
                    body, whole = await self._read_body(scope, receive)
        except TimeoutError:
            await send({"type": "http.response.start", "status": 408, "headers": TIMEOUT_HEADERS})
            await send({"type": "http.response.body", "body": TIMEOUT_BODY})
            return
        if body is None:
            return  # the client went away
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="wsgi")
        environ = self.environ(scope, body)
        loop = asyncio.get_running_loop()
        status, headers, chunks = await loop.run_in_executor(self._pool, self._call, environ)
        if not whole:
            headers.append((b"connection", b"close"))  # the rest of the body is unread
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"".join(chunks)})

    async def _read_body(
        self, scope: dict[str, Any], receive: Receive
    ) -> tuple[bytes | None, bool]:
        """(body, whole): at most max_body + 1 bytes; None if the client disconnected."""
        limit = self.max_body
        declared = _content_length(scope["headers"])
        if limit is not None and declared is not None and declared > limit:
            return b"", False  # refused on its Content-Length, none of it read (as werkzeug)
        parts: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None, False
            chunk = message.get("body", b"")
            if chunk:
                parts.append(chunk)
                size += len(chunk)
            if not message.get("more_body", False):
                return b"".join(parts), True
            if limit is not None and size > limit:
                return b"".join(parts)[: limit + 1], False

    def environ(self, scope: dict[str, Any], body: bytes) -> dict[str, Any]:
        """The WSGI environ granian would give for this request, with ``body`` as input."""
        raw_path = scope.get("raw_path") or scope["path"].encode()
        query = scope["query_string"].decode("latin-1")
        raw_uri = raw_path.decode("latin-1") + (f"?{query}" if query else "")
        server = scope.get("server") or ("", 0)
        client = scope.get("client") or ("", 0)
        environ = {
            **self._base,
            "REQUEST_METHOD": scope["method"],
            "PATH_INFO": unquote_to_bytes(raw_path).decode("latin-1"),
            "QUERY_STRING": query,
            "RAW_URI": raw_uri,
            "REQUEST_URI": raw_uri,
            "SERVER_NAME": str(server[0]),
            "SERVER_PORT": str(server[1]),
            "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
            "REMOTE_ADDR": str(client[0]),
            "REMOTE_PORT": str(client[1]),
            "wsgi.url_scheme": scope.get("scheme", "http"),
            "wsgi.input": io.BytesIO(body),
        }
        for name, value in scope["headers"]:
            key = name.decode("latin-1").upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = f"HTTP_{key}"
            text = value.decode("latin-1")
            environ[key] = f"{environ[key]},{text}" if key in environ else text
        return environ

    def _call(self, environ: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], list[bytes]]:
        """Run the WSGI app (in a pool thread): status, headers, the body's chunks."""
        answer: list[Any] = []
        chunks: list[bytes] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            if exc_info is not None and answer:
                raise exc_info[1].with_traceback(exc_info[2])
            answer[:] = [status, headers]
            return chunks.append

        result = self.app(environ, start_response)
        try:
            for chunk in result:
                if chunk:
                    chunks.append(chunk)
        except Exception:  # as granian does: what came so far ends the answer (logged)
            log.exception("the answer's body raised; it ends here")
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        status, headers = answer
        encoded = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        return int(status.split(" ", 1)[0]), encoded, chunks


def _no_body(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether the request has no body: neither Transfer-Encoding nor a Content-Length
    other than 0 (RFC 9112 §6.3)."""
    for name, value in headers:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return False
    return True


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The declared Content-Length (granian refuses a malformed one before we see it)."""
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
