"""Fixtures every test may use: a real database per backend, the real app, builders.

The app, its databases and the backends they run on are in tests/support/app.py.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask.testing import FlaskCliRunner

from emulator.storage.database import db
from tests.support.app import BACKENDS
from tests.support.app import CHEAP_HASHER
from tests.support.app import empty_database
from tests.support.app import make_app
from tests.support.app import migrate
from tests.support.app import scratch_database

# Fixtures shared by folders that are not nested (pytest shares a conftest only downwards).
pytest_plugins = ("tests.plugins.apigee.fixtures", "tests.emulator.usage_fixtures")


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated, empty database for the whole session, on each backend."""
    with scratch_database(request.param, tmp_path_factory.mktemp("db")) as url:
        migrate(url)
        yield url


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all, for one test, on each backend (migration tests)."""
    with scratch_database(request.param, tmp_path) as url:
        yield url


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
    """Run a CLI command (``input``: its stdin); fail the test with its output unless it
    succeeds."""

    def invoke(*args: str, expect_ok: bool = True, input: str | None = None) -> str:
        result = runner.invoke(args=list(args), input=input)
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
