"""Reading a request's body within ``MAX_CONTENT_LENGTH`` (Flask's setting).

Werkzeug refuses a body whose Content-Length is over the limit before reading any of it,
and reads a body without one (chunked) only up to the limit; but it stops there without
saying whether more was sent. ``read_body`` says: a body that goes on past the limit is
refused like one that declared too much, both as ``BodyTooLarge``, which each dialect
words its own way.
"""

from __future__ import annotations

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge

from emulator.web.errors import BodyTooLarge


def read_body(req: Request) -> bytes:
    """The body of ``req`` (read once, then cached); raise BodyTooLarge past the limit."""
    limit = req.max_content_length
    # The same limit, set on the request: werkzeug's stream and the later reads of it take
    # it from there instead of from the app's config (Flask 3.1's per-request setting).
    req.max_content_length = limit
    try:
        data = req.get_data(cache=True)
    except RequestEntityTooLarge:  # a declared Content-Length over the limit: nothing read
        raise BodyTooLarge(limit) from None
    if limit is not None and len(data) >= limit and req.content_length is None:
        # Werkzeug read exactly ``limit`` bytes: one more byte tells a longer body apart.
        if req.environ["wsgi.input"].read(1):
            raise BodyTooLarge(limit)
    return data
