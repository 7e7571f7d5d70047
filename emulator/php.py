"""Reading a request the way the legacy PHP stack did, and encoding JSON the way it wrote it.

Three views of the parameters, as PHP and bshaffer's ``Request::createFromGlobals`` had them:
- ``query``: PHP's ``$_GET``;
- ``post``: PHP's ``$_POST`` (POST with a form or multipart body only), which Joomla's
  ``$_REQUEST`` lets win over ``$_GET``;
- ``body``: the library's request parameters: ``$_POST``, or a JSON body (Content-Type
  starting with ``application/json``; POST, PUT, DELETE), or a form body of PUT/DELETE.
Repeated keys: the last wins. ``key[]=v`` makes an array (a list here).
Percent-decoded bytes that are not UTF-8 become U+FFFD, so they can match nothing and
still be echoed as valid JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import Request
from flask import g
from flask import request

PHP_SCALARS = (str, int, float, bool)


def parse_php_pairs(pairs: Any) -> dict[str, Any]:
    """Fold (key, value) pairs into PHP's array: last wins, ``k[]``/``k[x]`` make arrays."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        bracket = key.find("[")
        if bracket > 0 and "]" in key[bracket:]:
            base = key[:bracket]
            existing = out.get(base)
            out[base] = (existing if isinstance(existing, list) else []) + [value]
        else:
            out[key] = value
    return out


def parse_urlencoded(raw: bytes) -> dict[str, Any]:
    """Parse a query string or form body like PHP's parse_str (``+`` is a space)."""
    pairs = []
    for part in raw.split(b"&"):
        key, _, value = part.partition(b"=")
        if key:
            pairs.append((_decode(key), _decode(value)))
    return parse_php_pairs(pairs)


def _decode(raw: bytes) -> str:
    return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8", "replace")


def post_content_type(content_type: str) -> str:
    """PHP's view of a POST Content-Type: lower-cased, cut at the first ';', ',' or space."""
    for i, char in enumerate(content_type):
        if char in ";, ":
            return content_type[:i].lower()
    return content_type.lower()


@dataclass(frozen=True)
class PhpInput:
    """The request's parameters as the legacy PHP code saw them."""

    query: dict[str, Any]
    post: dict[str, Any]
    body: dict[str, Any]
    content_type: str | None

    def request_value(self, name: str) -> Any:
        """Joomla's ``$_REQUEST[name]``: the POST form value, else the query value."""
        return self.post[name] if name in self.post else self.query.get(name)

    @classmethod
    def from_request(cls, req: Request) -> PhpInput:
        """Read the query and body of ``req`` (the body at most once)."""
        content_type = req.headers.get("Content-Type")
        ct = content_type or ""
        method = req.method
        query = parse_urlencoded(req.query_string)
        post: dict[str, Any] = {}
        if method == "POST":
            kind = post_content_type(ct)
            if kind == "application/x-www-form-urlencoded":
                post = parse_urlencoded(req.get_data(cache=True))
            elif kind == "multipart/form-data":
                post = parse_php_pairs(req.form.items(multi=True))
        body = post
        if ct.startswith("application/json") and method in ("POST", "PUT", "DELETE"):
            body = _json_object(req.get_data(cache=True))
        elif ct.startswith("application/x-www-form-urlencoded") and method in ("PUT", "DELETE"):
            body = parse_urlencoded(req.get_data(cache=True))
        return cls(query=query, post=post, body=body, content_type=content_type)


def php_input() -> PhpInput:
    """The current request's PhpInput, parsed once per request."""
    cached = g.get("_php_input")
    if cached is None:
        cached = g._php_input = PhpInput.from_request(request)
    return cached


def _json_object(raw: bytes) -> dict[str, Any]:
    """json_decode($raw, true) for parameters: anything but an object carries none.

    PHP refuses what Python's json would take: a byte order mark, and escapes of lone
    UTF-16 surrogates ("\\ud800"); such a body carries no parameters either.
    """
    if raw.startswith(b"\xef\xbb\xbf"):
        return {}
    try:
        data = json.loads(raw)
        json.dumps(data, ensure_ascii=False).encode("utf-8")  # fails on a lone surrogate
    except (ValueError, UnicodeEncodeError):
        return {}
    return data if isinstance(data, dict) else {}


def is_truthy(value: Any) -> bool:
    """PHP's boolean conversion: "", "0", 0, 0.0, false, null and [] are false."""
    if value is None or value is False:
        return False
    if isinstance(value, str):
        return value not in ("", "0")
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, (list, dict)):
        return len(value) > 0
    return True


def to_string(value: Any) -> str | None:
    """PHP's string conversion of a scalar parameter (None stays None).

    Arrays have no string value; callers decide what an array means for them.
    """
    if value is None or isinstance(value, str):
        return value
    if value is True:
        return "1"
    if value is False:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return repr(value)
    raise TypeError("an array has no string value")


def json_encode(value: Any) -> str:
    """PHP's json_encode defaults: no spaces, ``/`` as ``\\/``, non-ASCII as ``\\uXXXX``."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/")
