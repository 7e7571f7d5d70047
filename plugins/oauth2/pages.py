"""The pages a browser sees: Joomla's login page, redCORE's consent page (option=authorize).

The original sent a guest who asked to authorize a client (or for the implicit grant at
the token URL) to Joomla's login page, ``index.php?option=com_users&view=login`` with the
URL to come back to in ``return`` (base64). This plugin declares that URL as a page of its
own (``Page``: the dispatcher gives it requests without ``api`` whose query selects it),
logs site users in there, and keeps who is logged in as a server-side session: the
browser holds a random id in a cookie of its own (never the admin pages' cookie), the
database its hash (emulator/oauth/sessions.py), so blocking or deleting the user ends it.

Every form carries a CSRF token: an HMAC, under the app's secret key, of a random value
in a cookie of its own (the original's consent form had none: a documented deviation).
Pages are never cached nor framed, and load nothing but the admin pages' stylesheet.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import logging
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote
from urllib.parse import quote_plus
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

from flask import Response
from jinja2 import Environment
from jinja2 import FileSystemLoader
from jinja2 import StrictUndefined
from jinja2 import select_autoescape

from emulator import oauth
from emulator.host import HostError
from emulator.host import app_object as _app
from emulator.host import commit
from emulator.host import connection
from emulator.host import php_input
from emulator.host import request_object as _request
from emulator.host import said_https
from emulator.host import stores
from emulator.host import stylesheet_url
from emulator.host import throttle
from emulator.host import utcnow
from emulator.oauth import OAuthError
from emulator.oauth import UserLocked

from . import render
from .params import authorize_policy
from .params import token_policy
from .wire import authorization_request

log = logging.getLogger(__name__)

SESSION_COOKIE = "oauth2_site_session"
CSRF_COOKIE = "oauth2_site_csrf"
CSRF_FIELD = "csrf_token"
_CSRF_PURPOSE = b"plugins.oauth2.pages.csrf|"
# Joomla's login page, and its logout task (a POST, as Joomla's own).
LOGIN_QUERY = {"option": "com_users", "view": "login"}
LOGOUT_QUERY = {"option": "com_users", "task": "user.logout"}
LOGIN_PATH = "index.php?option=com_users&view=login"
LOGOUT_PATH = "index.php?option=com_users&task=user.logout"
# redCORE's consent form: the approving button's value (LIB_REDCORE_API_OAUTH2_SERVER_
# AUTHORIZE_CLIENT_YES), and "1", which redCORE took as a yes too; anything else is a no.
APPROVE = "Yes, I Authorize This Request"
CANCEL = "Cancel"
# Joomla's words for a failed login (JGLOBAL_AUTH_INVALID_PASS), whatever failed.
LOGIN_FAILED = "Username and password do not match or you do not have an account yet."
FORM_EXPIRED = "The form has expired. Please try again."
MAX_RETURN = 4096  # the longest ``return`` decoded (a URL of this host)

# Every page: never cached, never framed, nothing loaded but the stylesheet (no script).
# No form-action: a browser applies it to the redirect after the consent form, which goes
# to the client's own site.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
)


# --- the site user's session and the forms' CSRF token ------------------------------------


def site_user() -> oauth.UserRecord | None:
    """The site user logged in on this browser, or None (a guest)."""
    raw = _request().cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    return oauth.session_user(connection(), raw, now=utcnow())


def _csrf_token(anchor: str) -> str:
    key = _app().secret_key
    key_bytes = key.encode() if isinstance(key, str) else bytes(key or b"")
    return hmac.new(key_bytes, _CSRF_PURPOSE + anchor.encode(), hashlib.sha256).hexdigest()


class _Csrf:
    """The request's CSRF anchor (the cookie's value), made when there is none yet."""

    def __init__(self) -> None:
        found = _request().cookies.get(CSRF_COOKIE, "")
        self.is_new = not (0 < len(found) <= 64 and found.isalnum())
        self.anchor = secrets.token_hex(16) if self.is_new else found

    @property
    def token(self) -> str:
        return _csrf_token(self.anchor)

    def set_on(self, response: Response) -> Response:
        if self.is_new:
            _set_cookie(response, CSRF_COOKIE, self.anchor, max_age=None)
        return response


def _csrf_ok(form: Mapping[str, Any]) -> bool:
    """Whether the posted form carries the token of this browser's CSRF cookie."""
    anchor = _request().cookies.get(CSRF_COOKIE, "")
    given = form.get(CSRF_FIELD)
    if not anchor or not isinstance(given, str):
        return False
    return hmac.compare_digest(given.encode(), _csrf_token(anchor).encode())


