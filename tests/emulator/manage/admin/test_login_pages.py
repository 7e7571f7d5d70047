"""Logging in and out: failures, throttling, where a login goes, session lifetimes."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask

from emulator.manage import actions
from emulator.manage.admin import auth
from emulator.ops.clock import utcnow
from emulator.ops.throttle import name_key
from emulator.storage.database import db
from tests.support.admin import CLI
from tests.support.admin import PASSWORD
from tests.support.admin import USERNAME
from tests.support.admin import AdminSession
from tests.support.admin import all_values
from tests.support.admin import csrf_token
from tests.support.admin import log_in


def test_login_and_logout(
    app: Flask, admin_user: tuple[str, str], audit_actions: Callable[[], list]
) -> None:
    client = app.test_client()
    rv = log_in(client)
    assert rv.status_code == 302 and rv.headers["Location"] == "/admin/clients"
    assert client.get("/admin/clients").status_code == 200
    token = csrf_token(client.get("/admin/clients"))
    rv = client.post("/admin/logout", data={"csrf_token": token})
    assert rv.status_code == 302 and rv.headers["Location"] == "/admin/login"
    assert client.get("/admin/clients").status_code == 302  # the session is gone
    assert [a[:3] for a in audit_actions()[-2:]] == [
        ("admin.login", f"admin:{USERNAME}", "127.0.0.1"),
        ("admin.logout", f"admin:{USERNAME}", "127.0.0.1"),
    ]
    with app.app_context():
        assert actions.list_admin_users(db.session)[0].last_login_at is not None


def test_logout_is_a_post_with_the_csrf_token(admin: AdminSession) -> None:
    assert admin.client.get("/admin/logout").status_code == 404  # no GET logout
    rv = admin.client.post("/admin/logout", data={})
    assert rv.status_code == 400
    assert admin.get("/admin/clients").status_code == 200  # still logged in


@pytest.mark.parametrize(
    ("username", "password"),
    [(USERNAME, "wrong password here"), ("mallory", PASSWORD), (USERNAME, "")],
    ids=["wrong-password", "unknown-user", "no-password"],
)
def test_a_failed_login_says_so_and_logs_nobody_in(
    app: Flask,
    admin_user: tuple[str, str],
    audit_actions: Callable[[], list],
    username: str,
    password: str,
) -> None:
    client = app.test_client()
    rv = log_in(client, username, password)
    assert rv.status_code in (200, 400)
    assert client.get("/admin/clients").status_code == 302
    if password:
        assert "Wrong username or password." in rv.get_data(as_text=True)
        assert audit_actions()[-1][:2] == ("admin.login_failed", "system")


# A password typed into the username box: it must not reach the audit log, the logs or the
# throttle's table (nor an unkeyed hash of it, which a guess could be checked against).
TYPED_PASSWORD = "Tr0ub4dor&3-my-admin-password"


def test_a_failed_login_names_the_account_only_when_it_exists(
    app: Flask,
    admin_user: tuple[str, str],
    audit_actions: Callable[[], list],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    client = app.test_client()
    log_in(client, USERNAME, "not the password")
    assert audit_actions()[-1] == ("admin.login_failed", "system", "127.0.0.1", USERNAME)
    for _ in range(5):  # ADMIN_LOGIN_FAILURE_LIMIT = 5/15minutes, for this typed name too
        rv = log_in(client, TYPED_PASSWORD, PASSWORD)
        assert rv.status_code == 200
    assert log_in(client, TYPED_PASSWORD, PASSWORD).status_code == 429  # still throttled
    assert audit_actions()[-6:] == [
        *[("admin.login_failed", "system", "127.0.0.1", "(unknown username)")] * 5,
        ("security.lockout", "system", "127.0.0.1", "(unknown username)"),
    ]
    typed_digest = hashlib.sha256(TYPED_PASSWORD.encode()).hexdigest()[:32]
    stored = all_values(app, "audit_events", "rate_limit_counters")
    assert any("LIMITER/admin/" in value for value in stored)  # the failures were counted
    assert not [v for v in stored if TYPED_PASSWORD in v or typed_digest in v]
    logged = [f"{record.getMessage()} {record.args!r}" for record in caplog.records]
    assert any("admin authentication failed" in line for line in logged)
    assert not [line for line in logged if TYPED_PASSWORD in line]
    # The account's own count is apart: its admin still logs in from here.
    assert log_in(client).status_code == 302


def test_login_throttling_holds_even_for_the_right_password(
    app: Flask, admin_user: tuple[str, str], audit_actions: Callable[[], list]
) -> None:
    client = app.test_client()
    for _ in range(5):  # ADMIN_LOGIN_FAILURE_LIMIT = 5/15minutes
        assert log_in(client, USERNAME, "not the password").status_code == 200
    rv = log_in(client)  # the right password, too late
    assert rv.status_code == 429
    assert int(rv.headers["Retry-After"]) > 0
    assert "Too many failed logins" in rv.get_data(as_text=True)
    assert client.get("/admin/clients").status_code == 302
    actions = [a[0] for a in audit_actions()]
    assert actions.count("admin.login_failed") == 5
    assert "security.lockout" in actions
    assert "admin.login" not in actions


def test_login_throttling_counts_per_address_whatever_the_username(
    app: Flask, admin_user: tuple[str, str]
) -> None:
    client = app.test_client()
    for n in range(20):  # ADMIN_LOGIN_ADDRESS_FAILURE_LIMIT = 20/15minutes
        log_in(client, f"guess{n}", "not the password")
    assert log_in(client).status_code == 429
    other = app.test_client()  # another address is not locked out
    token = csrf_token(other.get("/admin/login"))
    rv = other.post(
        "/admin/login",
        data={"csrf_token": token, "username": USERNAME, "password": PASSWORD},
        environ_overrides={"REMOTE_ADDR": "10.0.0.9"},
    )
    assert rv.status_code == 302


def test_admin_login_failures_do_not_count_against_a_client(
    app: Flask, admin_user: tuple[str, str], make_client: Callable[..., tuple[str, str | None]]
) -> None:
    client_id, secret = make_client(USERNAME)  # a client called like the admin
    http = app.test_client()
    for _ in range(5):
        log_in(http, USERNAME, "not the password")
    rv = http.post(
        "/index.php?option=token&api=oauth2",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
    )
    assert rv.status_code == 200, rv.get_data(as_text=True)


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/admin/",
        "https://evil.example/admin/x",
        "/index.php",
        "/admin\\x",
        "/\\evil.example/admin/",
        "/admin/clients\r\nSet-Cookie: evil=1",
        "/admin/clients\rX",
        "/admin/clients\nX",
        "/admin/clients\x00",
        "/admin/\tclients",
        "/admin//evil.example/x",
        "/admin/../index.php",
        "/admin/%2e%2e/index.php",
        "/admin/clients/x/../../../index.php",
        "https:/admin/clients",
        "/administrator",
    ],
    ids=[
        "scheme-relative",
        "absolute",
        "outside-admin",
        "backslash",
        "slash-backslash",
        "crlf",
        "cr",
        "lf",
        "nul",
        "tab",
        "double-slash-inside",
        "dot-dot",
        "encoded-dot-dot",
        "dot-dots-deeper",
        "scheme-without-host",
        "admin-prefix-only",
    ],
)
def test_login_goes_to_no_other_place_than_an_admin_page(
    app: Flask, admin_user: tuple[str, str], target: str
) -> None:
    client = app.test_client()
    token = csrf_token(client.get("/admin/login"))
    rv = client.post(
        "/admin/login",
        query_string={"next": target},
        data={"csrf_token": token, "username": USERNAME, "password": PASSWORD},
    )
    assert (rv.status_code, rv.headers["Location"]) == (302, "/admin/clients")


@pytest.mark.parametrize(
    "target",
    ["/admin/scopes", "/admin/clients/shop-app/edit", "/admin/audit?target=x&page=2"],
    ids=["page", "client-page", "with-query"],
)
def test_login_goes_to_the_admin_page_it_was_sent_from(
    app: Flask, admin_user: tuple[str, str], target: str
) -> None:
    client = app.test_client()
    token = csrf_token(client.get("/admin/login"))
    rv = client.post(
        "/admin/login",
        query_string={"next": target},
        data={"csrf_token": token, "username": USERNAME, "password": PASSWORD},
    )
    assert (rv.status_code, rv.headers["Location"]) == (302, target)


def test_a_live_session_with_a_bad_next_goes_to_the_start_page(admin: AdminSession) -> None:
    rv = admin.get("/admin/login", query_string={"next": "/admin/clients\r\nSet-Cookie: x=1"})
    assert (rv.status_code, rv.headers["Location"]) == (302, "/admin/clients")


def test_a_session_ends_after_the_idle_time(
    admin: AdminSession, monkeypatch: pytest.MonkeyPatch, app: Flask
) -> None:
    now = auth.epoch_seconds()
    idle = app.config["ADMIN_SESSION_IDLE_SECONDS"]
    monkeypatch.setattr(auth, "epoch_seconds", lambda: now + idle - 5)
    assert admin.get("/admin/clients").status_code == 200  # seen: the idle time starts again
    monkeypatch.setattr(auth, "epoch_seconds", lambda: now + 2 * idle - 10)
    assert admin.get("/admin/clients").status_code == 200
    monkeypatch.setattr(auth, "epoch_seconds", lambda: now + 3 * idle)
    assert admin.get("/admin/login").status_code == 200  # the login page, not a redirect
    rv = admin.get("/admin/clients")
    assert rv.status_code == 302 and rv.headers["Location"].startswith("/admin/login")
    monkeypatch.setattr(auth, "epoch_seconds", lambda: now + 3 * idle + 1)
    assert admin.get("/admin/clients").status_code == 302  # and it stays ended


def test_the_login_page_sends_a_live_session_on(admin: AdminSession) -> None:
    rv = admin.get("/admin/login?next=/admin/scopes")
    assert rv.status_code == 302 and rv.headers["Location"] == "/admin/scopes"


def test_a_session_ends_after_its_maximum_age_however_busy(
    admin: AdminSession, monkeypatch: pytest.MonkeyPatch, app: Flask
) -> None:
    start = auth.epoch_seconds()
    step = app.config["ADMIN_SESSION_IDLE_SECONDS"] / 2
    moment = start
    while moment - start < app.config["ADMIN_SESSION_MAX_AGE"] - step:
        moment += step
        monkeypatch.setattr(auth, "epoch_seconds", lambda m=moment: m)
        assert admin.get("/admin/clients").status_code == 200
    monkeypatch.setattr(
        auth, "epoch_seconds", lambda: start + app.config["ADMIN_SESSION_MAX_AGE"] + 1
    )
    assert admin.get("/admin/clients").status_code == 302


def test_a_new_password_ends_the_session(admin: AdminSession, app: Flask) -> None:
    assert admin.get("/admin/clients").status_code == 200
    with app.app_context():
        actions.set_admin_password(
            db.session, CLI, USERNAME, "another long password", now=utcnow() + timedelta(seconds=1)
        )
        db.session.commit()
    assert admin.get("/admin/clients").status_code == 302
    assert log_in(admin.client, USERNAME, "another long password").status_code == 302


def test_a_deleted_admin_is_logged_out(admin: AdminSession, app: Flask) -> None:
    with app.app_context():
        actions.delete_admin_user(db.session, CLI, USERNAME, now=utcnow())
        db.session.commit()
    assert admin.get("/admin/clients").status_code == 302


def test_the_login_throttle_keys_outlive_a_move_of_the_code() -> None:
    """The usernames' HMAC key is derived with a fixed label: counters and lockouts stored
    before an upgrade still apply after it (a module move once renamed the label)."""
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "k"
    expected = hmac.new(b"k", b"emulator.admin.login-throttle", hashlib.sha256).digest()
    assert name_key(app, auth.LOGIN_THROTTLE_LABEL) == expected
