"""The redCORE dialect's resource endpoint (option=resource), rule by rule (compat/redcore.md).

Where the token comes from, its errors and challenges, the scope parameter, and the params
that change the realm, the header scheme and the parameter name. The constants, request
helpers and assertions are in tests/support/oauth2.py, the fixtures in conftest.py.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from sqlalchemy import event

from emulator.storage.database import db
from tests.support.app import make_app
from tests.support.oauth2 import BODY_METHOD
from tests.support.oauth2 import CONTENT_TYPE
from tests.support.oauth2 import EXPIRED_TOKEN
from tests.support.oauth2 import FORM
from tests.support.oauth2 import INSUFFICIENT
from tests.support.oauth2 import INSUFFICIENT_CHALLENGE
from tests.support.oauth2 import INVALID_TOKEN
from tests.support.oauth2 import MALFORMED
from tests.support.oauth2 import RESOURCE_URL
from tests.support.oauth2 import TWO_METHODS
from tests.support.oauth2 import assert_insufficient
from tests.support.oauth2 import assert_no_token
from tests.support.oauth2 import assert_resource_error
from tests.support.oauth2 import assert_resource_ok
from tests.support.oauth2 import assert_token_ok
from tests.support.oauth2 import basic
from tests.support.oauth2 import bearer
from tests.support.oauth2 import cc
from tests.support.oauth2 import multipart
from tests.support.oauth2 import send


def test_resource_success(client, at, mode) -> None:
    assert_resource_ok(client.get(RESOURCE_URL, headers=bearer(at)), user_id="1001")


@pytest.mark.parametrize(
    "user_id",
    [None, "0", "007", "12345678901234567890"],
    ids=["none", "zero", "leading-zeros", "long"],
)
def test_resource_user_id_is_null_or_a_json_string(client, make_client, user_id) -> None:
    make_client("svc-app", secret="svc-pw", scope="svc.call", user_id=user_id)
    token = assert_token_ok(
        cc(client, {"client_id": "svc-app", "client_secret": "svc-pw"}),
        scope="svc.call",
        refresh=True,
    )["access_token"]
    assert_resource_ok(client.get(RESOURCE_URL, headers=bearer(token)), user_id=user_id)


@pytest.mark.parametrize(
    "how",
    [
        "Bearer",
        "bearer",
        "BEARER",
        "bEaReR",
        "tab",
        "query",
        "post-form",
        "put-form",
        "post-form-charset",
        "query-on-delete",
        "root-path",
    ],
    ids=[
        "bearer-title-case",
        "bearer-lower-case",
        "bearer-upper-case",
        "bearer-mixed-case",
        "bearer-tab",
        "query",
        "post-form",
        "put-form",
        "post-form-charset",
        "query-on-delete",
        "root-path",
    ],
)
def test_resource_token_sources(client, at, mode, how) -> None:
    if how in ("Bearer", "bearer", "BEARER", "bEaReR"):
        rv = client.get(RESOURCE_URL, headers=[("Authorization", f"{how} {at}")])
    elif how == "tab":
        rv = client.get(RESOURCE_URL, headers=[("Authorization", f"Bearer\t{at}")])
    elif how == "query":
        rv = client.get(f"{RESOURCE_URL}&access_token={at}")
    elif how == "query-on-delete":
        rv = client.delete(f"{RESOURCE_URL}&access_token={at}")
    elif how == "root-path":
        rv = client.get(f"/?api=oauth2&option=resource&access_token={at}")
    else:
        method = "PUT" if how.startswith("put") else "POST"
        content_type = FORM + "; charset=UTF-8" if how.endswith("charset") else FORM
        rv = send(
            client,
            f"access_token={at}&note=hello",
            method=method,
            path=RESOURCE_URL,
            content_type=content_type,
        )
    assert_resource_ok(rv, user_id="1001")


@pytest.mark.parametrize("method", ["GET", "PATCH"], ids=["GET", "PATCH"])
def test_resource_body_token_is_not_read_for_other_methods(client, at, method) -> None:
    rv = send(client, f"access_token={at}", method=method, path=RESOURCE_URL)
    assert_no_token(rv)


@pytest.mark.parametrize(
    "how",
    ["header+query", "header+body", "query+body", "all-three", "basic-header+query"],
    ids=["header-and-query", "header-and-body", "query-and-body", "all-three", "basic-and-query"],
)
def test_resource_two_token_sources_are_an_error(client, at, how) -> None:
    headers = []
    if how.startswith("header") or how == "all-three":
        headers = bearer(at)
    if how.startswith("basic"):
        headers = [("Authorization", basic("shop-app", "Sh0p-Secret!"))]
    query = f"access_token={at}" if "query" in how or how == "all-three" else ""
    body = f"access_token={at}" if "body" in how or how == "all-three" else "x=1"
    rv = send(client, body, query=query, headers=headers, path=RESOURCE_URL)
    assert_resource_error(rv, TWO_METHODS)


@pytest.mark.parametrize(
    "value",
    [
        "Bearer",
        "Basic c2hvcC1hcHA6U2gwcC1TZWNyZXQh",
        "Token {at}",
        'MAC id="{at}"',
        "{at}",
        "Bearer{at}",
    ],
    ids=["scheme-only", "basic", "token-scheme", "mac-scheme", "bare-token", "no-separator"],
)
def test_resource_malformed_or_foreign_authorization_header(client, at, value) -> None:
    rv = client.get(RESOURCE_URL, headers=[("Authorization", value.format(at=at))])
    assert_resource_error(rv, MALFORMED)


@pytest.mark.parametrize(
    "method, content_type, body",
    [
        ("POST", "application/json", '{{"access_token":"{at}"}}'),
        ("PUT", "application/json; charset=utf-8", '{{"access_token":"{at}"}}'),
        ("POST", "multipart", ""),
    ],
    ids=["post-json", "put-json", "post-multipart"],
)
def test_resource_body_token_needs_a_form_content_type(
    client, at, method, content_type, body
) -> None:
    if content_type == "multipart":
        data, content_type = multipart([("access_token", at)])
    else:
        data = body.format(at=at).encode()
    rv = send(client, data, method=method, path=RESOURCE_URL, content_type=content_type)
    assert_resource_error(rv, CONTENT_TYPE)


@pytest.mark.parametrize(
    "content_type, body",
    [
        (FORM, "access_token={at}"),
        ("application/json", '{{"access_token":"{at}"}}'),
    ],
    ids=["form", "json"],
)
def test_resource_body_token_on_delete(client, at, content_type, body) -> None:
    rv = send(
        client, body.format(at=at), method="DELETE", path=RESOURCE_URL, content_type=content_type
    )
    assert_resource_error(rv, BODY_METHOD)


@pytest.mark.parametrize(
    "how",
    ["nothing", "empty-query", "zero-query", "empty-body", "empty-header"],
    ids=["nothing", "empty-query", "zero-query", "empty-body", "empty-header"],
)
def test_resource_without_a_token(client, at, mode, how) -> None:
    if how == "nothing":
        rv = client.get(RESOURCE_URL)
    elif how == "empty-query":
        rv = client.get(RESOURCE_URL + "&access_token=")
    elif how == "zero-query":
        rv = client.get(RESOURCE_URL + "&access_token=0")
    elif how == "empty-body":
        rv = send(client, "access_token=", path=RESOURCE_URL)
    else:
        rv = client.get(RESOURCE_URL, headers=[("Authorization", "")])
    assert_no_token(rv)


@pytest.mark.parametrize(
    "token",
    ["f" * 40, "0123456789abcdef0123456789abcdef01234567", "x", "%FF"],
    ids=["hex", "other-hex", "short", "non-utf8"],
)
def test_resource_unknown_token(client, shop, token) -> None:
    rv = client.get(f"{RESOURCE_URL}&access_token={token}")
    assert_resource_error(rv, INVALID_TOKEN)


@pytest.mark.parametrize(
    "seconds_ago", [2, 3600, 86400 * 20], ids=["two-seconds", "one-hour", "twenty-days"]
)
def test_resource_expired_token(client, shop, import_token, seconds_ago) -> None:
    import_token(
        "access",
        "at-shop-expired-" + str(seconds_ago),
        "shop-app",
        scope="orders.read",
        expires_in=-seconds_ago,
    )
    rv = client.get(RESOURCE_URL, headers=bearer("at-shop-expired-" + str(seconds_ago)))
    assert_resource_error(rv, EXPIRED_TOKEN)


def test_resource_imported_live_token(client, shop, import_token) -> None:
    import_token(
        "access",
        "legacy-token-value-0042",
        "shop-app",
        scope="orders.read",
        user_id="9",
        expires_in=600,
    )
    rv = client.get(RESOURCE_URL, headers=bearer("legacy-token-value-0042"))
    assert_resource_ok(rv, user_id="9")


@pytest.mark.parametrize(
    "query, ok",
    [
        ("scope=orders.read", True),
        ("scope=orders.read+catalog.read", True),
        ("scope=catalog.write%20catalog.read%20orders.read", True),
        ("scope=", True),
        ("scope=reports.view", False),
        ("scope=orders.read+reports.view", False),
        ("scope=Orders.Read", False),
        ("scope=orders.read%20%20catalog.read", False),
    ],
    ids=[
        "one",
        "two",
        "all-three",
        "empty",
        "missing",
        "one-of-two-missing",
        "case",
        "double-space",
    ],
)
def test_resource_scope_param_requires_every_listed_scope_in_default_mode(
    client, at, query, ok
) -> None:
    rv = client.get(f"{RESOURCE_URL}&{query}", headers=bearer(at))
    if ok:
        assert_resource_ok(rv, user_id="1001")
    else:
        scope = query.split("=", 1)[1].replace("+", " ").replace("%20", " ")
        assert_insufficient(rv, scope)


def test_resource_scope_param_against_a_token_without_scope(client, make_client, scopes) -> None:
    scopes("misc.read")  # not a default scope: the token gets no scope
    make_client("bare-app", secret="bare-pw")
    token = assert_token_ok(
        cc(client, {"client_id": "bare-app", "client_secret": "bare-pw"}), scope=None, refresh=True
    )["access_token"]
    rv = client.get(f"{RESOURCE_URL}&scope=misc.read", headers=bearer(token))
    assert_insufficient(rv, "misc.read")
    assert_resource_ok(client.get(RESOURCE_URL, headers=bearer(token)))


@pytest.mark.parametrize("method", ["POST", "PUT"], ids=["POST", "PUT"])
def test_resource_scope_param_is_read_from_the_query_only(client, at, method) -> None:
    rv = send(client, "scope=reports.view", method=method, path=RESOURCE_URL, headers=bearer(at))
    assert_resource_ok(rv, user_id="1001")
    rv = send(
        client,
        "scope=orders.read",
        query="scope=reports.view",
        method=method,
        path=RESOURCE_URL,
        headers=bearer(at),
    )
    assert_insufficient(rv, "reports.view")


def test_resource_scope_is_checked_after_the_token(client, shop, import_token) -> None:
    import_token("access", "at-shop-old", "shop-app", scope="orders.read", expires_in=-10)
    rv = client.get(f"{RESOURCE_URL}&scope=reports.view", headers=bearer("at-shop-old"))
    assert_resource_error(rv, EXPIRED_TOKEN)
    rv = client.get(f"{RESOURCE_URL}&scope=reports.view", headers=bearer("no-such-token"))
    assert_resource_error(rv, INVALID_TOKEN)


@pytest.mark.parametrize(
    "query",
    ["scope=reports.view", "scope=nothing+at+all", "scope=ORDERS.READ"],
    ids=["not-granted", "unknown-scopes", "wrong-case"],
)
def test_resource_scope_param_is_ignored_in_strict_mode(client, at, strict, query) -> None:
    assert_resource_ok(client.get(f"{RESOURCE_URL}&{query}", headers=bearer(at)), user_id="1001")


@pytest.mark.parametrize(
    "encoded, raw",
    [
        # Not UTF-8: emulator/web/php.py decodes it to U+FFFD (never raw bytes, which no database
        # driver would take), so the challenge carries U+FFFD's UTF-8 bytes.
        ("%FF", "\ufffd".encode()),
        ("%E2%82%AC", b"\xe2\x82\xac"),
        ("%C3%A9", b"\xc3\xa9"),
    ],
    ids=["non-utf8", "euro-sign", "e-acute"],
)
def test_resource_scope_param_is_echoed_in_the_challenge_as_sent(client, at, encoded, raw) -> None:
    """insufficient_scope as for any other missing scope (JSON body, 401), and the challenge
    carries the requested scope's bytes as PHP's sprintf did. A WSGI header is a latin-1
    string (PEP 3333): a value that cannot be encoded makes gunicorn answer a bare 500."""
    rv = client.get(f"{RESOURCE_URL}&scope={encoded}", headers=bearer(at))
    assert (rv.status_code, rv.data) == (401, INSUFFICIENT)
    for name, value in rv.headers.items():
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            pytest.fail(f"header {name} cannot be sent through WSGI: {value!r}")
    assert rv.headers["WWW-Authenticate"].encode("latin-1") == (
        b'Bearer realm="Service", scope="' + raw + b'", ' + INSUFFICIENT_CHALLENGE.encode()
    )


def test_www_realm_that_cannot_be_sent_is_refused_or_sent(client, at, cli) -> None:
    """A realm outside latin-1 must not turn every 401 into a bare gunicorn 500."""
    cli("plugins", "set", "oauth2", "www_realm=Dienst \u20ac", expect_ok=False)
    rv = client.get(RESOURCE_URL)
    assert (rv.status_code, rv.data) == (401, b"[]")
    rv.headers["WWW-Authenticate"].encode("latin-1")


@pytest.mark.parametrize("realm", ["Orders API", "example.com"], ids=["with-space", "domain"])
def test_www_realm_param_changes_the_challenge(client, at, set_params, realm) -> None:
    set_params(www_realm=realm)
    assert_no_token(client.get(RESOURCE_URL), realm=realm)
    rv = client.get(RESOURCE_URL, headers=bearer(at.upper()))
    assert_resource_error(rv, INVALID_TOKEN, realm=realm)
    rv = client.get(f"{RESOURCE_URL}&scope=reports.view", headers=bearer(at))
    assert rv.headers["WWW-Authenticate"] == (
        f'Bearer realm="{realm}", scope="reports.view", {INSUFFICIENT_CHALLENGE}'
    )


@pytest.mark.parametrize(
    "scheme", ["OAuth", "oauth", "OAUTH"], ids=["as-set", "lower-case", "upper-case"]
)
def test_token_bearer_header_name_param_changes_the_accepted_scheme(
    client, at, set_params, scheme
) -> None:
    set_params(token_bearer_header_name="OAuth")
    assert_resource_ok(
        client.get(RESOURCE_URL, headers=[("Authorization", f"{scheme} {at}")]), user_id="1001"
    )
    rv = client.get(RESOURCE_URL, headers=[("Authorization", f"Bearer {at}")])
    assert (rv.status_code, rv.data) == (401, MALFORMED[0])


def test_token_bearer_header_name_does_not_change_the_challenge_scheme(
    client, at, set_params
) -> None:
    """bshaffer builds the challenge from the token type (getTokenType(), always Bearer);
    token_bearer_header_name only names the scheme read from the Authorization header."""
    set_params(token_bearer_header_name="OAuth")
    assert_no_token(client.get(RESOURCE_URL))
    rv = client.get(RESOURCE_URL, headers=[("Authorization", f"Bearer {at}")])
    assert_resource_error(rv, MALFORMED)


def test_token_param_name_param(client, at, set_params) -> None:
    set_params(token_param_name="api_key")
    assert_resource_ok(client.get(f"{RESOURCE_URL}&api_key={at}"), user_id="1001")
    assert_resource_ok(send(client, f"api_key={at}", path=RESOURCE_URL), user_id="1001")
    assert_no_token(client.get(f"{RESOURCE_URL}&access_token={at}"))
    rv = client.get(f"{RESOURCE_URL}&api_key={at}", headers=bearer(at))
    assert_resource_error(rv, TWO_METHODS)


# --- NUL and control characters: the normal clean error, on every database --------------


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x7f"], ids=["nul", "soh", "del"])
def test_resource_token_with_a_control_character_is_unknown(client, at, char) -> None:
    for token in (at + char, at[:20] + char + at[20:]):
        assert_resource_error(client.get(RESOURCE_URL, headers=bearer(token)), INVALID_TOKEN)
        rv = client.get(RESOURCE_URL + "&" + urlencode({"access_token": token}))
        assert_resource_error(rv, INVALID_TOKEN)
        rv = send(client, {"access_token": token}, path=RESOURCE_URL)
        assert_resource_error(rv, INVALID_TOKEN)
    assert_resource_ok(client.get(RESOURCE_URL, headers=bearer(at)), user_id="1001")


@pytest.mark.parametrize(
    ("scope", "challenge_scope"),
    [("orders.read\x00", "orders.read "), ("orders\x01.read", "orders\x01.read")],
    ids=["trailing-nul", "soh-inside"],
)
def test_resource_scope_with_a_control_character_is_never_held(
    client, at, scope, challenge_scope
) -> None:
    """Deviation: PHP trimmed a trailing NUL and let the check pass; no scope holds a
    control character, so none is held (the challenge never carries a NUL)."""
    rv = client.get(RESOURCE_URL + "&" + urlencode({"scope": scope}), headers=bearer(at))
    assert_insufficient(rv, challenge_scope)


def test_a_token_this_worker_verified_takes_no_connection(database_url, at) -> None:
    """With the caches on (CACHE_MAX_AGE), a resource request the token cache and the
    plugin state can answer takes no connection from the pool: on PostgreSQL or MariaDB
    every checkout would be a round trip (issue 11). Expiry is still checked each time."""
    worker = make_app(database_url, CACHE_MAX_AGE=60)
    web = worker.test_client()
    assert_resource_ok(web.get(RESOURCE_URL, headers=bearer(at)), user_id="1001")
    with worker.app_context():
        engine = db.engine
    checkouts: list[object] = []
    listen = lambda *args: checkouts.append(args)  # noqa: E731
    event.listen(engine, "checkout", listen)
    try:
        for _ in range(3):
            assert_resource_ok(web.get(RESOURCE_URL, headers=bearer(at)), user_id="1001")
        unknown = web.get(RESOURCE_URL, headers=bearer("0" * 40))
    finally:
        event.remove(engine, "checkout", listen)
    assert unknown.status_code == 401
    assert len(checkouts) == 1  # the unknown token's lookup only
    engine.dispose()
