"""A reverse proxy in front that the app does not trust: said once, loudly (issue 20).

With ``TRUSTED_PROXIES=0`` (the default) the client's address is the socket's. Behind a
reverse proxy on the same machine (nginx, TLS in front) every caller is then 127.0.0.1:
one address for the failed-authentication throttle (100 failures from anyone lock out
every client), for ``METRICS_ALLOWED`` (``/metrics`` open to all), for the admin
sessions and the audit log. A proxy says it is one: it adds ``X-Forwarded-For``,
``Forwarded`` or ``X-Real-IP``. When such a header comes from a loopback address while
``TRUSTED_PROXIES`` is 0, the worker logs one WARNING (once per worker process), its
``/healthz`` answer names it (``"warnings"``), and the admin pages show a banner, each
saying what to set. A header from another address is left alone: a client may send one
(it is ignored with ``TRUSTED_PROXIES=0``), and a proxy on another machine is not every
caller's ``127.0.0.1``.

The check runs before each request only while nothing has been seen and ``TRUSTED_PROXIES``
is 0: three lookups in the WSGI environ, and an address parse only when a header is there.
"""

from __future__ import annotations

import ipaddress
import logging

from flask import Flask
from flask import current_app
from flask import request

log = logging.getLogger(__name__)

EXTENSION = "emulator.proxy_warning"
# The WSGI environ keys of the headers a reverse proxy adds and a browser never sends.
FORWARDING_KEYS = (
    ("HTTP_X_FORWARDED_FOR", "X-Forwarded-For"),
    ("HTTP_FORWARDED", "Forwarded"),
    ("HTTP_X_REAL_IP", "X-Real-IP"),
)
WARNING = (
    "requests come through a reverse proxy on this machine ({header} from {address}) while "
    "TRUSTED_PROXIES=0, so every client is {address} to the throttle, METRICS_ALLOWED, the "
    "admin sessions and the audit log: set TRUSTED_PROXIES to the number of proxies in "
    "front (FLASK_TRUSTED_PROXIES=1 for one nginx; docs/operate/deployment.md)"
)


def warning_of(app: Flask) -> str | None:
    """This worker's warning, once it has seen a proxy it does not trust (else None)."""
    return app.extensions.get(EXTENSION)


def current_warning() -> str | None:
    """The warning of the current app (for /healthz and the admin pages)."""
    return warning_of(current_app)


def _check() -> None:
    app = current_app
    if app.extensions.get(EXTENSION) is not None:
        return
    environ = request.environ
    header = next((name for key, name in FORWARDING_KEYS if key in environ), None)
    if header is None:
        return
    address = environ.get("REMOTE_ADDR") or ""
    if not is_loopback(address):
        return
    message = WARNING.format(header=header, address=address)
    app.extensions[EXTENSION] = message
    log.warning("%s", message)


def is_loopback(address: str) -> bool:
    """Whether ``address`` is 127.0.0.0/8 or ::1 (an IPv4-mapped one too)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def init_app(app: Flask) -> None:
    """Watch for an untrusted proxy in front, when TRUSTED_PROXIES is 0."""
    if int(app.config["TRUSTED_PROXIES"]) == 0:
        app.before_request(_check)
