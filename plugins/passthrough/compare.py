"""Comparing our answer with the legacy site's, the way ../shared/compat/ compares cases.

Pure functions, no I/O. Compared: the status; the key headers (``Content-Type`` in any
case, ``Cache-Control``, ``WWW-Authenticate``, ``Allow``, ``Location``; absent differs from
present); and the body, byte for byte after masking (spacing, key order and PHP's ``\\/``
are part of the contract), JSON or not. Masked, so that two right answers match:

- compat's placeholders: 40 lowercase hex characters (``<hex40>``), ``YYYY-MM-DD HH:MM:SS``
  (``<datetime>``);
- Apigee's tokens: a JSON string of 28 or 32 letters and digits (``<token28>``,
  ``<token32>``), and epoch-millisecond times (13 digits: ``<epoch-ms>``);
- any value under a key that holds a secret or a token (``access_token``, ``refresh_token``,
  ``client_secret``, ...), in JSON and in ``key=value`` text, by its shape only;
- ``expires_in`` and ``refresh_token_expires_in``, which count down: equal within
  ``EXPIRES_TOLERANCE`` seconds.

What is kept of a difference (its ``kind`` and ``example``) holds only masked text: no
secret, token, ``Authorization`` or cookie of the request or of either answer.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from emulator.host import LEGACY_PATHS
from emulator.host import php_variable_name

KEY_HEADERS = ("Content-Type", "Cache-Control", "WWW-Authenticate", "Allow", "Location")
EXPIRES_TOLERANCE = 5  # seconds
EXAMPLE_TEXT = 2000  # characters of each body kept in an example
KIND_TEXT = 500  # characters of a kind
# Keys whose values are secrets or tokens, in answers and requests alike.
SECRET_KEYS = (
    "access_token",
    "refresh_token",
    "client_secret",
    "id_token",
    "token",
    "password",
    "assertion",
    "client_assertion",
)
# In a request's parameters also an authorization code (in an answer, "code" is a number).
REQUEST_SECRET_KEYS = frozenset({*SECRET_KEYS, "code", "api_key", "apikey", "secret"})
# The parameters that say where a legacy URL goes (index.php?api=&option=).
ROUTING_KEYS = ("api", "option")

_KEYS = "|".join(SECRET_KEYS)
_JSON_SECRET = re.compile(rf'("(?:{_KEYS})"\s*:\s*)"((?:[^"\\]|\\.)*)"', re.IGNORECASE)
# In key=value text a name as PHP would read it: "_" also sent as "." or a space ("+",
# "%20", "%2E", "%5F"), leading spaces dropped (emulator.web.php).
_SEPARATOR = r"(?:[_. +]|%(?:2e|5f|20))"
_TEXT_NAMES = "|".join(
    _SEPARATOR.join(map(re.escape, key.split("_"))) for key in sorted(REQUEST_SECRET_KEYS)
)
_TEXT_SECRET = re.compile(
    rf"(?<![A-Za-z0-9_])((?:\+|%20)*(?:{_TEXT_NAMES}))=([^&\s\"'#<>]*)", re.IGNORECASE
)
_HEX40 = re.compile(r"(?<![0-9a-f])[0-9a-f]{40}(?![0-9a-f])")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
_EPOCH_MS = re.compile(r"(?<![0-9])1[0-9]{12}(?![0-9])")
_APIGEE_TOKEN = re.compile(r'"([A-Za-z0-9]{28}|[A-Za-z0-9]{32})"')
_EXPIRES = re.compile(r'("(?:refresh_token_)?expires_in"\s*:\s*"?)(-?[0-9]+)')


@dataclass(frozen=True)
class Side:
    """One answer: its status, its headers (every value apart) and its body.

    ``body`` is None when it is not compared (ours was streamed, theirs was cut off).
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes | None


@dataclass(frozen=True)
class Asked:
    """The request both answers are for, as far as a difference may show it."""

    method: str
    path: str
    query_string: bytes
    content_type: str | None
    body: bytes


