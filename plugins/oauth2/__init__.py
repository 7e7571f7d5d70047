"""redCORE OAuth2 server: answers ``index.php?option=<op>&api=oauth2``."""

from emulator.host import HTTP_METHODS
from emulator.host import POST
from emulator.host import Operation
from emulator.host import Plugin
from emulator.host import Route

from . import admin
from . import joomla_passwords
from . import render
from . import views
from .legacy.cli import import_command
from .legacy.link_cli import link_group
from .params import NAME
from .params import OAuth2Params
from .params import advise

plugin = Plugin(
    name=NAME,
    title="redCORE OAuth2 server",
    version="1.0.0",
    params=OAuth2Params,
    operations={
        "token": Operation(views.token, methods=POST),
        "resource": Operation(views.resource, methods=HTTP_METHODS),
        "revoke": Operation(views.revoke, methods=POST),
        "introspect": Operation(views.introspect, methods=POST),
    },
    routes=(Route("/.well-known/oauth-authorization-server", "metadata", views.metadata),),
    legacy_cli=(import_command, link_group),
    enabled_on_install=True,
    render_error=render.error,
    password_verifier=joomla_passwords.verify_password,
    advise=advise,
    token_examples=admin.token_examples,
    issuing_operations=frozenset({"token"}),
    client_marks=(admin.imported,),
    client_tokens_ended=views.client_tokens_ended,
    facts=admin.facts,
)
