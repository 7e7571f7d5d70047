"""Forwarded answers kept apart from this service's own pages (issue 20).

An answer another server wrote (a legacy page the passthrough plugin forwards, a proxy
target's answer) is served from this service's own origin, beside the admin pages. A script
in it (an XSS on the old site, or the old site compromised) would run as a logged-in admin:
fetch a form, take its CSRF token, post. Two guards, for any plugin that forwards:

- ``SANDBOX``: a ``Content-Security-Policy: sandbox`` policy without ``allow-same-origin``.
  The browser puts the page in an opaque origin of its own: its scripts, forms and links
  work, but whatever it asks of this service is a cross-origin request (no answer to read,
  no CSRF token to take; SameSite cookies are not sent with its posts), and it cannot
  read this origin's storage or cookies. A policy the other server sent stays as it is
  (a browser enforces every policy it gets).
- ``refused_cookie``: an upstream ``Set-Cookie`` that would land on this service's own
  session cookie or a cookie a plugin's pages set (its name, whatever the path), or on
  the admin pages' path (any name), is dropped: it could log the admin or a site user
  out, or fix a session of the sender's choosing.

``guard`` applies them to a forwarded answer: each cookie refused is logged (its name and
path, never its value) and counted (``emulator_upstream_cookies_refused``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Response
from flask import current_app

from emulator.ops import metrics
from emulator.web.http import cookie_name
from emulator.web.registry import registry_of

# What a sandboxed page may still do: run its scripts, send its forms, open pop-ups and
# dialogs, download, leave for another page when the user clicks. Not allow-same-origin.
SANDBOX = (
    "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads "
    "allow-top-navigation-by-user-activation"
)
CSP = "Content-Security-Policy"


@dataclass(frozen=True)
class GuardedCookies:
    """This service's own cookies: their names (lower case) and the paths they live on."""

    names: frozenset[str]
    paths: tuple[str, ...]


def guarded_cookies() -> GuardedCookies:
    """The app's session cookie (its name, and its path: the admin pages', ``/admin``) and
    the cookies the plugins' own pages set (``Plugin.cookies``, whatever the path)."""
    config = current_app.config
    name = str(config.get("SESSION_COOKIE_NAME") or "session")
    path = str(config.get("SESSION_COOKIE_PATH") or config.get("APPLICATION_ROOT") or "/")
    plugins = registry_of(current_app).plugins.values()
    names = {name, *(cookie for plugin in plugins for cookie in plugin.cookies)}
    return GuardedCookies(names=frozenset(n.lower() for n in names), paths=(path,))


def cookie_name_and_path(set_cookie: str, request_path: str) -> tuple[str, str]:
    """A ``Set-Cookie`` value's cookie name and the path a browser files it under.

    As a browser reads it (RFC 6265 §5.2-5.3): the name is the first part's
    (``http.cookie_name``); the path is the last ``Path`` attribute that starts with
    ``/``, else the request path's directory (its default path).
    """
    first, *attributes = set_cookie.split(";")
    name = cookie_name(first)
    path = None
    for attribute in attributes:
        key, _, value = attribute.partition("=")
        if key.strip(" \t").lower() == "path":
            value = value.strip(" \t")
            path = value if value.startswith("/") else None
    if path is None:
        directory = request_path.rsplit("/", 1)[0] if request_path.startswith("/") else ""
        path = directory or "/"
    return name, path


def refused_cookie(set_cookie: str, request_path: str, guarded: GuardedCookies) -> bool:
    """Whether an upstream ``Set-Cookie`` would land on one of ``guarded``: the same name
    (any case, any path), or a path within a guarded one (``/admin``, ``/admin/...``)."""
    name, path = cookie_name_and_path(set_cookie, request_path)
    if name.lower() in guarded.names:
        return True
    return any(_within(path, guarded_path) for guarded_path in guarded.paths if guarded_path != "/")


def _within(path: str, base: str) -> bool:
    base = base.rstrip("/")
    return path == base or path.startswith(base + "/")


def guard(
    response: Response,
    *,
    request_path: str,
    sandbox: bool,
    plugin: str,
    log: logging.Logger,
    label: str,
) -> Response:
    """``response`` (a forwarded answer) without the cookies it may not set, and with the
    sandbox policy when ``sandbox`` is on."""
    cookies = response.headers.getlist("Set-Cookie")
    if cookies:
        guarded = guarded_cookies()
        kept = []
        for value in cookies:
            if refused_cookie(value, request_path, guarded):
                name, path = cookie_name_and_path(value, request_path)
                log.warning(
                    "%s: Set-Cookie %r (path %s) not passed on: it would land on this "
                    "service's own session cookie or admin pages",
                    label,
                    name[:64],
                    path[:128],
                )
                metrics.cookie_refused(plugin)
            else:
                kept.append(value)
        if len(kept) != len(cookies):
            del response.headers["Set-Cookie"]
            for value in kept:
                response.headers.add("Set-Cookie", value)
    if sandbox:
        response.headers.add(CSP, SANDBOX)
    return response
