"""Who is logged in to the admin pages: Flask-Login over the admin users table.

A session holds the admin's row id and a stamp of their last password change and last logout
(Flask-Login's "alternative token"): changing the password, or logging out, ends every
session of that admin, in every worker, on its next page (a copy of the signed cookie made
before a logout is refused too). Sessions also end after ADMIN_SESSION_IDLE_SECONDS without a page
and ADMIN_SESSION_MAX_AGE after the login. Failed logins are counted like failed client
authentication (emulator/ops/throttle.py) per (username, address) and per address; at the limit
the login page answers 429, before any password is checked. A username field may hold a
password typed in the wrong box: the throttle keys it by an HMAC under the app's secret key,
and the log and the audit log name only an existing admin account, or none.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from datetime import timedelta

from flask import Flask
from flask import Request
from flask import Response
from flask import current_app
from flask import request
from flask import session
from flask.sessions import SecureCookieSession
from flask.sessions import SecureCookieSessionInterface
from flask.sessions import SessionMixin
from flask_login import LoginManager
from flask_login import UserMixin
from flask_login import current_user
from flask_wtf.csrf import CSRFProtect

from emulator.ops import audit
from emulator.ops.clock import epoch_seconds
from emulator.ops.throttle import AuthThrottle
from emulator.ops.throttle import build_throttle
from emulator.ops.throttle import name_key
from emulator.storage.database import db
from emulator.storage.models import AdminUser

THROTTLE = "emulator.admin.throttle"
LOGIN_THROTTLE_LABEL = b"emulator.admin.login-throttle"
# Session keys: when the admin logged in and when they last asked for a page (epoch s).
LOGGED_IN_AT = "admin_login_at"
SEEN_AT = "admin_seen_at"

# Flask-WTF's CSRF tokens, checked on every admin post (views.guard) and nowhere else
# (WTF_CSRF_CHECK_DEFAULT is off: legacy clients post without one).
csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "admin.login"
login_manager.login_message = "Log in to see that page."
# Flask-Login's "strong" protection only marks a *permanent* session (ours) non-fresh when
# it comes from another address or browser; session_expired() ends such a session.
login_manager.session_protection = "strong"


def _session_identifier() -> str:
    """What a session is bound to: the request's address and browser (User-Agent).

    The address is the app's (the socket's, or ProxyFix's reading of TRUSTED_PROXIES hops):
    Flask-Login's own identifier takes the first X-Forwarded-For entry, which any sender
    writes, so a copied cookie sent with the victim's address in that header was let in.
    """
    agent = request.headers.get("User-Agent", "")
    base = f"{request.remote_addr or ''}|{agent}"
    return hashlib.sha512(base.encode("utf-8", "surrogatepass")).hexdigest()


# Flask-Login 0.6's hook for it (an attribute, set before the first request).
login_manager._session_identifier_generator = _session_identifier


@dataclass(frozen=True)
class Admin(UserMixin):
    """The logged-in admin, as the pages see them (no password hash)."""

    pk: int
    username: str
    password_stamp: str

    def get_id(self) -> str:
        """The session's user id: the row and the password's stamp (a new password ends it)."""
        return f"{self.pk}:{self.password_stamp}"

    @classmethod
    def of(cls, row: AdminUser) -> Admin:
        """The admin of an ``admin_users`` row."""
        return cls(pk=row.id, username=row.username, password_stamp=_stamp(row))

    @property
    def actor(self) -> audit.Actor:
        """This admin, from this request's address, as the audit log names them."""
        return audit.Actor(name=f"admin:{self.username}", address=request.remote_addr)


def _stamp(row: AdminUser) -> str:
    """The row's password change and last logout: either one changing ends its sessions."""
    ended = row.sessions_ended_at
    return f"{row.password_changed_at:%Y%m%d%H%M%S%f}" + (
        "" if ended is None else f"-{ended:%Y%m%d%H%M%S%f}"
    )


@login_manager.user_loader
def load_admin(user_id: str) -> Admin | None:
    """The admin of a session: none when the row is gone or the password changed since."""
    pk, _, stamp = user_id.partition(":")
    if not pk.isdigit():
        return None
    row = db.session.get(AdminUser, int(pk))
    if row is None or _stamp(row) != stamp:
        return None
    return Admin.of(row)


def start_session(admin: Admin) -> None:
    """Begin a fresh session for ``admin`` (nothing of the one before is kept)."""
    from flask_login import login_user

    session.clear()
    login_user(admin)
    session.permanent = True  # the cookie expires with ADMIN_SESSION_MAX_AGE
    now = epoch_seconds()
    session[LOGGED_IN_AT] = session[SEEN_AT] = now


