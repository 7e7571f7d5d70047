"""Reading redCORE requests: where each parameter comes from, with PHP's rules.

Parameter sources (compat/redcore.md): the library's body parameters; with
``token_params_in_query`` the query string fills in what the body does not carry (a
parameter the body carries, even empty, wins; a JSON null is not carried). Client
credentials: a usable HTTP Basic header first, else ``client_id``/``client_secret``.

Where a value was found is kept in the engine's neutral words (``ClientCredentials.source``,
``BearerSources.source``, ``param_source``) for the host's usage counts and deprecation
notices: ``basic``, ``header``, ``body`` (a form body), ``json`` (a JSON body), ``query``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any
from typing import Literal
from urllib.parse import unquote_to_bytes

from emulator import oauth
from emulator.host import PhpInput
from emulator.host import is_truthy
from emulator.host import request_object as _request
from emulator.host import to_string
from emulator.oauth import InvalidRequest

_BASE64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")


def token_param(inp: PhpInput, params: Mapping[str, Any], name: str) -> Any:
    """The library's ``$request->request(name)``, falling back to the query in default mode."""
    return located_param(inp, params, name)[0]


def located_param(
    inp: PhpInput, params: Mapping[str, Any], name: str
) -> tuple[Any, Literal["body", "json", "query"] | None]:
    """``token_param`` and where it was found: ``body``, ``json``, ``query`` (None: nowhere)."""
    value = inp.body.get(name)
    if value is not None:
        return value, "json" if inp.body_is_json else "body"
    if params["token_params_in_query"]:
        value = inp.query.get(name)
        if value is not None:
            return value, "query"
    return None, None


def param_source(
    inp: PhpInput, params: Mapping[str, Any], name: str
) -> Literal["body", "json", "query"] | None:
    """Where ``token_param`` finds ``name`` (for the usage counts)."""
    return located_param(inp, params, name)[1]


def string_param(value: Any, name: str) -> str | None:
    """A parameter as a string; None when absent or PHP-falsy; an array is refused."""
    if isinstance(value, (list, dict)):
        raise InvalidRequest(f'The parameter "{name}" must be a single value', reason="array")
    text = to_string(value)
    return text if is_truthy(text) else None


def basic_credentials(
    header: str | None, *, form_decoded: bool = False
) -> oauth.ClientCredentials | None:
    """PHP_AUTH_USER/PHP_AUTH_PW: "Basic " (any case) + lenient base64 of "id:secret".

    The parts are taken as they are, as PHP did; a value without ':' is no credentials at
    all. ``form_decoded``: when they read differently form-urlencoded (RFC 6749 §2.3.1,
    what openid-client and other RFC clients send), that reading is the credentials'
    ``alternative``, tried when the parts as they are fail.
    """
    if not header or header[:6].lower() != "basic ":
        return None
    raw = header[6:].encode("latin-1", "replace")
    try:  # well-formed base64 (the usual header) reads the same either way
        decoded = binascii.a2b_base64(raw, strict_mode=True)
    except binascii.Error:
        data = _BASE64_JUNK.sub(b"", raw)
        data = data[: len(data) - len(data) % 4] if len(data) % 4 == 1 else data
        try:
            decoded = base64.b64decode(data + b"=" * (-len(data) % 4))
        except binascii.Error:
            return None
    user, colon, password = decoded.partition(b":")
    if not colon:
        return None
    password = password.split(b"\0", 1)[0]
    alternative = None
    if form_decoded and (b"%" in user or b"+" in user or b"%" in password or b"+" in password):
        decoded_user, decoded_password = _form_decoded(user), _form_decoded(password)
        if (decoded_user, decoded_password) != (user, password):
            alternative = oauth.ClientCredentials(
                client_id=decoded_user.decode("utf-8", "replace"),
                client_secret=decoded_password.decode("utf-8", "replace"),
                source="basic",
            )
    return oauth.ClientCredentials(
        client_id=user.decode("utf-8", "replace"),
        client_secret=password.decode("utf-8", "replace"),
        source="basic",
        alternative=alternative,
    )


def _form_decoded(part: bytes) -> bytes:
    """An application/x-www-form-urlencoded value decoded: ``+`` is a space, ``%XX`` a byte
    (a ``%`` without two hex digits stays, as PHP's urldecode leaves it)."""
    return unquote_to_bytes(part.replace(b"+", b" "))


def client_credentials(inp: PhpInput, params: Mapping[str, Any]) -> oauth.ClientCredentials | None:
    """The credentials a request presents: Basic wins, else the body (when allowed)."""
    basic = basic_credentials(
        _request().environ.get("HTTP_AUTHORIZATION"),
        form_decoded=params["token_params_in_query"],  # the default mode's lenient reading
    )
    if basic is not None:
        return basic
    if not params["allow_credentials_in_request_body"]:
        return None
    client_id, id_source = located_param(inp, params, "client_id")
    if client_id is None:
        return None
    if isinstance(client_id, (list, dict)):
        raise InvalidRequest('The parameter "client_id" must be a single value', reason="array")
    secret, secret_source = located_param(inp, params, "client_secret")
    if isinstance(secret, (list, dict)):
        secret = True  # an array is no secret: it fails like any non-string
    return oauth.ClientCredentials(
        client_id=to_string(client_id), client_secret=secret, source=secret_source or id_source
    )


