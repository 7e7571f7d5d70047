"""The soak run of the benchmark (`make bench BENCH_ARGS="--soak 600"`, see bench/run.py).

Mixed traffic for SECONDS against one server, in back-to-back chunks of --soak-interval
seconds. Each chunk runs two wrk processes side by side, each with a Lua script that picks
its requests by weight:

  good  (16 connections) client_credentials at the legacy URL, option=resource with a
        bearer token, refresh grants (each with a refresh token an earlier answer of this
        wrk thread issued, used once), Apigee client_credential/accesstoken with Basic
        credentials of the same client; every answer must be 200.
  bad   (2 connections) wrong secrets of a second client at both URLs, an unknown api,
        malformed bodies (broken JSON, grant_type[] and bytes that are not UTF-8), a
        64 KiB scope, a 70 KiB query string, a bearer token that does not exist; every
        answer must be a clean 4xx (400, 401, 404, 413, 414, 429, 431).

Failed client authentication is throttled as in production (CLIENT_AUTH_FAILURE_LIMIT
10/5minutes per client and address): the second client's wrong secrets get 400/401 ten
times per window, then 429 until the window ends; those 429s are expected answers and
counted apart. The per-address limit (100/5minutes) is never reached, since a locked
client's attempts are not counted. --soak-failure-limit RULE sets both limits (a high one,
say 1000000/minute, makes every wrong secret pay a full argon2id check and two counter
writes).

After each chunk (and once before the load) each worker's VmRSS and VmHWM are read from
/proc (the workers are the server process's children), and the chunk's answers are
counted. Unexpected errors: 5xx, any other status that is not expected for its traffic,
and wrk's socket errors (connect, read, write, timeout after 2 s).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import time
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from bench.run import BASIC
from bench.run import RESOURCE_PATH
from bench.run import TOKEN_PATH
from bench.run import Server
from bench.run import fetch_token
from bench.run import flask_cli
from bench.run import log

OTHER_CLIENT_ID, OTHER_SECRET = "bench-other", "bench-other-secret-0123456789abcdef"
APIGEE_TOKEN_PATH = "/oauth/client_credential/accesstoken"
GOOD_CONNECTIONS, BAD_CONNECTIONS = 16, 2
EXPECTED_BAD = frozenset({400, 401, 404, 413, 414, 429, 431})
FORM = "application/x-www-form-urlencoded"
MIB = 1024 * 1024


def prepare_soak(env: dict[str, str]) -> None:
    """The second client (whose secret the bad traffic gets wrong) and the Apigee plugin."""
    flask_cli(env, "clients", "create", OTHER_CLIENT_ID, "--secret", OTHER_SECRET)
    flask_cli(env, "plugins", "enable", "apigee")


def soak_env(env: dict[str, str], failure_limit: str | None) -> dict[str, str]:
    """The server's environment: the throttle as configured, or both limits set to RULE."""
    if failure_limit is None:
        return env
    return {
        **env,
        "FLASK_CLIENT_AUTH_FAILURE_LIMIT": failure_limit,
        "FLASK_CLIENT_AUTH_ADDRESS_FAILURE_LIMIT": failure_limit,
    }


# --- the wrk scripts ----------------------------------------------------------------------


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def good_kinds(bearer: str) -> list[tuple[str, int, str, str, dict[str, str], str]]:
    """(name, weight, method, path, headers, body); "refresh" is built per request."""
    auth = {"Authorization": BASIC, "Content-Type": FORM}
    return [
        ("token", 30, "POST", TOKEN_PATH, auth, "grant_type=client_credentials"),
        ("resource", 40, "GET", RESOURCE_PATH, {"Authorization": f"Bearer {bearer}"}, ""),
        ("refresh", 15, "POST", TOKEN_PATH, auth, ""),
        ("apigee", 15, "POST", APIGEE_TOKEN_PATH, auth, "grant_type=client_credentials"),
    ]


def bad_kinds() -> list[tuple[str, int, str, str, dict[str, str], str]]:
    wrong = {"Authorization": basic(OTHER_CLIENT_ID, "wrong-secret"), "Content-Type": FORM}
    good = {"Authorization": BASIC, "Content-Type": FORM}
    cc = "grant_type=client_credentials"
    return [
        ("wrong_secret", 3, "POST", TOKEN_PATH, wrong, cc),
        ("wrong_secret_apigee", 2, "POST", APIGEE_TOKEN_PATH, wrong, cc),
        ("unknown_api", 2, "POST", "/index.php?option=token&api=nosuch", good, cc),
        (
            "bad_json",
            2,
            "POST",
            TOKEN_PATH,
            {**good, "Content-Type": "application/json"},
            '{"grant_type": ',
        ),
        ("bad_form", 1, "POST", TOKEN_PATH, good, "grant_type[]=x&\xff\xfe=%zz&scope=\xc3"),
        ("big_scope", 1, "POST", TOKEN_PATH, good, f"{cc}&scope={'x' * 65536}"),
        ("big_query", 1, "POST", f"{TOKEN_PATH}&{cc}&scope={'y' * 70000}", good, ""),
        (
            "unknown_bearer",
            1,
            "GET",
            RESOURCE_PATH,
            {"Authorization": "Bearer 0123456789abcdef0123456789abcdef01234567"},
            "",
        ),
    ]