def session_expired() -> bool:
    """Whether the logged-in admin's session is past its idle or absolute limit, or comes
    from another address or browser than its login's (a copied cookie).

    A live session's last-seen time moves on to now.
    """
    if not current_user.is_authenticated:
        return False
    now = epoch_seconds()
    config = current_app.config
    logged_in_at = session.get(LOGGED_IN_AT)
    seen_at = session.get(SEEN_AT)
    if (
        session.get("_id") != _session_identifier()
        or not isinstance(logged_in_at, (int, float))
        or not isinstance(seen_at, (int, float))
        or now - seen_at > float(config["ADMIN_SESSION_IDLE_SECONDS"])
        or now - logged_in_at > float(config["ADMIN_SESSION_MAX_AGE"])
    ):
        return True
    session[SEEN_AT] = now
    return False


def login_throttle() -> AuthThrottle | None:
    """The app's throttle of failed admin logins (None when it is off)."""
    return current_app.extensions[THROTTLE]


# Headers a reverse proxy adds and a browser never sends: a request with one came through a
# proxy, whatever address it came from.
FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Forwarded-Proto", "X-Real-IP")


class AdminSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, with the Secure flag of ADMIN_COOKIE_SECURE.

    None (auto): Secure unless the request is plain http straight from this machine (a
    browser beside ``make run``), where a browser would drop a Secure cookie and nothing
    crosses a network. What decides is the scheme and the address as the server (or
    ProxyFix, with TRUSTED_PROXIES) sets them, never the Host header, which the client
    writes: ``Host: localhost`` from elsewhere still gets a Secure cookie.
    """

    def open_session(self, app: Flask, req: Request) -> SecureCookieSession | None:
        """The request's session: outside the cookie's path (every legacy and API URL) or
        without the cookie, a new empty one, without building the signing serializer
        (~10 us). A client that sends the admin cookie to a legacy URL (a browser does not)
        gets that URL's answer as the original sent it: no refreshed cookie, no Vary."""
        if app.secret_key and (
            not path_matches(req.path, self.get_cookie_path(app))
            or not req.cookies.get(self.get_cookie_name(app))
        ):
            return self.session_class()
        return super().open_session(app, req)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Set, refresh or delete the cookie; nothing to do for a session that stayed empty
        and unread (every API request), as Flask's own would conclude after more work."""
        if session or session.modified or session.accessed:
            super().save_session(app, session, response)

    def get_cookie_secure(self, app: Flask) -> bool:
        """Whether the session cookie is sent with the Secure flag."""
        setting = app.config.get("ADMIN_COOKIE_SECURE")
        if setting is not None:
            return bool(setting)
        return request.is_secure or not is_local_request()


def is_local_request() -> bool:
    """Whether the request comes straight from this machine: from a loopback address
    (127.0.0.0/8, ::1), through no proxy.

    A proxy on this machine (TLS in front, TRUSTED_PROXIES unset) also connects from a
    loopback address, but says so with a forwarding header: it is not local. A client can
    add such a header too, and so only get the Secure flag it could do without.
    """
    if any(name in request.headers for name in FORWARDING_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def path_matches(path: str, cookie_path: str) -> bool:
    """Whether a browser sends a cookie of ``cookie_path`` with a request for ``path``
    (RFC 6265 §5.1.4: /admin covers /admin and /admin/..., not /administrator)."""
    if not path.startswith(cookie_path):
        return False
    return (
        len(path) == len(cookie_path) or cookie_path.endswith("/") or path[len(cookie_path)] == "/"
    )


def init_app(app: Flask) -> None:
    """Bind Flask-Login, the session cookie's flags and the login throttle to the app."""
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    csrf.init_app(app)
    login_manager.init_app(app)
    # Flask-Login's after_request keeps its "remember me" cookie, which the pages never set;
    # it read the session on every answer, so every legacy answer got `Vary: Cookie` (a
    # header the original never sent) and a logout sent an empty remember cookie.
    app.after_request_funcs[None].remove(login_manager._update_remember_cookie)
    app.session_interface = AdminSessionInterface()
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(
        seconds=float(app.config["ADMIN_SESSION_MAX_AGE"])
    )
    app.extensions[THROTTLE] = build_throttle(
        app,
        "ADMIN_LOGIN_FAILURE_LIMIT",
        "ADMIN_LOGIN_ADDRESS_FAILURE_LIMIT",
        kind="admin",
        # The label keys the stored counters: it stays as it is when modules move.
        name_key=name_key(app, LOGIN_THROTTLE_LABEL),
    )