def _set_cookie(response: Response, name: str, value: str, *, max_age: int | None) -> None:
    """A cookie of these pages: HttpOnly, SameSite=Lax, for the site; Secure over https, as
    the app sees it or as a proxy said it (``said_https``: a TLS proxy the app does not
    trust), never on plain http (a site served so keeps its logins)."""
    req = _request()
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=req.is_secure or said_https(req.headers),
        httponly=True,
        samesite="Lax",
    )


# --- rendering ------------------------------------------------------------------------------


def _site_name(params: Mapping[str, Any]) -> str:
    return params["site_name"] or _request().host


def _page(
    template: str,
    params: Mapping[str, Any],
    csrf: _Csrf,
    *,
    status: int = 200,
    user: oauth.UserRecord | None = None,
    **values: Any,
) -> Response:
    body = _templates.get_template(template).render(
        site_name=_site_name(params),
        stylesheet=stylesheet_url(),
        csrf_token=csrf.token,
        user=user,
        logout_action=_root() + LOGOUT_PATH,
        **values,
    )
    response = Response(body, status=status, content_type="text/html; charset=utf-8")
    response.headers.update(PAGE_HEADERS)
    return csrf.set_on(response)


def _redirect(location: str, status: int) -> Response:
    response = Response(b"", status=status, headers={"Location": location})
    response.headers.update(PAGE_HEADERS)
    return response


def _root() -> str:
    """The site's root URL (Joomla's ``JUri::root()``): scheme, host and the app's root."""
    return _request().host_url


def _here() -> str:
    """The URL the request came to, relative to the site's root (the forms post back to it)."""
    req = _request()
    query = req.query_string.decode("latin-1")
    path = req.path.lstrip("/") or "index.php"
    return path + (f"?{query}" if query else "")


# --- the login page -------------------------------------------------------------------------


def decode_return(value: Any) -> str | None:
    """The URL in Joomla's ``return`` (base64), when it is one of this host; else None.

    redCORE base64-encoded the URL after ``htmlspecialchars`` (``&`` as ``&amp;``): the
    decoded text is HTML-unescaped, so both forms come back to the same URL. A path of this
    site (``/...``, not ``//...``) counts as this host's; so does an absolute http(s) URL
    whose host (and port) is the one the request came to.
    """
    if not isinstance(value, str) or not value or len(value) > MAX_RETURN * 2:
        return None
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
        text = html.unescape(decoded.decode("utf-8"))
    except (binascii.Error, ValueError):
        return None
    if not text or len(text) > MAX_RETURN or not text.isprintable() or "\\" in text:
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if not parts.scheme and not parts.netloc:
        return text if text.startswith("/") and not text.startswith("//") else None
    if parts.scheme not in ("http", "https") or parts.username or parts.password:
        return None
    return text if parts.netloc.lower() == _request().host.lower() else None


def encode_return(url: str) -> str:
    """Joomla's ``return`` value for ``url``: its base64."""
    return base64.b64encode(url.encode("utf-8", "surrogatepass")).decode("ascii")


def login_redirect() -> Response:
    """303 to the login page, with the URL the request came to in ``return`` (as the
    original's ``getLoggedUser``: the site's root, ``index.php?`` and the query)."""
    query = _request().query_string.decode("latin-1")
    back = _root() + "index.php?" + query
    return _redirect(_root() + LOGIN_PATH + "&return=" + quote(encode_return(back), safe=""), 303)