@dataclass(frozen=True)
class Difference:
    """How the two answers differ: its kind (what is grouped) and one masked example."""

    kind: str
    example: dict[str, Any]

    @property
    def kind_hash(self) -> str:
        """The kind's key in the table."""
        return hashlib.sha256(self.kind.encode()).hexdigest()


def compare(asked: Asked, ours: Side, theirs: Side) -> Difference | None:
    """None when the answers match; else what differs, masked."""
    aspects: list[str] = []
    if ours.status != theirs.status:
        aspects.append(f"status {ours.status} vs {theirs.status}")
    our_headers, their_headers = key_headers(ours.headers), key_headers(theirs.headers)
    for name in KEY_HEADERS:
        if _header_value(name, our_headers[name]) != _header_value(name, their_headers[name]):
            aspects.append(name)
    our_body, their_body = masked_bodies(ours.body, theirs.body)
    if our_body != their_body:
        aspects.append(body_aspect(our_body, their_body))
    if not aspects:
        return None
    kind = f"{asked.method} {where(asked)}: {'; '.join(aspects)}"[:KIND_TEXT]
    example = {
        "request": request_example(asked),
        "ours": {"status": ours.status, "headers": our_headers, "body": _excerpt(our_body)},
        "theirs": {
            "status": theirs.status,
            "headers": their_headers,
            "body": _excerpt(their_body),
        },
    }
    return Difference(kind=kind, example=example)


def key_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str | None]:
    """The key headers' values (repeated ones joined with ", "), masked; None when absent."""
    found: dict[str, str | None] = dict.fromkeys(KEY_HEADERS)
    by_lower = {name.lower(): name for name in KEY_HEADERS}
    for name, value in headers:
        key = by_lower.get(name.lower())
        if key is not None:
            masked = mask_text(value)
            found[key] = masked if found[key] is None else f"{found[key]}, {masked}"
    return found


def _header_value(name: str, value: str | None) -> str | None:
    """A header value as compared: Content-Type in any case (compat/README.md)."""
    if value is not None and name == "Content-Type":
        return value.lower()
    return value


def masked_bodies(ours: bytes | None, theirs: bytes | None) -> tuple[str | None, str | None]:
    """Both bodies as masked text, ``expires_in`` masked in both when they agree.

    Ours streamed (None): not compared, (None, None). Theirs not read whole: it differs.
    """
    if ours is None:
        return None, None
    if theirs is None:
        return mask_text(_text(ours)), "<not read whole>"
    our_text, their_text = mask_text(_text(ours)), mask_text(_text(theirs))
    our_expiry, their_expiry = _EXPIRES.findall(our_text), _EXPIRES.findall(their_text)
    if len(our_expiry) == len(their_expiry) and all(
        a_key == b_key and abs(int(a) - int(b)) <= EXPIRES_TOLERANCE
        for (a_key, a), (b_key, b) in zip(our_expiry, their_expiry, strict=True)
    ):
        our_text = _EXPIRES.sub(r"\1<seconds>", our_text)
        their_text = _EXPIRES.sub(r"\1<seconds>", their_text)
    return our_text, their_text


def mask_text(text: str) -> str:
    """``text`` with every secret, token and time masked (see the module's docstring)."""
    text = _JSON_SECRET.sub(lambda m: f'{m.group(1)}"{shape(m.group(2))}"', text)
    text = _TEXT_SECRET.sub(lambda m: f"{m.group(1)}={shape(m.group(2))}", text)
    text = _HEX40.sub("<hex40>", text)
    text = _APIGEE_TOKEN.sub(lambda m: f'"<token{len(m.group(1))}>"', text)
    text = _DATETIME.sub("<datetime>", text)
    return _EPOCH_MS.sub("<epoch-ms>", text)


def shape(value: str) -> str:
    """A secret's value as kept: its shape only (so a token of another shape still differs)."""
    if not value:
        return ""
    if _HEX40.fullmatch(value):
        return "<hex40>"
    if re.fullmatch(r"[A-Za-z0-9]{28}|[A-Za-z0-9]{32}", value):
        return f"<token{len(value)}>"
    return "<masked>"


