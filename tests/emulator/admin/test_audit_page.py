"""The activity page and the audit log; every page action audited, no secret stored."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from emulator import audit
from emulator.clock import utcnow
from emulator.db import db
from tests.emulator.admin.conftest import PASSWORD
from tests.emulator.admin.conftest import USERNAME
from tests.emulator.admin.conftest import AdminSession
from tests.emulator.admin.conftest import log_in
from tests.emulator.admin.helpers import CLI
from tests.emulator.admin.helpers import all_values
from tests.emulator.admin.helpers import create
from tests.emulator.admin.helpers import rotate
from tests.emulator.admin.helpers import rotation_form
from tests.emulator.admin.helpers import secret_of

# --- activity and audit ----------------------------------------------------------------


def test_activity_counts_tokens_issued_per_client(
    admin: AdminSession,
    client: FlaskClient,
    app: Flask,
    make_client: Callable[..., tuple[str, str | None]],
) -> None:
    busy, busy_secret = make_client("busy")
    quiet, quiet_secret = make_client("quiet")
    for credentials, times in (((busy, busy_secret), 3), ((quiet, quiet_secret), 1)):
        for _ in range(times):
            client.post(
                "/index.php?option=token&api=oauth2",
                data={"grant_type": "client_credentials"},
                auth=credentials,
            )
    with app.app_context():
        from emulator import usage

        usage.flush()
    page = admin.get("/admin/activity").get_data(as_text=True)
    table = page[page.index('id="issued"') :]
    busy_row = table[table.index("<code>busy</code>") :]
    busy_row = busy_row[: busy_row.index("</tr>")]
    assert busy_row.endswith("<td>3</td>")
    assert "<svg" in page and "<rect" in page  # the chart, drawn without JavaScript


def test_the_audit_page_pages_and_filters(admin: AdminSession, app: Flask) -> None:
    with app.app_context():
        for n in range(60):
            audit.record(db.session, actor=CLI, action="scope.add", target=f"s{n}", now=utcnow())
        db.session.commit()
    first = admin.get("/admin/audit").get_data(as_text=True)
    assert "s59" in first and "Older" in first
    second = admin.get("/admin/audit?page=2").get_data(as_text=True)
    assert "s5<" not in first and ">s5<" in second
    logins = admin.get("/admin/audit?action=admin.").get_data(as_text=True)
    assert "admin.login" in logins and "scope.add" not in logins


def test_every_page_action_is_audited_with_the_admin_and_address(
    admin: AdminSession, audit_actions: Callable[[], list], cli: Callable[..., str]
) -> None:
    cli("scopes", "add", "read")
    create(admin, "audited")
    admin.post("/admin/clients/audited/edit", {"scope": "read", "all_grants": "y"})
    rotate(admin, "audited")
    admin.post("/admin/clients/audited/state", {"disabled": "1", "confirm": "1"})
    admin.post("/admin/clients/audited/state", {"disabled": "0"})
    admin.post("/admin/clients/audited/revoke", {"confirm": "1"})
    admin.post("/admin/clients/audited/delete", {"confirm": "1"})
    admin.post("/admin/scopes", {"name": "extra"})
    admin.post("/admin/scopes/defaults", {"default": ["extra"]})
    admin.post("/admin/scopes/remove", {"name": "extra"})
    admin.post("/admin/plugins/oauth2/enabled", {"enabled": "0", "confirm": "1"})
    admin.post("/admin/plugins/oauth2/enabled", {"enabled": "1"})
    admin.post("/admin/plugins/oauth2", {"access_lifetime": "120"})
    admin.post("/admin/plugins/oauth2/reset", {"confirm": "1"})
    admin.post("/admin/logout")
    mine = [a for a in audit_actions() if a[1] == f"admin:{USERNAME}"]
    assert all(address == "127.0.0.1" for _action, _actor, address, _target in mine)
    assert [a[0] for a in mine] == [
        "admin.login",
        "client.create",
        "client.update",
        "client.rotate_secret",
        "client.disable",
        "client.enable",
        "client.revoke_tokens",
        "client.delete",
        "scope.add",
        "scope.default",
        "scope.remove",
        "plugin.disable",
        "plugin.enable",
        "plugin.params",
        "plugin.reset",
        "admin.logout",
    ]


def test_no_secret_anywhere_in_the_database_after_the_pages_flow(
    admin: AdminSession, app: Flask, client: FlaskClient
) -> None:
    made = [create(admin, "first"), create(admin, "second")]
    made.append(rotate(admin, "first", "5"))
    # A rotation not shown yet: its secret is kept for the page, in no table as it is.
    rv = admin.post("/admin/clients/second/rotate", rotation_form(admin, "second"))
    waiting = all_values(app, *db.metadata.tables)
    made.append(secret_of(admin.get(rv.headers["Location"]).get_data(as_text=True)))
    assert not [value for value in waiting if made[-1] in value]
    issued = client.post(
        "/index.php?option=token&api=oauth2",
        data={"grant_type": "client_credentials"},
        auth=("first", made[2]),
    ).get_json()
    made += [issued["access_token"], issued["refresh_token"], PASSWORD]
    log_in(app.test_client(), USERNAME, "a wrong password typed")
    made.append("a wrong password typed")
    with app.app_context():
        with db.engine.connect() as conn:
            for table in db.metadata.sorted_tables:
                for row in conn.execute(sa.select(table)):
                    for value in row:
                        for secret in made:
                            assert secret not in str(value), (table.name, secret)
