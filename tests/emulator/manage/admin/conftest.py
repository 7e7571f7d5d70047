"""Fixtures of the admin pages' tests: an admin user, and a test client logged in as them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from emulator.manage import actions
from emulator.ops import audit
from emulator.ops.clock import utcnow
from emulator.storage.database import db
from tests.support.admin import PASSWORD
from tests.support.admin import USERNAME
from tests.support.admin import AdminSession
from tests.support.admin import csrf_token
from tests.support.admin import log_in


@pytest.fixture
def admin_user(app: Flask) -> tuple[str, str]:
    """An admin user made as `flask admin create-user` makes one."""
    with app.app_context():
        actions.create_admin_user(
            db.session, audit.Actor("cli:test", None), USERNAME, PASSWORD, now=utcnow()
        )
        db.session.commit()
    return USERNAME, PASSWORD


@pytest.fixture
def admin(app: Flask, admin_user: tuple[str, str]) -> AdminSession:
    """A test client logged in as the admin user."""
    client = app.test_client()
    rv = log_in(client)
    assert rv.status_code == 302, rv.get_data(as_text=True)
    return AdminSession(client, csrf_token(client.get("/admin/clients/new")))


@pytest.fixture
def audit_actions(app: Flask) -> Callable[[], list[tuple[str, str, str | None, str]]]:
    """The audit log as (action, actor, address, target), oldest first."""

    def read() -> list[tuple[str, str, str | None, str]]:
        with app.app_context():
            events = audit.events(db.session, limit=1000)
            return [(e.action, e.actor, e.address, e.target) for e in reversed(events)]

    return read
