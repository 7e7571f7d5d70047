"""Debian's nginx in front of bin/serve, configured as docs/operate/deployment.md says, with
TLS (a self-signed certificate made here with openssl) and TRUSTED_PROXIES=1.

nginx runs as this test's user with its own prefix, pid, logs and temporary folders, on a
free port of 127.0.0.1 (bin/ensure-nginx installs it; skipped when it is missing).
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from http.client import HTTPSConnection
from pathlib import Path

import pytest
import requests

from tests.live.server import HOST
from tests.live.server import REQUEST_TIMEOUT
from tests.live.server import GranianServer
from tests.live.server import emptied_env
from tests.live.server import free_port
from tests.live.server import http
from tests.live.server import run_cli
from tests.live.server import wait_until

pytestmark = pytest.mark.slow

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CLIENT = ("nginx-test-client", "nginx-test-secret-1")
FAILURES = 3  # wrong secrets per client and address before 429
TOKEN_PATH = "/index.php?option=token&api=oauth2"
# What nginx sets or changes itself (its own Server, its Date, its connection handling).
NGINX_OWN = {"server", "date", "connection", "keep-alive", "transfer-encoding"}

CONFIG = """
daemon off;
{user}
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    upstream legacy_oauth {{
        server 127.0.0.1:{upstream};
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;
        ssl_certificate     {d}/cert.pem;
        ssl_certificate_key {d}/key.pem;
        access_log off;
        client_max_body_size 16m;
        location / {{
            proxy_pass http://legacy_oauth;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_buffering off;
        }}
    }}
}}
"""


@pytest.fixture
def service(database_url: str, tmp_path: Path) -> Iterator[GranianServer]:
    env = emptied_env(database_url)
    run_cli(env, "clients", "create", CLIENT[0], "--secret", CLIENT[1])
    env["FLASK_TRUSTED_PROXIES"] = "1"
    env["FLASK_CLIENT_AUTH_FAILURE_LIMIT"] = f"{FAILURES}/5minutes"
    live = GranianServer(env, tmp_path)
    live.start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def nginx(service: GranianServer, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """nginx on a free port in front of ``service``: its https base URL, its certificate."""
    if not os.path.exists(NGINX):
        pytest.skip("nginx is not installed (bin/ensure-nginx)")
    d = tmp_path / "nginx"
    d.mkdir()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + [
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-keyout",
            str(d / "key.pem"),
            "-out",
            str(d / "cert.pem"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    port = free_port()
    user = "user root;" if os.geteuid() == 0 else ""  # its workers may read this folder
    (d / "nginx.conf").write_text(CONFIG.format(d=d, port=port, upstream=service.port, user=user))
    process = subprocess.Popen(
        [NGINX, "-p", str(d), "-c", str(d / "nginx.conf"), "-e", str(d / "error.log")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"https://localhost:{port}"
    try:

        def up() -> bool:
            try:
                socket.create_connection((HOST, port), timeout=1).close()
                return True
            except OSError:
                return process.poll() is not None

        wait_until(up, "nginx listens", timeout=30)
        assert process.poll() is None, (d / "error.log").read_text()
        yield base, str(d / "cert.pem")
    finally:
        process.terminate()
        process.wait(timeout=15)


def token(session: requests.Session, url: str, **kwargs) -> requests.Response:
    return session.post(
        url + TOKEN_PATH,
        data={"grant_type": "client_credentials"},
        auth=CLIENT,
        timeout=REQUEST_TIMEOUT,
        **kwargs,
    )


def test_a_token_answer_through_nginx_is_the_services_answer(
    service: GranianServer, nginx: tuple[str, str]
) -> None:
    base, cert = nginx
    with http() as session:
        direct = token(session, service.base_url)
        proxied = token(session, base, verify=cert)
    assert (proxied.status_code, direct.status_code) == (200, 200)
    assert proxied.json().keys() == direct.json().keys()
    assert len(proxied.content) == len(direct.content)  # same shape, same lengths
    kept = {k.lower(): v for k, v in proxied.headers.items() if k.lower() not in NGINX_OWN}
    same = {k.lower(): v for k, v in direct.headers.items() if k.lower() not in NGINX_OWN}
    assert kept == same


def test_slow_bodies_wait_in_nginx_not_in_the_service(
    service: GranianServer, nginx: tuple[str, str]
) -> None:
    base, cert = nginx
    port = int(base.rsplit(":", 1)[1])
    context = ssl.create_default_context(cafile=cert)
    head = (
        b"POST /index.php?option=token&api=oauth2 HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 10\r\n\r\ng"
    )
    with ExitStack() as stack:
        for _ in range(16):
            raw = stack.enter_context(socket.create_connection((HOST, port), timeout=10))
            tls = stack.enter_context(context.wrap_socket(raw, server_hostname="localhost"))
            tls.sendall(head)
        time.sleep(0.5)
        with http() as session:
            health = session.get(f"{base}/healthz", verify=cert, timeout=REQUEST_TIMEOUT)
            answer = token(session, base, verify=cert)
    assert health.status_code == 200
    assert answer.status_code == 200


def wrong_secret_from(base: str, cert: str, source: str) -> int:
    """The status of one wrong-secret token request sent through nginx from ``source``."""
    port = int(base.rsplit(":", 1)[1])
    context = ssl.create_default_context(cafile=cert)
    conn = HTTPSConnection(
        "localhost", port, context=context, timeout=REQUEST_TIMEOUT, source_address=(source, 0)
    )
    try:
        basic = base64.b64encode(f"{CLIENT[0]}:wrong".encode()).decode()
        conn.request(
            "POST",
            TOKEN_PATH,
            body="grant_type=client_credentials",
            headers={
                "Authorization": f"Basic {basic}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_two_clients_behind_nginx_are_throttled_apart(
    service: GranianServer, nginx: tuple[str, str]
) -> None:
    """TRUSTED_PROXIES=1: the address is the one nginx saw (127.0.0.1 and 127.0.0.2 here),
    not nginx's own, so one client's lockout does not lock the other out."""
    base, cert = nginx
    first = [wrong_secret_from(base, cert, "127.0.0.1") for _ in range(FAILURES + 1)]
    assert first[-1] == 429
    assert all(status in (400, 401) for status in first[:-1])
    assert wrong_secret_from(base, cert, "127.0.0.2") in (400, 401)


def test_the_admin_cookie_is_secure_behind_tls_termination(
    service: GranianServer, nginx: tuple[str, str]
) -> None:
    """nginx speaks plain http to the service; X-Forwarded-Proto tells it the client used
    https, so the admin cookie carries Secure (and straight from this machine it does not)."""
    base, cert = nginx
    with http() as session:
        proxied = session.get(f"{base}/admin/login", verify=cert, timeout=REQUEST_TIMEOUT)
    with http() as session:
        direct = session.get(f"{service.base_url}/admin/login", timeout=REQUEST_TIMEOUT)
    assert proxied.status_code == direct.status_code == 200
    assert "; Secure" in proxied.headers["Set-Cookie"]
    assert "; Secure" not in direct.headers["Set-Cookie"]
