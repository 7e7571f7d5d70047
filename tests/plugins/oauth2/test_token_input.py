"""The redCORE dialect's token endpoint (option=token): input PHP limited or mangled.

max_input_vars, max_input_nesting_level, json_decode's depth and what it could not
decode, parameter names PHP rewrote, bodies over MAX_CONTENT_LENGTH (compat/redcore.md,
"Input limits"), and control characters in ids, tokens and scopes. Helpers are in
tests/support/oauth2.py, the fixtures in conftest.py.
"""

from __future__ import annotations

import io
from urllib.parse import urlencode

import pytest

from emulator.storage.database import db
from tests.support.app import make_app
from tests.support.oauth2 import FORM
from tests.support.oauth2 import INVALID_CLIENT
from tests.support.oauth2 import INVALID_RT
from tests.support.oauth2 import MUST_AUTHENTICATE
from tests.support.oauth2 import NOT_SPECIFIED
from tests.support.oauth2 import REQUIRED
from tests.support.oauth2 import SCOPE_INVALID
from tests.support.oauth2 import SCOPE_UNSUPPORTED
from tests.support.oauth2 import SHOP
from tests.support.oauth2 import SHOP_SCOPE
from tests.support.oauth2 import TOKEN_URL
from tests.support.oauth2 import as_json
from tests.support.oauth2 import assert_token_error
from tests.support.oauth2 import assert_token_ok
from tests.support.oauth2 import basic
from tests.support.oauth2 import cc
from tests.support.oauth2 import err
from tests.support.oauth2 import multipart
from tests.support.oauth2 import refresh
from tests.support.oauth2 import send

# =========================================================================================
# input limits and names, as PHP had them (compat/redcore.md, "Input limits")
# =========================================================================================


def fillers(count: int, prefix: str = "f") -> list[tuple[str, str]]:
    return [(f"{prefix}{i}", "x") for i in range(count)]


def test_max_input_vars_drops_the_secret_of_a_1500_field_body(client, shop, count_rows) -> None:
    """The captured case: 1,500 fields, client_secret last; PHP dropped it."""
    fields = [("grant_type", "client_credentials"), ("client_id", "shop-app")]
    fields += fillers(1497) + [("client_secret", "Sh0p-Secret!")]
    assert_token_error(send(client, urlencode(fields)), REQUIRED)
    assert count_rows("oauth_access_tokens") == 0


@pytest.mark.parametrize(
    ("position", "kept"), [(1001, True), (1002, False)], ids=["1001st-kept", "1002nd-dropped"]
)
def test_max_input_vars_in_a_form_body_counts_like_phps_post_reader(
    client, shop, position, kept
) -> None:
    """php_std_post_handler checks its count after registering a variable: the 1,001st of
    a POST body is kept (main/php_variables.c, add_post_vars)."""
    fields = [("grant_type", "client_credentials"), ("client_id", "shop-app")]
    fields += fillers(position - 3) + [("client_secret", "Sh0p-Secret!")]
    rv = send(client, urlencode(fields))
    if kept:
        assert_token_ok(rv, scope=SHOP_SCOPE, refresh=True)
    else:
        assert_token_error(rv, REQUIRED)


def test_max_input_vars_in_a_multipart_body(client, shop) -> None:
    fields = [("grant_type", "client_credentials"), ("client_id", "shop-app")]
    body, content_type = multipart(fields + fillers(998) + [("client_secret", "Sh0p-Secret!")])
    assert_token_error(send(client, body, content_type=content_type), REQUIRED)
    body, content_type = multipart(fields + fillers(997) + [("client_secret", "Sh0p-Secret!")])
    assert_token_ok(send(client, body, content_type=content_type), scope=SHOP_SCOPE, refresh=True)


