"""Passthrough: what no enabled plugin answers goes to the legacy site; shadow mode.

With ``legacy_url`` set and the plugin enabled, a request that no enabled plugin answers
(an unknown or disabled ``api``, none at all, an ``option`` a plugin does not have, a path
no route claims) is forwarded to the old site and its answer streamed back unchanged
(``views.forward``, the host's ``fallback`` hook). With ``shadow`` on, requests a plugin
answered are also sent to the old site in the background and the answers compared
(``views.observe``, the host's ``observe`` hook; shadow.py); ``flask legacy shadow-report``
prints what differed. Disabled on a new installation.
"""

from emulator.host import Plugin

from . import render
from . import views
from .cli import shadow_report
from .params import PassthroughParams
from .params import advise

plugin = Plugin(
    name="passthrough",
    title="Passthrough to the legacy site",
    version="1.0.0",
    params=PassthroughParams,
    legacy_cli=(shadow_report,),
    enabled_on_install=False,
    render_error=render.error,
    advise=advise,
    fallback=views.forward,
    observe=views.observe,
    required_to_enable=("legacy_url",),
)
