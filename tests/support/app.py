"""The app the tests run: the real factory with a test configuration, and its databases.

Every test runs against SQLite; with ``TEST_DATABASE_URL`` set (``.ci/run`` sets it to the
local PostgreSQL) and with ``TEST_MYSQL_URL`` set (``.ci/run``: the local MariaDB) every test
runs against that server too, in a database of its own (``scratch_database``). The schema
comes from the migrations (``migrate``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextlib import suppress
from pathlib import Path

import sqlalchemy as sa
from argon2 import PasswordHasher
from flask import Flask
from flask_migrate import upgrade

from app import create_app
from emulator.storage.database import db

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
# The lowest argon2id cost argon2-cffi takes (tests/conftest.py: cheap_secret_hashes).
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
# Each backend and the variable naming its server (None: SQLite, a file per session).
SERVERS = {"sqlite": None, "postgresql": "TEST_DATABASE_URL", "mysql": "TEST_MYSQL_URL"}
BACKENDS = [name for name, variable in SERVERS.items() if not variable or os.environ.get(variable)]


def make_app(database_url: str, **config: object) -> Flask:
    """The real factory with a test configuration."""
    return create_app(
        {
            # Raised, not off: many tests send wrong secrets and passwords on purpose; tests
            # of the throttle set the default back.
            "CLIENT_AUTH_FAILURE_LIMIT": "1000/5minutes",
            "CLIENT_AUTH_ADDRESS_FAILURE_LIMIT": "10000/5minutes",
            "USER_AUTH_FAILURE_LIMIT": "1000/5minutes",
            "USER_AUTH_ADDRESS_FAILURE_LIMIT": "10000/5minutes",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "TESTING": True,
            "SECRET_KEY": "test",
            "CACHE_MAX_AGE": 0,
            # No background flush: a test's app must not write into the next test's
            # database; tests of usage telemetry flush themselves (emulator/ops/usage.py).
            "USAGE_FLUSH_SECONDS": 0,
            **config,
        }
    )


@contextmanager
def scratch_database(backend: str, directory: Path) -> Iterator[str]:
    """An empty database of its own on ``backend``, dropped afterwards; yields its URL.

    On MySQL/MariaDB it is created latin1, as a server's default may be: the service must
    not depend on the database's character set (migration 0007, emulator/storage/database.py).
    """
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'emulator.sqlite'}"
        return
    server = sa.make_url(os.environ[SERVERS[backend]])
    name = f"emulator_test_{uuid.uuid4().hex[:12]}"
    if backend == "mysql":  # the URL's database need not exist: only its server is used
        create = f"CREATE DATABASE `{name}` CHARACTER SET latin1"
        drop = f"DROP DATABASE IF EXISTS `{name}`"
        admin = sa.create_engine(server.set(database=None), isolation_level="AUTOCOMMIT")
    else:
        create = f'CREATE DATABASE "{name}"'
        drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(create))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            if backend == "mysql":  # PostgreSQL's WITH (FORCE): end what still uses it
                sessions = conn.execute(
                    sa.text("SELECT id FROM information_schema.processlist WHERE db = :name"),
                    {"name": name},
                ).scalars()
                for session in sessions.all():
                    with suppress(sa.exc.OperationalError):  # it may have ended meanwhile
                        conn.execute(sa.text(f"KILL {int(session)}"))
            conn.execute(sa.text(drop))
        admin.dispose()


def migrate(url: str) -> None:
    """Bring the database at ``url`` to the latest migration."""
    app = make_app(url)
    with app.app_context():
        upgrade(directory=str(MIGRATIONS))
        db.engine.dispose()


def empty_database(app: Flask) -> None:
    """Remove every row (faster than re-creating the schema for each test).

    Every table the models declare (the engine's and each plugin's), children first.
    """
    tables = [table.name for table in reversed(db.metadata.sorted_tables)]
    with app.app_context():
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    conn.execute(sa.text(f"DELETE FROM {table}"))
