"""The OAuth2 engine: dialect-neutral, framework-free (no Flask, no plugins).

It receives a database handle (the request's Core connection, or the CLI's ORM session),
the clock and settings as arguments, raises the typed errors of ``errors`` and returns
plain values; each plugin's dialect turns those into the legacy bytes. The per-worker
stores (``ClientStore``, ``AccessTokenCache``, ``VerifiedSecrets``) and the plugins'
password verifiers are built by the host and passed in. This
module is the engine's public API.
"""

from emulator.oauth.authorize import CODE
from emulator.oauth.authorize import IMPLICIT
from emulator.oauth.authorize import TOKEN
from emulator.oauth.authorize import Authorization
from emulator.oauth.authorize import AuthorizationRequest
from emulator.oauth.authorize import AuthorizePolicy
from emulator.oauth.authorize import approve_authorization
from emulator.oauth.authorize import deny_authorization
from emulator.oauth.authorize import validate_authorization
from emulator.oauth.bearer import BearerSources
from emulator.oauth.bearer import TokenSource
from emulator.oauth.bearer import extract_bearer_token
from emulator.oauth.clients import AuthGuard
from emulator.oauth.clients import ClientCredentials
from emulator.oauth.clients import ClientRecord
from emulator.oauth.clients import ClientScopeHook
from emulator.oauth.clients import ClientStore
from emulator.oauth.clients import CredentialSource
from emulator.oauth.clients import authenticate_client
from emulator.oauth.clients import check_secret
from emulator.oauth.clients import find_client
from emulator.oauth.clients import hash_secret
from emulator.oauth.clients import needs_rehash
from emulator.oauth.codes import CodeImport
from emulator.oauth.codes import IssuedCode
from emulator.oauth.codes import check_code_import
from emulator.oauth.codes import import_code
from emulator.oauth.codes import issue_code
from emulator.oauth.errors import AccessDenied
from emulator.oauth.errors import ClientLocked
from emulator.oauth.errors import ExpiredToken
from emulator.oauth.errors import InsufficientScope
from emulator.oauth.errors import InvalidClient
from emulator.oauth.errors import InvalidGrant
from emulator.oauth.errors import InvalidRequest
from emulator.oauth.errors import InvalidScope
from emulator.oauth.errors import InvalidToken
from emulator.oauth.errors import OAuthError
from emulator.oauth.errors import TokenMissing
from emulator.oauth.errors import UnauthorizedClient
from emulator.oauth.errors import UnsupportedGrantType
from emulator.oauth.errors import UnsupportedResponseType
from emulator.oauth.grants import AUTHORIZATION_CODE
from emulator.oauth.grants import CLIENT_CREDENTIALS
from emulator.oauth.grants import GRANTS
from emulator.oauth.grants import PASSWORD
from emulator.oauth.grants import REFRESH_TOKEN
from emulator.oauth.grants import GrantServices
from emulator.oauth.grants import TokenPolicy
from emulator.oauth.grants import TokenRequest
from emulator.oauth.grants import issue_token
from emulator.oauth.memo import VerifiedSecrets
from emulator.oauth.registration import MAX_SECRET_GRACE
from emulator.oauth.registration import MISSING
from emulator.oauth.registration import REMOVED
from emulator.oauth.registration import ClientChange
from emulator.oauth.registration import ClientSpec
from emulator.oauth.registration import ClientSync
from emulator.oauth.registration import check_client_spec
from emulator.oauth.registration import check_new_client_id
from emulator.oauth.registration import register_client
from emulator.oauth.registration import registered_clients
from emulator.oauth.registration import remove_client
from emulator.oauth.registration import rotate_secret
from emulator.oauth.registration import set_client_disabled
from emulator.oauth.registration import sync_clients
from emulator.oauth.registration import update_client
from emulator.oauth.scopes import add_scope
from emulator.oauth.scopes import clients_using_scope
from emulator.oauth.scopes import known_scopes
from emulator.oauth.scopes import normalize_scope
from emulator.oauth.scopes import remove_scope
from emulator.oauth.scopes import scope_defaults
from emulator.oauth.scopes import scope_ids
from emulator.oauth.scopes import scope_names
from emulator.oauth.scopes import set_default_scopes
from emulator.oauth.scopes import validate_scope
from emulator.oauth.scopes import validate_scope_name
from emulator.oauth.sessions import end_user_session
from emulator.oauth.sessions import end_user_sessions
from emulator.oauth.sessions import session_user
from emulator.oauth.sessions import start_user_session
from emulator.oauth.text import has_control_characters
from emulator.oauth.text import validate_plain_text
from emulator.oauth.tokens import GONE
from emulator.oauth.tokens import IMPORTED
from emulator.oauth.tokens import UNCHANGED
from emulator.oauth.tokens import UPDATED
from emulator.oauth.tokens import AccessTokenCache
from emulator.oauth.tokens import IssuedToken
from emulator.oauth.tokens import TokenImport
from emulator.oauth.tokens import TokenInfo
from emulator.oauth.tokens import TokenRow
from emulator.oauth.tokens import check_token_import
from emulator.oauth.tokens import client_tokens
from emulator.oauth.tokens import find_refresh_token
from emulator.oauth.tokens import find_used_refresh_token
from emulator.oauth.tokens import hash_token
from emulator.oauth.tokens import import_token
from emulator.oauth.tokens import introspect_token
from emulator.oauth.tokens import is_expired
from emulator.oauth.tokens import purge_expired
from emulator.oauth.tokens import revoke_client_tokens
from emulator.oauth.tokens import revoke_token
from emulator.oauth.tokens import stored_token_hashes
from emulator.oauth.tokens import sync_tokens
from emulator.oauth.tokens import used_refresh_hashes
from emulator.oauth.tokens import verify_access_token
from emulator.oauth.users import ARGON2ID
from emulator.oauth.users import NO_PASSWORD
from emulator.oauth.users import OTHER_FORMAT
from emulator.oauth.users import USER_FIELDS
from emulator.oauth.users import PasswordVerifier
from emulator.oauth.users import UserGuard
from emulator.oauth.users import UserImport
from emulator.oauth.users import UserLocked
from emulator.oauth.users import UserPage
from emulator.oauth.users import UserRecord
from emulator.oauth.users import UserSpec
from emulator.oauth.users import UserToken
from emulator.oauth.users import add_users
from emulator.oauth.users import authenticate_user
from emulator.oauth.users import check_new_password
from emulator.oauth.users import check_password
from emulator.oauth.users import check_user_import
from emulator.oauth.users import check_username
from emulator.oauth.users import create_user
from emulator.oauth.users import delete_user
from emulator.oauth.users import find_user
from emulator.oauth.users import get_user
from emulator.oauth.users import hash_password
from emulator.oauth.users import list_users
from emulator.oauth.users import password_format
from emulator.oauth.users import remove_users
from emulator.oauth.users import revoke_user_tokens
from emulator.oauth.users import set_password
from emulator.oauth.users import set_user_blocked
from emulator.oauth.users import update_user
from emulator.oauth.users import user_clients
from emulator.oauth.users import user_ids_by_key
from emulator.oauth.users import user_tokens
from emulator.oauth.users import username_key
from emulator.oauth.users import users_by_id

