"""The floor: the least this stack can do the token, refresh and resource paths' work in
(issue 22).

A framework-free WSGI app, served by the same server layout as the project in the same
run (``make bench BENCH_ARGS=--floor``), that does what a token costs and nothing more:
parse the form and the Basic credentials, check the client (a verified secret is kept,
as the project keeps it), make two 40-hex tokens, store their SHA-256 hashes in two
indexed tables (SQLite: WAL, ``synchronous=NORMAL``, one writer at a time in a process;
PostgreSQL: one statement in autocommit, a round trip per request), commit, and answer
redCORE's JSON; the refresh grant deletes the used refresh token
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
TOKEN_COLUMNS = (
    "(id INTEGER PRIMARY KEY, token_sha256 BLOB UNIQUE, client_id TEXT, user_id TEXT,"
    " expires INTEGER, scope TEXT)"
)
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS clients (client_id TEXT PRIMARY KEY, secret_sha256 BLOB,"
    " scope TEXT)",
    f"CREATE TABLE IF NOT EXISTS access_tokens {TOKEN_COLUMNS}",
    f"CREATE TABLE IF NOT EXISTS refresh_tokens {TOKEN_COLUMNS}",
)
# PostgreSQL's names for the same columns.
PG_TYPES = (("INTEGER PRIMARY KEY", "BIGSERIAL PRIMARY KEY"), ("BLOB", "BYTEA"))
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
Row = tuple[bytes, str, None, int, str]  # token_sha256, client_id, user_id, expires, scope


def is_postgres(database: str) -> bool:
    """Whether ``database`` (FLOOR_DATABASE) is a PostgreSQL URL rather than a SQLite path."""
    return database.startswith("postgresql")


def prepare(database: str, client_id: str, secret: str) -> None:
    """The floor's tables and the benchmark's client (its secret's SHA-256)."""
    store = _store(database)
    store.setup(client_id, hashlib.sha256(secret.encode()).digest())
    store.close()


def mint_refresh(database: str, client_id: str, count: int) -> list[str]:
    """``count`` live refresh tokens of the client in the floor's table; their raw values."""
    raws = [secrets.token_hex(20) for _ in range(count)]
    expires = int(time.time()) + REFRESH_LIFETIME
    store = _store(database)
    store.bulk_refresh(
        [(hashlib.sha256(r.encode()).digest(), client_id, None, expires, SCOPE) for r in raws]
    )
    store.close()
    return raws


class SqliteStore:
    """The floor's tables in one SQLite file: one connection per thread, one writer at a
    time in the process (as the project's group commit has it)."""

    def __init__(self, path: str, writer: threading.Lock | None = None) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000"):
            self.conn.execute(f"PRAGMA {pragma}")
        self.writer = writer or threading.Lock()

    def setup(self, client_id: str, secret_sha256: bytes) -> None:
        for statement in SCHEMA:
            self.conn.execute(statement)
        self.conn.execute(
            "INSERT OR REPLACE INTO clients VALUES (?, ?, ?)", (client_id, secret_sha256, SCOPE)
        )

    def bulk_refresh(self, rows: list[Row]) -> None:
        self.conn.execute("BEGIN")
        self.conn.executemany(f"INSERT INTO refresh_tokens {INSERT}", rows)
        self.conn.execute("COMMIT")

    def client(self, client_id: str) -> tuple[bytes, str] | None:
        return self.conn.execute(
            "SELECT secret_sha256, scope FROM clients WHERE client_id = ?", (client_id,)
        ).fetchone()

    def issue(self, access: Row, refresh: Row | None, used: bytes | None, now: int) -> bool:
        """Store the new tokens; with ``used``, only if that refresh token was live (it is
        deleted). False: it was not."""
        db = self.conn
        with self.writer:
            db.execute("BEGIN IMMEDIATE")
            try:
                if used is not None:
                    gone = db.execute(
                        "DELETE FROM refresh_tokens WHERE token_sha256 = ? AND client_id = ?"
                        " AND expires > ?",
                        (used, access[1], now),
                    ).rowcount
                    if gone != 1:
                        db.execute("ROLLBACK")
                        return False
                db.execute(f"INSERT INTO access_tokens {INSERT}", access)
                if refresh is not None:
                    db.execute(f"INSERT INTO refresh_tokens {INSERT}", refresh)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return True

    def lookup(self, digest: bytes) -> tuple[int, str] | None:
        return self.conn.execute(
            "SELECT expires, scope FROM access_tokens WHERE token_sha256 = ?", (digest,)
        ).fetchone()

    def close(self) -> None:
        self.conn.close()


class PostgresStore:
    """The floor's tables on PostgreSQL: one connection per thread in autocommit, every
    request one statement (the two inserts, or the delete and the insert, in one)."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.conn = psycopg.connect(url.replace("+psycopg", "", 1), autocommit=True)

    def setup(self, client_id: str, secret_sha256: bytes) -> None:
        for statement in SCHEMA:
            for sqlite_type, pg_type in PG_TYPES:
                statement = statement.replace(sqlite_type, pg_type)
            self.conn.execute(statement)
        self.conn.execute(
            "INSERT INTO clients VALUES (%s, %s, %s) ON CONFLICT (client_id) DO UPDATE"
            " SET secret_sha256 = excluded.secret_sha256",
            (client_id, secret_sha256, SCOPE),
        )

    def bulk_refresh(self, rows: list[Row]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(f"INSERT INTO refresh_tokens {INSERT.replace('?', '%s')}", rows)

    def client(self, client_id: str) -> tuple[bytes, str] | None:
        row = self.conn.execute(
            "SELECT secret_sha256, scope FROM clients WHERE client_id = %s", (client_id,)
        ).fetchone()
        return None if row is None else (bytes(row[0]), row[1])

    def issue(self, access: Row, refresh: Row | None, used: bytes | None, now: int) -> bool:
        """As SqliteStore.issue, in one statement."""
        values = INSERT.split(" VALUES ")[0]
        if used is None:
            self.conn.execute(
                f"WITH a AS (INSERT INTO access_tokens {values} VALUES (%s, %s, %s, %s, %s))"
                f" INSERT INTO refresh_tokens {values} VALUES (%s, %s, %s, %s, %s)",
                (*access, *refresh),
            )
            return True
        row = self.conn.execute(
            "WITH gone AS (DELETE FROM refresh_tokens WHERE token_sha256 = %s AND client_id = %s"
            f" AND expires > %s RETURNING 1) INSERT INTO access_tokens {values}"
            " SELECT %s, %s, %s, %s, %s FROM gone RETURNING 1",
            (used, access[1], now, *access),
        ).fetchone()
        return row is not None

    def lookup(self, digest: bytes) -> tuple[int, str] | None:
        return self.conn.execute(
            "SELECT expires, scope FROM access_tokens WHERE token_sha256 = %s", (digest,)
        ).fetchone()

    def close(self) -> None:
        self.conn.close()


def _store(database: str, writer: threading.Lock | None = None) -> SqliteStore | PostgresStore:
    return PostgresStore(database) if is_postgres(database) else SqliteStore(database, writer)


def create_floor() -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The WSGI app on ``FLOOR_DATABASE``, a SQLite path or a PostgreSQL URL (granian
    ``--factory bench.floor:create_floor``)."""
    database = os.environ["FLOOR_DATABASE"]
    local = threading.local()
    writer = threading.Lock()  # SQLite: one writer at a time in this process, as the project
    verified: dict[tuple[str, bytes], str] = {}  # (client id, secret's SHA-256) -> scope

    def store() -> SqliteStore | PostgresStore:
        found = getattr(local, "store", None)
        if found is None:
            found = local.store = _store(database, writer)
        return found

    def client_scope(client_id: str, secret: str) -> str | None:
        digest = hashlib.sha256(secret.encode()).digest()
        scope = verified.get((client_id, digest))
        if scope is not None:
            return scope
        row = store().client(client_id)
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
        access_row, refresh_row = (
            (hashlib.sha256(t.encode()).digest(), client_id, None, now + life, scope)
            for t, life in ((access, LIFETIME), (refresh, REFRESH_LIFETIME))
        )
        used = None
        if grant == "refresh_token":  # used once: gone, and no new refresh token
            used = hashlib.sha256(form.get("refresh_token", "").encode()).digest()
            refresh, refresh_row = "", None
        if not store().issue(access_row, refresh_row, used, now):
            return "400 Bad Request", INVALID_GRANT
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
        row = store().lookup(digest)
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
