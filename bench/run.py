"""Load benchmark: `make bench` (or `.venv/bin/python -m bench.run --help`).

Starts the service the way `make run` does (bin/serve) on a scratch
SQLite database (or, with --postgres or --mysql, a scratch PostgreSQL or MariaDB/MySQL
database), loads it with wrk
and prints requests/s and p50/p99 latency at 8 and 32 connections for:

  noop      GET /healthz: the same app and server without any database work (the ceiling)
  token     client_credentials at the legacy URL (default mode: access + refresh token)
  resource  option=resource with a valid bearer token
  refresh   the refresh_token grant, every request with a fresh refresh token
  password  a site user's password grant, the same good password each time (its argon2id
            check is paid once per worker: emulator/oauth/memo.py)
  code      the authorization_code grant, every request with a fresh code (made beforehand,
            in the codes table, as the consent page makes them)
  profile   option=profile with a site user's bearer token
  apigee_token  client_credentials at Apigee's /oauth/accesstoken (the sample's URL)

and the ratios to noop, the server's CPU time per request (all its processes, user +
system: a figure that other load on the machine barely moves), and each worker's RSS before
and after the run. With --big-table the token figures are taken again with 1,000,000 live
rows already in each token table. With --floor the floor (bench/floor.py: the token,
refresh and resource work without the framework, on SQLite or PostgreSQL) is measured
after the project in the same layout, and each scenario's ratio to it is printed.
--peers also measures minimal Authlib and django-oauth-toolkit servers (bench/peers, in a
virtualenv of their own, .venv-peers), interleaved with the project over --rounds rounds,
and prints the project's ratios over each. --targets implies --floor and --big-table,
prints the performance issue's targets (bench/targets.py; the peers' too with --peers) met
or missed, and exits 1 unless every one is met. Not part of the test suite.

--soak SECONDS runs instead of the table (bench/soak.py): mixed traffic for SECONDS
(token, resource, refresh and Apigee token requests, and a share of bad ones) against one
server; every --soak-interval seconds (10) it counts the answers and reads each worker's
RSS, then prints a table over time and a summary (requests, unexpected errors, RSS at
start and end per worker); --json writes the series. Exit status 1 on unexpected errors.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench import floor
from bench import peers
from bench import targets
from emulator.ops.clock import utcnow

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CLIENT_ID, CLIENT_SECRET = "bench-client", "bench-secret-0123456789"
USERNAME, PASSWORD, USER_ID = "bench-user", "bench-password-0123456789", "4242"
PASSWORD_FORM = f"grant_type=password&username={USERNAME}&password={PASSWORD}"
TOKEN_PATH = "/index.php?option=token&api=oauth2"
RESOURCE_PATH = "/index.php?option=resource&api=oauth2"
PROFILE_PATH = "/index.php?option=profile&api=oauth2"
APIGEE_TOKEN_PATH = "/oauth/accesstoken?grant_type=client_credentials"
SCENARIOS = (
    "noop", "token", "resource", "refresh", "password", "code", "profile", "apigee_token",
)  # fmt: skip
# The PHP original (redCORE), run side by side with this project on this kind of 2-core
# machine, interleaved, strict mode both (issue 11's figures): req/s at c8 / c32.
PHP_ORIGINAL = {"token": (707, 534), "resource": (3058, 2944)}
PHP_ORIGINAL_WHERE = (
    "PHP original, measured side by side on this kind of 2-core machine, interleaved, "
    "strict mode both (issue 11)"
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- database -----------------------------------------------------------------------------


@contextlib.contextmanager
def scratch_database(server_url: str | None, workdir: Path):
    """Yield a SQLAlchemy URL of an empty database on this server (None: a SQLite file)
    that is removed afterwards."""
    if server_url is None:
        yield f"sqlite:///{workdir / 'bench.sqlite'}"
        return
    import sqlalchemy as sa

    server = sa.make_url(server_url)
    name = f"emulator_bench_{secrets.token_hex(4)}"
    if server.get_backend_name() in ("mysql", "mariadb"):
        create, drop = f"CREATE DATABASE `{name}`", f"DROP DATABASE IF EXISTS `{name}`"
        admin = sa.create_engine(server.set(database=None), isolation_level="AUTOCOMMIT")
    else:
        create, drop = f'CREATE DATABASE "{name}"', f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(create))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(drop))
        admin.dispose()


def backend_of(args: argparse.Namespace) -> str:
    """The backend the run uses: a key of targets.TARGETS (MariaDB/MySQL has none)."""
    return "postgresql" if args.postgres else "mysql" if args.mysql else "sqlite"


def backend_name(args: argparse.Namespace) -> str:
    """The database the run uses, as the output names it."""
    names = {"postgresql": "PostgreSQL", "mysql": "MariaDB/MySQL", "sqlite": "SQLite"}
    return names[backend_of(args)]


def server_url(args: argparse.Namespace) -> str | None:
    """The server to make the scratch database on (None: SQLite)."""
    return {"postgresql": args.postgres_url, "mysql": args.mysql_url}.get(backend_of(args))


def flask_cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [str(BIN / "flask"), "--app", "app", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"flask {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def prepare(env: dict[str, str]) -> None:
    """Migrate, and make the benchmark's scopes, client and site user, through the real CLI."""
    flask_cli(env, "db", "upgrade")
    flask_cli(env, "plugins", "enable", "apigee")  # for apigee_token; oauth2 is on already
    flask_cli(env, "scopes", "add", "site.read", "--default")
    flask_cli(env, "scopes", "add", "site.documentation")
    flask_cli(
        env,
        "clients",
        "create",
        CLIENT_ID,
        "--secret",
        CLIENT_SECRET,
        "--scope",
        "site.read site.documentation",
    )
    flask_cli(
        env, "users", "create", USERNAME, "--id", USER_ID, "--name", "Bench User",
        "--group", "Registered", "--password-stdin", stdin=PASSWORD + "\n",
    )  # fmt: skip


