"""What the dispatcher resolved for the current request: read by the metrics, the
dispatcher's own hooks and whoever renders an error."""

from __future__ import annotations

from dataclasses import dataclass

from flask import g

from emulator.oauth import OAuthError
from emulator.web.errors import HostError
from emulator.web.registry import PluginStatus


@dataclass
class Resolution:
    """What resolution has found so far: the plugin (its status) and the operation name.

    Filled in step by step, so that an error half-way is rendered by whoever is known.
    """

    status: PluginStatus | None = None
    operation: str | None = None  # the option name; None for a path route
    # What no plugin answered, once the fallback's turn has come (it comes only once).
    unanswered: HostError | None = None
    forwarded: bool = False  # a fallback took the request: its answer is not a plugin's
    page: bool = False  # a page a plugin declares (a browser's, not an API request)
    error: OAuthError | HostError | None = None  # what the answer renders, if it failed


def resolution() -> Resolution | None:
    """What answered the current request (None: it never reached ``call``, e.g. /healthz)."""
    return g.get("_resolution")
