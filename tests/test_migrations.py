"""Migrations: they build the models' schema, and an upgrade keeps existing rows."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from emulator.db import MIGRATIONS_DIR
from emulator.db import db
from tests.conftest import make_app


def test_migrations_match_the_models(app) -> None:
    with app.app_context(), db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []


def test_upgrade_from_0001_keeps_clients_and_gives_each_a_stable_app_id(tmp_path: Path) -> None:
    app = make_app(f"sqlite:///{tmp_path / 'old.sqlite'}")
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR), revision="0001")
        with db.engine.begin() as conn:
            for name in ("legacy-a", "legacy-b"):
                conn.execute(
                    sa.text(
                        "INSERT INTO oauth_clients "
                        "(client_id, secret_hash, redirect_uri, created_at) "
                        "VALUES (:c, 'h', '', '2020-01-01 00:00:00')"
                    ),
                    {"c": name},
                )
        upgrade(directory=str(MIGRATIONS_DIR))
        with db.engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT client_id, app_id FROM oauth_clients ORDER BY id")
            ).all()
        db.engine.dispose()
    assert [r.client_id for r in rows] == ["legacy-a", "legacy-b"]
    assert len({r.app_id for r in rows}) == 2 and all(len(r.app_id) == 36 for r in rows)