def test_max_input_vars_counts_the_query_apart_from_the_body(client, shop) -> None:
    """1,000 fields in the body do not push ``api`` out of the query; 1,000 in the query
    before it do (the dispatcher then knows no API: the host's 404)."""
    body = urlencode([("grant_type", "client_credentials"), *SHOP.items(), *fillers(997)])
    assert_token_ok(send(client, body), scope=SHOP_SCOPE, refresh=True)
    crowded = "/index.php?" + urlencode(fillers(1000, "q")) + "&option=token&api=oauth2"
    rv = send(client, body, path=crowded)
    assert (rv.status_code, rv.data) == (
        404,
        b'{"message":"No API was requested","code":404,"type":"RuntimeException"}',
    )


def test_php_max_input_vars_setting(database_url, client, shop) -> None:
    """PHP_MAX_INPUT_VARS is php.ini's max_input_vars: with 2, a POST body keeps 3."""
    small = make_app(database_url, PHP_MAX_INPUT_VARS=2)
    try:
        rv = send(small.test_client(), {"grant_type": "client_credentials", **SHOP, "scope": "x"})
        assert_token_ok(rv, scope=SHOP_SCOPE, refresh=True)  # the 4th field, scope, is dropped
    finally:
        with small.app_context():
            db.engine.dispose()


@pytest.mark.parametrize(
    ("levels", "kept"), [(64, True), (65, False)], ids=["64-levels", "65-levels"]
)
@pytest.mark.parametrize("where", ["body", "query"], ids=["body", "query"])
def test_max_input_nesting_level(client, shop, levels, kept, where) -> None:
    """A deeper name is dropped, the rest still counts (the captured case's token); a
    scope nested that deep is dropped with its shallower values, so none is requested."""
    extra = {"extra" + "[x]" * levels: "1", "scope[a]": "x", "scope" + "[x]" * levels: "y"}
    fields = {"grant_type": "client_credentials", **SHOP}
    if where == "body":
        rv = send(client, {**fields, **extra})
    else:
        rv = send(client, fields, query=urlencode(extra))
    if kept:  # an array scope is not a scope
        assert (rv.status_code, rv.get_json()["error"]) == (400, "invalid_request")
    else:
        assert_token_ok(rv, scope=SHOP_SCOPE, refresh=True)


@pytest.mark.parametrize(
    ("depth", "ok"),
    [(100, True), (511, True), (512, False), (600, False), (100_000, False)],
    ids=["100-deep", "512-levels", "513-levels", "600-deep", "100000-deep"],
)
def test_json_body_nested_past_phps_depth_is_unparseable(client, shop, depth, ok) -> None:
    """The captured cases: a 600-deep array beside valid credentials is "not specified", a
    100-deep one gets its token. The object counts one level: 511 arrays make 512, PHP's
    limit. 100,000 levels answer the same way (a 500 and a traceback before)."""
    fields = as_json({"grant_type": "client_credentials", **SHOP})
    body = fields[:-1] + ',"deep":' + "[" * depth + "]" * depth + "}"
    rv = send(client, body, content_type="application/json")
    if ok:
        assert_token_ok(rv, scope=SHOP_SCOPE, refresh=True)
    else:
        assert_token_error(rv, NOT_SPECIFIED)


@pytest.mark.parametrize(
    "body",
    [
        as_json({"grant_type": "client_credentials", **SHOP})[:-1] + ',"n":NaN}',
        as_json({"grant_type": "client_credentials", **SHOP})[:-1] + ',"n":-Infinity}',
        as_json({"grant_type": "client_credentials", **SHOP}).encode("utf-16"),
        as_json({"grant_type": "client_credentials", **SHOP}).encode("utf-32-le"),
        b"[" * 100_000,
    ],
    ids=["nan", "minus-infinity", "utf16", "utf32", "unclosed-100000"],
)
def test_json_body_php_could_not_decode_is_unparseable(client, shop, count_rows, body) -> None:
    assert_token_error(send(client, body, content_type="application/json"), NOT_SPECIFIED)
    assert count_rows("oauth_access_tokens") == 0


