"""Joomla's login page (index.php?option=com_users&view=login), served by the oauth2 plugin:
the form, the refusals, the session cookie, ``return`` and logging out."""

from __future__ import annotations

import base64
from collections.abc import Callable
from urllib.parse import unquote

import pytest
import sqlalchemy as sa

from emulator import oauth
from emulator.ops.clock import utcnow
from emulator.storage.database import db
from plugins.oauth2.pages import CSRF_COOKIE
from plugins.oauth2.pages import LOGIN_FAILED
from plugins.oauth2.pages import SESSION_COOKIE
from tests.support.app import empty_database
from tests.support.app import make_app
from tests.support.pages import AUTHORIZE_URL
from tests.support.pages import LOGIN_URL
from tests.support.pages import LOGOUT_URL
from tests.support.pages import PASSWORD
from tests.support.pages import b64
from tests.support.pages import csrf_token
from tests.support.pages import login


@pytest.fixture
def make_user(cli: Callable[..., str]) -> Callable[..., str]:
    def build(username: str = "alice", password: str = PASSWORD, *extra: str) -> str:
        cli("users", "create", username, "--password-stdin", *extra, input=password + "\n")
        return username

    return build


def _cookie(rv, name: str) -> str:
    return next(h for h in rv.headers.getlist("Set-Cookie") if h.startswith(name + "="))


def test_the_form_has_joomlas_fields_a_csrf_token_and_the_pages_headers(client):
    rv = client.get(LOGIN_URL)
    assert rv.status_code == 200
    assert rv.content_type == "text/html; charset=utf-8"
    page = rv.get_data(as_text=True)
    assert 'name="username"' in page and 'name="password"' in page
    assert csrf_token(page)
    assert rv.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in rv.headers["Content-Security-Policy"]
    assert "default-src 'none'" in rv.headers["Content-Security-Policy"]
    assert rv.headers["X-Frame-Options"] == "DENY"
    assert "/admin/static/admin.css" in page
    csrf = _cookie(rv, CSRF_COOKIE)
    assert "HttpOnly" in csrf and "SameSite=Lax" in csrf and "Path=/" in csrf


def test_a_good_login_starts_a_session_of_its_own_and_goes_to_return(client, make_user, count_rows):
    make_user()
    back = "http://localhost/index.php?option=authorize&api=oauth2&client_id=x"
    rv = login(client, "ALICE", return_url=back)  # usernames ignore case
    assert rv.status_code == 303
    assert rv.headers["Location"] == back
    cookie = _cookie(rv, SESSION_COOKIE)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert not any(h.startswith("emulator_admin=") for h in rv.headers.getlist("Set-Cookie"))
    assert count_rows("site_user_sessions") == 1
    raw = cookie.split(";")[0].split("=", 1)[1]
    with client.application.app_context():
        stored = db.session.scalar(sa.text("SELECT session_hash FROM site_user_sessions"))
    assert stored != raw and len(stored) == 64  # only its hash at rest
    page = client.get(LOGIN_URL).get_data(as_text=True)
    assert "You are logged in as <strong>alice</strong>" in page


def test_the_cookie_is_secure_over_https(client, make_user):
    make_user()
    url = LOGIN_URL
    token = csrf_token(client.get(url, base_url="https://localhost").data)
    rv = client.post(
        url,
        base_url="https://localhost",
        data={"username": "alice", "password": PASSWORD, "csrf_token": token},
    )
    assert rv.status_code == 303
    assert "Secure" in _cookie(rv, SESSION_COOKIE)


@pytest.mark.parametrize(
    ("headers", "secure"),
    [
        ({"X-Forwarded-Proto": "https"}, True),
        ({"X-Forwarded-Proto": "HTTPS, http"}, True),  # the first value: the client's hop
        ({"Forwarded": 'for=1.2.3.4;proto="https", for=10.0.0.1;proto=http'}, True),
        ({"X-Forwarded-Proto": "http"}, False),
        ({"X-Forwarded-Proto": "http, https"}, False),
        ({"Forwarded": "for=1.2.3.4;proto=http"}, False),
    ],
)
def test_behind_a_tls_proxy_the_app_does_not_trust_the_cookie_is_secure(
    client, make_user, headers, secure
):
    """TRUSTED_PROXIES unset, a TLS proxy on this machine: the app sees http, the browser
    used https, so the session cookie must not travel over plain http later. A plain-http
    site (no such header) keeps cookies a browser sends over http."""
    make_user()
    token = csrf_token(client.get(LOGIN_URL, headers=headers).data)
    rv = client.post(
        LOGIN_URL,
        headers=headers,
        data={"username": "alice", "password": PASSWORD, "csrf_token": token},
    )
    assert rv.status_code == 303
    assert ("Secure" in _cookie(rv, SESSION_COOKIE)) is secure


@pytest.mark.parametrize(
    "back",
    [
        "https://evil.test/steal",
        "//evil.test/steal",
        "javascript:alert(1)",
        "http://localhost.evil.test/",
        "http://user@evil.test@localhost/",
    ],
    ids=["other-host", "scheme-relative", "javascript", "suffix-host", "userinfo"],
)
def test_a_return_of_another_host_goes_to_the_root(client, make_user, back):
    make_user()
    rv = login(client, "alice", return_url=back)
    assert rv.status_code == 303
    assert rv.headers["Location"] == "/"


