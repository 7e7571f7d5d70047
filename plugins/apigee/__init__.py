"""Apigee Edge: ``/oauth/accesstoken`` and friends, and protected API proxies.

The three token routes are Edge's defaults (compat/apigee.md decision 2). The catch-all
route takes every other path no more specific route has, so that ``base_paths`` and the
proxies added with ``flask apigee proxies add`` work without a restart: every route
lands in ``views.gateway_entry``, which resolves the path against the current params and
proxies. Static rules (``/``, ``/index.php``, ``/.well-known/...``, ``/healthz``) always
win over the catch-all in Flask's routing, and a disabled plugin's paths answer the
host's 404.
"""

from emulator.plugin import HTTP_METHODS
from emulator.plugin import Plugin
from emulator.plugin import Route

from . import models  # noqa: F401  (the apigee_proxies table, for migrations)
from . import render
from . import views
from .cli import apigee as apigee_cli
from .params import ApigeeParams

ANY_METHOD = frozenset(HTTP_METHODS)
POST = frozenset({"POST"})

plugin = Plugin(
    name="apigee",
    title="Apigee Edge OAuth proxy",
    version="1.0.0",
    params=ApigeeParams,
    routes=(
        Route("/oauth/accesstoken", "accesstoken", views.gateway_entry, methods=ANY_METHOD),
        Route(
            "/oauth/client_credential/accesstoken",
            "client_credential_accesstoken",
            views.gateway_entry,
            methods=POST,
        ),
        Route(
            "/oauth/client_credential/refresh_accesstoken",
            "client_credential_refresh",
            views.gateway_entry,
            methods=POST,
        ),
        Route("/<path:_path>", "proxy", views.gateway_entry, methods=ANY_METHOD),
    ),
    cli=apigee_cli,
    enabled_on_install=False,
    render_error=render.error,
)
