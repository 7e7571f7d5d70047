"""Fixtures of the admin pages' tests: an admin user, and a test client logged in as them."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from emulator.manage import actions
from emulator.ops import audit
from emulator.ops.clock import utcnow
from emulator.storage.database import db

USERNAME = "alice"
PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csrf_token(page: TestResponse) -> str:
    """The CSRF token of the first form of a page."""
    found = CSRF.search(page.get_data(as_text=True))
    assert found, page.get_data(as_text=True)[:2000]
    return found.group(1)


@dataclass
class AdminSession:
    """A test client and the CSRF token of its session."""

    client: FlaskClient
    token: str = ""

    def get(self, path: str, **kwargs: object) -> TestResponse:
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict | None = None, **kwargs: object) -> TestResponse:
        """Post a form with the session's CSRF token (as the pages' forms carry it)."""
        return self.client.post(path, data={"csrf_token": self.token, **(data or {})}, **kwargs)


def log_in(client: FlaskClient, username: str = USERNAME, password: str = PASSWORD) -> TestResponse:
    """Post the login form as a browser does (its token from the login page)."""
    token = csrf_token(client.get("/admin/login"))
    return client.post(
        "/admin/login", data={"csrf_token": token, "username": username, "password": password}
    )


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
