"""The OAuth2 engine: dialect-neutral, framework-free (no Flask, no plugins).

It receives a SQLAlchemy session, the clock and settings as arguments, raises the typed
errors of ``errors`` and returns plain values; each plugin's dialect turns those into the
legacy bytes. This module is the engine's public API.
"""

from emulator.oauth.bearer import BearerSources
from emulator.oauth.bearer import extract_bearer_token
from emulator.oauth.clients import ClientCache
from emulator.oauth.clients import ClientCredentials
from emulator.oauth.clients import add_product
from emulator.oauth.clients import authenticate_client
from emulator.oauth.clients import find_client
from emulator.oauth.clients import register_client
from emulator.oauth.clients import set_app
from emulator.oauth.errors import OAuthError
from emulator.oauth.grants import GRANTS
from emulator.oauth.grants import TokenPolicy
from emulator.oauth.grants import TokenRequest
from emulator.oauth.grants import issue_token
from emulator.oauth.scopes import add_scope
from emulator.oauth.scopes import set_default_scopes
from emulator.oauth.tokens import AccessTokenCache
from emulator.oauth.tokens import IssuedToken
from emulator.oauth.tokens import TokenInfo
from emulator.oauth.tokens import import_token
from emulator.oauth.tokens import introspect_token
from emulator.oauth.tokens import purge_expired
from emulator.oauth.tokens import revoke_token
from emulator.oauth.tokens import verify_access_token

__all__ = [
    "GRANTS",
    "AccessTokenCache",
    "BearerSources",
    "ClientCache",
    "ClientCredentials",
    "IssuedToken",
    "OAuthError",
    "TokenInfo",
    "TokenPolicy",
    "TokenRequest",
    "add_product",
    "add_scope",
    "authenticate_client",
    "extract_bearer_token",
    "find_client",
    "import_token",
    "introspect_token",
    "issue_token",
    "purge_expired",
    "register_client",
    "revoke_token",
    "set_app",
    "set_default_scopes",
    "verify_access_token",
]
