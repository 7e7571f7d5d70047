"""The peers (issue 22): ``make bench BENCH_ARGS=--peers`` measures two other Python OAuth2
servers, each a minimal project written for the benchmark as its docs show it, in the same
server layout as the project and interleaved with it in the same run, and prints the
project's ratios over each:

  authlib    Authlib's Flask authorization server (authlib_app.py)
  dot        django-oauth-toolkit (dot_project/), the client secret hashed as DOT does by
             default: Django's default password hasher checks it on every token request
  dot-plain  the same, the application registered with hash_client_secret=False

Every server answers the same request: client_credentials with the benchmark's client in
HTTP Basic credentials (bench.run.token_script), at its own token URL. Each round starts
the project (bin/serve, as `make run` does) and then each peer (granian's WSGI interface,
the same workers x threads), checks one token request, warms up for 2 s and runs wrk once
per connection count, with the server's CPU time per token as bench.run.measure takes it.
The table has the medians over the rounds.

The target: the project ahead of Authlib by 3x and of DOT as documented by 5x, in tokens/s
and in server CPU per token (``print_peers`` returns these checks in bench.targets' shape).

The peers run in their own virtualenv, .venv-peers (requirements.txt beside this file),
built on first use and rebuilt when requirements.txt changes; nothing of theirs is
installed into the project's .venv. Each has a SQLite file of its own in the run's
working directory, in WAL mode with ``synchronous=NORMAL`` as the project's.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

# bench.run may import this package while it is itself being imported: its names are read
# when a function runs, never at import.
from bench import run
from bench.targets import Check

HERE = Path(__file__).resolve().parent
VENV = HERE.parent.parent / ".venv-peers"
REQUIREMENTS = HERE / "requirements.txt"
SCOPE = "site.read site.documentation"
PROJECT = "project"
# The project's ratio over a peer that the issue asks for, in tokens/s and CPU per token.
TARGETS = {"authlib": 3.0, "dot": 5.0}


def authlib_setup(env: dict[str, str]) -> list[list[str]]:
    """Authlib's tables and the benchmark's client (authlib_app.py's command line)."""
    return [["authlib_app.py", run.CLIENT_ID, run.CLIENT_SECRET, SCOPE]]


def dot_setup(env: dict[str, str]) -> list[list[str]]:
    """DOT's tables (Django's migrations) and the benchmark's application, registered with
    DOT's own createapplication command; DOT_HASH_CLIENT_SECRET=0 in ``env`` registers its
    secret unhashed (hash_client_secret=False)."""
    plain = env.get("DOT_HASH_CLIENT_SECRET") == "0"
    return [
        ["-m", "django", "migrate", "--verbosity", "0"],
        [
            "-m", "django", "createapplication", "--name", "bench",
            "--client-id", run.CLIENT_ID, "--client-secret", run.CLIENT_SECRET,
            *(["--no-hash-client-secret"] if plain else []),
            "confidential", "client-credentials",
        ],
    ]  # fmt: skip


@dataclass(frozen=True)
class Peer:
    """What serving a peer takes: granian's target in this folder, its environment (the
    database's variable is added by ``prepare_peer``), and the commands, run in this folder
    with the peers' Python, that make its tables and register the benchmark's client."""

    description: str
    target: str
    token_path: str
    database_variable: str
    setup: Callable[[dict[str, str]], list[list[str]]]
    env: dict[str, str] = field(default_factory=dict)
    factory: bool = False

    def command(
        self, port: int, workers: int, threads: int
    ) -> tuple[list[str], dict[str, str], str]:
        """granian serving the peer in the project's layout (bench.run.serve's ``build``)."""
        command = [
            str(VENV / "bin" / "granian"), "--interface", "wsgi",
            "--blocking-threads", str(threads), "--workers", str(workers),
            "--host", "127.0.0.1", "--port", str(port), "--working-dir", str(HERE),
            *(["--factory"] if self.factory else []), self.target,
        ]  # fmt: skip
        described = f"{self.description} (granian wsgi), {workers} workers x {threads} threads"
        return command, dict(self.env), described


DJANGO = {"DJANGO_SETTINGS_MODULE": "dot_project.settings"}
PEERS = {
    "authlib": Peer(
        "Authlib's Flask server", "authlib_app:create_app", "/oauth/token", "AUTHLIB_DATABASE",
        authlib_setup, factory=True,
    ),
    "dot": Peer(
        "django-oauth-toolkit, secret hashed (its default)", "dot_project.wsgi:application",
        "/o/token/", "DOT_DATABASE", dot_setup, DJANGO,
    ),
    "dot-plain": Peer(
        "django-oauth-toolkit, hash_client_secret=False", "dot_project.wsgi:application",
        "/o/token/", "DOT_DATABASE", dot_setup, {**DJANGO, "DOT_HASH_CLIENT_SECRET": "0"},
    ),
}  # fmt: skip


# --- the peers' virtualenv ----------------------------------------------------------------


def ensure_venv() -> None:
    """Build .venv-peers from requirements.txt, unless it was built from this very file (the
    stamp holds the file's SHA-256)."""
    stamp = VENV / ".installed"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == wanted:
        return
    run.log(f"building {VENV} from {REQUIREMENTS.relative_to(run.ROOT)} (about a minute)")
    # The benchmark's own Python: the version requirements.txt was compiled for.
    checked([sys.executable, "-m", "venv", "--clear", str(VENV)], "creating the virtualenv")
    run.log("  installing the peers' packages (pip install --require-hashes)")
    pip = [str(VENV / "bin" / "pip"), "install", "--quiet", "--require-hashes", "-r"]
    checked([*pip, str(REQUIREMENTS)], "installing the peers' packages")
    stamp.write_text(wanted + "\n")
    run.log(f"  {VENV.name} is ready")


def checked(command: list[str], what: str, **kwargs: object) -> None:
    """Run ``command``; stop the benchmark with its output if it fails."""
    result = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    if result.returncode != 0:
        raise SystemExit(f"{what} failed ({' '.join(command)}):\n{result.stdout}{result.stderr}")


# --- the run ------------------------------------------------------------------------------


def prepare_peer(name: str, workdir: Path) -> dict[str, str]:
    """A fresh SQLite file for peer ``name`` with its tables and the benchmark's client
    (bench.run's CLIENT_ID and CLIENT_SECRET); the environment to serve it with."""
    ensure_venv()
    peer = PEERS[name]
    database = workdir / f"peer-{name}.sqlite"
    database.unlink(missing_ok=True)
    env = {**os.environ, **peer.env, peer.database_variable: str(database)}
    for arguments in peer.setup(env):
        checked([str(VENV / "bin" / "python"), *arguments], f"preparing {name}", cwd=HERE, env=env)
    return env


@dataclass
class Tokens:
    """A wrk run of token requests, as bench.run.Load, but with wrk's timeouts apart:
    ``errors`` counts the answers that were not 2xx and the connect, read and write errors;
    ``slow`` the answers that came later than wrk's 2 s timeout, which wrk counts in the
    requests but not in the latencies. ``cpu_us``: the server's CPU time per token (None:
    the run issued none)."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    slow: int
    cpu_us: float | None


Results = list[dict[str, dict[str, Tokens]]]  # what measure_peers returns: one dict a round


def measure_peers(
    project_env: dict[str, str],
    workdir: Path,
    connections: list[int],
    duration: int,
    rounds: int,
    workers: int,
    threads: int,
) -> Results:
    """Each round, the project (``project_env``: a prepared database, as bench.run.main
    makes it) and then each peer, token requests at each connection count; per round,
    {server ("project" or a peer's name): {"c8": Tokens, ...}}."""
    envs = {name: prepare_peer(name, workdir) for name in PEERS}
    results = []
    for number in range(1, rounds + 1):
        run.log(f"peers: round {number} of {rounds}")
        found = {}
        with run.serve("serve", project_env, workers, threads, workdir) as server:
            found[PROJECT] = measure_server(
                PROJECT, server, run.TOKEN_PATH, workdir, connections, duration
            )
        for name, peer in PEERS.items():
            with run.serve(name, envs[name], workers, threads, workdir, peer.command) as server:
                found[name] = measure_server(
                    name, server, peer.token_path, workdir, connections, duration
                )
        results.append(found)
    return results


def measure_server(
    name: str,
    server: run.Server,
    path: str,
    workdir: Path,
    connections: list[int],
    duration: int,
) -> dict[str, Tokens]:
    """One server's token requests at each connection count, after a first token."""
    run.log(f"  {name}: {server.description} on port {server.port}")
    first_token(name, server, path, workdir)
    script = workdir / f"peers-{name}.lua"
    script.write_text(run.token_script(workdir).read_text())
    url = server.base + path
    measured = {}
    for conns in connections:
        run.run_wrk(url, script, conns, min(2, duration))  # warm-up
        wait_idle(name, server)
        cpu_before = run.server_cpu_seconds(server)
        load = run.run_wrk(url, script, conns, duration)
        cpu = run.server_cpu_seconds(server) - cpu_before
        # run_wrk keeps wrk's output beside the script: the timeouts are read from it.
        slow = wrk_timeouts(workdir / f"{script.stem}-c{conns}.out")
        issued = load.rps * duration
        cpu_us = round(cpu / issued * 1e6, 1) if issued >= 1 else None
        tokens = Tokens(load.rps, load.p50_ms, load.p99_ms, load.errors - slow, slow, cpu_us)
        measured[f"c{conns}"] = tokens
        run.log(
            f"    c{conns:<3} {tokens.rps:>9.1f} tokens/s  p99 {tokens.p99_ms:8.2f} ms  "
            f"server CPU {shown(tokens.cpu_us, 8, 0)} us/token"
            + (f"  slow answers (over 2 s): {slow}" if slow else "")
            + (f"  ERRORS {tokens.errors} (not 200, or socket errors)" if tokens.errors else "")
        )
    return measured


def wait_idle(name: str, server: run.Server, limit: float = 120.0) -> None:
    """Wait until the server has finished the requests the warm-up left it (its CPU time
    stops growing), so that the measured run pays for its own requests only: a warm-up can
    leave a peer that hashes its client's secret many seconds of queued work."""
    deadline = time.monotonic() + limit
    before = run.server_cpu_seconds(server)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = run.server_cpu_seconds(server)
        if now - before < 0.05:  # a tenth of a core: idle
            return
        before = now
    run.log(f"    {name} was still busy {limit:.0f} s after the warm-up: measuring anyway")


def shown(figure: float | None, width: int, digits: int) -> str:
    """A figure for the table, or "-" where the run had none."""
    return f"{'-':>{width}}" if figure is None else f"{figure:>{width}.{digits}f}"


def first_token(name: str, server: run.Server, path: str, workdir: Path) -> None:
    """One token request must answer 200 with an access token, else stop with the server's
    log: a peer that refuses the benchmark's client would be measured answering errors."""
    request = urllib.request.Request(
        server.base + path,
        data=b"grant_type=client_credentials",
        headers={"Authorization": run.BASIC, "Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as rv:
            status, body = rv.status, rv.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    try:
        token = json.loads(body).get("access_token")
    except (ValueError, AttributeError):
        token = None
    if status != 200 or not token:
        log = (workdir / f"server-{server.port}.log").read_text()
        raise SystemExit(
            f"{name} did not issue a token: POST {path} answered {status}: {body[:500]!r}\n"
            f"its log:\n{log}"
        )


def wrk_timeouts(output: Path) -> int:
    """The answers wrk counted as timeouts in this output."""
    found = re.search(r"Socket errors: .* timeout (\d+)", output.read_text())
    return int(found.group(1)) if found else 0


# --- the table ----------------------------------------------------------------------------


def medians(results: Results, name: str, key: str) -> tuple[float, float | None]:
    """A server's median tokens/s and median CPU us per token over the rounds (None: no
    round issued a token to measure it by)."""
    loads = [found[name][key] for found in results]
    cpus = [load.cpu_us for load in loads if load.cpu_us is not None]
    return statistics.median(load.rps for load in loads), statistics.median(cpus) if cpus else None


def failed(results: Results, name: str) -> int:
    """A server's answers that were not 2xx and its socket errors, over every round."""
    return sum(load.errors for found in results for load in found[name].values())


def ratios(results: Results, name: str, key: str) -> tuple[float | None, float | None]:
    """The project over peer ``name``: tokens/s (project / peer) and CPU per token (peer /
    project), of the medians; None where a server issued no token."""
    rps, cpu = medians(results, PROJECT, key)
    peer_rps, peer_cpu = medians(results, name, key)
    faster = rps / peer_rps if peer_rps else None
    leaner = peer_cpu / cpu if peer_cpu and cpu else None
    return faster, leaner


def peer_checks(results: Results, connections: list[int]) -> dict[str, list[Check]]:
    """Each target peer's checks at each connection count, met when measured without errors
    and at the target or better (bench.targets' rule: not measured is missed)."""
    checks: dict[str, list[Check]] = {}
    for name, want in TARGETS.items():
        clean = not failed(results, PROJECT) and not failed(results, name)
        checks[name] = []
        for c in connections:
            faster, leaner = ratios(results, name, f"c{c}")
            for label, got in (
                (f"tokens/s c{c}: project / {name}", faster),
                (f"CPU/token c{c}: {name} / project", leaner),
            ):
                checks[name].append((label, got, want, clean and got is not None and got >= want))
    return checks


def print_peers(results: Results, connections: list[int]) -> list[Check]:
    """Print each server's medians, the project's ratios over each peer and the targets met
    or missed; return the targets as bench.targets checks, for its table."""
    names, keys = [PROJECT, *PEERS], [f"c{c}" for c in connections]
    print(f"\nPeers (issue 22): token requests, medians of {len(results)} round(s), interleaved")
    print(f"  {'':<11}" + "".join(f"| {k + ': tokens/s':>13} {'CPU us/token':>12} " for k in keys))
    for name in names:
        cells = [medians(results, name, k) for k in keys]
        row = "".join(f"| {rps:>13.1f} {shown(cpu, 12, 0)} " for rps, cpu in cells)
        print(f"  {name:<11}{row}" + ("  (errors!)" if failed(results, name) else ""))
    print("  project: bin/serve, as `make run` starts it")
    for name, peer in PEERS.items():
        print(f"  {name}: {peer.description}, granian wsgi in the same layout")
    print("\nThe project over each peer, at each connection count: tokens/s (project / peer)")
    print("and server CPU per token (peer / project), of the medians:")
    for name in PEERS:
        cells = [(k, *ratios(results, name, k)) for k in keys]
        print(
            f"  {name:<11}"
            + "".join(f"  {k}: {shown(f, 7, 2)} {shown(c, 7, 2)}" for k, f, c in cells)
        )
    checks = peer_checks(results, connections)
    print("Targets: the project ahead of Authlib by >= 3x, of DOT as documented by >= 5x:")
    for name, mine in checks.items():
        verdict = "met" if all(met for *_, met in mine) else "MISSED"
        missed = [label for label, _, _, met in mine if not met]
        print(
            f"  {name} >= {TARGETS[name]:g}x: {verdict}"
            + (f" ({', '.join(missed)})" if missed else "")
        )
    for name in names:
        if failed(results, name):
            print(
                f"  !! {name} answered {failed(results, name)} requests with an error (not 2xx,"
                " or a socket error): its figures do not count"
            )
    return [check for mine in checks.values() for check in mine]
