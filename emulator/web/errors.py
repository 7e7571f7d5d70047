"""Host errors: what the dispatcher and registry raise before or around a plugin's handler,
and the one shape the host answers them in.
"""

from __future__ import annotations

from typing import ClassVar

from flask import Response

from emulator.web.http import json_encode


class PluginDeclarationError(Exception):
    """A plugin's manifest is broken; startup stops with this message."""


class ParamsError(ValueError):
    """Plugin params failed validation; ``messages`` maps each key to its reasons."""

    def __init__(self, plugin: str, messages: dict) -> None:
        self.plugin = plugin
        self.messages = messages
        detail = "; ".join(
            f"{key}: {' '.join(map(str, why)) if isinstance(why, list) else why}"
            for key, why in messages.items()
        )
        super().__init__(f"Invalid params for plugin {plugin!r}: {detail}")


class HostError(Exception):
    """A request the host answers for itself (or lets the resolved plugin word).

    ``unanswered`` marks the errors that say no enabled plugin answers the request at all
    (an unknown api, option or path), as opposed to a plugin's answer in its dialect (a
    wrong method, an empty option, a body too large): the dispatcher gives an unanswered
    request to the first enabled plugin with a ``fallback``, and renders the error only
    when there is none.
    """

    status: ClassVar[int] = 500
    unanswered: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownApi(HostError):
    """No enabled plugin answers this ``api`` (unknown, disabled, or none given)."""

    status = 404
    unanswered = True


class PathNotFound(HostError):
    """No route answers this path (a disabled plugin's paths do not exist)."""

    status = 404
    unanswered = True
    # Werkzeug's NotFound text, which the host answered unknown paths with.
    DESCRIPTION = (
        "The requested URL was not found on the server. If you entered the URL manually "
        "please check your spelling and try again."
    )

    def __init__(self, description: str | None = None) -> None:
        super().__init__(description or self.DESCRIPTION)


class OperationMissing(HostError):
    """The ``option`` parameter is empty (after the ``com_`` prefix is stripped)."""

    status = 500


class UnknownOperation(HostError):
    """The plugin has no such operation."""

    status = 404
    unanswered = True


class NotServedHere(HostError):
    """A plugin leaves a request it could answer to the legacy site (e.g. a grant an admin
    keeps there while a site moves): the dispatcher gives it to the fallback as it gives an
    unanswered one; without a fallback, ``instead`` (the plugin's own error) is answered."""

    status = 404
    unanswered = True

    def __init__(self, message: str, instead: Exception) -> None:
        super().__init__(message)
        self.instead = instead


class MethodNotAllowed(HostError):
    """The operation does not take this HTTP method."""

    status = 405

    def __init__(self, message: str, allowed: frozenset[str]) -> None:
        super().__init__(message)
        self.allowed = allowed


class BodyTooLarge(HostError):
    """The request body is over MAX_CONTENT_LENGTH; it was not read (past the limit).

    Each dialect words the 413 its own way (docs/operate/input-limits.md).
    """

    status = 413

    def __init__(self, limit: int | None) -> None:
        super().__init__(
            f"The request body is larger than {limit} bytes"
            if limit is not None
            else "The request body is too large"
        )
        self.limit = limit


class PluginMisconfigured(HostError):
    """Stored params no longer validate (e.g. after an upgrade); fix with `plugins set`."""

    status = 500


def exception_response(message: str, status: int, *, code: int | None = None) -> Response:
    """The legacy dispatcher's exception shape: ``{"message","code","type"}`` sent as text/html.

    Joomla rendered an uncaught exception this way; ``code`` is the exception's code when
    it differs from the HTTP status (redCORE's empty-operation error says 0).
    """
    body = json_encode(
        {"message": message, "code": status if code is None else code, "type": "RuntimeException"}
    )
    return Response(body, status=status, content_type="text/html; charset=UTF-8")


def host_error_response(error: HostError) -> Response:
    """A host error in the host's shape (for a plugin whose dialect has none of its own)."""
    return exception_response(error.message, error.status)
