"""The admin pages, under ``/admin``: a blueprint of server-rendered forms.

Flask-Login keeps who is logged in (emulator/manage/admin/auth.py), Flask-WTF puts a CSRF token in
every form and the blueprint checks it on every post; every change goes through
emulator/manage/actions.py, which writes the audit event. The pages need no JavaScript: a small
same-origin script adds copy buttons, and the activity chart is inline SVG with its figures
in a table beside it.

The legacy URLs (``/``, ``/index.php``) and the plugins' routes never see these paths: the
blueprint's own catch-all answers any other ``/admin/...`` path (Flask prefers it to a
plugin's catch-all, whose rule has no static part).
"""

from __future__ import annotations

from flask import Flask
from flask import Response
from flask import redirect
from flask import request
from flask import url_for
from jinja2 import StrictUndefined

from emulator.manage.admin import auth
from emulator.manage.admin import user_pages  # noqa: F401  (its pages join the blueprint)
from emulator.manage.admin.views import bp
from emulator.web import proxywarning

PREFIX = "/admin"
# Every admin answer: never cached (secrets are shown once, pages show who did what), never
# framed, scripts and styles from this origin only (no inline script or style at all).
HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def _admin_headers(response: Response) -> Response:
    """Add HEADERS to every answer under /admin (errors and redirects included)."""
    if request.path == PREFIX or request.path.startswith(PREFIX + "/"):
        response.headers.update(HEADERS)
    return response


def init_app(app: Flask) -> None:
    """Mount the admin pages at /admin with their login, CSRF and headers."""
    auth.init_app(app)
    # The admin pages are the app's only templates: a name a template misspells is an
    # error (a test fails), never an empty cell.
    app.jinja_env.undefined = StrictUndefined
    app.register_blueprint(bp)
    app.add_url_rule(PREFIX, endpoint="admin_root", view_func=_to_index)
    app.after_request(_admin_headers)  # runs before the host's own security headers
    # A reverse proxy in front that TRUSTED_PROXIES does not trust: a banner on every page.
    app.context_processor(lambda: {"proxy_warning": proxywarning.current_warning()})


def stylesheet_url() -> str:
    """The admin pages' stylesheet: other pages the service serves (a plugin's login and
    consent pages) link it to look the same. Served to anyone (no login needed)."""
    return url_for("admin.static", filename="admin.css")


def _to_index() -> Response:
    return redirect(url_for("admin.index"))
