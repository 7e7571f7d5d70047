"""HTTP details every dialect needs alike: header values that cannot be broken out of."""

from __future__ import annotations


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
