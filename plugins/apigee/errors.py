"""Apigee runtime faults the plugin raises itself (no proxy, a refused path or body, the target).

They are host errors, so the dispatcher catches them, rolls back and hands them to
``render.error`` like any other failure; each carries Apigee's status, faultstring and
errorcode (Apigee Edge runtime error catalogue).
"""

from __future__ import annotations

from typing import ClassVar

from emulator.host import HostError


class Fault(HostError):
    """An Apigee message-processor fault.

    On the wire: ``{"fault":{"faultstring":…,"detail":{"errorcode":…}}}``.
    """

    errorcode: ClassVar[str] = "messaging.runtime.UnknownError"


class ProxyNotFound(Fault):
    """No token flow and no protected proxy has this path (compat/apigee.md §2.4).

    Unanswered: a plugin that answers what no other does may take the request instead.
    """

    status = 404
    unanswered = True
    errorcode = "messaging.adaptors.http.flow.ApplicationNotFound"

    def __init__(self, path: str, virtual_host: str = "secure") -> None:
        super().__init__(f"Unable to identify proxy for host: {virtual_host} and url: {path}")


class NoRoute(Fault):
    """A path under a token proxy that no flow takes: Edge's NoRoute proxy answers an empty
    200 (§8.10; ``render.no_route``). Unanswered, like ProxyNotFound."""

    status = 200
    unanswered = True

    def __init__(self) -> None:
        super().__init__("No flow takes this path")


class ServiceUnavailable(Fault):
    """The target refused the connection, could not be resolved or did not accept in time."""

    status = 503
    errorcode = "messaging.adaptors.http.flow.ServiceUnavailable"

    def __init__(self) -> None:
        super().__init__("The Service is temporarily unavailable")


class GatewayTimeout(Fault):
    """The target did not answer within ``target_timeout_ms`` or ``proxy_deadline_ms``."""

    status = 504
    errorcode = "messaging.adaptors.http.flow.GatewayTimeout"

    def __init__(self) -> None:
        super().__init__("Gateway Timeout")


class UnexpectedEOFAtTarget(Fault):
    """The target closed the connection or sent something that is not HTTP."""

    status = 502
    errorcode = "messaging.adaptors.http.flow.UnexpectedEOFAtTarget"

    def __init__(self) -> None:
        super().__init__("Unexpected EOF at target")


class InvalidPath(Fault):
    """A proxy path that could name another place: dot segments, encoded separators, ``//``.

    The Message Processor's refusal of a path it will not route, with the request line
    in the faultstring (community.apigee.com question 79428, OBS).
    """

    status = 400
    errorcode = "protocol.http.InvalidPath"

    def __init__(self, method: str, path: str, protocol: str) -> None:
        super().__init__(f"Invalid path {method} {path} {protocol}")


class ResponseBodyTooBig(Fault):
    """The target declares a body longer than ``proxy_max_response_bytes`` (Edge's 502)."""

    status = 502
    errorcode = "protocol.http.TooBigBody"

    def __init__(self) -> None:
        super().__init__("Body buffer overflow")
