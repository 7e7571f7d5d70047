"""Which Apigee flow a request path takes, in Apigee's order.

Flask's routes are fixed when the app is built, but ``base_paths`` and the protected
proxies change at run time (a param, a CLI command), so the plugin declares one catch-all
route and each request's path is resolved here against the current params and proxies:

1. a token endpoint of ``base_paths`` whose verb condition holds -> GenerateAccessToken
   or RefreshAccessToken;
2. a path that could name another place (``proxies.is_plain_path``: dot segments,
   encoded separators, ``//``) -> 400 "Invalid path" (``InvalidPath``), before any proxy
   is matched;
3. the protected proxy with the longest base path owning the path -> VerifyAccessToken,
   then the target; a path that a lenient backend could read as one under a more specific
   proxy (``/shop/admin;x``, ``/shop/ADMIN.`` with a ``/shop/admin`` proxy) -> 400
   "Invalid path" too (``proxies.AmbiguousPath``);
4. any other path under a token proxy's base path (``/oauth/...``, or a wrong verb on a
   POST-only flow) -> the empty 200 of a flow-less NoRoute proxy (``NoRoute``);
5. anything else -> 404 "Unable to identify proxy" (``ProxyNotFound``).

The last two are raised, not answered: no flow of the plugin takes the path, so a plugin
that answers what no other does (the host's fallback) may take it; without one, the
plugin's ``render.error`` words them as Edge did.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from emulator.host import DbHandle
from emulator.host import RequestPath
from emulator.host import is_plain_path

from .errors import InvalidPath
from .errors import NoRoute
from .errors import ProxyNotFound
from .params import parse_flow
from .proxies import AmbiguousPath
from .proxies import ProxyRoute
from .proxies import match_proxy


@dataclass(frozen=True)
class RequestLine:
    """What picks a request's flow: its method, its path and (for faults) its HTTP version."""

    method: str
    path: RequestPath
    protocol: str = "HTTP/1.1"


@dataclass(frozen=True)
class TokenFlow:
    """A token endpoint: ``operation`` is GenerateAccessToken or RefreshAccessToken."""

    operation: str


@dataclass(frozen=True)
class ProxyFlow:
    """A protected proxy's path: the target gets the suffix of exactly this path."""

    proxy: ProxyRoute
    path: RequestPath


Flow = TokenFlow | ProxyFlow


def resolve(connect: Callable[[], DbHandle], line: RequestLine, params: Mapping[str, Any]) -> Flow:
    """The flow the request takes; raise InvalidPath, NoRoute or ProxyNotFound when none.

    ``connect`` gives the database handle, asked for only to look up a proxy (a token
    endpoint's path is answered from the params).
    """
    path = line.path.decoded
    flow = params["base_paths"].get(path)
    if flow is not None:
        required_method, operation = parse_flow(flow)
        if required_method is None or line.method == required_method:
            return TokenFlow(operation)
    if not is_plain_path(line.path):
        raise InvalidPath(line.method, line.path.sent, line.protocol)
    try:
        proxy = match_proxy(connect(), path)
    except AmbiguousPath:
        raise InvalidPath(line.method, line.path.sent, line.protocol) from None
    if proxy is not None:
        return ProxyFlow(proxy, line.path)
    if flow is not None or under_token_proxy(path, params):
        raise NoRoute()
    raise ProxyNotFound(path)


def under_token_proxy(path: str, params: Mapping[str, Any]) -> bool:
    """Whether ``path`` lies under the base path of a token endpoint (its parent path)."""
    for endpoint in params["base_paths"]:
        base = endpoint.rsplit("/", 1)[0]
        if base and (path == base or path.startswith(base + "/")):
            return True
    return False
