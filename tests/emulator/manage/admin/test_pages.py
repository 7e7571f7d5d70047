"""The admin pages through Flask's test client: login, sessions, CSRF, headers, each page's
changes and their audit events, and no secret at rest."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

from emulator.manage import actions
from emulator.manage.admin import auth
from emulator.manage.admin import reveal
from emulator.manage.admin import views
from emulator.ops import audit
from emulator.ops.clock import utcnow
from emulator.storage.database import db
from emulator.storage.models import Client
from emulator.web.registry import get_registry
from tests.conftest import make_app
from tests.emulator.manage.admin.conftest import PASSWORD
from tests.emulator.manage.admin.conftest import USERNAME
from tests.emulator.manage.admin.conftest import AdminSession
from tests.emulator.manage.admin.conftest import csrf_token
from tests.emulator.manage.admin.conftest import log_in

PAGES = [
    "/admin/",
    "/admin/clients",
    "/admin/clients/new",
    "/admin/scopes",
    "/admin/plugins",
    "/admin/plugins/oauth2",
    "/admin/activity",
    "/admin/audit",
]
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


# --- sessions, login, headers ------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES, ids=PAGES)
def test_a_page_without_a_session_redirects_to_the_login(client: FlaskClient, path: str) -> None:
    rv = client.get(path)
    assert rv.status_code == 302
    assert rv.headers["Location"].startswith("/admin/login?next=")
    assert rv.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", PAGES, ids=PAGES)
def test_every_page_answers_a_logged_in_admin_with_no_store(admin: AdminSession, path: str) -> None:
    rv = admin.get(path, follow_redirects=True)
    assert rv.status_code == 200
    assert rv.headers["Cache-Control"] == "no-store"
    csp = rv.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "'unsafe" not in csp
    assert "<script>" not in rv.get_data(as_text=True)  # no inline script: the CSP allows none


@pytest.mark.parametrize(
    "path",
    ["/admin/login", "/admin/static/admin.css", "/admin/static/admin.js", "/admin/nothing-here"],
    ids=["login", "css", "js", "unknown"],
)
def test_open_admin_paths_send_no_store_too(client: FlaskClient, path: str) -> None:
    rv = client.get(path)
    rv.close()  # a static file's answer holds the file open until closed
    assert rv.status_code in (200, 302, 404)
    assert rv.headers["Cache-Control"] == "no-store"


def test_an_unknown_admin_path_is_the_admin_404_not_a_plugin_route(
    admin: AdminSession, cli: Callable[..., str]
) -> None:
    cli("plugins", "enable", "apigee")  # its catch-all route answers every other path
    rv = admin.get("/admin/no/such/page")
    assert rv.status_code == 404
    assert "<h1>Not Found</h1>" in rv.get_data(as_text=True)


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


LEGACY_PATHS = {
    "token": "/index.php?option=token&api=oauth2",
    "resource": "/index.php?option=resource&api=oauth2",
    "apigee-token": "/oauth/accesstoken?grant_type=client_credentials",
    "unknown": "/no-such-page",
    "joomla-admin": "/administrator/index.php",
}


@pytest.mark.parametrize("path", LEGACY_PATHS.values(), ids=LEGACY_PATHS.keys())
def test_the_admin_pages_add_nothing_to_legacy_answers(
    app: Flask, admin: AdminSession, path: str
) -> None:
    """No `Vary: Cookie`, no cookie: legacy answers stay the original's, even for a request
    that carries an admin's session cookie (a browser sends it to /admin only)."""
    name = app.config["SESSION_COOKIE_NAME"]
    cookie = admin.client.get_cookie(name, path="/admin")
    assert cookie is not None
    bare = app.test_client(use_cookies=False)  # sends the Cookie header as it is given
    for headers in ({}, {"Cookie": f"{name}={cookie.value}"}):
        rv = bare.post(path, headers=headers)
        assert "Vary" not in rv.headers and "Set-Cookie" not in rv.headers, rv.headers


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


def all_values(app: Flask, *tables: str) -> list[str]:
    """Every value of every row of these tables, as text."""
    with app.app_context(), db.engine.connect() as conn:
        return [
            str(value)
            for table in tables
            for row in conn.execute(sa.select(db.metadata.tables[table]))
            for value in row
        ]


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
    ["//evil.example/admin/", "https://evil.example/admin/x", "/index.php", "/admin\\x"],
    ids=["scheme-relative", "absolute", "outside-admin", "backslash"],
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
    assert rv.headers["Location"] == "/admin/clients"


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