def bench_client_pk(conn: Any) -> int:
    """The benchmark's client's row id (``conn``: a SQLAlchemy connection)."""
    import sqlalchemy as sa

    query = sa.text("SELECT id FROM oauth_clients WHERE client_id = :c")
    return conn.execute(query, {"c": CLIENT_ID}).scalar_one()


def insert_tokens(
    url: str, table: str, count: int, *, keep_raw: bool = False, expired: bool = False
) -> list[str]:
    """Insert ``count`` token rows fast; return their raw values when ``keep_raw``.

    Rows without a raw value get random hashes (filler for --big-table).
    """
    import hashlib

    import sqlalchemy as sa

    engine = sa.create_engine(url)
    now = utcnow().replace(microsecond=0)
    expires = now - timedelta(days=30) if expired else now + timedelta(days=7)
    raws: list[str] = []
    with engine.begin() as conn:
        client_pk = bench_client_pk(conn)
        columns = "token_hash, client_id, user_id, scope, issued_at, expires_at"
        batch = 50_000
        for start in range(0, count, batch):
            rows = []
            for _ in range(min(batch, count - start)):
                if keep_raw:
                    raw = secrets.token_hex(20)
                    raws.append(raw)
                    digest = hashlib.sha256(raw.encode()).hexdigest()
                else:
                    digest = secrets.token_hex(32)
                rows.append(
                    {
                        "h": digest,
                        "c": client_pk,
                        "s": "site.read site.documentation",
                        "i": now,
                        "e": expires,
                    }
                )
            conn.execute(
                sa.text(f"INSERT INTO {table} ({columns}) VALUES (:h, :c, NULL, :s, :i, :e)"), rows
            )
            if count >= 200_000:
                log(f"    {table}: {start + len(rows):,} rows")
    engine.dispose()
    return raws


