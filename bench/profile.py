"""In-process profile of the hot paths: `.venv/bin/python -m bench.profile --help`.

No HTTP server: each scenario's requests go through Flask's test client on a scratch
SQLite database (or --database-url), prepared by the real CLI as `make bench` prepares
its own. Prints, per scenario, microseconds per request (wall and this process's CPU), SQL
statements per request and the top entries of a cProfile run (by own time, and by
cumulative time). Not part of the test suite.

``--legacy-link SERVER`` (a MySQL/MariaDB server URL, e.g. mysql+pymysql://root@127.0.0.1:3306/)
builds an empty redCORE layout in a scratch database ``legacy_bench_<random>`` there
(dropped afterwards) and sets the oauth2 plugin's legacy link to it before the scenarios
run: the token scenarios then pay for the mirror's writes (docs/migrate/cut-over.md).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

from bench.run import APIGEE_TOKEN_PATH
from bench.run import BASIC
from bench.run import PASSWORD_FORM
from bench.run import PROFILE_PATH
from bench.run import RESOURCE_PATH
from bench.run import TOKEN_PATH
from bench.run import flask_cli
from bench.run import insert_tokens
from bench.run import prepare

SCENARIOS = ("noop", "token", "resource", "refresh", "apigee_token", "password", "profile")
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000, help="per scenario")
    parser.add_argument("--only", help="comma-separated scenarios (default: all)")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--database-url", help="an empty database (default: scratch SQLite)")
    parser.add_argument("--no-profile", action="store_true", help="timings only")
    parser.add_argument("--dump", help="also write each profile to DUMP.<scenario>.pstats")
    parser.add_argument(
        "--legacy-link", metavar="SERVER", help="mirror to a scratch redCORE database there"
    )
    args = parser.parse_args(argv)
    with _legacy_site(args.legacy_link) as link_url:
        return _run(args, link_url)


@contextmanager
def _legacy_site(server: str | None) -> Iterator[str | None]:
    """A scratch redCORE database on ``server`` (its URL), dropped afterwards; or None."""
    if server is None:
        yield None
        return
    from tests.support.legacy_site import build_site

    name = f"legacy_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server, poolclass=sa.NullPool)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name} CHARACTER SET utf8"))
    try:
        url = sa.make_url(server).set(database=name).render_as_string(hide_password=False)
        build_site(url, "mysql", "jos_").engine.dispose()
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


def _run(args: argparse.Namespace, link_url: str | None) -> int:
    scenarios = args.only.split(",") if args.only else list(SCENARIOS)
    with tempfile.TemporaryDirectory(prefix="emulator-profile-") as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'profile.sqlite'}"
        env = {**os.environ, "FLASK_SQLALCHEMY_DATABASE_URI": url, "FLASK_SECRET_KEY": "bench"}
        prepare(env)
        if link_url is not None:
            flask_cli(env, "legacy", "link", "set", "--url", link_url, "--no-check")
        os.environ.update(env)
        from app import create_app
        from emulator.storage.database import db

        app = create_app()
        with app.app_context():
            engine = db.engine
        statements = [0]

        def count(*_args: object) -> None:
            statements[0] += 1

        client = app.test_client()
        token = client.post(
            TOKEN_PATH,
            data="grant_type=client_credentials",
            headers={"Authorization": BASIC, **FORM},
        ).get_json()["access_token"]
        user_token = client.post(
            TOKEN_PATH, data=PASSWORD_FORM, headers={"Authorization": BASIC, **FORM}
        ).get_json()["access_token"]
        refresh = iter(
            insert_tokens(url, "oauth_refresh_tokens", 2 * args.requests + 200, keep_raw=True)
        )
        calls = {
            "noop": lambda _i: client.get("/healthz"),
            "token": lambda _i: client.post(
                TOKEN_PATH,
                data="grant_type=client_credentials",
                headers={"Authorization": BASIC, **FORM},
            ),
            "resource": lambda _i: client.get(
                RESOURCE_PATH, headers={"Authorization": f"Bearer {token}"}
            ),
            "refresh": lambda _i: client.post(
                TOKEN_PATH,
                data=f"grant_type=refresh_token&refresh_token={next(refresh)}",
                headers={"Authorization": BASIC, **FORM},
            ),
            "apigee_token": lambda _i: client.post(
                APIGEE_TOKEN_PATH, headers={"Authorization": BASIC}
            ),
            "password": lambda _i: client.post(
                TOKEN_PATH, data=PASSWORD_FORM, headers={"Authorization": BASIC, **FORM}
            ),
            "profile": lambda _i: client.get(
                PROFILE_PATH, headers={"Authorization": f"Bearer {user_token}"}
            ),
        }
        offset = 0
        for scenario in scenarios:
            call = calls[scenario]
            for i in range(50):  # warm-up: caches, pool
                assert call(offset + i).status_code == 200, scenario
            offset += 50
            started, cpu_started = time.perf_counter(), time.process_time()
            for i in range(args.requests):
                call(offset + i)
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
            offset += args.requests
            # CPU time too: on a shared box the wall time counts the other processes' turns.
            print(
                f"{scenario:<13} {elapsed / args.requests * 1e6:8.1f} us/request"
                f" ({cpu / args.requests * 1e6:.1f} us CPU)"
            )
            if args.no_profile:
                continue
            profiler = cProfile.Profile()
            profiler.enable()
            for i in range(args.requests):
                call(offset + i)
            profiler.disable()
            offset += args.requests
            if args.dump:
                profiler.dump_stats(f"{args.dump}.{scenario}.pstats")
            for order in ("tottime", "cumulative"):
                out = io.StringIO()
                stats = pstats.Stats(profiler, stream=out)
                stats.sort_stats(order).print_stats(args.top)
                text = out.getvalue()
                print(f"--- {scenario}, by {order} ---")
                print(text[text.index("   ncalls") :].rstrip() + "\n")
        # Counted last: an engine that ever had a statement listener sends every statement
        # through SQLAlchemy's full path (storage.prepared.Prepared), even after its removal.
        event.listen(engine, "before_cursor_execute", count)
        for scenario in scenarios:
            statements[0] = 0
            for i in range(100):
                calls[scenario](offset + i)
            offset += 100
            print(f"{scenario:<13} {statements[0] / 100:.2f} statements/request")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