def login(params: Mapping[str, Any]) -> Response:
    """``index.php?option=com_users&view=login``: GET shows the form; POST logs in.

    A good username and password: a new session, then 303 to ``return`` when it is a URL of
    this host, else to ``/``. Anything else (unknown user, wrong password, a blocked user,
    one with two-factor authentication on) is the same refusal, after the same work.
    """
    req = _request()
    inp = php_input()
    return_value = inp.post.get("return") if req.method == "POST" else None
    if not isinstance(return_value, str):
        return_value = inp.query.get("return")
    return_value = return_value if isinstance(return_value, str) else ""
    back = decode_return(return_value)
    csrf = _Csrf()
    user = site_user()

    def form(error: str = "", status: int = 200, username: str = "") -> Response:
        return _page(
            "login.html",
            params,
            csrf,
            status=status,
            user=user,
            title="Log in",
            error=error,
            action=_here(),
            return_value=return_value if back else "",
            username=username,
            continue_url=back or "",
        )

    if req.method != "POST":
        return form()
    if not _csrf_ok(inp.post):
        return form(FORM_EXPIRED, 400)
    username = inp.post.get("username")
    conn = connection()
    found = oauth.authenticate_user(
        conn,
        username,
        inp.post.get("password"),
        verifiers=stores.password_verifiers(),
        guard=throttle.user_guard(),
        verified=stores.verified_passwords(),
        now=utcnow(),
    )
    if found is None:
        commit()  # nothing of the request's own; the throttle counted apart
        user = None
        typed = username if isinstance(username, str) and len(username) <= 150 else ""
        return form(LOGIN_FAILED, 200, typed)
    oauth.end_user_session(conn, req.cookies.get(SESSION_COOKIE))
    lifetime = params["login_session_lifetime"]
    raw = oauth.start_user_session(conn, found.id, lifetime=lifetime, now=utcnow())
    commit()
    log.info("site user %s logged in on the login page", found.id)
    response = _redirect(back or "/", 303)
    _set_cookie(response, SESSION_COOKIE, raw, max_age=lifetime)
    _set_cookie(response, CSRF_COOKIE, secrets.token_hex(16), max_age=None)  # a new anchor
    return response


