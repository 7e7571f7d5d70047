"""Apigee Edge: ``/oauth/accesstoken`` and friends, and protected API proxies.

The token paths (``base_paths``, Edge's defaults in compat/apigee.md decision 2) and the
proxies added with ``flask apigee proxies add`` change at run time, so the plugin
declares one catch-all route and ``flows.resolve`` picks the flow for each request.
Flask always prefers a more specific rule, so the host's paths (``/``, ``/index.php``,
``/healthz``) and other plugins' routes (``/.well-known/...``) are never shadowed, and a
disabled plugin's paths answer the host's 404. Apps and API products live in this
plugin's tables; their scopes reach the engine through the ``client_scope`` hook.
"""

from emulator.host import HTTP_METHODS
from emulator.host import Plugin
from emulator.host import Route

from . import admin
from . import render
from . import views
from .apps import app_scope
from .cli import apigee as apigee_cli
from .params import GENERATE
from .params import NAME
from .params import REFRESH
from .params import ApigeeParams

plugin = Plugin(
    name=NAME,
    title="Apigee Edge OAuth proxy",
    version="1.0.0",
    params=ApigeeParams,
    routes=(Route("/<path:_path>", "gateway", views.gateway_entry, methods=HTTP_METHODS),),
    cli=apigee_cli,
    enabled_on_install=False,
    render_error=render.error,
    client_scope=app_scope,
    token_examples=admin.token_examples,
    client_panel=admin.client_panel,
    issuing_operations=frozenset({GENERATE, REFRESH}),
)