@pytest.mark.parametrize(
    "body",
    [
        "grant.type=client_credentials&client.id=shop-app&client+secret=Sh0p-Secret!",
        "+grant_type=client_credentials&client_id%00junk=shop-app&client_secret=Sh0p-Secret!",
        "grant_type=client_credentials&client_id=shop-app&client_secret=Sh0p-Secret!&scope[=x",
    ],
    ids=["dot-and-space-become-underscores", "leading-space-and-nul", "unclosed-bracket"],
)
def test_parameter_names_are_mangled_like_php(client, shop, body) -> None:
    """PHP named ``grant.type`` and ``client secret`` ``grant_type`` and ``client_secret``,
    cut names at a NUL, dropped leading spaces, and made ``scope[`` the name ``scope_``."""
    assert_token_ok(send(client, body), scope=SHOP_SCOPE, refresh=True)


MIB = 1024 * 1024
TOO_LARGE = (
    b'{"error":"invalid_request",'
    b'"error_description":"The request body is larger than 1048576 bytes"}'
)


class UnreadableBody(io.BytesIO):
    """A request body that fails the test if anything reads it."""

    def read(self, size: int | None = -1) -> bytes:
        raise AssertionError("the body was read")

    readinto = readline = read  # type: ignore[assignment]


def padded_form(size: int) -> str:
    """A valid client_credentials form body of exactly ``size`` bytes."""
    fields = urlencode({"grant_type": "client_credentials", **SHOP}) + "&pad="
    return fields + "x" * (size - len(fields))


@pytest.mark.parametrize(
    "option", ["token", "resource", "revoke", "introspect", "nothing"], ids=str
)
def test_a_body_over_max_content_length_is_a_413(client, shop, count_rows, option) -> None:
    """Decision (no capture exists): bshaffer's error JSON, status 413, the headers of
    every bshaffer error; the same for every option, unknown ones included."""
    rv = send(client, padded_form(MIB + 1), path=f"/index.php?option={option}&api=oauth2")
    assert_token_error(rv, TOO_LARGE, status=413)
    assert count_rows("oauth_access_tokens") == 0


def test_a_body_of_exactly_max_content_length_is_read(client, shop) -> None:
    assert_token_ok(send(client, padded_form(MIB)), scope=SHOP_SCOPE, refresh=True)


@pytest.mark.parametrize(
    "content_type",
    [FORM, "application/json", "multipart/form-data; boundary=x"],
    ids=["form", "json", "multipart"],
)
def test_a_body_declared_too_large_is_refused_unread(client, shop, content_type) -> None:
    """50 MB declared: refused on its Content-Length, before one byte is read."""
    rv = client.post(
        TOKEN_URL,
        input_stream=UnreadableBody(b"grant_type=client_credentials"),
        content_type=content_type,
        environ_overrides={"CONTENT_LENGTH": str(50 * MIB)},
    )
    assert_token_error(rv, TOO_LARGE, status=413)


@pytest.mark.parametrize(
    ("extra", "status"), [(0, 200), (1, 413)], ids=["at-the-limit", "one-byte-over"]
)
def test_a_chunked_body_is_cut_at_the_limit(client, shop, extra, status) -> None:
    """No Content-Length (chunked): read up to the limit; one byte more is a 413."""
    rv = client.post(
        TOKEN_URL,
        input_stream=io.BytesIO(padded_form(MIB + extra).encode()),
        content_type=FORM,
        environ_overrides={
            "CONTENT_LENGTH": "",
            "HTTP_TRANSFER_ENCODING": "chunked",
            "wsgi.input_terminated": True,
        },
    )
    assert rv.status_code == status, rv.data
    if status == 413:
        assert rv.data == TOO_LARGE


def test_a_body_that_is_not_parsed_is_not_read(client, shop) -> None:
    """A body PHP's readers ignore (text/plain) is not read either, whatever its size."""
    rv = client.post(
        TOKEN_URL,
        input_stream=UnreadableBody(b""),
        content_type="text/plain",
        environ_overrides={"CONTENT_LENGTH": str(50 * MIB)},
    )
    assert_token_error(rv, NOT_SPECIFIED)