def test_a_return_as_redcore_made_it_comes_back_unescaped(client, make_user):
    """redCORE base64-encoded the URL after htmlspecialchars (``&amp;``)."""
    make_user()
    url = LOGIN_URL + "&return=" + b64("http://localhost/index.php?option=authorize&amp;api=oauth2")
    token = csrf_token(client.get(url).data)
    rv = client.post(url, data={"username": "alice", "password": PASSWORD, "csrf_token": token})
    assert rv.headers["Location"] == "http://localhost/index.php?option=authorize&api=oauth2"


@pytest.mark.parametrize(
    "case", ["wrong-password", "unknown-user", "blocked", "no-csrf", "bad-csrf"]
)
def test_refusals(client, make_user, cli, count_rows, case):
    make_user()
    if case == "blocked":
        cli("users", "block", "alice")
    token = csrf_token(client.get(LOGIN_URL).data)
    data = {"username": "alice", "password": PASSWORD, "csrf_token": token}
    if case == "wrong-password":
        data["password"] = "nope"
    elif case == "unknown-user":
        data["username"] = "bob"
    elif case == "no-csrf":
        del data["csrf_token"]
    elif case == "bad-csrf":
        data["csrf_token"] = "0" * 64
    rv = client.post(LOGIN_URL, data=data)
    assert count_rows("site_user_sessions") == 0
    assert not any(h.startswith(SESSION_COOKIE) for h in rv.headers.getlist("Set-Cookie"))
    page = rv.get_data(as_text=True)
    if case.endswith("csrf"):
        assert rv.status_code == 400
        assert "The form has expired" in page
    else:
        assert rv.status_code == 200
        assert LOGIN_FAILED in page


def test_a_two_factor_user_is_refused_as_a_wrong_password(app, client, make_user, count_rows):
    make_user()
    with app.app_context():
        db.session.execute(sa.text("UPDATE site_users SET two_factor = true"))
        db.session.commit()
    rv = login(client, "alice")
    assert rv.status_code == 200 and LOGIN_FAILED in rv.get_data(as_text=True)
    assert count_rows("site_user_sessions") == 0


def test_guessing_is_throttled(database_url):
    """The user-login throttle (USER_AUTH_*): at the limit even the right password waits."""
    app = make_app(database_url, USER_AUTH_FAILURE_LIMIT="2/minute")
    empty_database(app)
    try:
        with app.app_context():
            oauth.create_user(db.session, oauth.UserSpec("alice", PASSWORD), now=utcnow())
            db.session.commit()
        client = app.test_client()
        statuses = [login(client, "alice", "wrong").status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        rv = login(client, "alice")
        assert rv.status_code == 429
        assert int(rv.headers["Retry-After"]) > 0
        assert "Too many failed logins" in rv.get_data(as_text=True)
        assert not any(h.startswith(SESSION_COOKIE) for h in rv.headers.getlist("Set-Cookie"))
    finally:
        with app.app_context():
            db.engine.dispose()


def test_blocking_or_deleting_the_user_ends_the_session(client, make_user, cli, count_rows):
    make_user()
    login(client, "alice")
    assert "logged in as" in client.get(LOGIN_URL).get_data(as_text=True)
    cli("users", "block", "alice")
    assert count_rows("site_user_sessions") == 0
    cli("users", "unblock", "alice")
    assert "logged in as" not in client.get(LOGIN_URL).get_data(as_text=True)
    login(client, "alice")
    cli("users", "delete", "alice", "--yes")
    assert count_rows("site_user_sessions") == 0


def test_logging_out_ends_the_session(client, make_user, count_rows):
    make_user()
    login(client, "alice")
    page = client.get(LOGIN_URL).data
    rv = client.post(LOGOUT_URL, data={"csrf_token": csrf_token(page)})
    assert rv.status_code == 303
    assert rv.headers["Location"].endswith(LOGIN_URL.lstrip("/"))
    assert count_rows("site_user_sessions") == 0
    assert "logged in as" not in client.get(LOGIN_URL).get_data(as_text=True)


def test_logging_out_needs_the_csrf_token(client, make_user, count_rows):
    make_user()
    login(client, "alice")
    assert client.post(LOGOUT_URL, data={}).status_code == 400
    assert count_rows("site_user_sessions") == 1
    assert client.get(LOGOUT_URL).status_code == 405


def test_the_page_escapes_what_the_request_said(client):
    rv = client.get(LOGIN_URL + '&x="><script>alert(1)</script>')
    page = rv.get_data(as_text=True)
    assert "<script>" not in page


def test_a_guest_at_authorize_goes_to_the_login_page_with_return(client):
    rv = client.get(AUTHORIZE_URL + "&client_id=x&state=s")
    assert rv.status_code == 303
    location = rv.headers["Location"]
    assert location.startswith("http://localhost/index.php?option=com_users&view=login&return=")
    back = base64.b64decode(unquote(location.split("return=", 1)[1])).decode()
    assert back == "http://localhost/index.php?option=authorize&api=oauth2&client_id=x&state=s"


def test_a_url_with_api_is_no_page(client):
    """With api= the URL is an operation's (here an unknown one: the plugin's empty 200)."""
    rv = client.get("/index.php?option=com_users&view=login&api=oauth2")
    assert rv.status_code == 200 and rv.data == b""
