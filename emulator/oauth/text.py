"""Control characters: never part of a client id, secret, token, scope or path.

Requests may carry them (``%00`` decodes to NUL, ``%0A`` to a line feed); PostgreSQL
refuses NUL in text outright, so a query with one raises instead of matching nothing. The
engine answers such a value as one that matches nothing, before any query, and admin
input refuses them.
"""

from __future__ import annotations

import re

# C0 controls (NUL, tab, line breaks, ...) and DEL.
_CONTROL = re.compile("[\x00-\x1f\x7f]")


def has_control_characters(text: str) -> bool:
    """Whether ``text`` holds a C0 control character or DEL."""
    return _CONTROL.search(text) is not None


def validate_plain_text(text: str, what: str) -> None:
    """Raise ValueError when ``text`` (an admin's ``what``) holds a control character."""
    if has_control_characters(text):
        raise ValueError(
            f"{what} {text!r} holds a control character (such as NUL or a line break)."
        )
