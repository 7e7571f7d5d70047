"""Real servers for the live tests: gunicorn and the admin CLI as subprocesses, target APIs.

gunicorn and the CLI run from the project directory with the virtualenv's executables and
the test database (``FLASK_SQLALCHEMY_DATABASE_URI``), exactly as an operator would run
them. The targets stand behind the apigee plugin's proxies: ``target_server`` (http.server
in a thread) records and echoes, ``scripted_target`` (a bare socket) answers byte by byte
as a test scripts it, for timing, streaming and size tests.
Everything only ever listens on 127.0.0.1; every wait is bounded; everything started is
stopped and closed (the suite turns ResourceWarnings into errors).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import IO
from typing import Any

import requests
import sqlalchemy as sa

from config import Config

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
HOST = "127.0.0.1"
START_TIMEOUT = 60.0  # seconds until the server must answer (a busy 2-core box is slow to start)
STOP_TIMEOUT = 15.0  # seconds for a graceful stop before SIGKILL
TARGET_STOP_TIMEOUT = 10.0  # seconds for the target's thread to end
CLI_TIMEOUT = 60.0
REQUEST_TIMEOUT = 10.0
# Workers re-read plugin state when their copy is older than this (0: on every request).
STATE_MAX_AGE = float(getattr(Config, "CACHE_MAX_AGE", 0.0))
STATE_TIMEOUT = STATE_MAX_AGE + 10.0  # bound for a CLI change to reach every worker
# Workers trust an access token they verified for this long; a revocation reaches the
# other workers within it (the revoking worker forgets at once).
TOKEN_CACHE_MAX_AGE = float(getattr(Config, "CACHE_MAX_AGE", 0.0))
# Settings that would change what the subprocesses do behind the tests' back.
# Settings of ours or of a make that runs the suite (`make test` sets MAKELEVEL and
# MAKEFLAGS: a `make run` started by a test would speak as a sub-make, "make[1]: ...").
_FOREIGN = (
    "GUNICORN_CMD_ARGS",
    "WEB_CONCURRENCY",
    "HOST",
    "PORT",
    "THREADS",
    "WORKER_CLASS",
    "MAKELEVEL",
    "MAKEFLAGS",
    "MFLAGS",
)


def subprocess_env(database_url: str, *, caches: bool = True) -> dict[str, str]:
    """The environment of the CLI and the server: ours, minus any other FLASK_/gunicorn setting.

    Workers may cache what they read (plugin state, clients) for a *_MAX_AGE setting;
    ``caches=False`` sets every one to 0, for tests that change things through the CLI and
    want the server to see them at once.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_") and k not in _FOREIGN}
    env["FLASK_SQLALCHEMY_DATABASE_URI"] = database_url
    env["FLASK_SECRET_KEY"] = "test"
    env["PYTHONUNBUFFERED"] = "1"
    if not caches:
        for name in dir(Config):
            if name.endswith("_MAX_AGE"):
                env[f"FLASK_{name}"] = "0"
    return env


def emptied_env(database_url: str, *, caches: bool = True) -> dict[str, str]:
    """Empty the test database (every table of the metadata), then ``subprocess_env``."""
    from emulator.storage.database import db
    from tests.support.app import empty_database
    from tests.support.app import make_app

    app = make_app(database_url)
    empty_database(app)
    with app.app_context():
        db.engine.dispose()  # no connection of this process outlives the test's setup
    return subprocess_env(database_url, caches=caches)


