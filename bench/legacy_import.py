"""How long `flask legacy import` takes on a big redCORE database (not part of the tests).

    .venv/bin/python -m bench.legacy_import [--clients 1000] [--tokens 100000]
        [--legacy mysql+pymysql://root@127.0.0.1:3306/] [--database-url URL]

Builds a legacy database with the documented layout (a scratch ``legacy_bench_<random>``
on the --legacy MySQL/MariaDB server, dropped afterwards; SQLite without --legacy), with
``--clients`` confidential clients (random 20-character secrets) and ``--tokens`` live
tokens (60 % access, 40 % refresh, Copenhagen time). Then it runs the import twice, as an
operator would (a subprocess, the production argon2 cost), into a fresh migrated database
(SQLite in a temporary folder unless --database-url names an empty one), and prints each
run's wall time and summary.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from tests.support.legacy_site import build_site
from tests.support.legacy_site import local_now

ROOT = Path(__file__).resolve().parent.parent
FLASK = ROOT / ".venv" / "bin" / "flask"


def fill(site, clients: int, tokens: int) -> None:
    expires = (local_now() + timedelta(days=3)).strftime("%Y-%m-%d %H:%M:%S")
    ids = [f"bench-client-{n:05d}" for n in range(clients)]
    with site.engine.begin() as conn:
        conn.execute(
            sa.text(
                f"INSERT INTO {site.prefix}redcore_oauth_clients (client_id, client_secret, scope) "
                "VALUES (:c, :s, 'site.read')"
            ),
            [{"c": c, "s": secrets.token_urlsafe(15)} for c in ids],
        )
        conn.execute(
            sa.text(
                f"INSERT INTO {site.prefix}redcore_oauth_scopes (scope, is_default) "
                "VALUES ('site.read', 1)"
            )
        )
        access = tokens * 6 // 10
        for kind, count in (("access", access), ("refresh", tokens - access)):
            column = f"{kind}_token"
            rows = [
                {"t": secrets.token_hex(20), "c": ids[n % clients], "e": expires}
                for n in range(count)
            ]
            for start in range(0, len(rows), 10_000):
                conn.execute(
                    sa.text(
                        f"INSERT INTO {site.prefix}redcore_oauth_{kind}_tokens "
                        f"({column}, client_id, expires, scope) VALUES (:t, :c, :e, 'site.read')"
                    ),
                    rows[start : start + 10_000],
                )


def run_import(env: dict[str, str], site) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        [
            str(FLASK),
            "--app",
            "app",
            "legacy",
            "import",
            "--from",
            site.url,
            "--prefix",
            site.prefix,
            "--timezone",
            "Europe/Copenhagen",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    print(result.stdout)
    if result.returncode != 0:
        print(result.stderr, file=sys.stderr)
        raise SystemExit(result.returncode)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--tokens", type=int, default=100_000)
    parser.add_argument("--legacy", help="a MySQL/MariaDB server URL (default: SQLite)")
    parser.add_argument("--database-url", help="the service's (empty) database")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        admin = None
        if args.legacy:
            name = f"legacy_bench_{uuid.uuid4().hex[:8]}"
            admin = sa.create_engine(args.legacy, poolclass=sa.NullPool)
            with admin.begin() as conn:
                conn.execute(sa.text(f"CREATE DATABASE {name} CHARACTER SET utf8"))
            url = sa.make_url(args.legacy).set(database=name).render_as_string(False)
            site = build_site(url, "mysql", "jos_")
        else:
            site = build_site(f"sqlite:///{tmp}/legacy.sqlite", "sqlite", "jos_")
        try:
            started = time.perf_counter()
            fill(site, args.clients, args.tokens)
            print(f"legacy database filled in {time.perf_counter() - started:.1f} s")
            env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
            env["FLASK_SQLALCHEMY_DATABASE_URI"] = (
                args.database_url or f"sqlite:///{tmp}/ours.sqlite"
            )
            env["FLASK_SECRET_KEY"] = "bench"
            subprocess.run(
                [str(FLASK), "--app", "app", "db", "upgrade"],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
            )
            first = run_import(env, site)
            second = run_import(env, site)
            print(
                f"first run {first:.1f} s, second run {second:.1f} s "
                f"({args.clients} clients, {args.tokens} tokens)"
            )
        finally:
            site.drop()
            site.engine.dispose()
            if admin is not None:
                with admin.begin() as conn:
                    conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
                admin.dispose()


if __name__ == "__main__":
    main()