__all__ = [
    "CODE",
    "IMPLICIT",
    "TOKEN",
    "AccessDenied",
    "Authorization",
    "AuthorizationRequest",
    "AuthorizePolicy",
    "UnsupportedResponseType",
    "approve_authorization",
    "deny_authorization",
    "validate_authorization",
    "end_user_session",
    "end_user_sessions",
    "session_user",
    "start_user_session",
    "check_secret",
    "hash_secret",
    "needs_rehash",
    "MAX_SECRET_GRACE",
    "remove_client",
    "rotate_secret",
    "set_client_disabled",
    "update_client",
    "clients_using_scope",
    "TokenRow",
    "client_tokens",
    "revoke_client_tokens",
    "AUTHORIZATION_CODE",
    "CLIENT_CREDENTIALS",
    "CodeImport",
    "IssuedCode",
    "check_code_import",
    "import_code",
    "issue_code",
    "GONE",
    "GRANTS",
    "GrantServices",
    "PASSWORD",
    "IMPORTED",
    "MISSING",
    "REFRESH_TOKEN",
    "REMOVED",
    "UNCHANGED",
    "UPDATED",
    "AccessTokenCache",
    "AuthGuard",
    "BearerSources",
    "ClientChange",
    "ClientCredentials",
    "ClientLocked",
    "ClientRecord",
    "ClientScopeHook",
    "ClientSpec",
    "ClientStore",
    "ClientSync",
    "CredentialSource",
    "ExpiredToken",
    "InsufficientScope",
    "InvalidClient",
    "InvalidGrant",
    "InvalidRequest",
    "InvalidScope",
    "InvalidToken",
    "IssuedToken",
    "OAuthError",
    "TokenImport",
    "TokenInfo",
    "TokenMissing",
    "TokenPolicy",
    "TokenSource",
    "TokenRequest",
    "UnauthorizedClient",
    "UnsupportedGrantType",
    "add_scope",
    "authenticate_client",
    "check_client_spec",
    "check_new_client_id",
    "check_token_import",
    "extract_bearer_token",
    "find_client",
    "has_control_characters",
    "find_refresh_token",
    "find_used_refresh_token",
    "hash_token",
    "import_token",
    "introspect_token",
    "is_expired",
    "issue_token",
    "known_scopes",
    "normalize_scope",
    "purge_expired",
    "register_client",
    "remove_scope",
    "revoke_token",
    "scope_defaults",
    "scope_ids",
    "scope_names",
    "set_default_scopes",
    "registered_clients",
    "sync_clients",
    "stored_token_hashes",
    "sync_tokens",
    "used_refresh_hashes",
    "validate_plain_text",
    "validate_scope",
    "validate_scope_name",
    "verify_access_token",
    # site users
    "ARGON2ID",
    "NO_PASSWORD",
    "OTHER_FORMAT",
    "USER_FIELDS",
    "PasswordVerifier",
    "UserGuard",
    "UserImport",
    "UserLocked",
    "UserPage",
    "UserRecord",
    "UserSpec",
    "UserToken",
    "VerifiedSecrets",
    "add_users",
    "authenticate_user",
    "check_new_password",
    "check_password",
    "check_user_import",
    "check_username",
    "create_user",
    "delete_user",
    "find_user",
    "get_user",
    "hash_password",
    "list_users",
    "password_format",
    "remove_users",
    "revoke_user_tokens",
    "set_password",
    "set_user_blocked",
    "update_user",
    "user_clients",
    "user_ids_by_key",
    "user_tokens",
    "username_key",
    "users_by_id",
]
