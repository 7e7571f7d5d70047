"""The options a redCORE admin could set, with redCORE's names and defaults.

The first four choose between the original code's behaviour (``strict``: all false) and
the behaviour redCORE's manual documents (the defaults); see compat/redcore.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow.validate import Length
from marshmallow.validate import Range
from marshmallow.validate import Regexp

from emulator.host import Deprecations
from emulator.host import is_truthy
from emulator.host import to_string
from emulator.oauth import AuthorizePolicy
from emulator.oauth import TokenPolicy

from .wire import authorize_redirect_uri_allowed
from .wire import redirect_uris_match

# The plugin's name: the ?api= value, and its name in the usage counts.
NAME = "oauth2"

_NAME = Regexp(r"^[A-Za-z0-9_.\-]+$", error="Use letters, digits, '_', '.' or '-' only.")


# The grant types of redCORE's OAuth2 server (bshaffer's), served here or not (served_grants).
GRANT_NAMES = frozenset({"authorization_code", "client_credentials", "password", "refresh_token"})


def _check_grants(value: str) -> None:
    unknown = sorted(set(value.split()) - GRANT_NAMES)
    if unknown or value != " ".join(value.split()):
        raise ValidationError(
            f"Grant types separated by single spaces, of: {', '.join(sorted(GRANT_NAMES))}"
            + (f" (not {', '.join(unknown)})." if unknown else ".")
        )


class OAuth2Params(Schema):
    """Admin options of the oauth2 plugin; defaults mirror the manual's behaviour."""

    # The four mode switches (compat/redcore.md "Two modes, one code path").
    client_credentials_refresh_token = fields.Boolean(
        load_default=True,
        metadata={
            "description": (
                "client_credentials also returns a refresh_token (never to a client "
                "whose grant types exclude refresh_token)."
            )
        },
    )
    token_params_in_query = fields.Boolean(
        load_default=True,
        metadata={
            "description": (
                "Token parameters absent from the body are read from the query string "
                "(the body wins; HTTP Basic still wins for credentials)."
            )
        },
    )
    expires_in_as_string = fields.Boolean(
        load_default=True,
        metadata={
            "description": 'Send "expires_in":"3600" (what real sites sent) instead of 3600.'
        },
    )
    resource_scope_param = fields.Boolean(
        load_default=True,
        metadata={
            "description": (
                "option=resource&scope=a b requires all listed scopes; false ignores scope."
            )
        },
    )

    # bshaffer/redCORE options.
    access_lifetime = fields.Integer(
        load_default=3600,
        validate=Range(min=1, max=10 * 365 * 86400),
        metadata={"description": "Seconds an access token lives."},
    )
    refresh_token_lifetime = fields.Integer(
        load_default=1_209_600,
        validate=Range(min=1, max=10 * 365 * 86400),
        metadata={"description": "Seconds a refresh token lives (14 days by default)."},
    )
    auth_code_lifetime = fields.Integer(
        load_default=30,
        validate=Range(min=1, max=600),
        metadata={
            "description": (
                "Seconds an authorization code lives (30, bshaffer's default; RFC 6749 "
                "recommends at most 600)."
            )
        },
    )
    always_issue_new_refresh_token = fields.Boolean(
        load_default=False,
        metadata={"description": "The refresh grant also returns a new refresh token."},
    )

    # The authorization endpoint (option=authorize) and its pages.
    enforce_state = fields.Boolean(
        load_default=True,
        metadata={"description": "option=authorize requires a state parameter."},
    )
    require_exact_redirect_uri = fields.Boolean(
        load_default=True,
        metadata={
            "description": (
                "option=authorize takes a redirect_uri only when it equals a registered "
                "one; false: when it starts with one (any case), as bshaffer allowed."
            )
        },
    )
    allow_implicit = fields.Boolean(
        load_default=False,
        metadata={
            "description": (
                "option=authorize takes response_type=token (the implicit grant: the access "
                "token in the redirect's fragment)."
            )
        },
    )
    redirect_with_token = fields.Boolean(
        load_default=False,
        metadata={
            "description": (
                "With the implicit grant, the access token is also put in the redirect's "
                "query (redCORE's option)."
            )
        },
    )
    site_name = fields.String(
        load_default="",
        validate=Length(max=200),
        metadata={
            "description": (
                'The site\'s name on the consent page ("Welcome to the NAME API Server!"); '
                "empty: the host name the request came to."
            )
        },
    )
    login_session_lifetime = fields.Integer(
        load_default=3600,
        validate=Range(min=60, max=30 * 86400),
        metadata={
            "description": ("Seconds a site user stays logged in to the login and consent pages.")
        },
    )
    served_grants = fields.String(
        load_default="",
        validate=_check_grants,
        metadata={
            "description": (
                "The grant types answered here, space-separated (empty: all). A token "
                "request for another is forwarded to the legacy site by the passthrough "
                "plugin (unsupported_grant_type without it), e.g. 'client_credentials "
                "refresh_token' while the site's users are not imported yet."
            )
        },
    )
    unset_refresh_token_after_use = fields.Boolean(
        load_default=True, metadata={"description": "A refresh token works once."}
    )
    # Ours (RFC 6819 §5.2.2.3, OAuth 2.1): a used-up refresh token presented again ends
    # every token of its chain. Off by default: the original did not; recommended.
    revoke_on_refresh_token_reuse = fields.Boolean(
        load_default=False,
        metadata={
            "description": (
                "A used-up refresh token presented again ends every token of its chain "
                "(recommended; the original did not)."
            )
        },
    )
    allow_credentials_in_request_body = fields.Boolean(
        load_default=True,
        metadata={
            "description": "Accept client_id/client_secret in the body (else HTTP Basic only)."
        },
    )
    token_param_name = fields.String(
        load_default="access_token",
        validate=_NAME,
        metadata={"description": "The query/body parameter carrying a bearer token."},
    )
    token_bearer_header_name = fields.String(
        load_default="Bearer",
        validate=_NAME,
        metadata={
            "description": (
                "The Authorization scheme accepted (any case); the challenge always says Bearer."
            )
        },
    )
    www_realm = fields.String(
        load_default="Service",
        validate=Regexp(
            r"^[ !#-\[\]-~]+$", error="A realm is printable ASCII without quotes or backslashes."
        ),
        metadata={
            "description": (
                "The realm in WWW-Authenticate (printable ASCII, no quotes or backslashes)."
            )
        },
    )

    # RFC 8414 metadata: the issuer URL; empty = the URL the request came in on.
    issuer = fields.String(
        load_default="",
        validate=Regexp(
            r"^(https?://[^?#\s]+)?$", error="Use an http(s) URL without query or fragment."
        ),
        metadata={
            "description": (
                "The RFC 8414 issuer URL; empty: the URL the request came in on (the "
                "metadata is then not cacheable)."
            )
        },
    )

    # Ours: Deprecation/Sunset notices per credential or token form (emulator/web/deprecation.py).
    deprecations = Deprecations(
        metadata={
            "description": (
                "Deprecation and Sunset notices per credential or token form: a JSON "
                'object such as {"query": {"deprecation": "2026-07-01", "sunset": '
                '"2027-01-01", "link": "https://..."}}; forms: query, body, json, '
                "basic, header, or * for every counted answer."
            )
        }
    )


