"""Wire details the host and every dialect need alike: PHP's JSON, header values that
cannot be broken out of."""

from __future__ import annotations

import json
from typing import Any


def json_encode(value: Any) -> str:
    """PHP's json_encode defaults: no spaces, ``/`` as ``\\/``, non-ASCII as ``\\uXXXX``."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/")


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