LOOPBACK = "127.0.0.1"
ELSEWHERE = "203.0.113.7"
# (base URL, the socket's address, request headers, ADMIN_COOKIE_SECURE, Secure?)
COOKIE_CASES = {
    "local-http-auto": ("http://localhost", LOOPBACK, {}, None, False),
    "local-loopback-ip-auto": ("http://127.0.0.1:8000", LOOPBACK, {}, None, False),
    "local-ipv6-auto": ("http://[::1]:8000", "::1", {}, None, False),
    "local-ipv4-mapped-auto": ("http://localhost", "::ffff:127.0.0.1", {}, None, False),
    "remote-http-auto": ("http://admin.example.com", ELSEWHERE, {}, None, True),
    # The Host header is the client's word: it cannot make a remote request local.
    "remote-host-localhost-auto": ("http://localhost", ELSEWHERE, {}, None, True),
    "remote-host-loopback-ip-auto": ("http://127.0.0.1:8000", ELSEWHERE, {}, None, True),
    "https-auto": ("https://admin.example.com", ELSEWHERE, {}, None, True),
    "local-https-auto": ("https://localhost", LOOPBACK, {}, None, True),
    # A TLS proxy on this machine with TRUSTED_PROXIES unset: loopback, but forwarded.
    "same-box-proxy-for-auto": (
        "http://127.0.0.1:8000",
        LOOPBACK,
        {"X-Forwarded-For": ELSEWHERE},
        None,
        True,
    ),
    "same-box-proxy-proto-auto": (
        "http://localhost",
        LOOPBACK,
        {"X-Forwarded-Proto": "https"},
        None,
        True,
    ),
    "same-box-proxy-forwarded-auto": (
        "http://localhost",
        LOOPBACK,
        {"Forwarded": "for=203.0.113.7;proto=https"},
        None,
        True,
    ),
    "forced-on": ("http://localhost", LOOPBACK, {}, True, True),
    "forced-off": ("https://admin.example.com", ELSEWHERE, {}, False, False),
}


def login_cookie(client: FlaskClient, base_url: str, address: str, headers: dict[str, str]) -> str:
    """The session cookie a login from ``address`` with ``headers`` is answered with."""
    # A browser's Referer: Flask-WTF refuses an https post without one.
    sent: dict[str, object] = {
        "base_url": base_url,
        "headers": {"Referer": f"{base_url}/admin/login", **headers},
        "environ_base": {"REMOTE_ADDR": address},
    }
    token = csrf_token(client.get("/admin/login", **sent))
    rv = client.post(
        "/admin/login",
        data={"csrf_token": token, "username": USERNAME, "password": PASSWORD},
        **sent,
    )
    assert rv.status_code == 302, rv.get_data(as_text=True)[:2000]
    return next(c for c in rv.headers.getlist("Set-Cookie") if c.startswith("emulator_admin="))


@pytest.mark.parametrize(
    ("base_url", "address", "headers", "setting", "secure"),
    list(COOKIE_CASES.values()),
    ids=list(COOKIE_CASES),
)
def test_the_session_cookie_flags(
    app: Flask,
    admin_user: tuple[str, str],
    base_url: str,
    address: str,
    headers: dict[str, str],
    setting: bool | None,
    secure: bool,
) -> None:
    app.config["ADMIN_COOKIE_SECURE"] = setting
    cookie = login_cookie(app.test_client(), base_url, address, headers)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/admin" in cookie
    assert ("; Secure" in cookie) is secure


PROXIED = {"X-Forwarded-For": ELSEWHERE, "Referer": "https://admin.example.com/admin/login"}


@pytest.mark.parametrize(
    ("base_url", "headers", "secure"),
    [
        ("http://admin.example.com", {**PROXIED, "X-Forwarded-Proto": "https"}, True),
        ("http://localhost", {"X-Forwarded-For": ELSEWHERE, "X-Forwarded-Proto": "http"}, True),
        (
            "http://admin.example.com",
            {**PROXIED, "X-Forwarded-For": LOOPBACK, "X-Forwarded-Proto": "https"},
            True,
        ),
    ],
    ids=["tls-proxy", "plain-proxy-host-localhost", "local-browser-through-tls-proxy"],
)
def test_behind_a_trusted_proxy_the_cookie_follows_what_it_forwards(
    database_url: str,
    admin_user: tuple[str, str],
    base_url: str,
    headers: dict[str, str],
    secure: bool,
) -> None:
    """TRUSTED_PROXIES=1: the scheme and address are the proxy's word (ProxyFix), and a
    request through it is never taken for a browser beside the server."""
    app = make_app(database_url, TRUSTED_PROXIES=1)
    try:
        cookie = login_cookie(app.test_client(), base_url, LOOPBACK, headers)
    finally:
        with app.app_context():
            db.engine.dispose()
    assert ("; Secure" in cookie) is secure


def test_legacy_endpoints_set_no_cookie_and_need_no_csrf_token(
    client: FlaskClient, make_client: Callable[..., tuple[str, str | None]]
) -> None:
    client_id, secret = make_client()
    rv = client.post(
        "/index.php?option=token&api=oauth2",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    assert rv.status_code == 200
    assert "Set-Cookie" not in rv.headers
    assert rv.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"


# --- CSRF ------------------------------------------------------------------------------


FORMS = [
    ("/admin/clients/new", {"client_id": "sneaky", "all_grants": "y"}),
    ("/admin/plugins/oauth2/enabled", {"enabled": "0"}),
    ("/admin/plugins/oauth2", {"access_lifetime": "60"}),
    ("/admin/plugins/oauth2/reset", {}),
    ("/admin/scopes", {"name": "sneaky"}),
    ("/admin/logout", {}),
]


@pytest.mark.parametrize(("path", "data"), FORMS, ids=[path for path, _ in FORMS])
@pytest.mark.parametrize("token", ["", "forged"], ids=["no-token", "wrong-token"])
def test_a_post_without_the_csrf_token_is_refused(
    admin: AdminSession, audit_actions: Callable[[], list], path: str, data: dict, token: str
) -> None:
    before = audit_actions()
    payload = {**data, **({"csrf_token": token} if token else {})}
    rv = admin.client.post(path, data=payload)
    assert rv.status_code == 400
    assert "Nothing was saved" in rv.get_data(as_text=True)
    assert audit_actions() == before  # nothing was done
    assert admin.get("/admin/clients").status_code == 200


# --- clients ---------------------------------------------------------------------------


def test_create_shows_the_secret_once_with_both_dialects_commands(
    admin: AdminSession, client: FlaskClient, cli: Callable[..., str]
) -> None:
    cli("plugins", "enable", "apigee")
    rv = admin.post("/admin/clients/new", {"client_id": "web-1", "all_grants": "y"})
    assert rv.status_code == 201
    page = rv.get_data(as_text=True)
    secret = secret_of(page)
    assert re.fullmatch(r"[0-9a-f]{40}", secret)
    commands = [
        c.replace("&#34;", '"').replace("&amp;", "&")
        for c in re.findall(r'<pre id="example-\d+">(.*?)</pre>', page)
    ]
    legacy = next(c for c in commands if "option=token" in c)
    assert legacy == (
        'curl -X POST "http://localhost/index.php?option=token&api=oauth2'
        f'&grant_type=client_credentials&client_id=web-1&client_secret={secret}"'
    )
    basic = base64.b64encode(f"web-1:{secret}".encode()).decode()
    assert (
        f'curl -H "Authorization: Basic {basic}" '
        '"http://localhost/oauth/accesstoken?grant_type=client_credentials"'
    ) in commands
    # Both commands work as shown.
    assert client.post(legacy.split('"')[1]).status_code == 200
    rv = client.get(
        "/oauth/accesstoken?grant_type=client_credentials",
        headers={"Authorization": f"Basic {basic}"},
    )
    assert rv.status_code == 200, rv.get_data(as_text=True)
    assert secret not in admin.get("/admin/clients/web-1/edit").get_data(as_text=True)


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"client_id": ""}, "client_id"),
        ({"client_id": "x" * 81}, "client_id"),
        ({"client_id": "line\nbreak"}, "client_id"),
        ({"client_id": "ok", "scope": "a\u0000b"}, "scope"),
    ],
    ids=["empty-id", "long-id", "control-character", "nul-in-scope"],
)
def test_a_bad_client_field_is_shown_beside_it_and_nothing_is_saved(
    admin: AdminSession, count_rows: Callable[[str], int], data: dict, where: str
) -> None:
    rv = admin.post("/admin/clients/new", {"all_grants": "y", **data})
    assert rv.status_code == 400
    page = rv.get_data(as_text=True)
    field = page[page.index(f'id="{where}"') :]
    assert field.index('class="error"') < field.index("</div>")
    assert count_rows("oauth_clients") == 0


def test_a_refused_client_is_explained_and_nothing_is_saved(
    admin: AdminSession, count_rows: Callable[[str], int]
) -> None:
    create(admin, "taken")
    rv = admin.post("/admin/clients/new", {"client_id": "taken", "all_grants": "y"})
    assert rv.status_code == 400
    assert "Nothing was saved" in rv.get_data(as_text=True)
    assert count_rows("oauth_clients") == 1


def test_edit_a_client(admin: AdminSession, app: Flask, cli: Callable[..., str]) -> None:
    cli("scopes", "add", "read")
    create(admin, "edited")
    rv = admin.post(
        "/admin/clients/edited/edit",
        {
            "scope": "read",
            "grant_types": "client_credentials",
            "user_id": "u-7",
            "redirect_uri": "https://app.example/cb",
        },
    )
    assert rv.status_code == 302
    with app.app_context():
        row = actions.show_client(db.session, "edited")
    assert (row.scope, row.grant_types, row.user_id, row.redirect_uri) == (
        "read",
        "client_credentials",
        "u-7",
        "https://app.example/cb",
    )
    page = admin.get("/admin/clients/edited/edit").get_data(as_text=True)
    assert 'value="u-7"' in page


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


def session_of(app: Flask, admin: AdminSession) -> dict:
    """What the admin's session cookie holds, decoded as anyone holding it can."""
    cookie = admin.client.get_cookie("emulator_admin", path="/admin")
    assert cookie is not None
    return app.session_interface.get_signing_serializer(app).loads(cookie.value)


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


def test_disable_enable_and_delete(
    admin: AdminSession, client: FlaskClient, count_rows: Callable[[str], int]
) -> None:
    secret = create(admin, "short-lived")

    def token_status(client_id: str = "short-lived") -> tuple[int, str | None]:
        rv = client.post(
            "/index.php?option=token&api=oauth2",
            data={"grant_type": "client_credentials"},
            auth=(client_id, secret),
        )
        return rv.status_code, rv.get_json().get("error")

    unknown = token_status("nobody-at-all")
    assert token_status()[0] == 200
    assert admin.post("/admin/clients/short-lived/state", {"disabled": "1"}).status_code == 302
    assert "disabled" in admin.get("/admin/clients").get_data(as_text=True)
    assert token_status() == unknown  # answered as an unknown client
    assert admin.post("/admin/clients/short-lived/state", {"disabled": "0"}).status_code == 302
    assert token_status()[0] == 200
    confirm = admin.get("/admin/clients/short-lived/delete")
    assert "cannot be undone" in confirm.get_data(as_text=True)
    assert count_rows("oauth_clients") == 1  # a GET deletes nothing
    assert admin.post("/admin/clients/short-lived/delete").status_code == 302
    assert count_rows("oauth_clients") == 0
    assert count_rows("oauth_access_tokens") == 0
    assert admin.get("/admin/clients/short-lived/edit").status_code == 404


def test_the_list_searches_and_pages_thousands_of_clients(admin: AdminSession, app: Flask) -> None:
    now = utcnow()
    with app.app_context():
        db.session.execute(
            sa.insert(Client),
            [
                {
                    "client_id": f"bulk-{n:05d}",
                    "secret_hash": None,
                    "redirect_uri": "",
                    "user_id": "owner-7" if n % 500 == 0 else None,
                    "created_at": now,
                }
                for n in range(3000)
            ],
        )
        db.session.commit()
    page = admin.get("/admin/clients?page=2").get_data(as_text=True)
    assert "bulk-00050" in page and "bulk-00099" in page and "bulk-00100" not in page
    assert "Page 2 of 60" in page
    found = admin.get("/admin/clients?q=owner-7").get_data(as_text=True)
    assert found.count('href="/admin/clients/bulk-') == 6
    assert "of 6" in found
    refused = admin.get("/admin/clients?q=%00")
    assert refused.status_code == 400
    assert "bulk-" not in refused.get_data(as_text=True)
    assert admin.get("/admin/clients?page=999").status_code == 200


# --- plugins ---------------------------------------------------------------------------


def stored_params(app: Flask, name: str) -> dict:
    with app.app_context():
        return dict(get_registry().status(db.session, name).stored)


def test_the_options_form_shows_every_field_with_type_default_and_description(
    admin: AdminSession,
) -> None:
    registry_names = ["oauth2", "apigee", "passthrough"]
    for name in registry_names:
        page = admin.get(f"/admin/plugins/{name}").get_data(as_text=True)
        with admin.client.application.app_context():
            schema = get_registry().get(name).params()
        for field_name, field in schema.fields.items():
            block = page[page.index(f'id="param-{field_name}"') :]
            block = block[: block.index("</div>")]
            assert str(escape(field.metadata["description"])) in block, field_name
            assert "Default:" in block


