"""What the passthrough plugin answers itself: the legacy site is not set, not reachable, or
may not be asked for this path. Host errors, so the dispatcher renders them once
(``render.error``)."""

from __future__ import annotations

from typing import ClassVar

from emulator.host import HostError
from emulator.host import Trouble


class PassthroughError(HostError):
    """A request the plugin does not forward; ``code`` is the JSON body's ``error``."""

    code: ClassVar[str] = "bad_gateway"


class NotConfigured(PassthroughError):
    """The plugin is enabled, but legacy_url is empty."""

    status = 502
    code = "not_configured"

    def __init__(self) -> None:
        super().__init__("The legacy site is not configured")


class LegacyUnavailable(PassthroughError):
    """The legacy site did not give an answer to pass on (before the answer started)."""

    status = 502
    MESSAGES: ClassVar[dict[Trouble, str]] = {
        Trouble.UNREACHABLE: "The legacy site could not be reached",
        Trouble.TIMEOUT: "The legacy site did not answer in time",
        Trouble.CUT_OFF: "The legacy site's answer broke off",
        Trouble.TOO_LARGE: "The legacy site's answer is too large",
        Trouble.BAD_HEADER: "The legacy site's answer has a malformed header",
        Trouble.BUSY: "Too many requests to the legacy site are under way; try again later",
    }

    def __init__(self, trouble: Trouble) -> None:
        super().__init__(self.MESSAGES[trouble])
        self.trouble = trouble
        if trouble is Trouble.BUSY:  # not the legacy site's fault: this service's bound
            self.status = 503


class InvalidPath(PassthroughError):
    """A path that could name another place than itself (emulator.web.outbound.is_plain_path)."""

    status = 400
    code = "invalid_path"

    def __init__(self) -> None:
        super().__init__(
            "The path may not hold dot segments, empty segments, backslashes or encoded slashes"
        )


class LoopDetected(PassthroughError):
    """A request that carries this service's hop mark: legacy_url leads back here."""

    status = 508
    code = "loop_detected"

    def __init__(self) -> None:
        super().__init__("The request came back to this service: the legacy site's URL leads here")