def run_cli(
    env: dict[str, str], *args: str, expect_ok: bool = True, stdin: str | None = None
) -> str:
    """Run ``flask --app app ARGS`` in a subprocess (``stdin``: what it reads); return its
    stdout (fail with its output)."""
    result = subprocess.run(
        [str(BIN / "flask"), "--app", "app", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    if expect_ok and result.returncode != 0:
        raise AssertionError(
            f"flask {' '.join(args)} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result.stdout


def database_dump(database_url: str) -> str:
    """Every value of every row of every table, as text."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            values = []
            quote = conn.dialect.identifier_preparer.quote
            for table in sa.inspect(conn).get_table_names():
                for row in conn.execute(sa.text(f"SELECT * FROM {quote(table)}")):
                    values.extend(str(value) for value in row)
            return "\n".join(values)
    finally:
        engine.dispose()


def settle() -> None:
    """Wait until every worker has re-read the plugin state a CLI command just changed."""
    time.sleep(STATE_MAX_AGE + 0.25)


def revocation_settles() -> None:
    """Wait until no worker trusts a cached copy of a token that was just revoked."""
    time.sleep(TOKEN_CACHE_MAX_AGE + 0.25)


def wait_until(check: Callable[[], bool], what: str, timeout: float = STATE_TIMEOUT) -> float:
    """Call ``check`` until it is true (fail after ``timeout`` s); return the seconds it took."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.1)
    return time.monotonic() - start


def free_port() -> int:
    """A port nobody listens on right now (the server retries if it is taken meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@contextmanager
def http() -> Iterator[requests.Session]:
    """A plain requests session that ignores proxy settings (everything is on 127.0.0.1)."""
    with requests.Session() as session:
        session.trust_env = False
        yield session


def request(method: str, url: str, **kwargs: Any) -> requests.Response:
    """One request on a fresh connection (so that any worker may take it); body read, closed."""
    kwargs.setdefault("timeout", REQUEST_TIMEOUT)
    with http() as session:
        response = session.request(method, url, **kwargs)
        _ = response.content  # read the body before the connection pool closes
        response.close()
        return response


class LiveServer:
    """``gunicorn 'app:create_app()'`` with 2 gthread workers on a free port of 127.0.0.1."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._logs: list[IO[bytes]] = []
        self.stderr_path = log_dir / "server.stderr"
        self.stdout_path = log_dir / "server.stdout"

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def url(self, option: str, **query: str) -> str:
        """The legacy URL of an oauth2 operation, e.g. url("resource", scope="a b")."""
        extra = "".join(f"&{k}={requests.utils.quote(v)}" for k, v in query.items())
        return f"{self.base_url}/index.php?option={option}&api=oauth2{extra}"

    def start(self, attempts: int = 3) -> None:
        """Start and wait until it answers; retry on another port if the port was taken."""
        for attempt in range(attempts):
            self.port = free_port()
            self._spawn()
            if self._wait_ready():
                return
            self.stop()
            # gunicorn's words, or bin/serve's (emulator/manage/startup.py)
            taken = re.search(r"Address already in use|Port \d+ on \S+ is in use", self.stderr())
            if not taken or attempt == attempts - 1:
                break
        raise AssertionError(
            f"the server did not answer on {self.base_url} within {START_TIMEOUT:.0f} s\n"
            f"stderr:\n{self.stderr()}\nstdout:\n{self._read(self.stdout_path)}"
        )

    def _spawn(self) -> None:
        stdout = open(self.stdout_path, "ab")  # closed in stop()
        stderr = open(self.stderr_path, "ab")  # closed in stop()
        self._logs = [stdout, stderr]
        self.process = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "--bind",
                f"{HOST}:{self.port}",
                "--workers",
                "2",
                "--worker-class",
                "gthread",
                "--threads",
                "4",
                "--keep-alive",
                "5",
                "app:create_app()",
            ],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,  # its own process group: a forced stop reaches the workers
        )

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        with http() as session:
            while time.monotonic() < deadline:
                if self.process is None or self.process.poll() is not None:
                    return False
                try:
                    response = session.get(f"{self.base_url}/healthz", timeout=1.0)
                    response.close()
                    if response.status_code == 200:
                        return True
                except requests.RequestException:
                    pass
                time.sleep(0.1)
        return False

    def stop(self) -> None:
        """SIGTERM (gunicorn's graceful stop), then SIGKILL to the group if it hangs."""
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
        """Everything the server wrote to stderr so far (gunicorn's error log)."""
        return self._read(self.stderr_path)

    @staticmethod
    def _read(path: Path) -> str:
        return path.read_text(errors="replace") if path.exists() else ""


class GranianServer(LiveServer):
    """The production server: bin/serve (granian, 2 workers), on a free port."""

    def _spawn(self) -> None:
        stdout = open(self.stdout_path, "ab")  # closed in stop()
        stderr = open(self.stderr_path, "ab")  # closed in stop()
        self._logs = [stdout, stderr]
        env = {**self.env, "HOST": HOST, "PORT": str(self.port), "WEB_CONCURRENCY": "2"}
        self.process = subprocess.Popen(
            [str(ROOT / "bin" / "serve")],
            cwd=ROOT,
            env={**env, "THREADS": "2", "PATH": f"{BIN}:/usr/bin:/bin"},
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )


_SHOWN = re.compile(r"^\s+\*?\s*(\w+) = (.*)$")


def plugin_params(env: dict[str, str], name: str = "oauth2") -> dict[str, Any]:
    """The effective params, as ``flask plugins show NAME`` prints them."""
    out = run_cli(env, "plugins", "show", name)
    return {m.group(1): json.loads(m.group(2)) for m in map(_SHOWN.match, out.splitlines()) if m}


def assignment(key: str, value: Any) -> str:
    """KEY=VALUE as ``plugins set`` takes it (booleans as true/false)."""
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return f"{key}={text}"


@contextmanager
def params_set(env: dict[str, str], name: str = "oauth2", **values: Any) -> Iterator[None]:
    """Set plugin params through the CLI for the block; put the previous values back after.

    Each change is given the time to reach every worker (``settle``).
    """
    before = plugin_params(env, name)
    run_cli(env, "plugins", "set", name, *(assignment(k, v) for k, v in values.items()))
    settle()
    try:
        yield
    finally:
        run_cli(env, "plugins", "set", name, *(assignment(k, before[k]) for k in values))
        settle()


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
                "header_list": list(self.headers.items()),  # repeated names kept
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

    with serve_in_thread(Handler, "apigee-test-target") as base_url:
        target.base_url = base_url
        yield target


@contextmanager
def serve_in_thread(handler: type[BaseHTTPRequestHandler], name: str) -> Iterator[str]:
    """A ThreadingHTTPServer with ``handler`` on a free port of 127.0.0.1; yields its URL."""
    server = ThreadingHTTPServer((HOST, 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},  # shutdown() waits up to one interval
        name=name,
        daemon=True,
    )
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=TARGET_STOP_TIMEOUT)