def insert_codes(url: str, count: int) -> list[str]:
    """``count`` authorization codes of the benchmark's client for its user, valid for an
    hour (a run outlasts a real code's 30 s); their raw values."""
    import hashlib

    import sqlalchemy as sa

    engine = sa.create_engine(url)
    now = utcnow().replace(microsecond=0)
    raws = [secrets.token_hex(20) for _ in range(count)]
    with engine.begin() as conn:
        client_pk = bench_client_pk(conn)
        conn.execute(
            sa.text(
                "INSERT INTO oauth_authorization_codes (code_hash, client_id, user_id,"
                " redirect_uri, scope, issued_at, expires_at) VALUES (:h, :c, :u, NULL,"
                " :s, :i, :e)"
            ),
            [
                {
                    "h": hashlib.sha256(raw.encode()).hexdigest(),
                    "c": client_pk,
                    "u": USER_ID,
                    "s": "site.read",
                    "i": now,
                    "e": now + timedelta(hours=1),
                }
                for raw in raws
            ],
        )
    engine.dispose()
    return raws


# --- server -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    description: str

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def serve_interface() -> str:
    """What bin/serve runs, as it decides when it starts (BODY_FRONT)."""
    return "wsgi" if os.environ.get("BODY_FRONT") == "0" else "asginl, behind the front"


SERVERS = {
    # name: (command builder, description); "serve" is bin/serve, what `make run` starts.
    "serve": lambda port, workers, threads: (
        [str(ROOT / "bin" / "serve")],
        {"PORT": str(port), "WEB_CONCURRENCY": str(workers), "THREADS": str(threads)},
        f"bin/serve (granian {serve_interface()}), {workers} workers x {threads} threads",
    ),
    "gunicorn-gthread": lambda port, workers, threads: (
        [str(BIN / "gunicorn"), "--config", "bench/gunicorn.conf.py"],
        {
            "PORT": str(port),
            "WEB_CONCURRENCY": str(workers),
            "THREADS": str(threads),
            "WORKER_CLASS": "gthread",
        },
        f"gunicorn gthread, {workers} workers x {threads} threads",
    ),
    "gunicorn-sync": lambda port, workers, threads: (
        [str(BIN / "gunicorn"), "--config", "bench/gunicorn.conf.py"],
        {"PORT": str(port), "WEB_CONCURRENCY": str(workers), "WORKER_CLASS": "sync"},
        f"gunicorn sync, {workers} workers",
    ),
    "granian": lambda port, workers, threads: (
        [
            str(BIN / "granian"),
            "--interface",
            "wsgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--blocking-threads",
            str(threads),
            "--factory",
            "app:create_app",
        ],
        {},
        f"granian wsgi, {workers} workers x {threads} blocking threads",
    ),
}


@contextlib.contextmanager
def serve(
    kind: str,
    env: dict[str, str],
    workers: int,
    threads: int,
    workdir: Path,
    build: Callable[[int, int, int], tuple[list[str], dict[str, str], str]] | None = None,
):
    """One of SERVERS (or what ``build(port, workers, threads)`` gives), ready to answer."""
    port = free_port()
    command, extra_env, description = (build or SERVERS[kind])(port, workers, threads)
    if not Path(command[0]).exists():
        raise SystemExit(f"{command[0]} is not installed (pip install it into .venv to compare).")
    stderr = open(workdir / f"server-{port}.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**env, **extra_env},
        stdout=stderr,
        stderr=stderr,
        start_new_session=True,
    )
    server = Server(process, port, description)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(server.base + "/healthz", timeout=1) as rv:
                    if rv.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(
                    f"server did not start:\n{(workdir / f'server-{port}.log').read_text()}"
                )
            time.sleep(0.2)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        stderr.close()


# --- load ---------------------------------------------------------------------------------

BASIC = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()

LUA_FIXED = """
wrk.method = {method}
wrk.body = {body}
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
{headers}
"""

# Each wrk thread takes every N-th single-use value (refresh token, code), so none is used
# twice.
LUA_SPEND = """
local tokens = {{}}
for line in io.lines("{path}") do tokens[#tokens + 1] = line end
local counter = 0
local bad = 0
local threads = {threads}
local next_thread = 0
function setup(thread) thread:set("thread_index", next_thread); next_thread = next_thread + 1 end
function init(args) counter = thread_index end
function response(status, headers, body)
  if status ~= 200 and bad < 3 then
    bad = bad + 1; io.stderr:write(status .. " " .. body .. "\\n")
  end
end
function request()
  local token = tokens[counter + 1]
  counter = counter + threads
  if token == nil then token = "exhausted" end
  return wrk.format("POST", nil, {{["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = "{basic}"}}, "{body}" .. token)
end
"""


