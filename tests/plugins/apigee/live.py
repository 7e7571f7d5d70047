"""A real server (gunicorn, as `make run` serves) and a real target (http.server) on 127.0.0.1.

Every wait is bounded; everything started is stopped and closed (the suite turns
ResourceWarnings into errors).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path

from config import Config

ROOT = Path(__file__).resolve().parents[3]
BIN = ROOT / ".venv" / "bin"
HOST = "127.0.0.1"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
# Settings of the environment that would change what gunicorn does.
_FOREIGN = ("GUNICORN_CMD_ARGS", "WEB_CONCURRENCY", "HOST", "PORT", "THREADS", "WORKER_CLASS")


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


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


class LiveServer:
    """``gunicorn 'app:create_app()'`` (one gthread worker) on a free port of 127.0.0.1."""

    def __init__(self, database_url: str, log_dir: Path) -> None:
        self.env = server_env(database_url)
        self.log_dir = log_dir
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._logs: list = []

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, attempts: int = 3) -> None:
        """Start and wait until it answers (another port if the one picked was taken)."""
        for _ in range(attempts):
            self.port = free_port()
            self._spawn()
            if self._wait_ready():
                return
            self.stop()
        raise AssertionError(f"gunicorn did not start:\n{self.stderr()}")

    def _spawn(self) -> None:
        empty_config = self.log_dir / "gunicorn.conf.py"  # not the project's: these settings only
        empty_config.write_text("")
        stdout = open(self.log_dir / "server.stdout", "ab")  # closed in stop()
        stderr = open(self.log_dir / "server.stderr", "ab")  # closed in stop()
        self._logs = [stdout, stderr]
        self.process = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "--config",
                str(empty_config),
                "--bind",
                f"{HOST}:{self.port}",
                "--workers",
                "1",
                "--worker-class",
                "gthread",
                "--threads",
                "4",
                "--graceful-timeout",
                "5",
                "app:create_app()",
            ],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            try:
                with socket.create_connection((HOST, self.port), timeout=1.0) as sock:
                    sock.sendall(b"GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n")
                    if sock.recv(12).startswith(b"HTTP/1."):
                        return True
            except OSError:
                pass
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        """SIGTERM, then SIGKILL to its process group if it hangs."""
        process, self.process = self.process, None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    try:
                        os.killpg(process.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    process.wait(timeout=STOP_TIMEOUT)
        for log in self._logs:
            log.close()
        self._logs = []

    def stderr(self) -> str:
        path = self.log_dir / "server.stderr"
        return path.read_text(errors="replace") if path.exists() else ""


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
