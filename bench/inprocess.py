"""The project's WSGI app beside the floor's, in one process: `.venv/bin/python -m bench.inprocess`.

No server and no test client: each app is called with the environ granian's WSGI interface
builds, so what is timed is the app alone (Flask's test client would add its own request
building). Each on a scratch SQLite database that the project's migrations and CLI
prepared (bench.run.prepare). Prints microseconds of this process's CPU per request for
``/healthz``, resource and token, the best of three rounds, and how a resource request's
time splits: Flask's request context alone (pushed and popped), that plus the dispatcher's
call (the plugin and the engine), the whole request, and a response object built and
called. Not part of the test suite. (docs/develop/performance.md, "Where a request's time
goes".)
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.run import BASIC
from bench.run import RESOURCE_PATH
from bench.run import TOKEN_PATH
from bench.run import prepare

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Any]


def environ(method: str, target: str, body: bytes = b"", auth: str | None = None) -> dict:
    """A request's environ as granian's WSGI interface gives it."""
    path, _, query = target.partition("?")
    env: dict[str, Any] = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "RAW_URI": target,
        "SCRIPT_NAME": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "40000",
        "HTTP_HOST": "127.0.0.1:8000", "wsgi.url_scheme": "http", "wsgi.version": (1, 0),
        "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False,
        "wsgi.errors": sys.stderr, "wsgi.input": io.BytesIO(body),
    }  # fmt: skip
    if body:
        env["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
        env["CONTENT_LENGTH"] = str(len(body))
    if auth:
        env["HTTP_AUTHORIZATION"] = auth
    return env


def answer(app: WsgiApp, env: dict[str, Any]) -> tuple[str, bytes]:
    """Call ``app``; its status line and body."""
    status: list[str] = []
    body = b"".join(app(env, lambda line, _headers, _exc=None: status.append(line)))
    return status[0], body


def cpu_us(call: Callable[[], object], requests: int) -> float:
    """This process's CPU per call in microseconds, the best of three rounds."""
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        for _ in range(requests):
            call()
        best = min(best, (time.process_time() - started) / requests * 1e6)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000, help="per round")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="emulator-inprocess-") as tmp:
        project_url, floor_url = (f"sqlite:///{Path(tmp) / n}" for n in ("p.sqlite", "f.sqlite"))
        env = {**os.environ, "FLASK_SECRET_KEY": "bench"}
        prepare({**env, "FLASK_SQLALCHEMY_DATABASE_URI": project_url})
        prepare({**env, "FLASK_SQLALCHEMY_DATABASE_URI": floor_url})
        os.environ.update({**env, "FLASK_SQLALCHEMY_DATABASE_URI": project_url})
        os.environ["FLOOR_DATABASE"] = floor_url
        from app import create_app
        from bench.floor import create_floor

        project = create_app()
        apps: dict[str, WsgiApp] = {"project": project, "floor": create_floor()}
        print(f"{'CPU us per request':<20}" + "".join(f"{name:>10}" for name in apps))
        tokens: dict[str, str] = {}
        for name, app in apps.items():
            form = environ("POST", TOKEN_PATH, b"grant_type=client_credentials", BASIC)
            tokens[name] = json.loads(answer(app, form)[1])["access_token"]
        requests = {
            "/healthz": lambda _name: environ("GET", "/healthz"),
            "resource": lambda name: environ("GET", RESOURCE_PATH, auth=f"Bearer {tokens[name]}"),
            "token": lambda _name: environ(
                "POST", TOKEN_PATH, b"grant_type=client_credentials", BASIC
            ),
        }
        for label, make in requests.items():
            cells = []
            for name, app in apps.items():
                status, body = answer(app, make(name))
                if not status.startswith("200"):
                    raise SystemExit(f"{name} {label}: {status} {body[:200]!r}")
                cells.append(cpu_us(lambda a=app, n=name, m=make: answer(a, m(n)), args.requests))
            print(f"{label:<20}" + "".join(f"{cell:>10.1f}" for cell in cells))
        print_resource_split(project, tokens["project"], args.requests)
    return 0


def print_resource_split(app: Any, token: str, requests: int) -> None:
    """How the project's resource request splits between Flask and the dispatcher's call."""
    from flask import Response

    from emulator.web import dispatch

    def request() -> dict[str, Any]:
        return environ("GET", RESOURCE_PATH, auth=f"Bearer {token}")

    def context_only() -> None:
        ctx = app.request_context(request())
        ctx.push()
        ctx.pop()

    def context_and_call() -> None:
        ctx = app.request_context(request())
        ctx.push()
        dispatch.legacy_entry()
        ctx.pop()

    def response_only() -> None:
        rv = Response('{"success":true}', content_type="application/json; charset=UTF-8")
        b"".join(rv(request(), lambda *_args: None))

    whole = cpu_us(lambda: answer(app, request()), requests)
    context = cpu_us(context_only, requests)
    called = cpu_us(context_and_call, requests)
    response = cpu_us(response_only, requests)
    print("\nThe project's resource request (CPU us):")
    print(f"  the whole request                                  {whole:8.1f}")
    print(f"  Flask's request context, pushed and popped         {context:8.1f}")
    print(f"  the dispatcher, the plugin and the engine          {called - context:8.1f}")
    print(f"  Flask's routing, hooks and response (the rest)     {whole - called:8.1f}")
    print(f"  of which a response object, built and called       {response:8.1f}")


if __name__ == "__main__":
    sys.exit(main())
