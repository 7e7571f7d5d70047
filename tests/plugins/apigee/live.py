"""A real server (gunicorn, as `make run` serves) and a real target (http.server) on 127.0.0.1.

Every wait is bounded; everything started is stopped and closed (the suite turns
ResourceWarnings into errors).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path

import tests.live
from config import Config

HOST = "127.0.0.1"
STOP_TIMEOUT = 10.0
# Settings of the environment that would change what gunicorn does.
_FOREIGN = ("GUNICORN_CMD_ARGS", "WEB_CONCURRENCY", "HOST", "PORT", "THREADS", "WORKER_CLASS")


free_port = tests.live.free_port


def server_env(database_url: str) -> dict[str, str]:
    """Our environment minus FLASK_ and gunicorn settings, plus the test database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_") and k not in _FOREIGN}
    env.update(
        FLASK_SQLALCHEMY_DATABASE_URI=database_url,
        FLASK_SECRET_KEY="test",
        PYTHONUNBUFFERED="1",
    )
    # Workers may cache what they read (plugin state, clients) for a *_MAX_AGE setting;
    # the tests change things through the CLI and want the server to see them at once.
    for name in dir(Config):
        if name.endswith("_MAX_AGE"):
            env[f"FLASK_{name}"] = "0"
    return env


class LiveServer(tests.live.LiveServer):
    """tests.live.LiveServer on the test database with every cache off (the tests change
    things through the CLI and want the server to see them at once)."""

    def __init__(self, database_url: str, log_dir: Path) -> None:
        super().__init__(server_env(database_url), log_dir)


@dataclass
class Target:
    """A real HTTP API behind a proxy: answers JSON describing what it received."""

    base_url: str
    received: list[dict] = field(default_factory=list)


@contextmanager
def target_server() -> Iterator[Target]:
    """http.server in a thread on 127.0.0.1; every request is recorded and echoed."""
    target = Target(base_url="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            seen = {
                "method": self.command,
                "path": self.path,
                "headers": dict(self.headers.items()),
                "body": body.decode("utf-8", "replace"),
            }
            target.received.append(seen)
            payload = json.dumps({"weather": "sunny", "path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Target", "real")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _answer

        def log_message(self, *_args: object) -> None:  # quiet
            return

    server = ThreadingHTTPServer((HOST, 0), Handler)
    server.daemon_threads = True
    target.base_url = f"http://{HOST}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="apigee-test-target", daemon=True)
    thread.start()
    try:
        yield target
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=STOP_TIMEOUT)