def advise(params: Mapping[str, Any]) -> list[str]:
    """What `plugins show oauth2` warns about."""
    if params["issuer"]:
        return []
    return [
        "issuer is empty: the RFC 8414 metadata names the Host header the request came "
        "with, so it is sent with Cache-Control: no-store; set issuer to your public URL "
        "(https://...) to let caches keep it."
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
        auth_code_lifetime=params["auth_code_lifetime"],
        redirect_uri_matches=redirect_uris_match,
        # redCORE's storage looked the password grant's client scope up by the client_id
        # parameter, not the authenticated client (compat/redcore.md, "Site users").
        user_scope_from_client_id_param=True,
    )


def authorize_policy(params: Mapping[str, Any]) -> AuthorizePolicy:
    """The engine's rules for option=authorize from the plugin's params."""
    exact = params["require_exact_redirect_uri"]
    return AuthorizePolicy(
        allow_implicit=params["allow_implicit"],
        enforce_state=params["enforce_state"],
        redirect_uri_allowed=lambda given, registered: authorize_redirect_uri_allowed(
            given, registered, exact=exact
        ),
    )


# --- redCORE's options (compat/legacy-schema.md "The OAuth2 server's options") -------------

# The param name that stands for the plugin's enabled flag in REDCORE_OPTIONS.
ENABLED = "enabled"
ABSENT = object()  # a key redCORE's options form never saved
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True)
class RedcoreOption:
    """One key of the com_redcore row's params, redCORE's default, and what it sets here.

    ``param`` is an oauth2 param, ``ENABLED`` for the plugin's flag, or None when this
    service has no counterpart (``note`` says why). ``kind`` is how redCORE read it.
    """

    key: str
    default: object
    param: str | None
    kind: type
    note: str = ""


