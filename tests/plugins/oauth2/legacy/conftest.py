"""Fixtures of the importer's tests: legacy redCORE databases on each legacy backend.

The layout, the rows PHP wrote and the site most tests fill are in
tests/support/legacy_site.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.support.legacy_site import LEGACY_CASES
from tests.support.legacy_site import MYSQL_URL
from tests.support.legacy_site import POSTGRES_URL
from tests.support.legacy_site import LegacySite
from tests.support.legacy_site import build_site
from tests.support.legacy_site import fill
from tests.support.legacy_site import scratch_mysql


@pytest.fixture(scope="session")
def mysql_database() -> Iterator[str | None]:
    """A scratch database on the TEST_MYSQL_URL server for the test run (None without one)."""
    if not MYSQL_URL:
        yield None
        return
    with scratch_mysql() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str | None]:
    """A scratch legacy database on the TEST_DATABASE_URL server, dropped after the run."""
    if not POSTGRES_URL:
        yield None
        return
    server = sa.make_url(POSTGRES_URL)
    name = f"legacy_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def make_legacy(
    tmp_path: Path, mysql_database: str | None, postgres_database: str | None
) -> Iterator[Callable[..., LegacySite]]:
    """Build an empty legacy database: make_legacy(backend, prefix); dropped afterwards."""
    made: list[LegacySite] = []

    def build(backend: str = "sqlite", prefix: str = "jos_") -> LegacySite:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / f'legacy-{len(made)}.sqlite'}"
        elif backend == "mysql":
            assert mysql_database is not None
            url = mysql_database
        else:
            assert postgres_database is not None
            url = postgres_database
        site = build_site(url, backend, prefix)
        made.append(site)
        return site

    yield build
    for site in made:
        site.drop()
        site.engine.dispose()


@pytest.fixture(params=LEGACY_CASES)
def legacy(request: pytest.FixtureRequest, make_legacy) -> LegacySite:
    """The filled site, on each legacy backend, with the prefix `jos_` and a random one."""
    backend, prefix = request.param
    site = make_legacy(backend, prefix)
    site.expiry = fill(site)
    return site


@pytest.fixture
def legacy_import(runner) -> Callable[..., Any]:
    """Run `flask legacy import`; returns click's result (output = stdout and stderr)."""

    def run(site: LegacySite | str, *args: str, timezone: str = "Europe/Copenhagen") -> Any:
        url, prefix = (site, "jos_") if isinstance(site, str) else (site.url, site.prefix)
        return runner.invoke(
            args=[
                "legacy",
                "import",
                "--from",
                url,
                "--prefix",
                prefix,
                "--timezone",
                timezone,
                *args,
            ]
        )

    return run