def body_aspect(ours: str | None, theirs: str | None) -> str:
    """What differs in the bodies, for the kind: the JSON fields, or that the bytes do."""
    our_json, their_json = _json(ours), _json(theirs)
    if our_json is None or their_json is None:
        return "body"
    fields = sorted(_differing_fields(our_json, their_json, "$"))
    if not fields:
        return "body bytes (same JSON: spacing, key order or escaping)"
    listed = ", ".join(fields[:5]) + (", ..." if len(fields) > 5 else "")
    return f"body {listed}"


def _differing_fields(ours: Any, theirs: Any, at: str) -> set[str]:
    if isinstance(ours, dict) and isinstance(theirs, dict):
        found: set[str] = set()
        for key in ours.keys() | theirs.keys():
            if key not in ours or key not in theirs:
                found.add(f"{at}.{key}")
            else:
                found |= _differing_fields(ours[key], theirs[key], f"{at}.{key}")
        return found
    return set() if ours == theirs and type(ours) is type(theirs) else {at}


def where(asked: Asked) -> str:
    """The request's place: its path, and for a legacy URL its api and option."""
    path = mask_text(asked.path)[:200]
    if asked.path not in LEGACY_PATHS:
        return path
    params = dict(_pairs(asked.query_string))
    routing = [f"{key}={params[key].lower()[:40]}" for key in ROUTING_KEYS if key in params]
    return f"{path}?{'&'.join(routing)}" if routing else path


def request_example(asked: Asked) -> dict[str, Any]:
    """The request as an example keeps it: the parameters' names and masked values."""
    body: Any
    if asked.content_type and asked.content_type.startswith("application/x-www-form-urlencoded"):
        body = masked_pairs(asked.body)
    elif asked.content_type and "json" in asked.content_type:
        body = masked_json(asked.body)
    else:
        body = f"<{len(asked.body)} bytes>"
    return {
        "method": asked.method,
        "path": mask_text(asked.path)[:200],
        "query": masked_pairs(asked.query_string),
        "content_type": asked.content_type,
        "body": body,
    }


def masked_pairs(encoded: bytes) -> list[list[str]]:
    """``a=1&client_secret=s`` -> ``[["a", "1"], ["client_secret", "<masked>"]]``.

    A value is a secret's by the name PHP reads, not the name as sent: ``client.secret``,
    `` client_secret`` and ``client secret`` fill ``$_POST['client_secret']`` too (issue 20).
    """
    return [
        [name[:100], shape(value) if is_secret_name(name) else mask_text(value)]
        for name, value in _pairs(encoded)[:50]
    ]


def is_secret_name(name: str) -> bool:
    """Whether a request parameter (or a JSON key) ``name`` carries a secret or a token, as
    sent or as PHP reads it (in any case)."""
    read = php_variable_name(name)
    return name.lower() in REQUEST_SECRET_KEYS or (
        read is not None and read.lower() in REQUEST_SECRET_KEYS
    )


def masked_json(body: bytes) -> str:
    """A JSON request body as an example keeps it: decoded (so an escaped key such as
    ``client\\u005fsecret`` is the key bshaffer reads), every value under a secret's key
    masked, the rest masked as text; a body that is not JSON is kept by its size only."""
    try:
        decoded = json.loads(body)
    except ValueError:
        return f"<{len(body)} bytes, not JSON>"
    masked = _masked_values(decoded)
    return _excerpt(mask_text(json.dumps(masked, ensure_ascii=False, separators=(",", ":"))))


def _masked_values(value: Any, secret: bool = False) -> Any:
    if isinstance(value, dict):
        return {key: _masked_values(item, is_secret_name(key)) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked_values(item, secret) for item in value]
    if secret:
        return shape(value) if isinstance(value, str) else "<masked>"
    return value


def _pairs(encoded: bytes) -> list[tuple[str, str]]:
    return parse_qsl(_text(encoded), keep_blank_values=True)


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _excerpt(text: str | None) -> str | None:
    if text is None or len(text) <= EXAMPLE_TEXT:
        return text
    return text[:EXAMPLE_TEXT] + f"... ({len(text)} characters)"


def example_json(example: Mapping[str, Any]) -> str:
    """An example as stored."""
    return json.dumps(example, ensure_ascii=False, separators=(",", ":"))
