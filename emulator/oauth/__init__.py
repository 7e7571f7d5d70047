"""The OAuth2 engine: dialect-neutral, framework-free (no Flask, no plugins).

It receives a database handle (the request's Core connection, or the CLI's ORM session),
the clock and settings as arguments, raises the typed errors of ``errors`` and returns
plain values; each plugin's dialect turns those into the legacy bytes. The per-worker
stores (``ClientStore``, ``AccessTokenCache``) are built by the host and passed in. This
module is the engine's public API.
"""

from emulator.oauth.bearer import BearerSources
from emulator.oauth.bearer import extract_bearer_token
from emulator.oauth.clients import AuthGuard
from emulator.oauth.clients import ClientCredentials
from emulator.oauth.clients import ClientRecord
from emulator.oauth.clients import ClientScopeHook
from emulator.oauth.clients import ClientStore
from emulator.oauth.clients import authenticate_client
from emulator.oauth.clients import find_client
from emulator.oauth.errors import ClientLocked
from emulator.oauth.errors import OAuthError
from emulator.oauth.grants import GRANTS
from emulator.oauth.grants import TokenPolicy
from emulator.oauth.grants import TokenRequest
from emulator.oauth.grants import issue_token
from emulator.oauth.registration import register_client
from emulator.oauth.scopes import add_scope
from emulator.oauth.scopes import known_scopes
from emulator.oauth.scopes import set_default_scopes
from emulator.oauth.text import has_control_characters
from emulator.oauth.text import validate_plain_text
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
    "AuthGuard",
    "BearerSources",
    "ClientCredentials",
    "ClientLocked",
    "ClientRecord",
    "ClientScopeHook",
    "ClientStore",
    "IssuedToken",
    "OAuthError",
    "TokenInfo",
    "TokenPolicy",
    "TokenRequest",
    "add_scope",
    "authenticate_client",
    "extract_bearer_token",
    "find_client",
    "has_control_characters",
    "import_token",
    "introspect_token",
    "issue_token",
    "known_scopes",
    "purge_expired",
    "register_client",
    "revoke_token",
    "set_default_scopes",
    "validate_plain_text",
    "verify_access_token",
]