def test_api_only_in_a_body_too_large_is_not_found(client, shop) -> None:
    """The body is not read, so ``api`` must come from the query (PHP had no $_POST past
    post_max_size): the dispatcher knows no API and answers in the host's shape."""
    body = "api=oauth2&" + padded_form(MIB)
    rv = send(client, body, path="/index.php?option=token")
    assert (rv.status_code, rv.data) == (
        404,
        b'{"message":"No API was requested","code":404,"type":"RuntimeException"}',
    )


def test_max_content_length_setting(database_url, client, shop) -> None:
    small = make_app(database_url, MAX_CONTENT_LENGTH=100)
    try:
        rv = send(small.test_client(), padded_form(101))
        assert_token_error(
            rv, err("invalid_request", "The request body is larger than 100 bytes"), status=413
        )
        assert_token_ok(send(small.test_client(), padded_form(100)), scope=SHOP_SCOPE, refresh=True)
    finally:
        with small.app_context():
            db.engine.dispose()


# =========================================================================================
# NUL and control characters: the normal clean error, on every database
# =========================================================================================

CONTROLS = ["\x00", "\x01", "\n", "\x7f"]
CONTROL_IDS = ["nul", "soh", "line-feed", "del"]


@pytest.mark.parametrize("char", CONTROLS, ids=CONTROL_IDS)
@pytest.mark.parametrize("where", ["end", "middle"], ids=["at-the-end", "in-the-middle"])
def test_a_scope_with_a_control_character_is_invalid(
    client, shop, make_client, import_token, count_rows, char, where
) -> None:
    """Deviation: PHP trimmed NUL and line breaks off the ends, then stored and echoed the
    scope with them (PostgreSQL refuses NUL in text: a 500). No scope holds a control
    character (RFC 6749 §3.3, and ``scopes add`` refuses them), so such a request asks for
    a scope that cannot be granted: the invalid_scope of each branch."""
    scope = "orders.read" + char if where == "end" else "orders" + char + ".read"
    assert_token_error(cc(client, scope=scope), SCOPE_INVALID)
    make_client("open-app", secret="open-pw")
    open_app = {"client_id": "open-app", "client_secret": "open-pw"}
    assert_token_error(cc(client, open_app, scope=scope), SCOPE_UNSUPPORTED)
    import_token("refresh", "rt-shop-ctl", "shop-app", scope="orders.read")
    assert_token_error(refresh(client, "rt-shop-ctl", scope=scope), SCOPE_INVALID)
    assert_token_error(
        send(
            client, {"grant_type": "client_credentials", **SHOP}, query=urlencode({"scope": scope})
        ),
        SCOPE_INVALID,
    )
    assert count_rows("oauth_access_tokens") == 0


@pytest.mark.parametrize("char", CONTROLS, ids=CONTROL_IDS)
def test_a_client_id_with_a_control_character_is_unknown(client, shop, count_rows, char) -> None:
    creds = {"client_id": "shop-app" + char, "client_secret": "Sh0p-Secret!"}
    assert_token_error(cc(client, creds), INVALID_CLIENT)
    body = as_json({"grant_type": "client_credentials", **creds})
    assert_token_error(send(client, body, content_type="application/json"), INVALID_CLIENT)
    rv = send(
        client,
        {"grant_type": "client_credentials"},
        headers=[("Authorization", basic(creds["client_id"], creds["client_secret"]))],
    )
    assert_token_error(rv, INVALID_CLIENT)
    assert_token_error(refresh(client, "rt-none", {"client_id": "kiosk" + char}), MUST_AUTHENTICATE)
    assert count_rows("oauth_access_tokens") == 0


@pytest.mark.parametrize("char", CONTROLS, ids=CONTROL_IDS)
def test_a_refresh_token_with_a_control_character_is_unknown(
    client, shop, import_token, char
) -> None:
    import_token("refresh", "rt-shop-ctl", "shop-app", scope="orders.read")
    assert_token_error(refresh(client, "rt-shop-ctl" + char), INVALID_RT)
    assert_token_error(refresh(client, "rt-shop" + char + "ctl"), INVALID_RT)
