"""redCORE OAuth2 server: answers ``index.php?option=<op>&api=oauth2``."""

from emulator.host import HTTP_METHODS
from emulator.host import POST
from emulator.host import Operation
from emulator.host import Page
from emulator.host import Plugin
from emulator.host import Route

from . import admin
from . import joomla_passwords
from . import pages
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
        "profile": Operation(views.profile, methods=HTTP_METHODS),
        "revoke": Operation(views.revoke, methods=POST),
        "introspect": Operation(views.introspect, methods=POST),
        "authorize": Operation(pages.authorize, methods=frozenset({"GET", "HEAD", "POST"})),
    },
    # Joomla's login page and logout task, where option=authorize sends a guest (pages.py).
    pages=(
        Page("logout", pages.LOGOUT_QUERY, pages.logout, methods=POST),
        Page("login", pages.LOGIN_QUERY, pages.login, methods=frozenset({"GET", "HEAD", "POST"})),
    ),
    cookies=(pages.SESSION_COOKIE, pages.CSRF_COOKIE),
    routes=(Route("/.well-known/oauth-authorization-server", "metadata", views.metadata),),
    legacy_cli=(import_command, link_group),
    enabled_on_install=True,
    render_error=pages.render_error,
    password_verifier=joomla_passwords.verify_password,
    advise=advise,
    token_examples=admin.token_examples,
    issuing_operations=frozenset({"token"}),
    client_marks=(admin.imported,),
    client_tokens_ended=views.client_tokens_ended,
    facts=admin.facts,
)
