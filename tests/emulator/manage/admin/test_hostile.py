"""The admin pages under hostile input: every odd value gets a clear answer, never a 500."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from emulator.manage.admin import activity
from emulator.ops.clock import utcnow
from emulator.storage.database import db
from emulator.storage.models import Client
from emulator.storage.models import UsageCount
from tests.support.admin import AdminSession
from tests.support.admin import create
from tests.support.admin import csrf_token
from tests.support.admin import log_in
from tests.support.admin import rotation_form

COOKIE = "emulator_admin"  # config.py's SESSION_COOKIE_NAME
HUGE_PAGE = str(10**30)  # past any database's 64-bit integer once multiplied into an offset


@pytest.mark.parametrize(
    "path",
    [
        f"/admin/clients?page={HUGE_PAGE}",
        f"/admin/clients?q=x&page={HUGE_PAGE}",
        f"/admin/audit?page={HUGE_PAGE}",
        "/admin/audit?page=-7",
        "/admin/clients?page=-1",
    ],
    ids=["clients", "clients-search", "audit", "audit-negative", "clients-negative"],
)
def test_an_out_of_range_page_number_is_a_sane_page(admin: AdminSession, path: str) -> None:
    rv = admin.get(path)
    assert rv.status_code == 200, rv.get_data(as_text=True)[:500]
    assert "Something went wrong" not in rv.get_data(as_text=True)


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        ("/admin/clients?q=%00", "control character"),
        ("/admin/clients?q=a%01b", "control character"),
        ("/admin/audit?action=%00", "control character"),
        ("/admin/audit?action=client%0a.update", "control character"),
    ],
    ids=["search-nul", "search-control", "audit-nul", "audit-line-break"],
)
def test_a_search_with_control_characters_is_refused_with_a_message(
    admin: AdminSession, path: str, shown: str
) -> None:
    rv = admin.get(path)
    page = rv.get_data(as_text=True)
    assert rv.status_code == 400, page[:500]
    assert shown in page
    assert "Something went wrong" not in page


@pytest.mark.parametrize(
    "path",
    ["/admin/scopes", "/admin/clients/new", "/admin/logout", "/admin/login"],
    ids=["scopes", "client-new", "logout", "login"],
)
def test_a_body_over_the_size_limit_is_a_413_page(
    admin: AdminSession, app: Flask, path: str
) -> None:
    limit = int(app.config["MAX_CONTENT_LENGTH"])
    rv = admin.client.post(path, data={"csrf_token": admin.token, "name": "a" * (limit + 10)})
    assert rv.status_code == 413, rv.get_data(as_text=True)[:500]
    assert rv.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "grace",
    ["1" * 40, "-" + "9" * 40, "1" * 400],
    ids=["huge", "huge-negative", "hundreds-of-digits"],
)
def test_a_huge_grace_period_is_refused_beside_its_field(
    admin: AdminSession, client: FlaskClient, grace: str
) -> None:
    old = create(admin, "kept")
    rv = admin.post("/admin/clients/kept/rotate", rotation_form(admin, "kept", grace))
    assert rv.status_code == 400, rv.get_data(as_text=True)[:500]
    assert "Nothing was changed" in rv.get_data(as_text=True)
    rv = client.post(
        "/index.php?option=token&api=oauth2",
        data={"grant_type": "client_credentials"},
        auth=("kept", old),
    )
    assert rv.status_code == 200


def test_a_session_cookie_kept_from_before_the_logout_is_refused(
    app: Flask, admin_user: tuple[str, str]
) -> None:
    browser = app.test_client()
    assert log_in(browser).status_code == 302
    stolen = browser.get_cookie(COOKIE, path="/admin")
    assert stolen is not None
    assert browser.get("/admin/clients").status_code == 200
    token = csrf_token(browser.get("/admin/clients"))
    assert browser.post("/admin/logout", data={"csrf_token": token}).status_code == 302
    replay = app.test_client()
    replay.set_cookie(COOKIE, stolen.value, path="/admin")
    rv = replay.get("/admin/clients")
    assert rv.status_code == 302, "a signed cookie saved before the logout still logs in"
    assert rv.headers["Location"].startswith("/admin/login")
    assert log_in(browser).status_code == 302  # a new login works as before
    assert browser.get("/admin/clients").status_code == 200


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/admin/clients/new", "client_id"),
        ("/admin/clients/new", "scope"),
        ("/admin/clients/kept/edit", "redirect_uri"),
        ("/admin/clients/kept/rotate", "grace_minutes"),
        ("/admin/scopes", "name"),
        ("/admin/login", "username"),
    ],
    ids=["new-client-id", "new-scope", "edit-redirect-uri", "rotate-grace", "scope-name", "login"],
)
def test_a_file_posted_as_a_field_is_no_500(admin: AdminSession, path: str, field: str) -> None:
    create(admin, "kept")
    rv = admin.client.post(
        path,
        data={"csrf_token": admin.token, "client_id": "x", field: (io.BytesIO(b"x"), "a.txt")},
        content_type="multipart/form-data",
    )
    assert rv.status_code < 500, rv.get_data(as_text=True)[:500]
    assert "Something went wrong" not in rv.get_data(as_text=True)


@pytest.mark.parametrize(
    ("address", "headers"),
    [
        ("10.9.9.9", {}),
        ("127.0.0.1", {"User-Agent": "another browser"}),
        ("10.9.9.9", {"X-Forwarded-For": "127.0.0.1"}),
        ("10.9.9.9", {"X-Forwarded-For": "127.0.0.1, 10.9.9.9"}),
    ],
    ids=["other-address", "other-browser", "forged-address", "forged-chain"],
)
def test_a_cookie_replayed_from_another_address_or_browser_is_dropped(
    app: Flask, admin_user: tuple[str, str], address: str, headers: dict[str, str]
) -> None:
    """The session is permanent, which makes Flask-Login's "strong" protection only mark it
    non-fresh; and TRUSTED_PROXIES is 0: X-Forwarded-For is the sender's word."""
    browser = app.test_client()
    assert log_in(browser).status_code == 302
    stolen = browser.get_cookie(COOKIE, path="/admin")
    assert stolen is not None
    elsewhere = app.test_client()
    elsewhere.set_cookie(COOKIE, stolen.value, path="/admin")
    rv = elsewhere.get("/admin/clients", headers=headers, environ_base={"REMOTE_ADDR": address})
    assert rv.status_code == 302, "a copied cookie logged in from another address or browser"
    assert rv.headers["Location"].startswith("/admin/login")
    assert browser.get("/admin/clients").status_code == 200  # the admin's own browser goes on