def logout(params: Mapping[str, Any]) -> Response:
    """``index.php?option=com_users&task=user.logout`` (POST): end this browser's session,
    then 303 to the login page."""
    inp = php_input()
    if not _csrf_ok(inp.post):
        return _page(
            "error.html",
            params,
            _Csrf(),
            status=400,
            title="Log out",
            error="invalid_request",
            description=FORM_EXPIRED,
        )
    oauth.end_user_session(connection(), _request().cookies.get(SESSION_COOKIE))
    commit()
    response = _redirect(_root() + LOGIN_PATH, 303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Lax")
    return response


# --- option=authorize -----------------------------------------------------------------------


def authorize(params: Mapping[str, Any]) -> Response:
    """option=authorize: a guest goes to the login page; for a user, the request is
    validated as bshaffer's AuthorizeController did, then GET (or a POST without
    ``authorized``) shows the consent page and a POST decides.

    Approved: the client's own scope (else the default scopes) is granted, as redCORE did,
    in a code (or, with the implicit grant, a token) sent to the redirect URI (302).
    """
    user = site_user()
    if user is None:
        return login_redirect()
    inp = php_input()
    conn = connection()
    clients = stores.clients()
    auth = oauth.validate_authorization(
        conn, authorization_request(inp), authorize_policy(params), clients=clients
    )
    scope = auth.client.allowed_scope or clients.default_scope(conn)
    csrf = _Csrf()
    decision = inp.post.get("authorized") if _request().method == "POST" else None

    def consent(error: str = "", status: int = 200) -> Response:
        return _page(
            "authorize.html",
            params,
            csrf,
            status=status,
            user=user,
            title="Authorize",
            error=error,
            client_id=auth.client.client_id,
            scopes=(scope or "").split(),
            action=_here(),
            approve=APPROVE,
            cancel=CANCEL,
        )

    if decision is None or decision == "":  # redCORE: no decision yet, show the form
        return consent()
    if not _csrf_ok(inp.post):
        return consent(FORM_EXPIRED, 400)
    if decision not in (APPROVE, "1"):
        raise oauth.deny_authorization(auth)
    issued = oauth.approve_authorization(
        conn,
        auth,
        user_id=user.user_id,
        scope=scope,
        policy=stores.derived("oauth2.token_policy", token_policy, params),
        now=utcnow(),
    )
    commit()
    return _redirect(approved_location(auth, issued, params), 302)


def approved_location(
    auth: oauth.Authorization,
    issued: oauth.IssuedCode | oauth.IssuedToken,
    params: Mapping[str, Any],
) -> str:
    """Where an approval goes: the code and state in the redirect URI's query, or the
    implicit grant's token in its fragment (and, with ``redirect_with_token``, its
    ``access_token`` in the query too, as redCORE added it)."""
    state = [] if auth.state is None else [("state", auth.state)]
    if isinstance(issued, oauth.IssuedCode):
        return build_uri(auth.redirect_uri, query=[("code", issued.code), *state])
    fragment = [
        ("access_token", issued.access_token),
        ("expires_in", str(issued.expires_in)),
        ("token_type", issued.token_type),
        *([] if issued.scope is None else [("scope", issued.scope)]),
        *state,
    ]
    query = (
        [(params["token_param_name"], issued.access_token)] if params["redirect_with_token"] else []
    )
    return build_uri(auth.redirect_uri, query=query, fragment=fragment)


def build_query(pairs: list[tuple[str, str]]) -> str:
    """PHP's http_build_query: each name and value as PHP's urlencode writes it."""
    return "&".join(f"{_php_urlencode(name)}={_php_urlencode(value)}" for name, value in pairs)


def _php_urlencode(text: str) -> str:
    # PHP's urlencode: spaces as "+", every byte but letters, digits and "-_." escaped.
    return quote_plus(text, safe="", encoding="utf-8", errors="surrogatepass").replace("~", "%7E")


def build_uri(
    uri: str,
    *,
    query: list[tuple[str, str]] = (),  # type: ignore[assignment]
    fragment: list[tuple[str, str]] = (),  # type: ignore[assignment]
) -> str:
    """bshaffer's buildUri: the parameters appended to the URI's query and fragment."""
    parts = urlsplit(uri)
    new_query, new_fragment = parts.query, parts.fragment
    if query:
        new_query = (new_query + "&" if new_query else "") + build_query(list(query))
    if fragment:
        new_fragment = (new_fragment + "&" if new_fragment else "") + build_query(list(fragment))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, new_query, new_fragment))


def redirect_error(err: OAuthError, redirect_to: str) -> Response:
    """bshaffer's setRedirect with an error: error, error_description (error_uri), then
    state (when the request had one), in the redirect URI's query; 302."""
    code, description, uri = render.wording(err)
    pairs = [("error", code), ("error_description", description)]
    if uri:
        pairs.append(("error_uri", render.RFC6749 + uri))
    state = err.facts.get("state")
    if isinstance(state, str):
        pairs.append(("state", state))
    return _redirect(build_uri(redirect_to, query=pairs), 302)


# --- errors -------------------------------------------------------------------------------


PAGE_OPERATIONS = frozenset({"authorize", "login", "logout"})


def render_error(
    err: Exception, operation: str | None, params: Mapping[str, Any] | None
) -> Response:
    """The plugin's renderer: the pages' errors as pages (or, for option=authorize, as the
    redirect bshaffer made); everything else as redCORE answered it (render.error)."""
    if operation not in PAGE_OPERATIONS or params is None or isinstance(err, HostError):
        return render.error(err, operation, params)
    assert isinstance(err, OAuthError)
    if isinstance(err, UserLocked):
        response = _page(
            "login.html",
            params,
            _Csrf(),
            status=429,
            title="Log in",
            error="Too many failed logins. Please try again later.",
            action=_here(),
            return_value="",
            username="",
            continue_url="",
        )
        response.headers["Retry-After"] = str(err.retry_after)
        return response
    redirect_to = err.facts.get("redirect_to")
    if isinstance(redirect_to, str):
        return redirect_error(err, redirect_to)
    code, description, _ = render.wording(err)
    return _page(
        "error.html",
        params,
        _Csrf(),
        status=400,
        title="This request cannot be authorized",
        error=code,
        description=description,
    )