def fixed_script(
    workdir: Path, name: str, method: str, body: str | None, authorization: str
) -> Path:
    """A wrk script sending the same request every time (``body`` None: none)."""
    script = workdir / f"{name}.lua"
    script.write_text(
        LUA_FIXED.format(
            method=lua_string(method),
            body="nil" if body is None else lua_string(body),
            headers=f'wrk.headers["Authorization"] = {lua_string(authorization)}',
        )
    )
    return script


def token_script(workdir: Path) -> Path:
    """The wrk script of a client_credentials request with HTTP Basic credentials."""
    return fixed_script(workdir, "token", "POST", "grant_type=client_credentials", BASIC)


def lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid Lua string literal here


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    # The server's CPU time (every process, user + system) per request answered: unlike
    # req/s, it barely moves when something else loads the machine.
    cpu_us: float | None = None


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_wrk(output: str) -> Load:
    def latency(pct: str) -> float:
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        return round(float(match.group(1)) * UNITS[match.group(2)], 3)

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = int(bad.group(1)) if bad else 0
    if socket_errors:
        errors += sum(int(x) for x in socket_errors.groups())
    return Load(rps=round(rps, 1), p50_ms=latency("50"), p99_ms=latency("99"), errors=errors)


def run_wrk(url: str, script: Path, connections: int, duration: int) -> Load:
    threads = 2 if connections >= 2 else 1
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    (script.parent / f"{script.stem}-c{connections}.out").write_text(result.stdout + result.stderr)
    return parse_wrk(result.stdout)


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    log("wrk is not installed; installing the Debian package...")
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False)
    if not shutil.which("wrk"):
        raise SystemExit(
            "wrk is needed: install it with `apt-get install wrk` (as root) and run again."
        )


# --- the run ------------------------------------------------------------------------------


def measure(
    server: Server,
    env: dict[str, str],
    url: str,
    workdir: Path,
    connections: list[int],
    duration: int,
    scenarios: list[str],
    memory: list[tuple[str, dict[str, float]]] | None = None,
    label: str = "",
) -> dict[str, dict[str, Load]]:
    """Run each scenario at each connection count; append each worker's RSS to ``memory``."""
    results: dict[str, dict[str, Load]] = {}
    access_token = fetch_token(server)["access_token"]

    def user_token() -> str:
        return fetch_token(server, PASSWORD_FORM)["access_token"]

    for scenario in scenarios:
        results[scenario] = {}
        for conns in connections:
            target, script = server.base + "/healthz", workdir / "noop.lua"
            if scenario == "noop":
                script.write_text('wrk.method = "GET"\n')
            elif scenario == "token":
                target = server.base + TOKEN_PATH
                script = token_script(workdir)
            elif scenario == "resource":
                target = server.base + RESOURCE_PATH
                script = fixed_script(workdir, scenario, "GET", None, f"Bearer {access_token}")
            elif scenario in SPENT:
                target = server.base + TOKEN_PATH
                script = workdir / f"{scenario}.lua"
                mint_single_use(scenario, url, workdir, script, duration)
            elif scenario == "password":
                target = server.base + TOKEN_PATH
                script = fixed_script(workdir, scenario, "POST", PASSWORD_FORM, BASIC)
            elif scenario == "profile":
                target = server.base + PROFILE_PATH
                script = fixed_script(workdir, scenario, "GET", None, f"Bearer {user_token()}")
            elif scenario == "apigee_token":
                target = server.base + APIGEE_TOKEN_PATH
                script = fixed_script(workdir, scenario, "POST", None, BASIC)

            run_wrk(target, script, conns, min(2, duration))  # warm-up: caches, connection pools
            if scenario in SPENT:  # the warm-up used some up: a fresh set for the run
                mint_single_use(scenario, url, workdir, script, duration)
            cpu_before = server_cpu_seconds(server)
            load = run_wrk(target, script, conns, duration)
            load.cpu_us = round(
                (server_cpu_seconds(server) - cpu_before) / max(load.rps * duration, 1) * 1e6, 1
            )
            results[scenario][f"c{conns}"] = load
            log(
                f"  {scenario:<9} c{conns:<3} {load.rps:>9.1f} req/s  p50 {load.p50_ms:7.2f} ms  "
                f"p99 {load.p99_ms:7.2f} ms  server CPU {load.cpu_us:6.0f} us/request"
                + (f"  ERRORS {load.errors}" if load.errors else "")
            )
        if memory is not None:
            memory.append((scenario + label, worker_memory(server)))
    return results


