"""Slow clients against the production server (bin/serve: granian, 2 workers x 2 threads).

A client that sends a request head and then its body a byte at a time (or not at all), or
a head that never ends, must not hold a thread: the service keeps answering everyone
else, and the slow connection ends (408 or closed) within a bounded time
(REQUEST_BODY_TIMEOUT, bin/serve's HEADER_TIMEOUT; emulator/web/front.py).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.live.server import HOST
from tests.live.server import GranianServer
from tests.live.server import emptied_env
from tests.live.server import request
from tests.live.server import run_cli

pytestmark = pytest.mark.slow

CLIENT = ("slow-test-client", "slow-test-secret-1")
TOKEN_PATH = "/index.php?option=token&api=oauth2"
SLOW_CLIENTS = 16  # four times the server's threads (2 workers x 2)
BODY_TIMEOUT = 2  # seconds (FLASK_REQUEST_BODY_TIMEOUT)
HEADER_TIMEOUT = 2  # seconds (bin/serve's HEADER_TIMEOUT)
ENDED_WITHIN = 30.0  # generous bound for a slow connection to be answered or closed
SLOW_HEAD = b"POST /index.php?option=token&api=oauth2 HTTP/1.1\r\nHost: x\r\n"


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[GranianServer]:
    env = emptied_env(database_url)
    run_cli(env, "clients", "create", CLIENT[0], "--secret", CLIENT[1])
    env["FLASK_REQUEST_BODY_TIMEOUT"] = str(BODY_TIMEOUT)
    env["HEADER_TIMEOUT"] = str(HEADER_TIMEOUT)
    live = GranianServer(env, tmp_path)
    live.start()
    try:
        yield live
    finally:
        live.stop()
    assert "Traceback" not in live.stderr(), live.stderr()


def open_slow(server: GranianServer, data: bytes) -> socket.socket:
    """A connection that sent ``data`` and will send nothing more."""
    sock = socket.create_connection((HOST, server.port), timeout=ENDED_WITHIN)
    sock.sendall(data)
    return sock


def ending(sock: socket.socket) -> bytes:
    """What the server sent before it closed the connection (fails if it keeps it open)."""
    received = b""
    deadline = time.monotonic() + ENDED_WITHIN
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(4096)
        except ConnectionResetError:
            break
        if not chunk:
            break
        received += chunk
    else:
        raise AssertionError(f"still open after {ENDED_WITHIN:.0f} s: {received!r}")
    return received


def fast_clients_answered(server: GranianServer) -> None:
    health = request("GET", f"{server.base_url}/healthz")
    assert health.status_code == 200
    token = request(
        "POST", server.base_url + TOKEN_PATH, data={"grant_type": "client_credentials"}, auth=CLIENT
    )
    assert token.status_code == 200, token.text
    assert token.json()["token_type"] == "Bearer"


def test_bodies_that_never_come_hold_no_thread_and_end_in_408(server: GranianServer) -> None:
    head = SLOW_HEAD + b"Content-Type: application/x-www-form-urlencoded\r\n"
    with ExitStack() as stack:
        slow = [
            stack.enter_context(open_slow(server, head + b"Content-Length: 10\r\n\r\ng"))
            for _ in range(SLOW_CLIENTS)
        ]
        fast_clients_answered(server)
        for sock in slow:
            assert ending(sock).startswith(b"HTTP/1.1 408 ")
        fast_clients_answered(server)


def test_a_body_sent_a_byte_at_a_time_is_cut_off_at_its_deadline(server: GranianServer) -> None:
    body = b"grant_type=client_credentials&padding=" + b"x" * 200
    head = SLOW_HEAD + b"Content-Length: %d\r\n\r\n" % len(body)
    with open_slow(server, head) as sock:
        sent = 0
        answer = b""
        for byte in body:  # one byte every 0.1 s: the whole body would take 24 s
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 1
            time.sleep(0.1)
            if sent % 10 == 0:
                sock.setblocking(False)
                try:
                    answer += sock.recv(4096)
                except BlockingIOError:
                    pass
                finally:
                    sock.setblocking(True)
                if answer:
                    break
        assert sent < len(body)
        assert (answer + ending(sock)).startswith(b"HTTP/1.1 408 ")


def test_heads_that_never_end_are_closed_and_hold_no_thread(server: GranianServer) -> None:
    """A started head is closed at HEADER_TIMEOUT; a connection that sends nothing at all is
    not (granian's timer starts at the first byte: docs/operate/deployment.md) but holds
    no thread either."""
    with ExitStack() as stack:
        slow = [stack.enter_context(open_slow(server, SLOW_HEAD)) for _ in range(SLOW_CLIENTS)]
        for _ in range(SLOW_CLIENTS):
            stack.enter_context(open_slow(server, b""))
        fast_clients_answered(server)
        for sock in slow:
            assert ending(sock) == b""


def test_a_body_over_the_limit_is_refused_unread_and_the_connection_closed(
    server: GranianServer,
) -> None:
    head = SLOW_HEAD + b"Content-Type: application/x-www-form-urlencoded\r\n"
    with open_slow(server, head + b"Content-Length: 2000000\r\n\r\ngrant_type=") as sock:
        answer = ending(sock)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"\r\nconnection: close\r\n" in answer.lower()
    fast_clients_answered(server)


def test_without_the_front_the_same_answers_and_head_deadline(
    database_url: str, tmp_path: Path
) -> None:
    """BODY_FRONT=0 (behind a proxy that buffers bodies): granian's WSGI interface serves the
    same answers, and a head that never ends is still closed at HEADER_TIMEOUT."""
    env = emptied_env(database_url)
    run_cli(env, "clients", "create", CLIENT[0], "--secret", CLIENT[1])
    env["HEADER_TIMEOUT"] = str(HEADER_TIMEOUT)
    env["BODY_FRONT"] = "0"
    live = GranianServer(env, tmp_path)
    live.start()
    try:
        fast_clients_answered(live)
        with open_slow(live, SLOW_HEAD) as sock:
            assert ending(sock) == b""
        refused = request("POST", live.base_url + TOKEN_PATH, data={"grant_type": "x"})
        assert (refused.status_code, refused.headers["Content-Type"]) == (400, "application/json")
    finally:
        live.stop()
    assert "not supported on WSGI" in live.stdout_path.read_text()  # granian's WSGI interface
    assert "Traceback" not in live.stderr(), live.stderr()
