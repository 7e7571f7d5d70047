"""The scopes page: add, set defaults, remove."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from flask import Flask

from emulator.storage.database import db
from tests.support.admin import AdminSession
from tests.support.admin import create

# --- scopes ----------------------------------------------------------------------------


def test_scopes_add_default_and_remove(
    admin: AdminSession, app: Flask, audit_actions: Callable[[], list]
) -> None:
    assert admin.post("/admin/scopes", {"name": "read", "is_default": "y"}).status_code == 200
    assert admin.post("/admin/scopes", {"name": "write"}).status_code == 200
    create(admin, "reader", scope="read")
    rv = admin.post("/admin/scopes/remove", {"name": "read"})
    assert rv.status_code == 400
    assert "reader" in rv.get_data(as_text=True)  # the clients that use it are named
    assert admin.post("/admin/scopes/defaults", {"default": ["write"]}).status_code == 302
    assert admin.post("/admin/scopes/remove", {"name": "write"}).status_code == 302
    with app.app_context():
        rows = db.session.execute(sa.text("SELECT scope, is_default FROM oauth_scopes")).all()
    assert [(r[0], bool(r[1])) for r in rows] == [("read", False)]
    actions = [a[0] for a in audit_actions()]
    assert {"scope.add", "scope.default", "scope.remove"} <= set(actions)


def test_a_bad_scope_name_is_refused_beside_its_field(
    admin: AdminSession, count_rows: Callable[[str], int]
) -> None:
    rv = admin.post("/admin/scopes", {"name": "bad\nname"})
    assert rv.status_code == 400
    assert count_rows("oauth_scopes") == 0
