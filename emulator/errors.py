"""Host errors: what the dispatcher and registry raise before or around a plugin's handler."""

from __future__ import annotations

from typing import ClassVar


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
    """A request the host answers for itself (or lets the resolved plugin word)."""

    status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownApi(HostError):
    """No enabled plugin answers this ``api`` (unknown, disabled, or none given)."""

    status = 404


class OperationMissing(HostError):
    """The ``option`` parameter is empty (after the ``com_`` prefix is stripped)."""

    status = 500


class UnknownOperation(HostError):
    """The plugin has no such operation."""

    status = 404


class MethodNotAllowed(HostError):
    """The operation does not take this HTTP method."""

    status = 405

    def __init__(self, message: str, allowed: frozenset[str]) -> None:
        super().__init__(message)
        self.allowed = allowed


class PluginMisconfigured(HostError):
    """Stored params no longer validate (e.g. after an upgrade); fix with `plugins set`."""

    status = 500
