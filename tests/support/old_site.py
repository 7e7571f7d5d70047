"""A stand-in for the old redCORE site while a site moves (tests/live/test_legacy_link.py).

``old_site_app`` is a small WSGI app that does with the old database what redCORE did:

- a web service (``index.php?option=contact&api=hal&webserviceVersion=1.0.0``, any scope
  asked with ``&scope=``, ``site.read`` by default) checks the bearer token as bshaffer's
  Pdo storage and resource controller did: the row of ``<prefix>redcore_oauth_access_tokens``
  with this token, its ``expires`` (the PHP server's local time, read with strtotime) later
  than the local now, and every scope asked in the row's scope; 200 or 401;
- the token URL answers the password grant by writing a new token row there, as the old
  site issued tokens to a client that still called it (the one grant a test leaves there).

``DbGate`` is a TCP proxy in front of the database server that a test closes (connections
refused, open ones cut) and opens again on the same port: the old database "down" without
stopping the shared server.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from werkzeug.serving import make_server

from tests.support.legacy_site import LOCAL
from tests.support.legacy_site import LegacySite
from tests.support.legacy_site import local_now

HOST = "127.0.0.1"
LIFETIME = 3600  # seconds: the old site's access token lifetime in this stand-in
STOP_TIMEOUT = 10.0


def old_site_app(site: LegacySite) -> Callable[..., Iterable[bytes]]:
    """The stand-in's WSGI app on ``site``'s database."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        if query.get("option") == "token":
            size = int(environ.get("CONTENT_LENGTH") or 0)
            form = {
                k: v[-1] for k, v in parse_qs(environ["wsgi.input"].read(size).decode()).items()
            }
            status, body = _token(site, form)
        elif query.get("api") == "hal":
            header = environ.get("HTTP_AUTHORIZATION", "")
            token = header[7:] if header.startswith("Bearer ") else ""
            status, body = _web_service(site, token, query.get("scope", "site.read"))
        else:
            status, body = "404 Not Found", {"message": "not here"}
        data = json.dumps(body).encode()
        start_response(
            status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        )
        return [data]

    return app


def _web_service(site: LegacySite, token: str, scope: str) -> tuple[str, dict[str, Any]]:
    rows = site.rows(
        "SELECT expires, scope FROM {p}redcore_oauth_access_tokens WHERE access_token = :t",
        t=token,
    )
    if not rows:
        return "401 Unauthorized", {"error": "invalid_token"}
    expires, held = rows[0]
    if not isinstance(expires, datetime):
        expires = datetime.strptime(str(expires)[:19], LOCAL)
    if local_now() > expires:
        return "401 Unauthorized", {"error": "expired_token"}
    if not set(scope.split()) <= set((held or "").split()):
        return "403 Forbidden", {"error": "insufficient_scope"}
    return "200 OK", {"name": "Contact", "_links": {}}


def _token(site: LegacySite, form: dict[str, str]) -> tuple[str, dict[str, Any]]:
    if form.get("grant_type") != "password":
        return "400 Bad Request", {"error": "unsupported_grant_type"}
    token = secrets.token_hex(20)
    expires = local_now() + timedelta(seconds=LIFETIME)
    site.add_token(
        "access", token, form.get("client_id", ""), expires, scope="site.read", user_id="42"
    )
    return "200 OK", {
        "access_token": token,
        "expires_in": str(LIFETIME),
        "token_type": "Bearer",
        "scope": "site.read",
    }


@contextmanager
def serve_old_site(site: LegacySite) -> Iterator[str]:
    """The stand-in behind a real HTTP server (werkzeug's, threaded); yields its base URL."""
    server = make_server(HOST, 0, old_site_app(site), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=STOP_TIMEOUT)


def ask(base_url: str, token: str, scope: str = "site.read") -> int:
    """The status the stand-in's web service answers this bearer token with."""
    import requests

    url = f"{base_url}/index.php?option=contact&api=hal&webserviceVersion=1.0.0&scope={scope}"
    with requests.Session() as session:
        session.trust_env = False
        return session.get(
            url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        ).status_code


class DbGate:
    """A TCP proxy on a port of its own to ``target`` (host, port), that can be closed
    (nothing listens: connections refused; open ones cut) and opened again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def open(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, self.port))
        listener.listen(64)
        listener.settimeout(0.1)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT)
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass
