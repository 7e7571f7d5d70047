"""Every admin page: login redirect, no-store and CSP headers, the session cookie's flags,
CSRF on every form, and nothing added to the legacy answers."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from emulator.manage.admin import auth
from emulator.storage.database import db
from tests.support.admin import PASSWORD
from tests.support.admin import USERNAME
from tests.support.admin import AdminSession
from tests.support.admin import csrf_token
from tests.support.app import make_app

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