def measure_floor(
    args: argparse.Namespace,
    env: dict[str, str],
    workdir: Path,
    connections: list[int],
    scenarios: list[str],
) -> dict[str, dict[str, Load]]:
    """--floor: the floor app (bench/floor.py) in the same layout, on a database of its own
    on the run's backend (a SQLite file, or a scratch PostgreSQL database) that the
    project's migrations and CLI prepared as they prepared the project's."""
    wanted = [s for s in scenarios if s in floor.SCENARIOS]
    if not args.floor or not wanted:
        return {}
    if backend_of(args) == "mysql":
        log("the floor runs on SQLite and PostgreSQL (none is written for MariaDB/MySQL)")
        return {}
    front = args.server == "serve" and os.environ.get("BODY_FRONT", "1") != "0"

    def build(port: int, workers: int, threads: int) -> tuple[list[str], dict[str, str], str]:
        return floor.server_command(
            port, workers, threads, front=front, granian=str(BIN / "granian")
        )

    with contextlib.ExitStack() as stack:
        if backend_of(args) == "postgresql":
            database = stack.enter_context(scratch_database(server_url(args), workdir))
        else:
            database = f"sqlite:///{workdir / 'floor.sqlite'}"
        # The project's migrations and CLI make it: the same tables, indexes and client.
        floor_env = {**env, "FLASK_SQLALCHEMY_DATABASE_URI": database, "FLOOR_DATABASE": database}
        prepare(floor_env)
        server = stack.enter_context(
            serve(args.server, floor_env, args.workers, args.threads, workdir, build)
        )
        log(f"the floor: {server.description} on port {server.port}")
        return measure(server, floor_env, database, workdir, connections, args.duration, wanted)


def measure_peers(
    args: argparse.Namespace, env: dict[str, str], workdir: Path, connections: list[int]
) -> list:
    """--peers (bench/peers): every server on an empty SQLite file of its own, the project's
    prepared as the run's was (so neither --big-table's rows nor another backend count)."""
    if backend_of(args) != "sqlite":
        log("the peers run on SQLite: in their rounds the project does too")
    url = f"sqlite:///{workdir / 'peers-project.sqlite'}"
    project_env = {**env, "FLASK_SQLALCHEMY_DATABASE_URI": url}
    prepare(project_env)
    return peers.measure_peers(
        project_env, workdir, connections, args.duration, args.rounds, args.workers, args.threads
    )


