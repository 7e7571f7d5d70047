"""option=authorize for a logged-in site user: bshaffer's validation (errors shown or
redirected), redCORE's consent page, and what approving or cancelling sends back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from emulator.ops.clock import utcnow
from emulator.storage.database import db
from emulator.storage.models import AuthorizationCode
from tests.support.pages import APPROVE
from tests.support.pages import AUTHORIZE_URL
from tests.support.pages import CALLBACK
from tests.support.pages import PASSWORD
from tests.support.pages import csrf_token
from tests.support.pages import fragment_of
from tests.support.pages import login
from tests.support.pages import query_of

TOKEN_URL = "/index.php?option=token&api=oauth2"
SECRET = "app-Secret-1"


@pytest.fixture
def user(cli: Callable[..., str]) -> str:
    cli("users", "create", "alice", "--password-stdin", "--id", "42", input=PASSWORD + "\n")
    return "42"


@pytest.fixture
def make_app_client(cli: Callable[..., str]) -> Callable[..., str]:
    """Register a client with a redirect URI (``redirect_uri=""``: none)."""

    def build(
        client_id: str = "app",
        *,
        redirect_uri: str = CALLBACK,
        scope: str | None = "site.read",
        grant_types: str | None = None,
    ) -> str:
        args = ["clients", "create", client_id, "--secret", SECRET]
        if redirect_uri:
            args += ["--redirect-uri", redirect_uri]
        if scope:
            args += ["--scope", scope]
        if grant_types is not None:
            args += ["--grant-types", grant_types]
        cli(*args)
        return client_id

    return build


@pytest.fixture
def browser(client: FlaskClient, user: str, cli: Callable[..., str]) -> FlaskClient:
    """A browser where alice is logged in; scopes site.read and site.write exist."""
    cli("scopes", "add", "site.read", "--default")
    cli("scopes", "add", "site.write")
    assert login(client, "alice").status_code == 303
    return client


def url(**values: str) -> str:
    return AUTHORIZE_URL + "&" + urlencode(values)


def approve(browser: FlaskClient, target: str, decision: str = APPROVE):
    page = browser.get(target)
    assert page.status_code == 200, page.get_data(as_text=True)
    return browser.post(target, data={"authorized": decision, "csrf_token": csrf_token(page.data)})


def code_rows(app) -> list:
    with app.app_context():
        return db.session.execute(sa.select(AuthorizationCode.__table__)).all()


# --- the consent page --------------------------------------------------------------------


def test_the_consent_page_shows_the_client_its_scopes_and_redcores_form(browser, make_app_client):
    make_app_client(scope="site.read site.write")
    target = url(response_type="code", client_id="app", redirect_uri=CALLBACK, state="xyz")
    rv = browser.get(target)
    assert rv.status_code == 200
    page = rv.get_data(as_text=True)
    assert "Welcome to the localhost API Server!" in page
    assert "<code>app</code>" in page
    assert "<code>site.read</code>" in page and "<code>site.write</code>" in page
    assert f'name="authorized" value="{APPROVE}"' in page
    assert 'name="authorized" value="Cancel"' in page
    assert 'method="post"' in page
    assert 'action="index.php?option=authorize&amp;api=oauth2&amp;response_type=code' in page
    assert csrf_token(page)
    assert rv.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in rv.headers["Content-Security-Policy"]


def test_the_site_name_is_a_param_and_escaped(browser, make_app_client, set_params):
    make_app_client()
    set_params(site_name="<b>Shop</b> & Co")
    page = browser.get(url(response_type="code", client_id="app", state="s")).get_data(as_text=True)
    assert "Welcome to the &lt;b&gt;Shop&lt;/b&gt; &amp; Co API Server!" in page


def test_a_post_without_a_decision_shows_the_form_again(browser, make_app_client):
    make_app_client()
    target = url(response_type="code", client_id="app", state="s")
    rv = browser.post(target, data={})
    assert rv.status_code == 200 and APPROVE in rv.get_data(as_text=True)


# --- approving and cancelling ------------------------------------------------------------


def test_approving_redirects_with_a_code_the_token_endpoint_takes(app, browser, make_app_client):
    make_app_client(scope="site.read site.write")
    before = utcnow()
    target = url(response_type="code", client_id="app", redirect_uri=CALLBACK, state="x y")
    rv = approve(browser, target)
    assert rv.status_code == 302
    location = rv.headers["Location"]
    assert location.startswith(CALLBACK + "?code=")
    assert location.endswith("&state=x+y")  # PHP's http_build_query
    code = query_of(location)["code"]
    [row] = code_rows(app)
    assert row.code_hash != code and row.user_id == "42"
    assert row.redirect_uri == CALLBACK and row.scope == "site.read site.write"
    assert timedelta(seconds=29) <= row.expires_at - before <= timedelta(seconds=31)
    rv = browser.post(
        TOKEN_URL,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "client_id": "app",
            "client_secret": SECRET,
        },
    )
    assert rv.status_code == 200, rv.data
    body = rv.get_json()
    assert body["scope"] == "site.read site.write" and body["refresh_token"]
    with app.app_context():
        owner = db.session.scalar(sa.text("SELECT user_id FROM oauth_access_tokens"))
    assert owner == "42"
    assert code_rows(app) == []  # used up


def test_the_granted_scope_is_the_clients_own_whatever_was_asked(app, browser, make_app_client):
    make_app_client(scope="site.read site.write")
    target = url(response_type="code", client_id="app", state="s", scope="site.read")
    approve(browser, target)
    assert code_rows(app)[0].scope == "site.read site.write"


def test_a_client_without_a_scope_gets_the_default_scopes(app, browser, make_app_client):
    make_app_client(scope=None)
    approve(browser, url(response_type="code", client_id="app", state="s"))
    assert code_rows(app)[0].scope == "site.read"


def test_a_code_asked_without_a_redirect_uri_is_redeemed_without_one(app, browser, make_app_client):
    make_app_client()
    rv = approve(browser, url(response_type="code", client_id="app", state="s"))
    assert rv.headers["Location"].startswith(CALLBACK + "?code=")  # the registered URI
    assert code_rows(app)[0].redirect_uri is None  # stored as given (RFC 6749 §4.1.3)
    rv = browser.post(
        TOKEN_URL,
        data={
            "grant_type": "authorization_code",
            "code": query_of(rv.headers["Location"])["code"],
            "client_id": "app",
            "client_secret": SECRET,
        },
    )
    assert rv.status_code == 200, rv.data


def test_the_code_lifetime_is_the_param(app, browser, make_app_client, set_params):
    make_app_client()
    set_params(auth_code_lifetime=120)
    before = utcnow()
    approve(browser, url(response_type="code", client_id="app", state="s"))
    left = code_rows(app)[0].expires_at - before
    assert timedelta(seconds=119) <= left <= timedelta(seconds=121)


def test_a_redirect_uri_with_a_query_keeps_it(browser, make_app_client):
    make_app_client(redirect_uri=CALLBACK + "?tenant=7")
    rv = approve(
        browser,
        url(response_type="code", client_id="app", redirect_uri=CALLBACK + "?tenant=7", state="s"),
    )
    assert rv.headers["Location"].startswith(CALLBACK + "?tenant=7&code=")


def test_authorized_1_approves_too(app, browser, make_app_client):
    """redCORE took ``authorized=1`` as a yes."""
    make_app_client()
    rv = approve(browser, url(response_type="code", client_id="app", state="s"), "1")
    assert "code" in query_of(rv.headers["Location"])


@pytest.mark.parametrize("decision", ["Cancel", "no", "yes, i authorize this request"])
def test_anything_else_denies(app, browser, make_app_client, decision):
    make_app_client()
    rv = approve(browser, url(response_type="code", client_id="app", state="st"), decision)
    assert rv.status_code == 302
    assert rv.headers["Location"] == (
        CALLBACK + "?error=access_denied"
        "&error_description=The+user+denied+access+to+your+application&state=st"
    )
    assert code_rows(app) == []


@pytest.mark.parametrize("token", [None, "0" * 64], ids=["missing", "wrong"])
def test_a_decision_needs_the_csrf_token(app, browser, make_app_client, token):
    make_app_client()
    target = url(response_type="code", client_id="app", state="s")
    data = {"authorized": APPROVE} | ({} if token is None else {"csrf_token": token})
    rv = browser.post(target, data=data)
    assert rv.status_code == 400
    assert "The form has expired" in rv.get_data(as_text=True)
    assert code_rows(app) == []


# --- the implicit grant ------------------------------------------------------------------


def test_implicit_is_refused_unless_allowed(browser, make_app_client):
    make_app_client()
    rv = browser.get(url(response_type="token", client_id="app", state="s"))
    assert rv.status_code == 302
    assert rv.headers["Location"] == (
        CALLBACK + "?error=unsupported_response_type"
        "&error_description=implicit+grant+type+not+supported&state=s"
    )


def test_implicit_puts_the_token_in_the_fragment(app, browser, make_app_client, set_params):
    make_app_client()
    set_params(allow_implicit=True)
    rv = approve(browser, url(response_type="token", client_id="app", state="s"))
    location = rv.headers["Location"]
    assert location.startswith(CALLBACK + "#access_token=")
    fragment = fragment_of(location)
    assert fragment["expires_in"] == "3600" and fragment["token_type"] == "Bearer"
    assert fragment["scope"] == "site.read" and fragment["state"] == "s"
    assert "?" not in location.split("#")[0]
    rv = browser.get(
        "/index.php?option=resource&api=oauth2&access_token=" + fragment["access_token"]
    )
    assert rv.get_json()["user_id"] == "42"
    with app.app_context():
        assert db.session.scalar(sa.text("SELECT count(*) FROM oauth_refresh_tokens")) == 0


def test_redirect_with_token_adds_it_to_the_query(browser, make_app_client, set_params):
    make_app_client()
    set_params(allow_implicit=True, redirect_with_token=True)
    rv = approve(browser, url(response_type="token", client_id="app", state="s"))
    location = rv.headers["Location"]
    token = fragment_of(location)["access_token"]
    assert location.startswith(f"{CALLBACK}?access_token={token}#")


def test_redirect_with_token_leaves_a_code_alone(browser, make_app_client, set_params):
    make_app_client()
    set_params(redirect_with_token=True)
    rv = approve(browser, url(response_type="code", client_id="app", state="s"))
    assert "access_token" not in rv.headers["Location"]


def test_a_client_not_allowed_the_implicit_grant(browser, make_app_client, set_params):
    make_app_client(grant_types="authorization_code")
    set_params(allow_implicit=True)
    rv = browser.get(url(response_type="token", client_id="app", state="s"))
    assert query_of(rv.headers["Location"])["error"] == "unauthorized_client"


def test_implicit_at_the_token_endpoint(client, browser):
    """A logged-in user gets the library's answer: the token endpoint has no such grant."""
    rv = browser.post(TOKEN_URL, data={"grant_type": "implicit"})
    assert rv.status_code == 400
    assert rv.data == (
        b'{"error":"unsupported_grant_type",'
        b'"error_description":"Grant type \\"implicit\\" not supported"}'
    )


def test_implicit_at_the_token_endpoint_for_a_guest_goes_to_the_login_page(app):
    rv = app.test_client().post(TOKEN_URL, data={"grant_type": "implicit"})
    assert rv.status_code == 303
    assert "option=com_users&view=login&return=" in rv.headers["Location"]