def test_the_activity_page_stays_bounded_with_many_active_clients(
    admin: AdminSession, app: Flask
) -> None:
    now = utcnow()
    many = activity.PAGE_ROWS + 30
    with app.app_context():
        db.session.execute(
            sa.insert(Client),
            [
                {
                    "client_id": f"busy-{n:04d}",
                    "secret_hash": None,
                    "redirect_uri": "",
                    "created_at": now,
                }
                for n in range(many)
            ],
        )
        pks = db.session.scalars(sa.select(Client.id)).all()
        db.session.execute(
            sa.insert(UsageCount),
            [
                {
                    "client_id": pk,
                    "plugin": "oauth2",
                    "operation": "token",
                    "credential_form": "body",
                    "token_form": "-",
                    "day": now.date(),
                    "count": 2,
                    "last_seen": now,
                }
                for pk in pks
            ],
        )
        db.session.commit()
    page = admin.get("/admin/activity").get_data(as_text=True)
    issued = page[page.index('id="issued"') : page.index("</table>", page.index('id="issued"'))]
    assert issued.count("<code>busy-") == activity.PAGE_ROWS
    assert f"<td>{2 * many}</td>" in issued  # the totals still count every client
    report = page[page.index("Legacy usage since") :]
    assert report.count("<code>busy-") == activity.PAGE_ROWS
    assert "30 more clients" in page
    assert "30 more lines" in report