def test_a_bad_option_is_shown_beside_its_field_and_nothing_is_saved(
    admin: AdminSession, app: Flask
) -> None:
    rv = admin.post(
        "/admin/plugins/oauth2",
        {"access_lifetime": "-5", "www_realm": "Fine realm", "expires_in_as_string": "false"},
    )
    assert rv.status_code == 400
    page = rv.get_data(as_text=True)
    block = page[page.index('id="param-access_lifetime"') :]
    block = block[: block.index("</div>")]
    assert 'class="error"' in block and 'value="-5"' in block  # the admin's value, kept
    assert "Nothing was saved" in page
    assert stored_params(app, "oauth2") == {}


def test_save_and_reset_options(
    admin: AdminSession, app: Flask, audit_actions: Callable[[], list]
) -> None:
    form = admin.get("/admin/plugins/oauth2").get_data(as_text=True)
    assert 'value="3600"' in form
    rv = admin.post("/admin/plugins/oauth2", {"access_lifetime": "7200", "www_realm": "Service"})
    assert rv.status_code == 302
    assert stored_params(app, "oauth2") == {"access_lifetime": 7200}  # untouched: not stored
    assert admin.post("/admin/plugins/oauth2/reset").status_code == 302
    assert stored_params(app, "oauth2") == {}
    assert [a[0] for a in audit_actions()[-2:]] == ["plugin.params", "plugin.reset"]


def test_enable_and_disable_a_plugin(admin: AdminSession, client: FlaskClient) -> None:
    assert admin.post("/admin/plugins/oauth2/enabled", {"enabled": "0"}).status_code == 302
    rv = client.post("/index.php?option=token&api=oauth2")
    assert rv.status_code == 404
    assert rv.get_json() is None and b'API \\"oauth2\\" is not available' in rv.data
    assert admin.post("/admin/plugins/oauth2/enabled", {"enabled": "1"}).status_code == 302
    assert client.post("/index.php?option=token&api=oauth2").status_code != 404
    assert admin.post("/admin/plugins/nosuch/enabled", {"enabled": "1"}).status_code == 404


# --- a plugin's client panel -------------------------------------------------------------


def test_a_plugins_client_panel_saves_through_the_plugin(
    admin: AdminSession, cli: Callable[..., str], audit_actions: Callable[[], list]
) -> None:
    cli("apigee", "products", "add", "Test App product", "--scope", "weather.read")
    create(admin, "app-1")
    rv = admin.post(
        "/admin/clients/app-1/panel/apigee",
        {"developer_email": "dev@example.com", "products": "Test App product\n"},
    )
    assert rv.status_code == 302
    shown = cli("apigee", "apps", "show", "app-1")
    assert "dev@example.com" in shown and "Test App product" in shown
    action = audit_actions()[-1]
    assert action[0] == "client.update" and action[3] == "app-1"
    rv = admin.post(
        "/admin/clients/app-1/panel/apigee",
        {"developer_email": "not an email", "products": "No such product"},
    )
    assert rv.status_code == 400
    assert "Nothing was saved" in rv.get_data(as_text=True)
    assert "dev@example.com" in cli("apigee", "apps", "show", "app-1")


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
        from emulator.ops import usage

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
    admin.post("/admin/clients/audited/state", {"disabled": "1"})
    admin.post("/admin/clients/audited/state", {"disabled": "0"})
    admin.post("/admin/clients/audited/revoke")
    admin.post("/admin/clients/audited/delete")
    admin.post("/admin/scopes", {"name": "extra"})
    admin.post("/admin/scopes/defaults", {"default": ["extra"]})
    admin.post("/admin/scopes/remove", {"name": "extra"})
    admin.post("/admin/plugins/oauth2/enabled", {"enabled": "0"})
    admin.post("/admin/plugins/oauth2/enabled", {"enabled": "1"})
    admin.post("/admin/plugins/oauth2", {"access_lifetime": "120"})
    admin.post("/admin/plugins/oauth2/reset")
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


@pytest.mark.parametrize(
    ("path", "sent"),
    [
        ("/admin", True),
        ("/admin/", True),
        ("/admin/clients", True),
        ("/administrator/index.php", False),  # Joomla's own admin: not ours
        ("/index.php", False),
        ("/", False),
    ],
)
def test_the_admin_cookie_belongs_to_admin_paths_as_a_browser_sees_them(
    path: str, sent: bool
) -> None:
    assert auth.path_matches(path, "/admin") is sent
