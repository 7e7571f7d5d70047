"""The admin pages' test helpers: logging in as a browser does, the CSRF token, making a
client and rotating its secret as the pages do, reading what a page shows once."""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from emulator.ops import audit
from emulator.storage.database import db
from emulator.web.registry import get_registry

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


CLI = audit.Actor("cli:test", None)
SECRET_SHOWN = re.compile(r'id="client-secret">([^<]+)<')


def secret_of(page: str) -> str:
    """The secret a page shows once."""
    found = SECRET_SHOWN.search(page)
    assert found, page[:3000]
    return found.group(1)


STAMP = re.compile(r'name="secret_stamp" type="hidden" value="([^"]*)"')


def rotation_form(admin: AdminSession, client_id: str, grace: str = "0") -> dict[str, str]:
    """The rotation form as the client's page fills it in (the session's CSRF token is
    added by ``admin.post``)."""
    page = admin.get(f"/admin/clients/{client_id}/edit").get_data(as_text=True)
    found = STAMP.search(page)
    assert found, page[:3000]
    return {"secret_stamp": found.group(1), "grace_minutes": grace}


def rotate(admin: AdminSession, client_id: str, grace: str = "0") -> str:
    """Rotate on the client's page, follow the redirect; return the secret shown there."""
    rv = admin.post(f"/admin/clients/{client_id}/rotate", rotation_form(admin, client_id, grace))
    assert rv.status_code == 303, rv.get_data(as_text=True)[:3000]
    return secret_of(admin.get(rv.headers["Location"]).get_data(as_text=True))


def token_status(client: FlaskClient, client_id: str, secret: str) -> int:
    """The status of a client_credentials request at the legacy token URL."""
    return client.post(
        "/index.php?option=token&api=oauth2",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
    ).status_code


def create(admin: AdminSession, client_id: str, **fields: str) -> str:
    """Create a client on the page; return the secret it shows."""
    rv = admin.post("/admin/clients/new", {"client_id": client_id, "all_grants": "y", **fields})
    assert rv.status_code == 201, rv.get_data(as_text=True)[:3000]
    return secret_of(rv.get_data(as_text=True))


def all_values(app: Flask, *tables: str) -> list[str]:
    """Every value of every row of these tables, as text."""
    with app.app_context(), db.engine.connect() as conn:
        return [
            str(value)
            for table in tables
            for row in conn.execute(sa.select(db.metadata.tables[table]))
            for value in row
        ]


def session_of(app: Flask, admin: AdminSession) -> dict:
    """What the admin's session cookie holds, decoded as anyone holding it can."""
    cookie = admin.client.get_cookie("emulator_admin", path="/admin")
    assert cookie is not None
    return app.session_interface.get_signing_serializer(app).loads(cookie.value)


def stored_params(app: Flask, name: str) -> dict:
    """What an admin set of a plugin's params (not its defaults)."""
    with app.app_context():
        return dict(get_registry().status(db.session, name).stored)
