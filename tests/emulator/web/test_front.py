"""emulator/web/front.py: the body read on the event loop (deadline, size), then the app.

The ASGI calls are made here as granian makes them; tests/live/test_slow_clients.py runs
the same front under granian with real sockets.
"""

from __future__ import annotations

import asyncio
from typing import Any

from emulator.web.front import Front


def echo(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Path", environ["PATH_INFO"])])
    return [body]


def scope(headers: list[tuple[bytes, bytes]], raw_path: bytes = b"/x") -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": "/x",
        "raw_path": raw_path,
        "query_string": b"option=token&api=oauth2",
        "headers": headers,
        "server": ("127.0.0.1", 8000),
        "client": ("192.0.2.1", 50000),
        "scheme": "http",
        "http_version": "1.1",
    }


def serve(front: Front, the_scope: dict[str, Any], messages: list[dict[str, Any]] | None):
    """Run one request; ``messages`` None: a body that never comes. Returns what was sent."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages is None:
            await asyncio.sleep(3600)
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(front(the_scope, receive, send))
    return sent


def test_the_body_is_read_whole_and_the_path_is_as_granian_gives_it() -> None:
    front = Front(echo, threads=1, body_timeout=5, max_body=100)
    messages = [
        {"type": "http.request", "body": b"grant_", "more_body": True},
        {"type": "http.request", "body": b"type=x", "more_body": False},
    ]
    headers = [(b"content-length", b"12"), (b"x-a", b"1"), (b"x-a", b"2")]
    sent = serve(front, scope(headers, b"/a%2Fb/%ff"), messages)
    assert sent[0]["status"] == 200
    assert (b"x-path", "/a/b/\xff".encode("latin-1")) in sent[0]["headers"]
    assert sent[1]["body"] == b"grant_type=x"
    environ = front.environ(scope(headers, b"/a%2Fb/%ff"), b"")
    assert environ["HTTP_X_A"] == "1,2"
    assert environ["RAW_URI"] == "/a%2Fb/%ff?option=token&api=oauth2"
    assert (environ["REMOTE_ADDR"], environ["SERVER_SOFTWARE"]) == ("192.0.2.1", "Granian")


def test_a_body_that_does_not_come_in_time_is_a_408_that_closes_the_connection() -> None:
    front = Front(echo, threads=1, body_timeout=0.2, max_body=100)
    sent = serve(front, scope([(b"content-length", b"10")]), None)
    assert sent[0]["status"] == 408
    assert (b"connection", b"close") in sent[0]["headers"]


def test_a_chunked_body_past_the_limit_is_cut_there_and_the_connection_closed() -> None:
    front = Front(echo, threads=1, body_timeout=5, max_body=10)
    messages = [{"type": "http.request", "body": b"x" * 8, "more_body": True}] * 3
    sent = serve(front, scope([(b"transfer-encoding", b"chunked")]), list(messages))
    assert sent[1]["body"] == b"x" * 11  # the app sees one byte past the limit, and refuses
    assert (b"connection", b"close") in sent[0]["headers"]
