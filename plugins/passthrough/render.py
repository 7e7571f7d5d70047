"""The plugin's own answers: a short JSON body, ``{"error": code, "message": text}``.

There is no legacy dialect to match here (the old site answered these requests itself), so
the body says plainly what happened; the log has the details (emulator/web/outbound.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response

from emulator.host import BodyTooLarge
from emulator.host import HostError
from emulator.host import json_encode

from .errors import PassthroughError

HEADERS = {"Cache-Control": "no-store"}


def error(err: Exception, operation: str | None, params: Mapping[str, Any] | None) -> Response:
    """Render an error of a request the plugin took (it never answers an ``option``)."""
    if isinstance(err, BodyTooLarge):
        return json_error(413, "request_too_large", err.message)
    if isinstance(err, PassthroughError):
        return json_error(err.status, err.code, err.message)
    if isinstance(err, HostError):
        return json_error(err.status, "error", err.message)
    return json_error(500, "error", "Internal server error")


def json_error(status: int, code: str, message: str) -> Response:
    """``{"error":…,"message":…}`` as application/json, not to be cached."""
    body = json_encode({"error": code, "message": message})
    return Response(body, status=status, content_type="application/json", headers=HEADERS)