def lua_bytes(text: str) -> str:
    """A Lua string literal of ``text``'s Latin-1 bytes, valid in Lua 5.1 and LuaJIT."""
    out = []
    for byte in text.encode("latin-1"):
        char = chr(byte)
        out.append(char if 32 <= byte < 127 and char not in '"\\' else f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def lua_kinds(kinds: list[tuple[str, int, str, str, dict[str, str], str]]) -> str:
    rows = []
    for name, weight, method, path, headers, body in kinds:
        pairs = ", ".join(f"[{lua_bytes(k)}] = {lua_bytes(v)}" for k, v in headers.items())
        rows.append(
            f"  {{name = {lua_bytes(name)}, weight = {weight}, method = {lua_bytes(method)}, "
            f"path = {lua_bytes(path)}, headers = {{{pairs}}}, body = {lua_bytes(body)}}},"
        )
    return "KINDS = {\n" + "\n".join(rows) + "\n}\n"


# Globals (statuses, sent) are what done() reads from each thread with thread:get.
LUA_SOAK = """
statuses, sent = {}, {}
local threads, fixed, bounds, total, pool = {}, {}, {}, 0, {}

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("thread_id", #threads)
end

function init(args)
  math.randomseed(os.time() * 1000 + thread_id)
  for i, kind in ipairs(KINDS) do
    total = total + kind.weight
    bounds[i] = total
    fixed[kind.name] = wrk.format(kind.method, kind.path, kind.headers, kind.body)
  end
end

local function pick()
  local r = math.random() * total
  for i, kind in ipairs(KINDS) do
    if r < bounds[i] then return kind.name end
  end
  return KINDS[#KINDS].name
end

function request()
  local name = pick()
  if name == "refresh" then
    local token = table.remove(pool)
    if token == nil then
      name = "token"  -- no refresh token issued to this thread yet
    else
      sent.refresh = (sent.refresh or 0) + 1
      return wrk.format("POST", TOKEN_PATH, {["Authorization"] = BASIC,
        ["Content-Type"] = "application/x-www-form-urlencoded"},
        "grant_type=refresh_token&refresh_token=" .. token)
    end
  end
  sent[name] = (sent[name] or 0) + 1
  return fixed[name]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 200 and #pool < 10000 then
    local token = string.match(body, '"refresh_token":"(%x+)"')
    if token then pool[#pool + 1] = token end
  end
end

local function pairs_json(t)
  local parts = {}
  for k, v in pairs(t) do parts[#parts + 1] = string.format('"%s": %d', tostring(k), v) end
  return "{" .. table.concat(parts, ", ") .. "}"
end

function done(summary, latency, requests)
  local all_statuses, all_sent = {}, {}
  for _, thread in ipairs(threads) do
    for k, v in pairs(thread:get("statuses")) do all_statuses[k] = (all_statuses[k] or 0) + v end
    for k, v in pairs(thread:get("sent")) do all_sent[k] = (all_sent[k] or 0) + v end
  end
  local e = summary.errors
  io.write(string.format(
    'SOAK {"requests": %d, "duration_us": %d, "statuses": %s, "sent": %s, ' ..
    '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, ' ..
    '"p50_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, pairs_json(all_statuses), pairs_json(all_sent),
    e.connect, e.read, e.write, e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


def write_script(path: Path, kinds: list) -> Path:
    path.write_text(
        f"BASIC = {lua_bytes(BASIC)}\nTOKEN_PATH = {lua_bytes(TOKEN_PATH)}\n"
        + lua_kinds(kinds)
        + LUA_SOAK
    )
    return path


# --- workers ------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (the server's workers), by pid."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                # pid (comm) state ppid ...: comm may hold spaces, so split after the ")"
                ppid = int(stat.read().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            found.append(int(entry))
    return sorted(found)


def memory(pid: int) -> dict[str, float] | None:
    """VmRSS and VmHWM of a process in MiB, and its open file descriptors (None: gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            fields = dict(line.split(":", 1) for line in status if ":" in line)
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    kib = {k: int(fields[k].split()[0]) for k in ("VmRSS", "VmHWM")}
    return {"rss": round(kib["VmRSS"] / 1024, 1), "hwm": round(kib["VmHWM"] / 1024, 1), "fds": fds}


# --- the run ------------------------------------------------------------------------------


@dataclass
class Sample:
    elapsed_s: float
    requests: int = 0
    rps: float = 0.0
    good: int = 0
    bad: int = 0
    locked_429: int = 0
    errors: int = 0
    good_p50_ms: float = 0.0
    good_p99_ms: float = 0.0
    statuses: dict[str, dict[str, int]] = field(default_factory=dict)
    sent: dict[str, int] = field(default_factory=dict)
    socket_errors: dict[str, int] = field(default_factory=dict)
    workers: dict[str, dict[str, float] | None] = field(default_factory=dict)


def run_chunk(server: Server, scripts: dict[str, Path], seconds: int, workers: list[int]):
    """Both wrk processes for ``seconds``; their SOAK lines and each worker's peak RSS."""
    processes = {
        name: subprocess.Popen(
            [
                "wrk",
                f"-t{2 if conns >= 4 else 1}",
                f"-c{conns}",
                f"-d{seconds}s",
                "-s",
                str(scripts[name]),
                server.base + "/",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, conns in (("good", GOOD_CONNECTIONS), ("bad", BAD_CONNECTIONS))
    }
    peak = dict.fromkeys(workers, 0.0)
    deadline = time.monotonic() + seconds + 30
    next_look = 0.0
    while any(p.poll() is None for p in processes.values()):
        now = time.monotonic()
        if now > deadline:
            for p in processes.values():
                p.kill()
            raise SystemExit("wrk did not finish in time")
        if now >= next_look:  # once a second while the load runs
            next_look = now + 1
            for pid in workers:
                mem = memory(pid)
                if mem:
                    peak[pid] = max(peak[pid], mem["rss"])
        time.sleep(0.05)
    results = {}
    for name, p in processes.items():
        out, err = p.communicate()
        line = next((x for x in out.splitlines() if x.startswith("SOAK ")), None)
        if p.returncode != 0 or line is None:
            raise SystemExit(f"wrk ({name}) failed, exit {p.returncode}:\n{out}{err}")
        results[name] = json.loads(line.removeprefix("SOAK "))
    return results, peak


def sample_workers(workers: list[int]) -> dict[str, dict[str, float] | None]:
    return {str(pid): memory(pid) for pid in workers}


def count(sample: Sample, results: dict[str, dict]) -> None:
    good, bad = results["good"], results["bad"]
    sample.requests = good["requests"] + bad["requests"]
    seconds = max(good["duration_us"], bad["duration_us"]) / 1e6
    sample.rps = round(sample.requests / seconds, 1)
    good_statuses = {int(k): v for k, v in good["statuses"].items()}
    bad_statuses = {int(k): v for k, v in bad["statuses"].items()}
    sample.good = good_statuses.get(200, 0)
    sample.bad = sum(v for k, v in bad_statuses.items() if k in EXPECTED_BAD)
    sample.locked_429 = bad_statuses.get(429, 0)
    sockets = {k: good["socket_errors"][k] + bad["socket_errors"][k] for k in good["socket_errors"]}
    sample.errors = (
        sum(v for k, v in good_statuses.items() if k != 200)
        + sum(v for k, v in bad_statuses.items() if k not in EXPECTED_BAD)
        + sum(sockets.values())
    )
    sample.good_p50_ms = round(good["p50_us"] / 1000, 2)
    sample.good_p99_ms = round(good["p99_us"] / 1000, 2)
    sample.statuses = {"good": good["statuses"], "bad": bad["statuses"]}
    sample.sent = {**good["sent"], **bad["sent"]}
    sample.socket_errors = sockets


def run_soak(server: Server, workdir: Path, args: argparse.Namespace) -> dict:
    """Mixed traffic for ``args.soak`` seconds; print the table and summary, return the series."""
    workers = children(server.process.pid)
    if not workers:
        raise SystemExit(f"no worker processes found under pid {server.process.pid}")
    interval = args.soak_interval
    chunks = chunk_lengths(args.soak, interval)
    bad_script = write_script(workdir / "soak-bad.lua", bad_kinds())
    log(
        f"soak: {args.soak} s of mixed traffic in {len(chunks)} chunks; workers "
        f"{', '.join(map(str, workers))}"
    )
    samples = [Sample(0.0, workers=sample_workers(workers))]
    started = time.monotonic()
    for seconds in chunks:
        # A fresh bearer token per chunk, so a soak longer than its lifetime keeps working.
        bearer = fetch_token(server)["access_token"]
        scripts = {
            "good": write_script(workdir / "soak-good.lua", good_kinds(bearer)),
            "bad": bad_script,
        }
        results, peak = run_chunk(server, scripts, seconds, workers)
        sample = Sample(round(time.monotonic() - started, 1), workers=sample_workers(workers))
        for pid, rss in peak.items():
            if sample.workers[str(pid)] is not None:
                sample.workers[str(pid)]["peak_rss"] = rss
        count(sample, results)
        samples.append(sample)
        rss = "  ".join(f"{w['rss']:.1f}" if w else "gone" for w in sample.workers.values())
        log(
            f"  {sample.elapsed_s:>6.0f} s {sample.rps:>8.1f} req/s  errors {sample.errors}"
            f"  RSS MiB {rss}"
        )
        now = children(server.process.pid)
        if now != workers:
            log(f"  the workers changed: {workers} -> {now} (a worker restarted?)")
    return summarize(samples, workers, children(server.process.pid), args)


def summarize(
    samples: list[Sample], workers: list[int], workers_at_end: list[int], args: argparse.Namespace
) -> dict:
    loaded = samples[1:]
    first, last = loaded[0], loaded[-1]
    per_worker = {}
    for pid in map(str, workers):
        idle, start, end = (s.workers.get(pid) for s in (samples[0], first, last))
        if not (idle and start and end):
            per_worker[pid] = None
            continue
        per_worker[pid] = {
            "idle_rss_mib": idle["rss"],
            "start_rss_mib": start["rss"],
            "end_rss_mib": end["rss"],
            "growth_pct": round(100 * (end["rss"] - start["rss"]) / start["rss"], 1),
            "peak_rss_mib": end["hwm"],
            "fds_start": start["fds"],
            "fds_end": end["fds"],
        }
    totals = {
        "requests": sum(s.requests for s in loaded),
        "good": sum(s.good for s in loaded),
        "bad_expected": sum(s.bad for s in loaded),
        "locked_429": sum(s.locked_429 for s in loaded),
        "unexpected_errors": sum(s.errors for s in loaded),
        "workers_restarted": workers_at_end != workers,
    }
    sent: dict[str, int] = {}
    for s in loaded:
        for k, v in s.sent.items():
            sent[k] = sent.get(k, 0) + v
    return {
        "seconds": args.soak,
        "interval_s": args.soak_interval,
        "connections": {"good": GOOD_CONNECTIONS, "bad": BAD_CONNECTIONS},
        "failure_limit": args.soak_failure_limit or "service default (10/5minutes)",
        "sent": sent,
        "totals": totals,
        "workers": per_worker,
        "samples": [asdict(s) for s in samples],
    }


def print_soak(description: str, soak: dict) -> None:
    samples = soak["samples"]
    pids = list(samples[0]["workers"])
    header = (
        f"{'elapsed s':>9} {'req/s':>8} {'good':>8} {'bad ok':>7} {'429':>6} {'errors':>6} "
        f"{'p99 ms':>7} " + " ".join(f"{'w' + str(i + 1) + ' MiB':>8}" for i in range(len(pids)))
    )
    print(f"\nsoak, {soak['seconds']} s: {description}\n{header}\n{'-' * len(header)}")
    for s in samples:
        rss = " ".join(
            f"{s['workers'][p]['rss']:>8.1f}" if s["workers"].get(p) else f"{'gone':>8}"
            for p in pids
        )
        if s["elapsed_s"] == 0:
            print(f"{0:>9} {'(idle, before the load)':>46} {rss}")
            continue
        print(
            f"{s['elapsed_s']:>9.0f} {s['rps']:>8.1f} {s['good']:>8} {s['bad']:>7} "
            f"{s['locked_429']:>6} {s['errors']:>6} {s['good_p99_ms']:>7.1f} {rss}"
        )
    t = soak["totals"]
    growth = ", ".join(
        f"w{i + 1} (pid {pid}) {w['start_rss_mib']:.1f} -> {w['end_rss_mib']:.1f} MiB "
        f"({w['growth_pct']:+.1f}%; idle {w['idle_rss_mib']:.1f}, peak {w['peak_rss_mib']:.1f})"
        if w
        else f"w{i + 1} (pid {pid}) gone"
        for i, (pid, w) in enumerate(soak["workers"].items())
    )
    print(
        f"\nsoak total: {t['requests']:,} requests ({t['good']:,} good, {t['bad_expected']:,} "
        f"bad answered as expected, of which {t['locked_429']:,} 429), "
        f"{t['unexpected_errors']} unexpected errors"
        + ("; WORKERS RESTARTED" if t["workers_restarted"] else "")
        + f"\nRSS start (end of the first {soak['interval_s']} s) -> end: {growth}"
    )


def chunk_lengths(seconds: int, interval: int) -> list[int]:
    return [interval] * (seconds // interval) + [seconds % interval] * bool(seconds % interval)
