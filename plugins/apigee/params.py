"""The options of the apigee plugin (compat/apigee.md, "Decisions for this project").

Defaults reproduce Apigee Edge's sample ``oauth-client-credentials`` proxy and Edge's
default ``oauth`` proxy as the 2014 sample README shows them.
"""

from __future__ import annotations

import json
import re
from typing import Any

from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow.validate import Length
from marshmallow.validate import OneOf
from marshmallow.validate import Range

from emulator.host import HOST_PATHS
from emulator.host import HTTP_METHODS
from emulator.host import Deprecations

# The plugin's name, and its name in the usage counts.
NAME = "apigee"
GENERATE = "GenerateAccessToken"
REFRESH = "RefreshAccessToken"

# Token endpoint path -> "[METHOD ]Operation" (no method: any verb runs the policy).
DEFAULT_BASE_PATHS = {
    "/oauth/accesstoken": GENERATE,  # the sample: no verb condition (its README uses GET)
    "/oauth/client_credential/accesstoken": f"POST {GENERATE}",  # Edge's default proxy
    "/oauth/client_credential/refresh_accesstoken": f"POST {REFRESH}",
}
# A path (no query, no whitespace or control character, no trailing "/"); it may not be
# one of HOST_PATHS.
PATH = re.compile(r"^(/[^/?#\s\x00-\x1f\x7f]+)+$")
FLOW = re.compile(rf"^(?:({'|'.join(sorted(HTTP_METHODS))}) )?({GENERATE}|{REFRESH})$")
MAX_LIFETIME_MS = 10 * 365 * 86_400_000
MIB = 1024 * 1024
MAX_BODY_BYTES = 1024 * MIB


def parse_flow(value: str) -> tuple[str | None, str]:
    """Split a base_paths value into (required method or None, operation)."""
    match = FLOW.fullmatch(value)
    assert match is not None, value  # validated on load
    return match.group(1), match.group(2)


class BasePaths(fields.Dict):
    """A JSON object of token endpoint path -> flow; the CLI gives it as JSON text."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(keys=fields.String(), values=fields.String(), **kwargs)

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> dict[str, str]:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise ValidationError(
                    'Give a JSON object, e.g. {"/oauth/accesstoken": "GenerateAccessToken"}.'
                ) from None
        loaded = super()._deserialize(value, attr, data, **kwargs)
        errors = []
        for path, flow in loaded.items():
            if not PATH.fullmatch(path) or path in HOST_PATHS:
                errors.append(
                    f"{path!r}: a path like /oauth/accesstoken (no query, no trailing /)."
                )
            if not FLOW.fullmatch(flow):
                errors.append(
                    f"{flow!r}: one of {GENERATE}, {REFRESH}, optionally after a method "
                    f"(e.g. 'POST {GENERATE}')."
                )
        if errors:
            raise ValidationError(errors)
        return loaded


class ApigeeParams(Schema):
    """Admin options of the apigee plugin."""

    organization_name = fields.String(
        load_default="",
        validate=Length(max=255),
        metadata={
            "description": (
                "organization_name in token responses; set it to your Apigee organisation."
            )
        },
    )
    # edge-2014: the sample's field set and order; modern: newer Edge / X / hybrid.
    response_profile = fields.String(
        load_default="edge-2014",
        validate=OneOf(["edge-2014", "modern"]),
        metadata={
            "description": (
                "edge-2014: the sample's 14 fields in its order; modern: the newer Edge"
                " / X / hybrid order."
            )
        },
    )
    base_paths = BasePaths(
        load_default=lambda: dict(DEFAULT_BASE_PATHS),
        metadata={
            "description": (
                "A JSON object mapping each token path to GenerateAccessToken or "
                'RefreshAccessToken, optionally after a method ("POST '
                'GenerateAccessToken").'
            )
        },
    )
    # The policies' <ExpiresIn> (ms); the refresh flow uses it too.
    access_token_lifetime_ms = fields.Integer(
        load_default=3_600_000,
        validate=Range(min=1000, max=MAX_LIFETIME_MS),
        metadata={
            "description": (
                "The policies' ExpiresIn in milliseconds (the refresh flow uses it too)."
            )
        },
    )
    # <RefreshTokenExpiresIn> (ms); 0 = unset: the refresh token does not expire and
    # refresh_token_expires_in reads "0", as on Apigee.
    refresh_token_lifetime_ms = fields.Integer(
        load_default=0,
        validate=Range(min=0, max=MAX_LIFETIME_MS),
        metadata={
            "description": (
                "RefreshTokenExpiresIn in milliseconds; 0: the refresh token never expires."
            )
        },
    )
    # grant_type is read from the query (the sample's <GrantType>); also from a form body
    # when the query has none (false = the sample exactly).
    grant_type_in_body = fields.Boolean(
        load_default=True,
        metadata={
            "description": (
                "Also read grant_type from a form body when the query has none (false "
                "is the sample exactly)."
            )
        },
    )
    client_credentials_refresh_token = fields.Boolean(
        load_default=False,
        metadata={"description": "client_credentials also issues a refresh token."},
    )
    # Scope requested but none of it allowed: 400 "Invalid Scope", or a token with scope "".
    scope_no_overlap = fields.String(
        load_default="error",
        validate=OneOf(["error", "empty"]),
        metadata={
            "description": (
                "A requested scope that shares nothing with the app's products: 400 "
                'Invalid Scope (error) or a token with scope "" (empty).'
            )
        },
    )
    # For RFC clients that put token_type into the Authorization header (requests-oauthlib).
    token_type = fields.String(
        load_default="BearerToken",
        validate=OneOf(["BearerToken", "Bearer"]),
        metadata={
            "description": (
                "token_type in token answers; Bearer for RFC clients that copy it into "
                "the Authorization header."
            )
        },
    )
    # For typed clients that want a number: "expires_in":3599 instead of "3599".
    expires_in_as_string = fields.Boolean(
        load_default=True,
        metadata={"description": 'false sends "expires_in" : 3599, a number, for typed clients.'},
    )
    # Protected proxies: how long the target may take to answer (Apigee's io.timeout.millis).
    target_timeout_ms = fields.Integer(
        load_default=55_000,
        validate=Range(min=1, max=3_600_000),
        metadata={
            "description": (
                "How long a proxy target may take to answer, for each read (Apigee's "
                "io.timeout.millis); the connect timeout is 3 s."
            )
        },
    )
    # The longest client body passed on (Edge Cloud's 10 MB payload limit); longer: 413.
    proxy_max_request_bytes = fields.Integer(
        load_default=10 * MIB,
        validate=Range(min=0, max=MAX_BODY_BYTES),
        metadata={
            "description": (
                "The longest client body passed to a target; longer gets 413 TooBigBody."
            )
        },
    )
    # The longest target body passed on; a longer declared one: 502, else cut off there.
    proxy_max_response_bytes = fields.Integer(
        load_default=10 * MIB,
        validate=Range(min=0, max=MAX_BODY_BYTES),
        metadata={
            "description": (
                "The longest target body passed to the client; a longer declared one "
                "gets 502, a longer undeclared one is cut off."
            )
        },
    )
    # The whole target call, first connect to last byte (each read has target_timeout_ms).
    proxy_deadline_ms = fields.Integer(
        load_default=60_000,
        validate=Range(min=1, max=3_600_000),
        metadata={
            "description": "The whole target call, from connecting to the answer's last byte."
        },
    )
    # Deprecation/Sunset notices per credential or token form (emulator/web/deprecation.py).
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