def token_request(inp: PhpInput, params: Mapping[str, Any]) -> oauth.TokenRequest:
    """Read a token request (redCORE ``option=token``)."""
    grant_type = token_param(inp, params, "grant_type")
    if isinstance(grant_type, (list, dict)):
        grant_type = None  # deviation: PHP 8 crashed; we answer "not specified"
    # The scope is read from the body, else the query, in both modes (the library's rule).
    scope = inp.body.get("scope")
    if scope is None:
        scope = inp.query.get("scope")
    grant_type = string_param(grant_type, "grant_type")
    code = redirect_uri = username = password = client_id_param = None
    if grant_type == oauth.AUTHORIZATION_CODE:  # only its grant reads them, as bshaffer's
        code = string_param(token_param(inp, params, "code"), "code")
        redirect_uri = string_param(token_param(inp, params, "redirect_uri"), "redirect_uri")
    elif grant_type == oauth.PASSWORD:
        username = string_param(token_param(inp, params, "username"), "username")
        password = string_param(token_param(inp, params, "password"), "password")
        # redCORE took the grant's client scope from this parameter, not from the
        # authenticated client: a Basic-authenticated client without it gets the defaults.
        named = token_param(inp, params, "client_id")
        client_id_param = None if isinstance(named, (list, dict)) else to_string(named) or None
    return oauth.TokenRequest(
        grant_type=grant_type,
        credentials=client_credentials(inp, params),
        scope=string_param(scope, "scope"),
        refresh_token=string_param(token_param(inp, params, "refresh_token"), "refresh_token"),
        code=code,
        redirect_uri=redirect_uri,
        username=username,
        password=password,
        client_id_param=client_id_param,
        credentials_body_allowed=params["allow_credentials_in_request_body"],
    )


def redirect_uris_match(given: str, stored: str) -> bool:
    """bshaffer's AuthorizationCode grant: ``urldecode($given) == urldecode($stored)``.

    The request's value, already decoded once as a parameter, is decoded once more (so a
    double-encoded URI matches), and so is the stored one; compared as bytes.
    """
    return _url_decoded(given) == _url_decoded(stored)


def authorize_redirect_uri_allowed(given: str, registered: str, *, exact: bool) -> bool:
    """bshaffer's AuthorizeController::validateRedirectUri for one registered URI: byte
    equality (``require_exact_redirect_uri``), else the given URI starts with the
    registered one, ASCII letters in any case (PHP's strcasecmp of the prefix)."""
    given_bytes = given.encode("utf-8", "surrogatepass")
    registered_bytes = registered.encode("utf-8", "surrogatepass")
    if exact:
        return given_bytes == registered_bytes
    return given_bytes[: len(registered_bytes)].lower() == registered_bytes.lower()


def _url_decoded(text: str) -> bytes:
    return _form_decoded(text.encode("utf-8", "surrogatepass"))


def bearer_sources(inp: PhpInput, params: Mapping[str, Any]) -> oauth.BearerSources:
    """Where a resource request may carry its token; PHP-empty values count as absent."""
    name = params["token_param_name"]
    req = _request()
    header = req.environ.get("HTTP_AUTHORIZATION")  # what req.headers would give
    query_token = inp.query.get(name)
    body_token = inp.body.get(name)
    return oauth.BearerSources(
        authorization=header if is_truthy(header) else None,
        query_token=query_token if is_truthy(query_token) else None,
        body_token=body_token if is_truthy(body_token) else None,
        method=req.method,
        content_type=inp.content_type,
    )


def required_scope(inp: PhpInput, params: Mapping[str, Any]) -> str | None:
    """The ``scope`` a resource request asks to check (query only; default mode only)."""
    if not params["resource_scope_param"]:
        return None
    return string_param(inp.query.get("scope"), "scope")


def token_to_act_on(inp: PhpInput, params: Mapping[str, Any], verb: str) -> str:
    """The ``token`` a revocation or introspection acts on; InvalidRequest when missing."""
    raw = string_param(token_param(inp, params, "token"), "token")
    if raw is None:
        raise InvalidRequest(f"Missing token parameter to {verb}", reason="missing")
    return raw


def token_type_hint(inp: PhpInput, params: Mapping[str, Any]) -> str | None:
    """RFC 7009's ``token_type_hint`` (only a string counts)."""
    hint = token_param(inp, params, "token_type_hint")
    return hint if isinstance(hint, str) else None


def authorization_request(inp: PhpInput) -> oauth.AuthorizationRequest:
    """option=authorize's parameters as bshaffer's AuthorizeController read them: from the
    query (``scope`` from the body first); PHP-empty values are absent, except ``state``,
    which goes back to the client as given (an empty one too)."""

    def query(name: str) -> str | None:
        value = inp.query.get(name)
        return value if isinstance(value, str) and is_truthy(value) else None

    state = inp.query.get("state")
    scope = inp.body.get("scope")
    if scope is None:
        scope = inp.query.get("scope")
    return oauth.AuthorizationRequest(
        client_id=query("client_id"),
        redirect_uri=query("redirect_uri"),
        response_type=query("response_type"),
        state=state if isinstance(state, str) else None,
        scope=scope if isinstance(scope, str) and is_truthy(scope) else None,
    )
