"""The floor: the least this stack can do the token, refresh and resource paths' work in
(issue 22).

A framework-free WSGI app, served by the same server layout as the project in the same
run (``make bench BENCH_ARGS=--floor``), that does what a token costs and nothing more:
parse the form and the Basic credentials, check the client (its argon2id hash once, then a
verified secret is kept, as the project keeps it), make two 40-hex tokens, store their
SHA-256 hashes in the project's own token tables, with their indexes, in a database the
project's migrations made (SQLite: WAL, ``synchronous=NORMAL``, one writer at a time in a
process; PostgreSQL: one statement in autocommit, a round trip per request), commit, and
answer redCORE's JSON; the refresh grant deletes the used refresh token (single use, as
the oauth2 plugin's default) and stores a new access token; the resource path looks a
bearer token's hash up and answers. ``/healthz`` answers ``ok``. The
project's figures over these are its ratios to the floor: what Flask, the dispatcher, the
plugins and the engine add per request.

Not the project: no throttle, audit, usage counts, metrics, plugin state or dialects. Its
answers have the project's shape so that the same wrk scripts and checks apply.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from collections.abc import Iterable
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import unquote_plus

LIFETIME = 3600
REFRESH_LIFETIME = 14 * 86400
ACCESS_AGE, REFRESH_AGE = timedelta(seconds=LIFETIME), timedelta(seconds=REFRESH_LIFETIME)
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
# The project's own tables (its migrations made them), the columns its token path writes.
FIND_CLIENT = "SELECT id, secret_hash, scope FROM oauth_clients WHERE client_id = ?"
INSERT_ACCESS = (
    "INSERT INTO oauth_access_tokens (token_hash, client_id, user_id, scope, issued_at,"
    " expires_at, refresh_token_hash) VALUES (?, ?, NULL, ?, ?, ?, ?)"
)
INSERT_REFRESH = (
    "INSERT INTO oauth_refresh_tokens (token_hash, client_id, user_id, scope, issued_at,"
    " expires_at, family_hash) VALUES (?, ?, NULL, ?, ?, ?, NULL)"
)
USE_REFRESH = (
    "DELETE FROM oauth_refresh_tokens WHERE token_hash = ? AND client_id = ? AND expires_at > ?"
)
FIND_ACCESS = "SELECT expires_at, scope FROM oauth_access_tokens WHERE token_hash = ?"

StartResponse = Callable[..., Any]
# token_hash, client's row id, scope, issued_at, expires_at, linked hash (the access
# token's refresh token; a refresh token's family: None)
Row = tuple[str, int, str, datetime, datetime, str | None]


class SqliteStore:
    """The project's tables in its SQLite file, with its PRAGMAs: a connection per thread,
    one writer at a time in the process (as the project's group commit has it)."""

    def __init__(self, path: str, writer: threading.Lock) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000"):
            self.conn.execute(f"PRAGMA {pragma}")
        self.writer = writer

    def client(self, client_id: str) -> tuple[int, str, str] | None:
        return self.conn.execute(FIND_CLIENT, (client_id,)).fetchone()

    def issue(self, access: Row, refresh: Row | None, used: str | None) -> bool:
        """Store the new tokens; with ``used``, only if that refresh token of the client was
        live (it is deleted). False: it was not."""
        db = self.conn
        with self.writer:
            db.execute("BEGIN IMMEDIATE")
            try:
                if used is not None:
                    gone = db.execute(USE_REFRESH, (used, access[1], _text(access[3]))).rowcount
                    if gone != 1:
                        db.execute("ROLLBACK")
                        return False
                db.execute(INSERT_ACCESS, _texts(access))
                if refresh is not None:
                    db.execute(INSERT_REFRESH, _texts(refresh)[:5])
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return True

    def lookup(self, token_hash: str) -> tuple[datetime, str] | None:
        row = self.conn.execute(FIND_ACCESS, (token_hash,)).fetchone()
        return None if row is None else (datetime.fromisoformat(row[0]), row[1])


def _text(moment: datetime) -> str:
    """A datetime as the project's SQLite columns hold it (SQLAlchemy's format)."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


def _texts(row: Row) -> tuple[Any, ...]:
    return (*row[:3], _text(row[3]), _text(row[4]), row[5])


class PostgresStore:
    """The project's tables on PostgreSQL: a connection per thread in autocommit, every
    request one statement (the two inserts, or the delete and the insert, in one)."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.conn = psycopg.connect(url.replace("+psycopg", "", 1), autocommit=True)

    def client(self, client_id: str) -> tuple[int, str, str] | None:
        return self.conn.execute(FIND_CLIENT.replace("?", "%s"), (client_id,)).fetchone()

    def issue(self, access: Row, refresh: Row | None, used: str | None) -> bool:
        """As SqliteStore.issue, in one statement."""
        insert_access = INSERT_ACCESS.replace("?", "%s")
        if used is None:
            self.conn.execute(
                f"WITH r AS ({INSERT_REFRESH.replace('?', '%s')}) {insert_access}",
                (*refresh[:5], *access),
            )
            return True
        values = insert_access.split(" VALUES ")[0]
        row = self.conn.execute(
            f"WITH gone AS ({USE_REFRESH.replace('?', '%s')} RETURNING 1) {values}"
            " SELECT %s, %s, NULL, %s, %s, %s, %s FROM gone RETURNING 1",
            (used, access[1], access[3], *access),
        ).fetchone()
        return row is not None

    def lookup(self, token_hash: str) -> tuple[datetime, str] | None:
        return self.conn.execute(FIND_ACCESS.replace("?", "%s"), (token_hash,)).fetchone()


def _store(database: str, writer: threading.Lock) -> SqliteStore | PostgresStore:
    """The store of ``database``, a SQLAlchemy URL (sqlite:///PATH or postgresql+psycopg://)."""
    if database.startswith("postgresql"):
        return PostgresStore(database)
    return SqliteStore(database.removeprefix("sqlite:///"), writer)


def create_floor() -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The WSGI app on ``FLOOR_DATABASE``, the SQLAlchemy URL of a database the project's
    migrations made (granian ``--factory bench.floor:create_floor``)."""
    from argon2 import PasswordHasher
    from argon2.exceptions import VerificationError

    database = os.environ["FLOOR_DATABASE"]
    local = threading.local()
    writer = threading.Lock()  # SQLite: one writer at a time in this process, as the project
    hasher = PasswordHasher()
    # (client id, secret's SHA-256) -> (the client's row id, its scope): a secret is checked
    # against its argon2id hash once, as the project checks it once per worker.
    verified: dict[tuple[str, bytes], tuple[int, str]] = {}

    def store() -> SqliteStore | PostgresStore:
        found = getattr(local, "store", None)
        if found is None:
            found = local.store = _store(database, writer)
        return found

    def client(client_id: str, secret: str) -> tuple[int, str] | None:
        key = (client_id, hashlib.sha256(secret.encode()).digest())
        found = verified.get(key)
        if found is not None:
            return found
        row = store().client(client_id)
        try:
            if row is None or not hasher.verify(row[1], secret):
                return None
        except VerificationError:
            return None
        found = verified[key] = (row[0], row[2])
        return found

    def token(environ: dict[str, Any]) -> tuple[str, bytes]:
        size = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(min(size, 65536)).decode("latin-1")
        form = {k: v[-1] for k, v in parse_qs(body).items()}
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        header = environ.get("HTTP_AUTHORIZATION", "")
        if header.startswith("Basic "):
            pair = base64.b64decode(header[6:]).decode("latin-1")
            client_id, _, secret = (unquote_plus(part) for part in pair.partition(":"))
        found = client(client_id, secret)
        grant = form.get("grant_type")
        if found is None or grant not in ("client_credentials", "refresh_token"):
            return "400 Bad Request", INVALID_CLIENT
        pk, scope = found
        access, refresh = secrets.token_hex(20), secrets.token_hex(20)
        access_hash, refresh_hash = (
            hashlib.sha256(t.encode()).hexdigest() for t in (access, refresh)
        )
        now = datetime.now(UTC).replace(tzinfo=None)
        used = refresh_row = None
        if grant == "refresh_token":  # used once: gone, and no new refresh token
            used = hashlib.sha256(form.get("refresh_token", "").encode()).hexdigest()
            refresh = refresh_hash = ""
        else:
            refresh_row = (refresh_hash, pk, scope, now, now + REFRESH_AGE, None)
        access_row = (access_hash, pk, scope, now, now + ACCESS_AGE, refresh_hash or None)
        if not store().issue(access_row, refresh_row, used):
            return "400 Bad Request", INVALID_GRANT
        answer = {
            "access_token": access,
            "expires_in": str(LIFETIME),
            "token_type": "Bearer",
            "scope": scope,
            **({"refresh_token": refresh} if refresh else {}),
            "expireTimeFormatted": datetime.fromtimestamp(time.time() + LIFETIME).strftime(
                "%Y-%m-%d %H:%M:%S"
            ),
            "created": datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
        }
        return "200 OK", json.dumps(answer, separators=(",", ":")).encode()

    def resource(environ: dict[str, Any]) -> tuple[str, bytes]:
        header = environ.get("HTTP_AUTHORIZATION", "")
        if not header.startswith("Bearer "):
            return "401 Unauthorized", INVALID_TOKEN
        row = store().lookup(hashlib.sha256(header[7:].encode()).hexdigest())
        if row is None or row[0] < datetime.now(UTC).replace(tzinfo=None):
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
