"""Wire details the host and every dialect need alike: PHP's JSON, header values that
cannot be broken out of, a cookie's name, whether a cookie should be Secure."""

from __future__ import annotations

import json
from typing import Any

from werkzeug.datastructures import Headers

# json.dumps with these options builds an encoder on every call; one does for all.
_PHP_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True)
_ASCII_STRING = json.encoder.encode_basestring_ascii
_PERCENT = ord("%")
_PLUS = ord("+")


def json_encode(value: Any) -> str:
    """PHP's json_encode defaults: no spaces, ``/`` as ``\\/``, non-ASCII as ``\\uXXXX``."""
    return _PHP_ENCODER.encode(value).replace("/", "\\/")


def json_encode_string(text: str) -> str:
    """``json_encode`` of one string, without an encoder's pass over a whole object: for
    an answer of fixed shape written field by field."""
    return _ASCII_STRING(text).replace("/", "\\/")


def nothing_to_decode(raw: bytes) -> bool:
    """Whether a query string or form body reads as it is: ASCII, no ``%`` and no ``+``
    (nearly every request), so it may be split as text with no percent-decoding."""
    return raw.isascii() and _PERCENT not in raw and _PLUS not in raw


def quoted_string(value: str) -> str:
    """An RFC 7235 quoted-string: ``"`` and ``\\`` escaped, so a value cannot end it early.

    A scope echoed from the request may hold either; for any other value the bytes are
    those of plain quotes around it.
    """
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def header_bytes(value: str) -> str:
    """A header value as PHP sent it: the UTF-8 bytes of the text (WSGI carries them as
    Latin-1 characters), with line breaks flattened so that no header can be injected."""
    flat = value.replace("\r", " ").replace("\n", " ").replace("\0", " ")
    return flat.encode("utf-8", "replace").decode("latin-1")


def cookie_name(part: str) -> str:
    """The name of a cookie as a browser reads it from a ``Cookie`` pair or a
    ``Set-Cookie`` value's first part: what comes before the first ``=``, blanks trimmed
    (a part without ``=`` is a nameless cookie a browser sends as if its value were a name:
    that is the name here; RFC 6265 §5.2)."""
    return part.split("=", 1)[0].strip(" \t")


def said_https(headers: Headers) -> bool:
    """Whether a proxy (trusted or not) said the client's request came over https: the first
    ``X-Forwarded-Proto`` value, or the first ``Forwarded`` element's ``proto``.

    Only for a cookie's ``Secure`` flag, with the scheme the app trusts: behind a TLS proxy
    on this machine that TRUSTED_PROXIES does not name, the app sees http, yet the browser
    used https. A client that claims it only makes its own cookie stricter.
    """
    proto = headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    if proto == "https":
        return True
    first = headers.get("Forwarded", "").split(",")[0]
    for pair in first.split(";"):
        key, _, value = pair.partition("=")
        if key.strip().lower() == "proto" and value.strip().strip('"').lower() == "https":
            return True
    return False
