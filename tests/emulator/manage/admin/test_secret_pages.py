"""A client's secret on the pages: rotation, grace periods, shown once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from emulator.manage.admin import reveal
from emulator.manage.admin import views
from emulator.ops.clock import utcnow
from tests.support.admin import AdminSession
from tests.support.admin import create
from tests.support.admin import log_in
from tests.support.admin import rotate
from tests.support.admin import rotation_form
from tests.support.admin import secret_of
from tests.support.admin import session_of
from tests.support.admin import token_status


def test_rotate_with_a_grace_period_keeps_the_old_secret_working(
    admin: AdminSession, client: FlaskClient
) -> None:
    old = create(admin, "rotated")
    rv = admin.post("/admin/clients/rotated/rotate", rotation_form(admin, "rotated", "10"))
    assert rv.status_code == 303
    page = admin.get(rv.headers["Location"]).get_data(as_text=True)
    new = secret_of(page)
    assert new != old
    assert "keeps working for 10 minutes" in page
    for secret in (old, new):
        rv = client.post(
            "/index.php?option=token&api=oauth2",
            data={"grant_type": "client_credentials"},
            auth=("rotated", secret),
        )
        assert rv.status_code == 200


def test_a_rotated_secret_is_shown_once_on_the_page_the_post_redirects_to(
    admin: AdminSession,
    app: Flask,
    client: FlaskClient,
    audit_actions: Callable[[], list],
    count_rows: Callable[[str], int],
) -> None:
    old = create(admin, "shown-once")
    rv = admin.post("/admin/clients/shown-once/rotate", rotation_form(admin, "shown-once"))
    assert rv.status_code == 303
    assert rv.headers["Location"] == "/admin/clients/shown-once/secret"
    assert 'id="client-secret"' not in rv.get_data(as_text=True)
    assert count_rows("admin_secret_displays") == 1
    rv = admin.get("/admin/clients/shown-once/secret")
    assert rv.status_code == 200
    assert rv.headers["Cache-Control"] == "no-store"
    page = rv.get_data(as_text=True)
    new = secret_of(page)
    assert new != old and "The old secret stopped working." in page
    assert token_status(client, "shown-once", new) == 200
    assert token_status(client, "shown-once", old) == 400
    # A reload: the secret is not shown again, and nothing is rotated.
    rv = admin.get("/admin/clients/shown-once/secret")
    assert rv.status_code == 200
    assert rv.headers["Cache-Control"] == "no-store"
    page = rv.get_data(as_text=True)
    assert new not in page and 'id="client-secret"' not in page
    assert "Secret already shown" in page and "rotate it again" in page
    assert "within 2 minutes of it" in page
    assert token_status(client, "shown-once", new) == 200
    assert [a[0] for a in audit_actions()].count("client.rotate_secret") == 1
    assert count_rows("admin_secret_displays") == 0
    assert new not in str(session_of(app, admin))


def test_the_secret_waits_in_no_readable_place_and_for_one_session_only(
    admin: AdminSession, app: Flask, admin_user: tuple[str, str]
) -> None:
    create(admin, "waiting")
    rv = admin.post("/admin/clients/waiting/rotate", rotation_form(admin, "waiting"))
    location = rv.headers["Location"]
    kept = session_of(app, admin)
    copy = admin.client.get_cookie("emulator_admin", path="/admin")
    # The same admin in another browser session has no pad: nothing is shown, nothing taken.
    other = app.test_client()
    assert log_in(other).status_code == 302
    page = other.get("/admin/clients/waiting/secret").get_data(as_text=True)
    assert "Secret already shown" in page
    # Another client's page does not take it either.
    create(admin, "bystander")
    page = admin.get("/admin/clients/bystander/secret").get_data(as_text=True)
    assert "Secret already shown" in page
    secret = secret_of(admin.get("/admin/clients/waiting/secret").get_data(as_text=True))
    assert secret not in location and secret not in str(kept)  # the cookie held a pad
    # A copy of the cookie from before the showing finds nothing: the row is gone.
    replay = app.test_client()
    replay.set_cookie("emulator_admin", copy.value, path="/admin")
    page = replay.get("/admin/clients/waiting/secret").get_data(as_text=True)
    assert "Secret already shown" in page and secret not in page


def test_a_secret_not_shown_in_time_is_not_shown(
    admin: AdminSession,
    monkeypatch: pytest.MonkeyPatch,
    count_rows: Callable[[str], int],
) -> None:
    create(admin, "late")
    rv = admin.post("/admin/clients/late/rotate", rotation_form(admin, "late"))
    later = utcnow() + reveal.SHOW_WITHIN + timedelta(seconds=1)
    monkeypatch.setattr(views, "utcnow", lambda: later)
    page = admin.get(rv.headers["Location"]).get_data(as_text=True)
    assert "Secret already shown" in page
    assert count_rows("admin_secret_displays") == 1  # dead, until the next rotation
    rotate(admin, "late")
    assert count_rows("admin_secret_displays") == 0


def test_a_rotation_form_sent_again_is_refused_and_rotates_nothing(
    admin: AdminSession,
    client: FlaskClient,
    audit_actions: Callable[[], list],
) -> None:
    create(admin, "resent")
    form = rotation_form(admin, "resent", "10")
    rv = admin.post("/admin/clients/resent/rotate", form)
    assert rv.status_code == 303
    new = secret_of(admin.get(rv.headers["Location"]).get_data(as_text=True))
    # The browser sends the same form again (Back, then resend): same CSRF token, same stamp.
    rv = admin.post("/admin/clients/resent/rotate", form)
    assert rv.status_code == 409
    assert "Nothing was changed" in rv.get_data(as_text=True)
    # No CSRF token, or no stamp: refused too.
    rv = admin.client.post("/admin/clients/resent/rotate", data=rotation_form(admin, "resent"))
    assert rv.status_code == 400 and "Nothing was saved" in rv.get_data(as_text=True)
    rv = admin.post("/admin/clients/resent/rotate", {"grace_minutes": "0"})
    assert rv.status_code == 400 and "Nothing was changed" in rv.get_data(as_text=True)
    assert token_status(client, "resent", new) == 200
    assert [a[0] for a in audit_actions()].count("client.rotate_secret") == 1
    assert "Secret already shown" in admin.get("/admin/clients/resent/secret").get_data(
        as_text=True
    )
    # A form from the page as it is now rotates, as asked.
    newer = rotate(admin, "resent")
    assert newer != new and token_status(client, "resent", newer) == 200


@pytest.mark.parametrize("grace", ["-1", "lots", "99999999"], ids=["negative", "text", "too-long"])
def test_a_bad_grace_period_rotates_nothing(
    admin: AdminSession, client: FlaskClient, grace: str
) -> None:
    old = create(admin, "kept")
    rv = admin.post("/admin/clients/kept/rotate", rotation_form(admin, "kept", grace))
    assert rv.status_code == 400
    assert "Nothing was changed" in rv.get_data(as_text=True)
    rv = client.post(
        "/index.php?option=token&api=oauth2",
        data={"grant_type": "client_credentials"},
        auth=("kept", old),
    )
    assert rv.status_code == 200
