"""The options a redCORE admin could set, with redCORE's names and defaults.

The first four choose between the original code's behaviour (``strict``: all false) and
the behaviour redCORE's manual documents (the defaults); see compat/redcore.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import Schema
from marshmallow import fields
from marshmallow.validate import Range
from marshmallow.validate import Regexp

from emulator.deprecation import Deprecations
from emulator.oauth import TokenPolicy

# The plugin's name: the ?api= value, and its name in the usage counts.
NAME = "oauth2"

_NAME = Regexp(r"^[A-Za-z0-9_.\-]+$", error="Use letters, digits, '_', '.' or '-' only.")


class OAuth2Params(Schema):
    """Admin options of the oauth2 plugin; defaults mirror the manual's behaviour."""

    # The four mode switches (compat/redcore.md "Two modes, one code path").
    client_credentials_refresh_token = fields.Boolean(load_default=True)
    token_params_in_query = fields.Boolean(load_default=True)
    expires_in_as_string = fields.Boolean(load_default=True)
    resource_scope_param = fields.Boolean(load_default=True)

    # bshaffer/redCORE options.
    access_lifetime = fields.Integer(load_default=3600, validate=Range(min=1, max=10 * 365 * 86400))
    refresh_token_lifetime = fields.Integer(
        load_default=1_209_600, validate=Range(min=1, max=10 * 365 * 86400)
    )
    always_issue_new_refresh_token = fields.Boolean(load_default=False)
    unset_refresh_token_after_use = fields.Boolean(load_default=True)
    # Ours (RFC 6819 §5.2.2.3, OAuth 2.1): a used-up refresh token presented again ends
    # every token of its chain. Off by default: the original did not; recommended.
    revoke_on_refresh_token_reuse = fields.Boolean(load_default=False)
    allow_credentials_in_request_body = fields.Boolean(load_default=True)
    token_param_name = fields.String(load_default="access_token", validate=_NAME)
    token_bearer_header_name = fields.String(load_default="Bearer", validate=_NAME)
    www_realm = fields.String(
        load_default="Service",
        validate=Regexp(
            r"^[ !#-\[\]-~]+$", error="A realm is printable ASCII without quotes or backslashes."
        ),
    )

    # RFC 8414 metadata: the issuer URL; empty = the URL the request came in on.
    issuer = fields.String(
        load_default="",
        validate=Regexp(
            r"^(https?://[^?#\s]+)?$", error="Use an http(s) URL without query or fragment."
        ),
    )

    # Ours: Deprecation/Sunset notices per credential or token form (emulator/deprecation.py).
    deprecations = Deprecations()


def advise(params: Mapping[str, Any]) -> list[str]:
    """What `plugins show oauth2` warns about."""
    if params["issuer"]:
        return []
    return [
        "issuer is empty: the RFC 8414 metadata names the Host header the request came "
        "with, so it is sent with Cache-Control: no-store; set issuer to your public URL "
        "(flask --app app plugins set oauth2 issuer=https://...) to let caches keep it."
    ]


def token_policy(params: Mapping[str, Any]) -> TokenPolicy:
    """The engine's token policy from the plugin's params."""
    return TokenPolicy(
        access_lifetime=params["access_lifetime"],
        refresh_token_lifetime=params["refresh_token_lifetime"],
        client_credentials_refresh_token=params["client_credentials_refresh_token"],
        always_issue_new_refresh_token=params["always_issue_new_refresh_token"],
        unset_refresh_token_after_use=params["unset_refresh_token_after_use"],
        revoke_on_refresh_token_reuse=params["revoke_on_refresh_token_reuse"],
    )
