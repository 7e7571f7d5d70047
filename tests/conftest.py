"""Shared fixtures: a real database per backend, the real app factory, builders.

Every test runs against SQLite; with ``TEST_DATABASE_URL`` set (``.ci/run`` sets it to the
local PostgreSQL) and with ``TEST_MYSQL_URL`` set (``.ci/run``: the local MariaDB) every test
runs against that server too, in a database of its own that is created for the session and
dropped after it. The schema comes from the migrations.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from contextlib import suppress
from pathlib import Path

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from flask.testing import FlaskCliRunner
from flask_migrate import upgrade

from app import create_app
from emulator.storage.database import db

# Fixtures shared by folders that are not nested (pytest shares a conftest only downwards).
pytest_plugins = ("tests.plugins.apigee.fixtures", "tests.emulator.usage_fixtures")

# The lowest argon2id cost argon2-cffi takes (see cheap_secret_hashes).
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
# Each backend and the variable naming its server (None: SQLite, a file per session).
SERVERS = {"sqlite": None, "postgresql": "TEST_DATABASE_URL", "mysql": "TEST_MYSQL_URL"}
BACKENDS = [name for name, variable in SERVERS.items() if not variable or os.environ.get(variable)]


def make_app(database_url: str, **config: object) -> Flask:
    """The real factory with a test configuration."""
    return create_app(
        {
            # Raised, not off: many tests send wrong secrets on purpose; tests of the
            # throttle set the default back.
            "CLIENT_AUTH_FAILURE_LIMIT": "1000/5minutes",
            "CLIENT_AUTH_ADDRESS_FAILURE_LIMIT": "10000/5minutes",
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


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated, empty database for the whole session, on each backend."""
    with scratch_database(request.param, tmp_path_factory.mktemp("db")) as url:
        _migrate(url)
        yield url


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all, for one test, on each backend (migration tests)."""
    with scratch_database(request.param, tmp_path) as url:
        yield url


def _migrate(url: str) -> None:
    app = make_app(url)
    with app.app_context():
        upgrade(directory=str(Path(__file__).resolve().parent.parent / "migrations"))
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


@pytest.fixture(autouse=True)
def cheap_secret_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hash secrets at a low argon2id cost: the wire rules do not depend on the cost, and
    hundreds of full-cost hashes would make the suite slow. (Only the cost changes: still
    salted argon2id, still checked by the engine.) No ``raising=False``: if the setting
    is renamed, every test fails here instead of silently paying the full cost.

    The test of the production cost sets it back itself. Processes the live tests start
    are not patched.
    """
    monkeypatch.setattr("emulator.oauth.clients.SECRET_HASHER", CHEAP_HASHER)


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    """The app on an empty database."""
    application = make_app(database_url)
    empty_database(application)
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def cli(runner: FlaskCliRunner) -> Callable[..., str]:
    """Run a CLI command; fail the test with its output unless it succeeds."""

    def invoke(*args: str, expect_ok: bool = True) -> str:
        result = runner.invoke(args=list(args))
        if expect_ok:
            assert result.exit_code == 0, result.output
        return result.output

    return invoke


@pytest.fixture
def make_client(cli: Callable[..., str]) -> Callable[..., tuple[str, str | None]]:
    """Register a client through the CLI; returns (client_id, secret)."""
    counter = iter(range(1_000_000))

    def build(
        client_id: str | None = None,
        *,
        secret: str | None = None,
        scope: str | None = None,
        grant_types: str | None = None,
        user_id: str | None = None,
        public: bool = False,
    ) -> tuple[str, str | None]:
        client_id = client_id or f"client-{next(counter)}"
        args = ["clients", "create", client_id]
        if public:
            args.append("--public")
        elif secret is not None:
            args += ["--secret", secret]
        if scope is not None:
            args += ["--scope", scope]
        if grant_types is not None:
            args += ["--grant-types", grant_types]
        if user_id is not None:
            args += ["--user-id", user_id]
        out = cli(*args)
        printed = [
            line.split(": ", 1)[1]
            for line in out.splitlines()
            if line.startswith("client_secret: ")
        ]
        return client_id, (printed[0] if printed else None)

    return build


@pytest.fixture
def set_params(cli: Callable[..., str]) -> Callable[..., None]:
    """Set oauth2 params through the CLI, e.g. set_params(expires_in_as_string=False)."""

    def apply(plugin: str = "oauth2", **values: object) -> None:
        cli(
            "plugins",
            "set",
            plugin,
            *(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in values.items()),
        )

    return apply


@pytest.fixture
def count_rows(app: Flask) -> Callable[[str], int]:
    def count(table: str) -> int:
        with app.app_context():
            return db.session.scalar(sa.text(f"SELECT count(*) FROM {table}"))

    return count