Script = Callable[[socket.socket], None]


@dataclass
class ScriptedTarget:
    """A bare TCP target: ``script(conn)`` writes each answer after the request head is read."""

    base_url: str
    requests: list[bytes] = field(default_factory=list)  # each request's head


def trickle(conn: socket.socket, data: bytes, every: float) -> None:
    """Send ``data`` one byte at a time, ``every`` seconds apart."""
    for byte in data:
        conn.sendall(bytes([byte]))
        time.sleep(every)


@contextmanager
def scripted_target(script: Script) -> Iterator[ScriptedTarget]:
    """A target on 127.0.0.1 whose answers ``script`` writes, as slowly as it likes.

    A script that finds the connection cut (the gateway gave up) just ends. Every thread
    is bounded and joined, every socket closed.
    """
    listener = socket.create_server((HOST, 0))
    listener.settimeout(0.1)
    target = ScriptedTarget(base_url=f"http://{HOST}:{listener.getsockname()[1]}")
    stop = threading.Event()
    handlers: list[threading.Thread] = []

    def handle(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(REQUEST_TIMEOUT)
            head = b""
            try:
                while b"\r\n\r\n" not in head:
                    data = conn.recv(65536)
                    if not data:
                        return
                    head += data
                target.requests.append(head.split(b"\r\n\r\n", 1)[0])
                script(conn)
            except OSError:  # the gateway closed the connection: the script is over
                return

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=handle, args=(conn,), daemon=True)
            handlers.append(thread)
            thread.start()

    acceptor = threading.Thread(target=serve, name="apigee-scripted-target", daemon=True)
    acceptor.start()
    try:
        yield target
    finally:
        stop.set()
        acceptor.join(timeout=TARGET_STOP_TIMEOUT)
        listener.close()
        for thread in handlers:
            thread.join(timeout=TARGET_STOP_TIMEOUT)
