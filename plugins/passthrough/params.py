"""The options of the passthrough plugin: where the legacy site is, the limits, shadow mode."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import SplitResult
from urllib.parse import urlsplit

from flask import has_request_context
from flask import request
from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow.validate import Range

from emulator.host import Limits
from emulator.host import RequestPath
from emulator.host import is_plain_path
from emulator.host import writing_params
from emulator.oauth import has_control_characters

MIB = 1024 * 1024
MAX_BODY_BYTES = 1024 * MIB
MAX_MS = 3_600_000
SET_URL = "flask --app app plugins set passthrough legacy_url=https://old.example.com"


def validate_legacy_url(url: str) -> None:
    """Empty, or ``http(s)://host[:port][/base/path]``: no query, fragment or credentials.

    A base path (``/site``) is kept in front of every forwarded path; it must be a plain
    path (no dot or empty segment, no encoded separator), so that nothing can climb out of
    it.
    """
    if not url:
        return
    error = ValidationError(
        f"{url!r} is not a legacy site URL: give http(s)://host[:port][/base/path], "
        "without query, fragment or user:password@."
    )
    if has_control_characters(url) or " " in url:
        raise error
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - a port that is not a number raises ValueError here
    except ValueError:
        raise error from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.query
        or parts.fragment
        or "?" in url
        or "#" in url
    ):
        raise error
    base = parts.path.rstrip("/")
    if base and not is_plain_path(RequestPath(base, base)):
        raise error
    if writing_params() and is_this_service(parts):
        raise ValidationError(
            f"{url!r} is this service itself (this machine, port {port_of(parts)}): every "
            "request would be forwarded to itself again, in a loop. Give the old site's "
            "address."
        )


def is_this_service(parts: SplitResult) -> bool:
    """Whether a URL names this machine (a loopback or unspecified address, ``localhost``)
    on a port this service listens on, as far as it is known here: the port of the request
    that sets it (the admin pages), and ``PORT`` (bin/serve's, from the environment).

    Another host name that leads here (the public one, say) is not refused: the same name
    may lead to the old site from this machine (a hosts file); such a loop is refused as
    it happens (the hop mark, legacy.py).
    """
    host = (parts.hostname or "").lower()
    if host != "localhost" and not host.endswith(".localhost"):
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if not (address.is_loopback or address.is_unspecified):
            return False
    return port_of(parts) in own_ports()


def port_of(parts: SplitResult) -> int:
    """The URL's port, or its scheme's."""
    return parts.port or (443 if parts.scheme == "https" else 80)


def own_ports() -> set[int]:
    """The ports this service is known to listen on, here and now."""
    found = [os.environ.get("PORT", "")]
    if has_request_context():
        found.append(str(request.environ.get("SERVER_PORT", "")))
    return {int(port) for port in found if port.isdigit()}


class PassthroughParams(Schema):
    """Admin options of the passthrough plugin."""

    # The old site: every request no enabled plugin answers goes there (empty: none does,
    # and the plugin answers 502 until it is set).
    legacy_url = fields.String(
        load_default="",
        validate=validate_legacy_url,
        metadata={
            "description": (
                "The old site: http(s)://host[:port][/base/path], no query, fragment or"
                " user:password@. Required to enable the plugin."
            )
        },
    )
    # How long the legacy site may take for each read, and for the whole call (first
    # connect to last byte); the connect timeout is 3 s within them.
    timeout_ms = fields.Integer(
        load_default=30_000,
        validate=Range(min=1, max=MAX_MS),
        metadata={
            "description": (
                "How long the old site may take for each read (the connect timeout is 3 s)."
            )
        },
    )
    deadline_ms = fields.Integer(
        load_default=60_000,
        validate=Range(min=1, max=MAX_MS),
        metadata={"description": "The whole call, from connecting to the answer's last byte."},
    )
    # The longest client body passed on (also bounded by MAX_CONTENT_LENGTH); longer: 413.
    max_request_bytes = fields.Integer(
        load_default=10 * MIB,
        validate=Range(min=0, max=MAX_BODY_BYTES),
        metadata={
            "description": (
                "The longest client body passed on (also bounded by "
                "MAX_CONTENT_LENGTH); longer: 413."
            )
        },
    )
    # The longest answer passed back: a longer declared one is a 502, an undeclared one is
    # cut off there. Generous: the old site may serve downloads.
    max_response_bytes = fields.Integer(
        load_default=100 * MIB,
        validate=Range(min=0, max=MAX_BODY_BYTES),
        metadata={
            "description": (
                "The longest answer passed back; a longer declared one: 502, an "
                "undeclared one is cut off there."
            )
        },
    )
    # Forwarded pages run in a sandbox of their own (Content-Security-Policy: sandbox, no
    # allow-same-origin), so that a script on the old site cannot act as a logged-in admin
    # (issue 20). Off only for an old site whose pages need their own origin here (their
    # scripts read cookies or storage, or call this host with credentials).
    sandbox = fields.Boolean(
        load_default=True,
        metadata={
            "description": (
                "Forwarded answers get Content-Security-Policy: sandbox (without "
                "allow-same-origin): a script on the old site cannot act as a logged-in "
                "admin. Turn off only if the old site's pages need this origin."
            )
        },
    )
    # Shadow mode: requests a plugin answers are also sent to the legacy site, off the
    # request path, and the two answers compared (meant for a staging copy of the old site).
    shadow = fields.Boolean(
        load_default=False,
        metadata={
            "description": (
                "Shadow mode: answered requests are also sent to legacy_url and the "
                "answers compared. For a staging copy of the old site only."
            )
        },
    )
    # Requests waiting to be shadowed, per worker; past it they are dropped (and counted).
    shadow_queue_size = fields.Integer(
        load_default=100,
        validate=Range(min=1, max=10_000),
        metadata={
            "description": (
                "Requests waiting to be shadowed, per worker process; past it they are "
                "dropped and counted."
            )
        },
    )
    # Kinds of difference kept (one row each); new kinds past it are only counted.
    shadow_max_kinds = fields.Integer(
        load_default=100,
        validate=Range(min=1, max=10_000),
        metadata={
            "description": (
                "Kinds of difference kept (one row each); new kinds past it are only counted."
            )
        },
    )


def limits(params: Mapping[str, Any]) -> Limits:
    """The forwarding limits in the plugin's params."""
    return Limits(
        read_timeout=params["timeout_ms"] / 1000,
        deadline=params["deadline_ms"] / 1000,
        max_request_bytes=params["max_request_bytes"],
        max_response_bytes=params["max_response_bytes"],
    )


def advise(params: Mapping[str, Any]) -> list[str]:
    """What `plugins show passthrough` (and `plugins enable`) warn about."""
    advice = []
    url = params["legacy_url"]
    if not url:
        advice.append(
            "legacy_url is empty: the plugin cannot be enabled, and forwards nothing (502), "
            "until it is set to the old site's URL."
        )
    elif urlsplit(url).scheme == "http" and urlsplit(url).hostname not in (
        "127.0.0.1",
        "::1",
        "localhost",
    ):
        advice.append(
            "legacy_url is http: forwarded credentials (client secrets, cookies) cross the "
            "network unencrypted; use https unless the old site is on a private network."
        )
    if not params["sandbox"]:
        advice.append(
            "sandbox is off: a page forwarded from the old site runs in this service's "
            "origin, so a script on it (an XSS there) acts as any admin logged in here. "
            "Keep it on unless the old site's pages cannot work without it."
        )
    if params["shadow"]:
        advice.append(
            "shadow is on: every request a plugin answers is sent to legacy_url too, token "
            "requests included, which creates tokens there. Point legacy_url at a staging "
            "copy of the old site, not the live one."
        )
    return advice
