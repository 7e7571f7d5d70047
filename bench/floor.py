"""The floor: the least this stack can do the token, refresh and resource paths' work in
(issue 22).

A framework-free WSGI app, served by the same server layout as the project in the same
run (``make bench BENCH_ARGS=--floor``), that does what a token costs and nothing more:
parse the form and the Basic credentials, check the client (a verified secret is kept,
as the project keeps it), make two 40-hex tokens, store their SHA-256 hashes in two
indexed SQLite tables (WAL, ``synchronous=NORMAL``, one writer at a time in a process),
commit, and answer redCORE's JSON; the refresh grant deletes the used refresh token
(single use, as the oauth2 plugin's default) and stores a new access token; the resource
path looks a bearer token's hash up and answers. ``/healthz`` answers ``ok``. The
project's figures over these are its ratios to the floor: what Flask, the dispatcher, the
plugins and the engine add per request.

Not the project: no throttle, audit, usage counts, metrics, plugin state or dialects. Its
answers have the project's shape so that the same wrk scripts and checks apply.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import unquote_plus

LIFETIME = 3600
SCOPE = "site.read site.documentation"
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS clients (client_id TEXT PRIMARY KEY, secret_sha256 BLOB,"
    " scope TEXT)",
    "CREATE TABLE IF NOT EXISTS access_tokens (id INTEGER PRIMARY KEY, token_sha256 BLOB"
    " UNIQUE, client_id TEXT, user_id TEXT, expires INTEGER, scope TEXT)",
    "CREATE TABLE IF NOT EXISTS refresh_tokens (id INTEGER PRIMARY KEY, token_sha256 BLOB"
    " UNIQUE, client_id TEXT, user_id TEXT, expires INTEGER, scope TEXT)",
)
RESOURCE_OK = (
    b'{"success":true,"user_id":null,"message":"You have successfully accessed this API!"}'
)
INVALID_CLIENT = (
    b'{"error":"invalid_client","error_description":"The client credentials are invalid"}'
)
INVALID_TOKEN = (
    b'{"error":"invalid_token","error_description":"The access token provided is invalid"}'
)
INVALID_GRANT = b'{"error":"invalid_grant","error_description":"Invalid refresh token"}'
JSON = [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
REFRESH_LIFETIME = 14 * 86400
INSERT = "(token_sha256, client_id, user_id, expires, scope) VALUES (?, ?, ?, ?, ?)"

StartResponse = Callable[..., Any]


def prepare(path: str, client_id: str, secret: str) -> None:
    """The floor's tables and the benchmark's client (its secret's SHA-256)."""
    conn = _connect(path)
    try:
        for statement in SCHEMA:
            conn.execute(statement)
        conn.execute(
            "INSERT OR REPLACE INTO clients VALUES (?, ?, ?)",
            (client_id, hashlib.sha256(secret.encode()).digest(), SCOPE),
        )
    finally:
        conn.close()


def mint_refresh(path: str, client_id: str, count: int) -> list[str]:
    """``count`` live refresh tokens of the client in the floor's table; their raw values."""
    raws = [secrets.token_hex(20) for _ in range(count)]
    expires = int(time.time()) + REFRESH_LIFETIME
    conn = _connect(path)
    try:
        conn.execute("BEGIN")
        conn.executemany(
            f"INSERT INTO refresh_tokens {INSERT}",
            ((hashlib.sha256(r.encode()).digest(), client_id, None, expires, SCOPE) for r in raws),
        )
        conn.execute("COMMIT")
    finally:
        conn.close()
    return raws


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def create_floor() -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The WSGI app on ``FLOOR_DATABASE`` (granian ``--factory bench.floor:create_floor``)."""
    path = os.environ["FLOOR_DATABASE"]
    local = threading.local()
    writer = threading.Lock()  # one writer at a time in this process, as the project
    verified: dict[tuple[str, bytes], str] = {}  # (client id, secret's SHA-256) -> scope

    def conn() -> sqlite3.Connection:
        found = getattr(local, "conn", None)
        if found is None:
            found = local.conn = _connect(path)
        return found

    def client_scope(client_id: str, secret: str) -> str | None:
        digest = hashlib.sha256(secret.encode()).digest()
        scope = verified.get((client_id, digest))
        if scope is not None:
            return scope
        row = (
            conn()
            .execute("SELECT secret_sha256, scope FROM clients WHERE client_id = ?", (client_id,))
            .fetchone()
        )
        if row is None or not hmac.compare_digest(row[0], digest):
            return None
        verified[(client_id, digest)] = row[1]
        return row[1]

    def token(environ: dict[str, Any]) -> tuple[str, bytes]:
        size = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(min(size, 65536)).decode("latin-1")
        form = {k: v[-1] for k, v in parse_qs(body).items()}
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        header = environ.get("HTTP_AUTHORIZATION", "")
        if header.startswith("Basic "):
            pair = base64.b64decode(header[6:]).decode("latin-1")
            client_id, _, secret = (unquote_plus(part) for part in pair.partition(":"))
        scope = client_scope(client_id, secret)
        grant = form.get("grant_type")
        if scope is None or grant not in ("client_credentials", "refresh_token"):
            return "400 Bad Request", INVALID_CLIENT
        access, refresh = secrets.token_hex(20), secrets.token_hex(20)
        now = int(time.time())
        rows = [
            (hashlib.sha256(t.encode()).digest(), client_id, None, now + life, scope)
            for t, life in ((access, LIFETIME), (refresh, REFRESH_LIFETIME))
        ]
        db = conn()
        with writer:
            db.execute("BEGIN IMMEDIATE")
            try:
                if grant == "refresh_token":  # used once: gone, and no new refresh token
                    used = hashlib.sha256(form.get("refresh_token", "").encode()).digest()
                    gone = db.execute(
                        "DELETE FROM refresh_tokens WHERE token_sha256 = ? AND client_id = ?"
                        " AND expires > ?",
                        (used, client_id, now),
                    ).rowcount
                    if gone != 1:
                        db.execute("ROLLBACK")
                        return "400 Bad Request", INVALID_GRANT
                    rows, refresh = rows[:1], ""
                db.execute(f"INSERT INTO access_tokens {INSERT}", rows[0])
                if refresh:
                    db.execute(f"INSERT INTO refresh_tokens {INSERT}", rows[1])
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        local_time = datetime.fromtimestamp(now)
        answer = {
            "access_token": access,
            "expires_in": str(LIFETIME),
            "token_type": "Bearer",
            "scope": scope,
            **({"refresh_token": refresh} if refresh else {}),
            "expireTimeFormatted": datetime.fromtimestamp(now + LIFETIME).strftime(
                "%Y-%m-%d %H:%M:%S"
            ),
            "created": local_time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        return "200 OK", json.dumps(answer, separators=(",", ":")).encode()

    def resource(environ: dict[str, Any]) -> tuple[str, bytes]:
        header = environ.get("HTTP_AUTHORIZATION", "")
        if not header.startswith("Bearer "):
            return "401 Unauthorized", INVALID_TOKEN
        digest = hashlib.sha256(header[7:].encode()).digest()
        row = (
            conn()
            .execute("SELECT expires, scope FROM access_tokens WHERE token_sha256 = ?", (digest,))
            .fetchone()
        )
        if row is None or row[0] < time.time():
            return "401 Unauthorized", INVALID_TOKEN
        return "200 OK", RESOURCE_OK

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        query = environ.get("QUERY_STRING", "")
        if environ.get("PATH_INFO") == "/healthz":
            status, body, headers = "200 OK", b"ok", [("Content-Type", "text/plain")]
        elif "option=token" in query:
            status, body = token(environ)
            headers = JSON
        elif "option=resource" in query:
            status, body = resource(environ)
            headers = JSON
        else:
            status, body, headers = "404 Not Found", b"{}", JSON
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [body]

    return app


def create_floor_server() -> Any:
    """The floor behind the project's front (emulator/web/front.py), for granian's ASGI
    interface: the layout bin/serve runs by default."""
    from emulator.web.front import Front

    return Front(
        create_floor(),
        threads=int(os.environ.get("THREADS") or 4),
        body_timeout=30.0,
        max_body=1024 * 1024,
    )


def server_command(
    port: int, workers: int, threads: int, *, front: bool, granian: str
) -> tuple[list[str], dict[str, str], str]:
    """granian serving the floor as bin/serve serves the project (``front``: behind the
    front, granian's ASGI interface; else its WSGI interface with ``threads`` threads)."""
    common = ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), "--factory"]
    if front:
        command = [granian, "--interface", "asginl", *common, "bench.floor:create_floor_server"]
        described = f"the floor behind the front (granian asginl), {workers} x {threads}"
    else:
        command = [
            granian, "--interface", "wsgi", "--blocking-threads", str(threads), *common,
            "bench.floor:create_floor",
        ]  # fmt: skip
        described = f"the floor (granian wsgi), {workers} workers x {threads} threads"
    return command, {"THREADS": str(threads)}, described


SCENARIOS = ("noop", "token", "resource", "refresh")


def print_ratios(project: dict[str, dict[str, Any]], floor: dict[str, dict[str, Any]]) -> None:
    """Each scenario the floor has: the project's req/s over the floor's, beside the
    project's ratio to its own no-op route."""
    print("\nThe project over the floor (req/s ratio; over noop in brackets):")
    for scenario, by_conn in floor.items():
        row = f"  {scenario:<10}"
        for key, load in by_conn.items():
            mine = project.get(scenario, {}).get(key)
            if mine is None:
                continue
            noop = project.get("noop", {}).get(key)
            beside = f" ({mine.rps / noop.rps:.2f})" if noop and scenario != "noop" else ""
            ratio = mine.rps / load.rps
            row += f"  {key}: {mine.rps:>8.0f} / {load.rps:>8.0f} = {ratio:.2f}{beside}"
        print(row)