def measure_during_purge(
    server: Server,
    env: dict[str, str],
    url: str,
    workdir: Path,
    connections: list[int],
    args: argparse.Namespace,
) -> dict[str, dict[str, Load]]:
    """Token issuance while `flask tokens purge` deletes ``args.rows`` expired rows per table."""
    results: dict[str, dict[str, Load]] = {"token_during_purge": {}}
    for conns in connections:
        log(f"  inserting {args.rows:,} expired rows per token table")
        insert_tokens(url, "oauth_access_tokens", args.rows, expired=True)
        insert_tokens(url, "oauth_refresh_tokens", args.rows, expired=True)
        script = token_script(workdir)
        started = time.monotonic()
        purge = subprocess.Popen(
            [str(BIN / "flask"), "--app", "app", "tokens", "purge"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        load = run_wrk(server.base + TOKEN_PATH, script, conns, args.duration)
        still_purging = purge.poll() is None
        if still_purging:
            # It yields to issuance (TOKEN_PURGE_WRITER_SHARE), so it may run for minutes
            # more; each batch is committed, so stopping it loses nothing. Rows it left are
            # purged with the next run's.
            purge.terminate()
        purge.wait()
        results["token_during_purge"][f"c{conns}"] = load
        log(
            f"  token during purge c{conns}: {load.rps:.1f} req/s"
            f"  p50 {load.p50_ms:.2f} ms  p99 {load.p99_ms:.2f} ms"
            f"  (purge {'outlasted the run, stopped' if still_purging else 'finished within'}"
            f" after {time.monotonic() - started:.1f} s)"
        )
    return results


# What a single-use scenario spends: the form it sends before the value, and what makes
# ``count`` values in the database at ``url``.
SPENT: dict[str, tuple[str, Callable[[str, int], list[str]]]] = {
    "refresh": (
        "grant_type=refresh_token&refresh_token=",
        lambda url, count: insert_tokens(url, "oauth_refresh_tokens", count, keep_raw=True),
    ),
    "code": ("grant_type=authorization_code&code=", lambda url, count: insert_codes(url, count)),
}


def mint_single_use(scenario: str, url: str, workdir: Path, script: Path, duration: int) -> None:
    """Enough refresh tokens or codes for one wrk run in the database at ``url`` (the
    project's, or the floor's), and the script that spends them."""
    form, mint = SPENT[scenario]
    values = mint(url, max(20_000, 4_000 * duration))
    value_file = workdir / f"{scenario}-values.txt"
    value_file.write_text("\n".join(values) + "\n")
    script.write_text(LUA_SPEND.format(path=value_file, threads=2, basic=BASIC, body=form))


def fetch_token(server: Server, form: str = "grant_type=client_credentials") -> dict:
    request = urllib.request.Request(
        server.base + TOKEN_PATH,
        data=form.encode(),
        headers={"Authorization": BASIC, "Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(request, timeout=10) as rv:
        return json.load(rv)


def print_table(
    server_description: str, results: dict[str, dict[str, Load]], connections: list[int]
) -> None:
    noop = results.get("noop", {})
    header = f"{'':<14}" + "".join(f"| c{c}: req/s   p50 ms   p99 ms  ratio " for c in connections)
    print(f"\n{server_description}\n{header}\n{'-' * len(header)}")
    for scenario, by_conn in results.items():
        base = scenario.removesuffix("_big")
        row = f"{scenario:<14}"
        for c in connections:
            load = by_conn.get(f"c{c}")
            if load is None:
                row += f"| {'':<38}"
                continue
            ratio = load.rps / noop[f"c{c}"].rps if f"c{c}" in noop and base != "noop" else None
            shown = "" if ratio is None else f"{ratio:.2f}"
            row += f"| {load.rps:>10.1f} {load.p50_ms:>8.2f} {load.p99_ms:>8.2f} {shown:>6} "
        print(row + ("  (errors!)" if any(v.errors for v in by_conn.values()) else ""))
    compared = [
        f"{path} {php[i]:,} -> {results[path][f'c{c}'].rps:,.0f} "
        f"({results[path][f'c{c}'].rps / php[i]:.1f}x) at c{c}"
        for path, php in PHP_ORIGINAL.items()
        for i, c in enumerate((8, 32))
        if f"c{c}" in results.get(path, {})
    ]
    if compared:
        print(f"\n{PHP_ORIGINAL_WHERE}; here, on this run's machine:\n  " + "\n  ".join(compared))


def server_cpu_seconds(server: Server) -> float:
    """CPU time (user + system, all threads) the server and its workers have used so far."""
    from bench.soak import children

    ticks = 0
    for pid in (server.process.pid, *children(server.process.pid)):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue  # a worker that ended: its time is not counted
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


def print_cpu(results: dict[str, dict[str, Load]], connections: list[int]) -> None:
    """Server CPU per request of each scenario, and as a multiple of noop's in the same run."""
    noop = results.get("noop", {})
    print("\nServer CPU per request (us; x noop):")
    for scenario, by_conn in results.items():
        cells = []
        for c in connections:
            load, base = by_conn.get(f"c{c}"), noop.get(f"c{c}")
            if load is None or load.cpu_us is None:
                continue
            times = f" (x{load.cpu_us / base.cpu_us:.1f})" if base and base.cpu_us else ""
            cells.append(f"c{c} {load.cpu_us:6.0f}{times if scenario != 'noop' else ''}")
        print(f"  {scenario:<20}" + "   ".join(cells))


def worker_memory(server: Server) -> dict[str, float]:
    """Each worker's RSS in MiB, by pid (the server's child processes)."""
    from bench.soak import children
    from bench.soak import memory

    rss = {}
    for pid in children(server.process.pid):
        mem = memory(pid)
        if mem is not None:
            rss[str(pid)] = mem["rss"]
    return rss


def print_memory(series: list[tuple[str, dict[str, float]]]) -> None:
    """Each worker's RSS after each scenario, and its growth from the first to the last."""
    if not series:
        return
    pids = sorted({pid for _, rss in series for pid in rss})
    print("\nWorker RSS (MiB) after each scenario:")
    print(f"  {'after':<22}" + "".join(f"{'pid ' + pid:>12}" for pid in pids))
    for name, rss in series:
        print(f"  {name:<22}" + "".join(f"{rss.get(pid, 0.0):>12.1f}" for pid in pids))
    first, last = series[0][1], series[-1][1]
    growth = [
        f"pid {pid} {100 * (last[pid] - first[pid]) / first[pid]:+.1f}%"
        for pid in pids
        if first.get(pid) and last.get(pid)
    ]
    print(f"  growth from {series[0][0]} to {series[-1][0]}: {', '.join(growth) or 'n/a'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--postgres", action="store_true", help="use PostgreSQL (a scratch database)"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument(
        "--mysql", action="store_true", help="use MariaDB/MySQL (a scratch database)"
    )
    parser.add_argument(
        "--mysql-url",
        default=os.environ.get("BENCH_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306"),
    )
    parser.add_argument(
        "--big-table", action="store_true", help="also measure with 1,000,000 rows per token table"
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows for --big-table")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--connections", default="8,32")
    parser.add_argument(
        "--server",
        choices=sorted(SERVERS),
        default="serve",
        help="serve (default) is bin/serve, what `make run` starts; the others compare",
    )
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("THREADS", "4")))
    parser.add_argument("--only", help="comma-separated scenarios (default: all)")
    parser.add_argument(
        "--purge",
        action="store_true",
        help="also measure token issuance while `tokens purge` removes --rows expired rows",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also measure the floor (bench/floor.py) in the same layout; print the ratios",
    )
    parser.add_argument(
        "--peers",
        action="store_true",
        help="also measure Authlib and django-oauth-toolkit servers (bench/peers), interleaved",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="--peers: interleaved rounds (medians printed)"
    )
    parser.add_argument(
        "--targets",
        action="store_true",
        help="with --floor and --big-table: print the targets; exit 1 unless all are met",
    )
    parser.add_argument(
        "--soak",
        type=int,
        metavar="SECONDS",
        help="instead of the table: mixed traffic for SECONDS, errors and worker RSS over time",
    )
    parser.add_argument(
        "--soak-interval", type=int, default=10, metavar="N", help="--soak: sample every N s"
    )
    parser.add_argument(
        "--soak-failure-limit",
        metavar="RULE",
        help="--soak: set both client-authentication failure limits (default: the service's)",
    )
    args = parser.parse_args(argv)
    if args.targets:
        args.floor = args.big_table = True
    if args.postgres and args.mysql:
        parser.error("--postgres or --mysql, not both")
    if args.soak is not None:
        if args.soak < 1 or args.soak_interval < 1:
            parser.error("--soak and --soak-interval take a positive number of seconds")
        if args.big_table or args.purge or args.only or args.floor or args.peers:
            parser.error(
                "--soak runs alone: drop --big-table, --purge, --only, --floor, --peers"
                " and --targets"
            )
    ensure_wrk()
    connections = [int(c) for c in args.connections.split(",")]
    scenarios = args.only.split(",") if args.only else list(SCENARIOS)
    with tempfile.TemporaryDirectory(prefix="emulator-bench-") as tmp:
        workdir = Path(tmp)
        with scratch_database(server_url(args), workdir) as url:
            env = {**os.environ, "FLASK_SQLALCHEMY_DATABASE_URI": url, "FLASK_SECRET_KEY": "bench"}
            log(f"preparing {backend_name(args)} database")
            prepare(env)
            if args.soak is not None:
                return soak_main(args, env, workdir)
            with serve(args.server, env, args.workers, args.threads, workdir) as server:
                log(f"serving with {server.description} on port {server.port}")
                memory: list[tuple[str, dict[str, float]]] = []
                results = measure(
                    server, env, url, workdir, connections, args.duration, scenarios, memory
                )
                if args.big_table:
                    log(f"filling the token tables with {args.rows:,} rows each")
                    insert_tokens(url, "oauth_access_tokens", args.rows)
                    insert_tokens(url, "oauth_refresh_tokens", args.rows)
                    big = measure(
                        server,
                        env,
                        url,
                        workdir,
                        connections,
                        args.duration,
                        [s for s in scenarios if s != "noop"],
                        memory,
                        "_big",
                    )
                    results.update({f"{k}_big": v for k, v in big.items()})
                if args.purge:
                    results.update(
                        measure_during_purge(server, env, url, workdir, connections, args)
                    )
                    memory.append(("token_during_purge", worker_memory(server)))
            description = f"{server.description}; {backend_name(args)}"
            floor_results = measure_floor(args, env, workdir, connections, scenarios)
            peer_results = measure_peers(args, env, workdir, connections) if args.peers else []
    print_table(description, results, connections)
    print_cpu(results, connections)
    print_memory(memory)
    if floor_results:
        floor.print_ratios(results, floor_results)
    checks = targets.check(results, floor_results, connections, backend_of(args))
    if peer_results:
        checks += peers.print_peers(peer_results, connections)
    missed = targets.show(checks) if args.targets else 0
    if args.json:
        payload = {
            "server": description,
            "workers": args.workers,
            "results": {
                k: {
                    c: {"rps": v.rps, "p50_ms": v.p50_ms, "p99_ms": v.p99_ms, "cpu_us": v.cpu_us}
                    for c, v in by.items()
                }
                for k, by in results.items()
            },
            "targets": [
                {"target": name, "value": got and round(got, 3), "want": want, "met": met}
                for name, got, want, met in checks
            ],
            "worker_rss_mib": [{"after": name, "rss": rss} for name, rss in memory],
            "floor": {
                k: {c: {"rps": v.rps, "p99_ms": v.p99_ms, "cpu_us": v.cpu_us} for c, v in b.items()}
                for k, b in floor_results.items()
            },
            "peer_rounds": [
                {name: {c: asdict(v) for c, v in by.items()} for name, by in one.items()}
                for one in peer_results
            ],
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        log(f"wrote {args.json}")
    failed = [k for k, by in results.items() if any(v.errors for v in by.values())]
    if failed:
        log(f"some requests failed in: {', '.join(failed)}")
        return 1
    return 1 if missed else 0


def soak_main(args: argparse.Namespace, env: dict[str, str], workdir: Path) -> int:
    """--soak: one server, mixed traffic (bench/soak.py); the table, the summary, --json."""
    from bench import soak

    soak.prepare_soak(env)
    server_env = soak.soak_env(env, args.soak_failure_limit)
    with serve(args.server, server_env, args.workers, args.threads, workdir) as server:
        log(f"serving with {server.description} on port {server.port}")
        series = soak.run_soak(server, workdir, args)
    description = f"{server.description}; {backend_name(args)}"
    soak.print_soak(description, series)
    if args.json:
        payload = {"server": description, "workers": args.workers, "soak": series}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        log(f"wrote {args.json}")
    return 1 if series["totals"]["unexpected_errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