REDCORE_OPTIONS = (
    RedcoreOption("enable_oauth2_server", "0", ENABLED, bool),
    RedcoreOption("oauth2_access_lifetime", 3600, "access_lifetime", int),
    RedcoreOption("oauth2_token_param_name", "access_token", "token_param_name", str),
    RedcoreOption("oauth2_token_bearer_header_name", "Bearer", "token_bearer_header_name", str),
    RedcoreOption(
        "oauth2_allow_credentials_in_request_body", "1", "allow_credentials_in_request_body", bool
    ),
    RedcoreOption(
        "oauth2_always_issue_new_refresh_token", "0", "always_issue_new_refresh_token", bool
    ),
    RedcoreOption(
        "oauth2_unset_refresh_token_after_use", "1", "unset_refresh_token_after_use", bool
    ),
    RedcoreOption(
        "oauth2_allow_public_clients", "1", None, bool, "public clients are always allowed here"
    ),
    RedcoreOption("oauth2_allow_implicit", "0", "allow_implicit", bool),
    RedcoreOption("oauth2_enforce_state", "1", "enforce_state", bool),
    RedcoreOption("oauth2_require_exact_redirect_uri", "1", "require_exact_redirect_uri", bool),
    RedcoreOption("oauth2_redirect_with_token", "0", "redirect_with_token", bool),
    RedcoreOption("oauth2_use_jwt_access_tokens", "0", None, bool, "JWT tokens are not supported"),
    RedcoreOption(
        "oauth2_store_encrypted_token_string", "1", None, bool, "JWT tokens are not supported"
    ),
    RedcoreOption("oauth2_use_openid_connect", "0", None, bool, "OpenID Connect is not supported"),
    RedcoreOption("oauth2_id_lifetime", 3600, None, int, "OpenID Connect is not supported"),
)
# What redCORE did not let an admin change, as the params that reproduce it.
REDCORE_FIXED = {"www_realm": "Service", "refresh_token_lifetime": 1_209_600}
# The redCORE option whose stored JSON type decides ``expires_in_as_string``.
LIFETIME_KEY = "oauth2_access_lifetime"


@dataclass(frozen=True)
class MappedOption:
    """What one redCORE option becomes here.

    ``stored`` is the JSON value found (``ABSENT``: never saved, redCORE used its default).
    ``value`` is what ``param`` is to be; ``refused`` the schema's reason not to store it.
    For an option without a counterpart, ``non_default`` says whether it held another value
    than redCORE's default (then the old site behaved in a way this service does not).
    """

    key: str
    stored: object
    param: str | None
    value: object = None
    refused: str | None = None
    non_default: bool = False
    note: str = ""


def map_redcore_options(stored: Mapping[str, Any]) -> list[MappedOption]:
    """Map the com_redcore row's params (a decoded JSON object) onto the plugin's params.

    Values are as Joomla's options form saved them (``"3600"``, ``"1"``), read the way
    redCORE read them (PHP's truthiness for switches); an absent key is redCORE's default.
    Each value is checked by the params schema; a refused one carries the reason.
    """
    mapped: list[MappedOption] = []
    for option in REDCORE_OPTIONS:
        found = stored.get(option.key, ABSENT)
        raw = option.default if found is ABSENT else found
        value, problem = _php_value(raw, option.kind)
        if option.param is None:
            default, _ = _php_value(option.default, option.kind)
            mapped.append(
                MappedOption(
                    option.key,
                    found,
                    None,
                    value,
                    non_default=problem is not None or value != default,
                    note=option.note,
                )
            )
            continue
        if problem is None and option.param != ENABLED:
            problem = _refusal(option.param, value)
        mapped.append(MappedOption(option.key, found, option.param, value, refused=problem))
        if option.key == LIFETIME_KEY:
            # Joomla's form saved "3600", and PHP then sent "expires_in":"3600" (redcore.md).
            as_string = isinstance(found, str)
            mapped.append(
                MappedOption(
                    option.key,
                    found,
                    "expires_in_as_string",
                    as_string,
                    note="stored as a JSON string" if as_string else "not stored as a string",
                )
            )
    for param, value in REDCORE_FIXED.items():
        mapped.append(
            MappedOption("", ABSENT, param, value, refused=_refusal(param, value), note="fixed")
        )
    known = {option.key for option in REDCORE_OPTIONS}
    for key in sorted(stored):
        if key.startswith("oauth2_") and key not in known:
            mapped.append(
                MappedOption(
                    key,
                    stored[key],
                    None,
                    stored[key],
                    non_default=True,
                    note="not an option this service knows",
                )
            )
    return mapped


def _php_value(raw: object, kind: type) -> tuple[object, str | None]:
    """``raw`` read as redCORE read it, or (None, why it cannot be)."""
    if isinstance(raw, (list, dict)):
        return None, "an array or object, not a value"
    if kind is bool:
        return is_truthy(raw), None
    if kind is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw, None
        if isinstance(raw, str) and _WHOLE_NUMBER.fullmatch(raw.strip()):
            return int(raw.strip()), None
        return None, f"{raw!r} is not a whole number"
    text = to_string(raw)
    return ("" if text is None else text), None


def _refusal(param: str, value: object) -> str | None:
    """The params schema's reason to refuse ``param=value``, or None."""
    errors = OAuth2Params().validate({param: value})
    if not errors:
        return None
    why = errors.get(param, errors)
    return " ".join(map(str, why)) if isinstance(why, list) else str(why)
