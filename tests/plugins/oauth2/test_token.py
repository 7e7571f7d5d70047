"""The redCORE dialect's token endpoint (option=token), rule by rule (compat/redcore.md).

Check order, success shapes, the error table, where parameters come from (body, query,
HTTP Basic), public clients, scopes, refresh rules, case sensitivity and malformed input.
The constants, request helpers and fixtures are in conftest.py.
"""

from __future__ import annotations

import io
import json
import re
from datetime import datetime
from datetime import timedelta
from urllib.parse import quote
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from emulator.storage.database import db
from emulator.storage.models import RefreshToken
from tests.support.app import make_app
from tests.support.oauth2 import DATETIME
from tests.support.oauth2 import EXPIRED_RT
from tests.support.oauth2 import FOREIGN_RT
from tests.support.oauth2 import FORM
from tests.support.oauth2 import INVALID_CLIENT
from tests.support.oauth2 import INVALID_RT
from tests.support.oauth2 import INVALID_TOKEN
from tests.support.oauth2 import MISSING_RT
from tests.support.oauth2 import MUST_AUTHENTICATE
from tests.support.oauth2 import NOT_FOUND
from tests.support.oauth2 import NOT_FOUND_HEADERS_ONLY
from tests.support.oauth2 import NOT_SPECIFIED
from tests.support.oauth2 import REQUIRED
from tests.support.oauth2 import RESOURCE_URL
from tests.support.oauth2 import SCOPE_INVALID
from tests.support.oauth2 import SCOPE_UNSUPPORTED
from tests.support.oauth2 import SHOP
from tests.support.oauth2 import SHOP_SCOPE
from tests.support.oauth2 import TOKEN_URL
from tests.support.oauth2 import UNAUTHORIZED
from tests.support.oauth2 import WRONG_METHOD
from tests.support.oauth2 import as_json
from tests.support.oauth2 import assert_resource_error
from tests.support.oauth2 import assert_resource_ok
from tests.support.oauth2 import assert_token_error
from tests.support.oauth2 import assert_token_ok
from tests.support.oauth2 import basic
from tests.support.oauth2 import bearer
from tests.support.oauth2 import cc
from tests.support.oauth2 import err
from tests.support.oauth2 import multipart
from tests.support.oauth2 import refresh
from tests.support.oauth2 import send
from tests.support.oauth2 import unsupported

# =========================================================================================
# check order
# =========================================================================================


@pytest.mark.parametrize(
    "method",
    ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"],
    ids=["GET", "PUT", "DELETE", "PATCH", "OPTIONS"],
)
@pytest.mark.parametrize(
    "request_kind",
    ["valid-request", "bad-client-unknown-grant"],
    ids=["valid-request", "bad-client-unknown-grant"],
)
def test_any_non_post_method_is_405_before_anything_else(
    client, shop, mode, count_rows, method, request_kind
) -> None:
    if request_kind == "valid-request":
        body, headers = urlencode({"grant_type": "client_credentials", **SHOP}), []
    else:
        body, headers = "grant_type=urn:acme:magic", [("Authorization", basic("ghost", "nope"))]
    rv = send(client, body, query=body, headers=headers, method=method)
    assert_token_error(rv, WRONG_METHOD, status=405)
    assert rv.headers["Allow"] == "POST"
    assert count_rows("oauth_access_tokens") == 0


def test_head_is_405_without_a_body(client, shop) -> None:
    rv = send(client, None, query="grant_type=client_credentials&client_id=shop-app", method="HEAD")
    assert rv.status_code == 405
    assert rv.data == b""
    assert rv.headers["Allow"] == "POST"


@pytest.mark.parametrize(
    "headers, body",
    [
        ([], "client_id=ghost&client_secret=nope"),
        ([("Authorization", basic("ghost", "nope"))], "scope=catalog.read"),
        ([], "refresh_token=abc"),
    ],
    ids=["unknown-body-client", "unknown-basic-client", "no-client"],
)
def test_grant_type_presence_is_checked_before_the_client(client, shop, headers, body) -> None:
    assert_token_error(send(client, body, headers=headers), NOT_SPECIFIED)


@pytest.mark.parametrize(
    "headers, body",
    [
        ([], "grant_type=urn:acme:magic&client_id=ghost&client_secret=nope"),
        ([("Authorization", basic("ghost", "nope"))], "grant_type=urn:acme:magic"),
        ([], "grant_type=urn:acme:magic"),
        ([], "grant_type=urn:acme:magic&client_id=shop-app"),
    ],
    ids=["unknown-body-client", "unknown-basic-client", "no-client", "missing-secret"],
)
def test_unknown_grant_type_is_checked_before_the_client(client, shop, headers, body) -> None:
    assert_token_error(send(client, body, headers=headers), unsupported("urn:acme:magic"))


@pytest.mark.parametrize(
    "creds",
    [
        {"client_id": "shop-app", "client_secret": "not-it"},
        {"client_id": "ghost-app", "client_secret": "Sh0p-Secret!"},
    ],
    ids=["wrong-secret", "unknown-client"],
)
@pytest.mark.parametrize(
    "rt_body",
    [{}, {"refresh_token": "rt-shop-expired"}, {"refresh_token": "nope"}],
    ids=["missing-rt", "expired-rt", "unknown-rt"],
)
def test_client_authentication_comes_before_grant_validation(
    client, shop, import_token, creds, rt_body
) -> None:
    import_token("refresh", "rt-shop-expired", "shop-app", expires_in=-60)
    rv = send(client, {"grant_type": "refresh_token", **creds, **rt_body})
    assert_token_error(rv, INVALID_CLIENT)


@pytest.mark.parametrize(
    "rt_body, expected",
    [
        ({}, MISSING_RT),
        ({"refresh_token": ""}, MISSING_RT),
        ({"refresh_token": "never-issued-0001"}, INVALID_RT),
        ({"refresh_token": "rt-nightly-old"}, EXPIRED_RT),
        ({"refresh_token": "rt-nightly-live"}, UNAUTHORIZED),
    ],
    ids=["missing", "empty", "unknown", "expired", "valid-own"],
)
def test_grant_validation_comes_before_the_clients_grant_restriction(
    client, nightly, count_rows, rt_body, expected
) -> None:
    rv = send(client, {"grant_type": "refresh_token", **nightly, **rt_body})
    assert_token_error(rv, expected)
    assert count_rows("oauth_refresh_tokens") == 2


def test_foreign_refresh_token_wins_over_the_clients_grant_restriction(
    client, shop, nightly, import_token
) -> None:
    """Token ownership is checked before the grant_types restriction."""
    import_token("refresh", "rt-shop-live", "shop-app", scope="catalog.read")
    rv = send(client, {"grant_type": "refresh_token", "refresh_token": "rt-shop-live", **nightly})
    assert_token_error(rv, FOREIGN_RT)


def test_expiry_is_checked_before_ownership(client, shop, import_token, make_client) -> None:
    make_client("other-app", secret="other-pw")
    import_token("refresh", "rt-shop-gone", "shop-app", expires_in=-30)
    rv = refresh(client, "rt-shop-gone", {"client_id": "other-app", "client_secret": "other-pw"})
    assert_token_error(rv, EXPIRED_RT)


def test_grant_restriction_comes_before_scope(client, shop, make_client) -> None:
    make_client("rt-only", secret="rt-only-pw", scope="catalog.read", grant_types="refresh_token")
    rv = cc(client, {"client_id": "rt-only", "client_secret": "rt-only-pw"}, scope="orders.read")
    assert_token_error(rv, UNAUTHORIZED)


def test_ownership_comes_before_scope(client, shop, import_token, make_client, count_rows) -> None:
    make_client("other-app", secret="other-pw", scope="catalog.read")
    import_token("refresh", "rt-shop-live", "shop-app", scope="catalog.read")
    rv = refresh(
        client,
        "rt-shop-live",
        {"client_id": "other-app", "client_secret": "other-pw"},
        scope="nothing.at.all",
    )
    assert_token_error(rv, FOREIGN_RT)
    assert count_rows("oauth_refresh_tokens") == 1


def test_client_authentication_comes_before_scope(client, shop) -> None:
    rv = cc(client, {"client_id": "shop-app", "client_secret": "sh0p-secret!"}, scope="bogus")
    assert_token_error(rv, INVALID_CLIENT)


# =========================================================================================
# success
# =========================================================================================


def test_client_credentials_success_shape_per_mode(client, shop, mode, count_rows) -> None:
    default = mode == "default"
    rv = cc(client)
    assert_token_ok(rv, scope=SHOP_SCOPE, refresh=default, as_string=default)
    assert count_rows("oauth_access_tokens") == 1
    assert count_rows("oauth_refresh_tokens") == (1 if default else 0)


def test_scope_is_null_when_nothing_resolves(client, mode, make_client, scopes) -> None:
    scopes("inventory.read", "inventory.write")  # none of them default
    make_client("bare-app", secret="bare-pw")
    rv = cc(client, {"client_id": "bare-app", "client_secret": "bare-pw"})
    assert_token_ok(rv, scope=None, refresh=mode == "default", as_string=mode == "default")


def test_scope_slash_is_escaped_in_the_success_body(client, make_client) -> None:
    make_client("files-app", secret="files-pw", scope="urn:acme:files/read urn:acme:files/write")
    rv = cc(
        client,
        {"client_id": "files-app", "client_secret": "files-pw"},
        scope="urn:acme:files/write",
    )
    assert_token_ok(rv, scope="urn:acme:files/write", refresh=True)
    assert b'"scope":"urn:acme:files\\/write"' in rv.data


@pytest.mark.parametrize("lifetime", [60, 7200, 86400], ids=["one-minute", "two-hours", "one-day"])
@pytest.mark.parametrize("as_string", [True, False], ids=["string", "number"])
def test_access_lifetime_param_changes_expires_in(
    client, shop, set_params, import_token, lifetime, as_string
) -> None:
    set_params(access_lifetime=lifetime, expires_in_as_string=as_string)
    assert_token_ok(
        cc(client), scope=SHOP_SCOPE, refresh=True, expires_in=lifetime, as_string=as_string
    )
    import_token("refresh", "rt-shop-life", "shop-app", scope="orders.read")
    assert_token_ok(
        refresh(client, "rt-shop-life"),
        scope="orders.read",
        refresh=False,
        expires_in=lifetime,
        as_string=as_string,
    )


@pytest.mark.parametrize("as_string", [True, False], ids=["string", "number"])
def test_expires_in_as_string_alone_switches_the_type(client, shop, set_params, as_string) -> None:
    set_params(expires_in_as_string=as_string)  # the other three stay at their defaults
    body = assert_token_ok(cc(client), scope=SHOP_SCOPE, refresh=True, as_string=as_string)
    assert body["expires_in"] == ("3600" if as_string else 3600)


@pytest.mark.parametrize(
    "zone",
    ["Europe/Paris", "Asia/Kolkata", "America/Los_Angeles"],
    ids=["paris", "kolkata-half-hour", "los-angeles"],
)
def test_site_timezone_changes_the_printed_times(database_url, client, shop, zone) -> None:
    utc_body = assert_token_ok(cc(client), scope=SHOP_SCOPE, refresh=True)
    local_app = make_app(database_url, SITE_TIMEZONE=zone)
    try:
        rv = cc(local_app.test_client())
        body = assert_token_ok(rv, scope=SHOP_SCOPE, refresh=True, zone=zone)
    finally:
        with local_app.app_context():
            db.engine.dispose()
    offset = datetime.now(ZoneInfo(zone)).utcoffset()
    shift = datetime.strptime(body["created"], DATETIME) - datetime.strptime(
        utc_body["created"], DATETIME
    )
    assert abs((shift - offset).total_seconds()) <= 5


def test_refresh_token_lives_fourteen_days(app, client, shop) -> None:
    assert_token_ok(cc(client), scope=SHOP_SCOPE, refresh=True)
    with app.app_context():
        issued, expires = db.session.execute(
            sa.select(RefreshToken.issued_at, RefreshToken.expires_at)
        ).one()
    assert expires - issued == timedelta(days=14)


# =========================================================================================
# the error table, row by row
# =========================================================================================


CREDS = "client_id=shop-app&client_secret=Sh0p-Secret!"
CC = "grant_type=client_credentials"
RT = "grant_type=refresh_token"
JSON = "application/json"
ERROR_TABLE = [
    ("no-grant-type", CREDS, FORM, NOT_SPECIFIED),
    ("empty-grant-type", f"grant_type=&{CREDS}", FORM, NOT_SPECIFIED),
    ("php-falsy-grant-type", f"grant_type=0&{CREDS}", FORM, NOT_SPECIFIED),
    ("unparseable-json", '{"grant_type":"client_credentials",', JSON, NOT_SPECIFIED),
    ("json-not-an-object", '["client_credentials"]', JSON, NOT_SPECIFIED),
    ("unknown-grant", f"grant_type=device_code&{CREDS}", FORM, unsupported("device_code")),
    ("no-credentials", CC, FORM, NOT_FOUND),
    ("secret-without-id", f"{CC}&client_secret=Sh0p-Secret!", FORM, NOT_FOUND),
    ("cc-without-secret", f"{CC}&client_id=shop-app", FORM, REQUIRED),
    ("cc-empty-secret", f"{CC}&client_id=shop-app&client_secret=", FORM, REQUIRED),
    ("cc-public-client", f"{CC}&client_id=kiosk", FORM, REQUIRED),
    ("unknown-client", f"{CC}&client_id=nobody&client_secret=Sh0p-Secret!", FORM, INVALID_CLIENT),
    ("wrong-secret", f"{CC}&client_id=shop-app&client_secret=Sh0p-Secret", FORM, INVALID_CLIENT),
    (
        "grant-not-allowed",
        f"{RT}&refresh_token=rt-nightly-live&client_id=nightly&client_secret=n1ghtly-pw",
        FORM,
        UNAUTHORIZED,
    ),
    ("scope-outside-client", f"{CC}&{CREDS}&scope=reports.view", FORM, SCOPE_INVALID),
    (
        "scope-not-in-table",
        f"{CC}&client_id=open-app&client_secret=open-pw&scope=ledger.write",
        FORM,
        SCOPE_UNSUPPORTED,
    ),
    ("refresh-without-token", f"{RT}&{CREDS}", FORM, MISSING_RT),
    ("refresh-unknown-token", f"{RT}&refresh_token=rt-never&{CREDS}", FORM, INVALID_RT),
    ("refresh-expired-token", f"{RT}&refresh_token=rt-shop-stale&{CREDS}", FORM, EXPIRED_RT),
    (
        "refresh-foreign-token",
        f"{RT}&refresh_token=rt-shop-live&client_id=open-app&client_secret=open-pw",
        FORM,
        FOREIGN_RT,
    ),
]


@pytest.mark.parametrize(
    "body, content_type, expected",
    [row[1:] for row in ERROR_TABLE],
    ids=[row[0] for row in ERROR_TABLE],
)
def test_token_error_table(
    client, table_world, mode, count_rows, body, content_type, expected
) -> None:
    assert_token_error(send(client, body, content_type=content_type), expected)
    assert count_rows("oauth_access_tokens") == 0
    assert count_rows("oauth_refresh_tokens") == 3  # nothing used up, nothing added


@pytest.mark.parametrize(
    "value, echoed",
    [
        ("https://grants.example/custom", r"https:\/\/grants.example\/custom"),
        ("café", r"caf\u00e9"),
        ("Überweisung/ß", r"\u00dcberweisung\/\u00df"),
        ("\U0001f511", r"\ud83d\udd11"),
        ('quote"back\\slash', r"quote\"back\\slash"),
        ("Client_Credentials", "Client_Credentials"),
        ("refresh token", "refresh token"),
    ],
    ids=["slashes", "e-acute", "umlaut-and-slash", "astral", "quote-backslash", "case", "space"],
)
@pytest.mark.parametrize("encoding", ["form", "json"], ids=["form", "json"])
def test_unsupported_grant_type_is_echoed_json_encoded_like_php(
    client, value, echoed, encoding
) -> None:
    if encoding == "form":
        rv = send(client, "grant_type=" + quote(value, safe=""))
    else:
        rv = send(client, json.dumps({"grant_type": value}), content_type="application/json")
    assert_token_error(rv, unsupported(echoed))


# =========================================================================================
# where parameters come from
# =========================================================================================


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-www-form-urlencoded; charset=ISO-8859-1",
        "application/x-www-form-urlencoded;charset=utf-8",
    ],
    ids=["iso-8859-1", "utf-8-without-space"],
)
def test_form_body_with_a_charset_is_read(client, shop, mode, content_type) -> None:
    rv = send(
        client,
        {"grant_type": "client_credentials", **SHOP, "scope": "orders.read"},
        content_type=content_type,
    )
    assert_token_ok(rv, scope="orders.read", refresh=mode == "default", as_string=mode == "default")


def test_multipart_body_is_read(client, shop, mode) -> None:
    body, content_type = multipart(
        [
            ("grant_type", "client_credentials"),
            ("client_id", "shop-app"),
            ("client_secret", "Sh0p-Secret!"),
            ("scope", "catalog.write"),
        ]
    )
    rv = send(client, body, content_type=content_type)
    assert_token_ok(
        rv, scope="catalog.write", refresh=mode == "default", as_string=mode == "default"
    )


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json;charset=UTF-8",
        "application/json-patch+json",
    ],
    ids=["json", "json-charset", "json-patch"],
)
def test_json_body_when_content_type_starts_with_application_json(
    client, shop, mode, content_type
) -> None:
    body = as_json(
        {
            "client_secret": "Sh0p-Secret!",
            "scope": "catalog.read orders.read",
            "grant_type": "client_credentials",
            "client_id": "shop-app",
        }
    )
    rv = send(client, body, content_type=content_type)
    assert_token_ok(
        rv, scope="catalog.read orders.read", refresh=mode == "default", as_string=mode == "default"
    )


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "text/plain; charset=utf-8", "application/xml"],
    ids=["none", "text-plain", "text-plain-charset", "xml"],
)
@pytest.mark.parametrize("payload", ["form", "json"], ids=["form", "json"])
def test_other_bodies_are_not_parsed(client, shop, mode, count_rows, content_type, payload) -> None:
    fields = {"grant_type": "client_credentials", **SHOP}
    body = urlencode(fields) if payload == "form" else as_json(fields)
    headers = [] if content_type is None else [("Content-Type", content_type)]
    rv = send(client, body, headers=headers, content_type=None)
    assert_token_error(rv, NOT_SPECIFIED)
    if mode == "default":  # the query still counts, the body still does not
        rv = send(
            client, body, query="grant_type=client_credentials", headers=headers, content_type=None
        )
        assert_token_error(rv, NOT_FOUND)
    assert count_rows("oauth_access_tokens") == 0


@pytest.mark.parametrize(
    "body, content_type, scope",
    [
        (
            "grant_type=refresh_token&grant_type=client_credentials&client_id=shop-app"
            "&client_secret=wrong&client_secret=Sh0p-Secret!&scope=catalog.read&scope=orders.read",
            FORM,
            "orders.read",
        ),
        (
            "client_id=nobody&grant_type=client_credentials&client_id=shop-app&client_secret=Sh0p-Secret!",
            FORM,
            "catalog.read catalog.write orders.read",
        ),
        (
            '{"grant_type":"password","client_id":"shop-app","client_secret":"x","scope":"catalog.read",'
            '"grant_type":"client_credentials","client_secret":"Sh0p-Secret!","scope":"catalog.write"}',
            "application/json",
            "catalog.write",
        ),
    ],
    ids=["form-every-key", "form-client-id", "json"],
)
def test_duplicated_keys_last_wins(client, shop, mode, body, content_type, scope) -> None:
    rv = send(client, body, content_type=content_type)
    assert_token_ok(rv, scope=scope, refresh=mode == "default", as_string=mode == "default")


@pytest.mark.parametrize(
    "query, scope",
    [
        ("scope=orders.read", "orders.read"),
        ("scope=catalog.write+catalog.read", "catalog.write catalog.read"),
        ("scope=catalog.read&scope=catalog.write", "catalog.write"),
    ],
    ids=["one", "two-plus-encoded", "duplicate-last-wins"],
)
def test_scope_may_come_from_the_query_in_both_modes(client, shop, mode, query, scope) -> None:
    rv = send(client, {"grant_type": "client_credentials", **SHOP}, query=query)
    assert_token_ok(rv, scope=scope, refresh=mode == "default", as_string=mode == "default")


def test_scope_in_the_query_is_still_checked(client, shop, mode) -> None:
    rv = send(client, {"grant_type": "client_credentials", **SHOP}, query="scope=reports.view")
    assert_token_error(rv, SCOPE_INVALID)


def test_body_scope_wins_over_query_scope_even_when_empty(client, shop, mode) -> None:
    rv = send(
        client, {"grant_type": "client_credentials", **SHOP, "scope": ""}, query="scope=bogus.scope"
    )
    assert_token_ok(rv, scope=SHOP_SCOPE, refresh=mode == "default", as_string=mode == "default")
    rv = send(
        client,
        {"grant_type": "client_credentials", **SHOP, "scope": "orders.read"},
        query="scope=bogus.scope",
    )
    assert_token_ok(rv, scope="orders.read", refresh=mode == "default", as_string=mode == "default")


@pytest.mark.parametrize(
    "in_query",
    [
        ("grant_type",),
        ("client_id",),
        ("client_secret",),
        ("client_id", "client_secret"),
        ("grant_type", "client_id", "client_secret"),
    ],
    ids=["grant-type", "client-id", "client-secret", "id-and-secret", "all-three"],
)
def test_strict_mode_reads_token_params_from_the_body_only(client, shop, strict, in_query) -> None:
    fields = {"grant_type": "client_credentials", **SHOP}
    body = {k: v for k, v in fields.items() if k not in in_query}
    query = urlencode({k: fields[k] for k in in_query})
    rv = send(client, body, query=query)
    expected = (
        NOT_SPECIFIED
        if "grant_type" in in_query
        else NOT_FOUND
        if "client_id" in in_query
        else REQUIRED
    )
    assert_token_error(rv, expected)


@pytest.mark.parametrize(
    "in_query",
    [
        ("grant_type",),
        ("client_id",),
        ("client_secret",),
        ("client_id", "client_secret"),
        ("grant_type", "client_secret"),
        ("grant_type", "client_id", "client_secret", "scope"),
    ],
    ids=[
        "grant-type",
        "client-id",
        "client-secret",
        "id-and-secret",
        "grant-type-and-secret",
        "all-four",
    ],
)
def test_default_mode_fills_each_missing_param_from_the_query(client, shop, in_query) -> None:
    fields = {"grant_type": "client_credentials", **SHOP, "scope": "catalog.write"}
    body = {k: v for k, v in fields.items() if k not in in_query}
    rv = send(client, body, query=urlencode({k: fields[k] for k in in_query}))
    assert_token_ok(rv, scope="catalog.write", refresh=True)


def test_default_mode_reads_the_refresh_token_from_the_query(client, shop, import_token) -> None:
    import_token("refresh", "rt-shop-q", "shop-app", scope="catalog.read")
    rv = send(client, {"grant_type": "refresh_token", **SHOP}, query="refresh_token=rt-shop-q")
    assert_token_ok(rv, scope="catalog.read", refresh=False)


@pytest.mark.parametrize(
    "body, query, expected",
    [
        (
            "grant_type=client_credentials&client_id=shop-app&client_secret=",
            "client_secret=Sh0p-Secret!",
            REQUIRED,
        ),
        (
            "grant_type=client_credentials&client_id=&client_secret=Sh0p-Secret!",
            "client_id=shop-app",
            INVALID_CLIENT,
        ),
        (
            "grant_type=refresh_token&refresh_token=&client_id=shop-app&client_secret=Sh0p-Secret!",
            "refresh_token=rt-shop-q",
            MISSING_RT,
        ),
        (
            "grant_type=&client_id=shop-app&client_secret=Sh0p-Secret!",
            "grant_type=client_credentials",
            NOT_SPECIFIED,
        ),
    ],
    ids=["empty-secret", "empty-client-id", "empty-refresh-token", "empty-grant-type"],
)
def test_default_mode_body_wins_even_when_empty(
    client, shop, import_token, count_rows, body, query, expected
) -> None:
    import_token("refresh", "rt-shop-q", "shop-app", scope="catalog.read")
    assert_token_error(send(client, body, query=query), expected)
    assert count_rows("oauth_refresh_tokens") == 1


def test_default_mode_json_null_counts_as_absent(client, shop) -> None:
    body = as_json(
        {"grant_type": None, "client_id": "shop-app", "client_secret": None, "scope": None}
    )
    rv = send(
        client,
        body,
        content_type="application/json",
        query="grant_type=client_credentials&client_secret=Sh0p-Secret!&scope=orders.read",
    )
    assert_token_ok(rv, scope="orders.read", refresh=True)


def test_strict_mode_json_null_secret_is_no_secret(client, shop, strict) -> None:
    body = as_json(
        {"grant_type": "client_credentials", "client_id": "shop-app", "client_secret": None}
    )
    rv = send(client, body, content_type="application/json", query="client_secret=Sh0p-Secret!")
    assert_token_error(rv, REQUIRED)


# --- HTTP Basic --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        basic("shop-app", "wrong"),
        basic("ghost-app", "Sh0p-Secret!"),
        basic("shop-app", ""),
    ],
    ids=["wrong-secret", "unknown-client", "empty-secret"],
)
def test_a_usable_basic_header_wins_even_when_wrong(client, shop, mode, header) -> None:
    rv = send(
        client,
        {"grant_type": "client_credentials", **SHOP},
        query=urlencode(SHOP),
        headers=[("Authorization", header)],
    )
    expected = REQUIRED if header == basic("shop-app", "") else INVALID_CLIENT
    assert_token_error(rv, expected)


def test_basic_wins_over_good_body_credentials_of_another_client(
    client, shop, mode, make_client
) -> None:
    make_client("open-app", secret="open-pw")
    rv = send(
        client,
        {"grant_type": "client_credentials", "client_id": "open-app", "client_secret": "open-pw"},
        headers=[("Authorization", basic("shop-app", "Sh0p-Secret!"))],
    )
    assert_token_ok(rv, scope=SHOP_SCOPE, refresh=mode == "default", as_string=mode == "default")


@pytest.mark.parametrize(
    "header",
    [basic("shop-app"), basic("shop-appSh0p-Secret!"), "Basic", "Basic "],
    ids=["id-only", "no-separator", "scheme-only", "scheme-space"],
)
def test_basic_without_colon_is_ignored(client, shop, mode, header) -> None:
    rv = send(
        client, {"grant_type": "client_credentials", **SHOP}, headers=[("Authorization", header)]
    )
    assert_token_ok(rv, scope=SHOP_SCOPE, refresh=mode == "default", as_string=mode == "default")
    rv = send(client, {"grant_type": "client_credentials"}, headers=[("Authorization", header)])
    assert_token_error(rv, NOT_FOUND)


def test_basic_without_colon_falls_back_to_query_credentials_in_default_mode(client, shop) -> None:
    rv = send(
        client,
        {"grant_type": "client_credentials"},
        query=urlencode(SHOP),
        headers=[("Authorization", basic("shop-app"))],
    )
    assert_token_ok(rv, scope=SHOP_SCOPE, refresh=True)


@pytest.mark.parametrize(
    "scheme", ["basic", "BASIC", "bAsIc"], ids=["lower-case", "upper-case", "mixed-case"]
)
def test_basic_scheme_is_case_insensitive(client, shop, scheme) -> None:
    value = scheme + basic("shop-app", "Sh0p-Secret!")[len("Basic") :]
    rv = send(client, {"grant_type": "client_credentials"}, headers=[("Authorization", value)])
    assert_token_ok(rv, scope=SHOP_SCOPE, refresh=True)


@pytest.mark.parametrize(
    "user, password, ok",
    [
        ("ops%2Fbot", "k%3Dv%26w", True),
        ("ops/bot", "k%3Dv%26w", False),
        ("ops%2Fbot", "k=v&w", False),
    ],
    ids=["literal", "decoded-id", "decoded-secret"],
)
def test_basic_parts_are_not_url_decoded(client, make_client, user, password, ok) -> None:
    make_client("ops%2Fbot", secret="k%3Dv%26w", scope="ops.run")
    if not ok:
        make_client("ops/bot", secret="other")
    rv = send(
        client,
        {"grant_type": "client_credentials"},
        headers=[("Authorization", basic(user, password))],
    )
    if ok:
        assert_token_ok(rv, scope="ops.run", refresh=True)
    else:
        assert_token_error(rv, INVALID_CLIENT)


def test_basic_secret_may_hold_a_colon(client, make_client) -> None:
    make_client("colon-app", secret="pa:ss:word", scope="ops.run")
    rv = send(
        client,
        {"grant_type": "client_credentials"},
        headers=[("Authorization", basic("colon-app", "pa:ss:word"))],
    )
    assert_token_ok(rv, scope="ops.run", refresh=True)


@pytest.mark.parametrize("where", ["body", "query", "json"], ids=["body", "query", "json"])
def test_credentials_in_request_body_can_be_disallowed(
    client, shop, set_params, count_rows, where
) -> None:
    set_params(allow_credentials_in_request_body=False)
    if where == "body":
        rv = send(client, {"grant_type": "client_credentials", **SHOP})
    elif where == "query":
        rv = send(client, {"grant_type": "client_credentials"}, query=urlencode(SHOP))
    else:
        rv = send(
            client,
            as_json({"grant_type": "client_credentials", **SHOP}),
            content_type="application/json",
        )
    assert_token_error(rv, NOT_FOUND_HEADERS_ONLY)
    rv = send(
        client,
        {"grant_type": "client_credentials", "client_id": "x"},
        headers=[("Authorization", basic("shop-app", "Sh0p-Secret!"))],
    )
    assert_token_ok(rv, scope=SHOP_SCOPE, refresh=True)
    assert count_rows("oauth_access_tokens") == 1


# =========================================================================================
# Public clients
# =========================================================================================


@pytest.mark.parametrize(
    "body, headers, expected",
    [
        ("grant_type=client_credentials&client_id=kiosk-7", [], REQUIRED),
        ("grant_type=client_credentials&client_id=kiosk-7&client_secret=", [], REQUIRED),
        ("grant_type=client_credentials", [("Authorization", basic("kiosk-7", ""))], REQUIRED),
        (
            "grant_type=client_credentials&client_id=kiosk-7&client_secret=letmein",
            [],
            INVALID_CLIENT,
        ),
    ],
    ids=["no-secret", "empty-secret", "basic-empty-secret", "made-up-secret"],
)
def test_client_credentials_never_accepts_a_public_client(
    client, kiosk, mode, count_rows, body, headers, expected
) -> None:
    assert_token_error(send(client, body, headers=headers), expected)
    assert count_rows("oauth_access_tokens") == 0


@pytest.mark.parametrize(
    "body, headers",
    [
        ("grant_type=refresh_token&refresh_token=rt-kiosk-1&client_id=kiosk-7", []),
        ("grant_type=refresh_token&refresh_token=rt-kiosk-1&client_id=kiosk-7&client_secret=", []),
        (
            "grant_type=refresh_token&refresh_token=rt-kiosk-1",
            [("Authorization", basic("kiosk-7", ""))],
        ),
    ],
    ids=["client-id-only", "empty-secret", "basic-empty-secret"],
)
def test_refresh_accepts_a_public_client_by_client_id_alone(
    client, kiosk, mode, body, headers
) -> None:
    rv = send(client, body, headers=headers)
    token = assert_token_ok(
        rv, scope="catalog.read orders.read", refresh=False, as_string=mode == "default"
    )
    rv = client.get(RESOURCE_URL, headers=bearer(token["access_token"]))
    assert_resource_ok(rv, user_id="88")


def test_refresh_refuses_a_made_up_secret_for_a_public_client(client, kiosk, count_rows) -> None:
    rv = send(
        client,
        "grant_type=refresh_token&refresh_token=rt-kiosk-1&client_id=kiosk-7&client_secret=guessed",
    )
    assert_token_error(rv, INVALID_CLIENT)
    assert count_rows("oauth_refresh_tokens") == 1
    rv = send(client, "grant_type=refresh_token&refresh_token=rt-kiosk-1&client_id=kiosk-7")
    assert_token_ok(rv, scope="catalog.read orders.read", refresh=False)


@pytest.mark.parametrize("client_id", ["shop-app", "no-such-app"], ids=["confidential", "unknown"])
def test_refresh_without_a_secret_for_a_non_public_client(
    client, shop, import_token, client_id
) -> None:
    """bshaffer HttpBasic with allow_public_clients: a client_id alone only passes for a public
    client; any other client_id gets 'This client is invalid or must authenticate using a
    client secret' (the credentials *were* found in the body)."""
    import_token("refresh", "rt-shop-np", "shop-app", scope="catalog.read")
    rv = send(client, f"grant_type=refresh_token&refresh_token=rt-shop-np&client_id={client_id}")
    assert_token_error(rv, MUST_AUTHENTICATE)


# =========================================================================================
# Scope rules
# =========================================================================================


@pytest.mark.parametrize(
    "requested, expected",
    [
        ("orders.read", "orders.read"),
        ("orders.read catalog.read", "orders.read catalog.read"),
        ("catalog.write orders.read catalog.read", "catalog.write orders.read catalog.read"),
        ("catalog.read catalog.read", "catalog.read catalog.read"),
        ("catalog.read reports.view", None),
        ("reports.view", None),
        ("catalog.read  orders.read", None),
        ("openid", None),
        ("Catalog.Read", None),
        ("catalog", None),
    ],
    ids=[
        "one",
        "reordered",
        "all-reordered",
        "repeated",
        "one-outside",
        "outside",
        "double-space",
        "reserved-not-in-client-scope",
        "case",
        "prefix",
    ],
)
def test_requested_scope_must_be_a_subset_of_the_client_scope(
    client, shop, mode, requested, expected
) -> None:
    rv = cc(client, scope=requested)
    if expected is None:
        assert_token_error(rv, SCOPE_INVALID)
    else:
        assert_token_ok(rv, scope=expected, refresh=mode == "default", as_string=mode == "default")


@pytest.mark.parametrize(
    "requested, ok",
    [
        ("ledger.read", True),
        ("ledger.write ledger.read", True),
        ("openid", True),
        ("offline_access", True),
        ("offline_access openid", True),
        ("ledger.read openid", True),
        ("ledger.read ledger.delete", False),
        ("ghost", False),
        ("openid ghost", False),
        ("ledger.read  ledger.write", False),
        ("Ledger.Read", False),
        ("OPENID", False),
    ],
    ids=[
        "exists",
        "two-reordered",
        "openid",
        "offline-access",
        "both-reserved",
        "mixed-reserved",
        "one-unknown",
        "unknown",
        "reserved-plus-unknown",
        "double-space",
        "case",
        "reserved-case",
    ],
)
def test_client_without_scope_checks_the_scopes_table(
    client, mode, make_client, scopes, requested, ok
) -> None:
    scopes("ledger.read", "ledger.write", "ledger.audit", defaults=("ledger.audit",))
    make_client("ledger-app", secret="ledger-pw")
    rv = cc(client, {"client_id": "ledger-app", "client_secret": "ledger-pw"}, scope=requested)
    if ok:
        assert_token_ok(rv, scope=requested, refresh=mode == "default", as_string=mode == "default")
    else:
        assert_token_error(rv, SCOPE_UNSUPPORTED)


def test_nothing_requested_grants_the_client_scope_verbatim(
    client, mode, make_client, scopes
) -> None:
    scopes("a.read", "b.read", defaults=("a.read",))
    make_client("order-app", secret="order-pw", scope="b.read a.read")
    rv = cc(client, {"client_id": "order-app", "client_secret": "order-pw"})
    assert_token_ok(
        rv, scope="b.read a.read", refresh=mode == "default", as_string=mode == "default"
    )


def test_nothing_requested_grants_all_default_scopes_in_table_order(
    client, mode, make_client, scopes, cli
) -> None:
    scopes("zeta.read", "alpha.read", "mid.read", "beta.read", defaults=("zeta.read", "mid.read"))
    make_client("plain-app", secret="plain-pw")
    creds = {"client_id": "plain-app", "client_secret": "plain-pw"}
    assert_token_ok(
        cc(client, creds),
        scope="zeta.read mid.read",
        refresh=mode == "default",
        as_string=mode == "default",
    )
    cli("scopes", "default", "beta.read", "alpha.read")  # listed out of table order
    assert_token_ok(
        cc(client, creds),
        scope="alpha.read beta.read",
        refresh=mode == "default",
        as_string=mode == "default",
    )
    cli("scopes", "default")
    assert_token_ok(
        cc(client, creds), scope=None, refresh=mode == "default", as_string=mode == "default"
    )


@pytest.mark.parametrize(
    "requested, expected",
    [
        (None, "catalog.read orders.read"),
        ("", "catalog.read orders.read"),
        ("orders.read", "orders.read"),
        ("orders.read catalog.read", "orders.read catalog.read"),
        ("catalog.write", None),
        ("orders.read catalog.write", None),
        ("catalog.read  orders.read", None),
    ],
    ids=[
        "nothing",
        "empty",
        "narrower",
        "reordered",
        "in-client-not-in-token",
        "one-outside",
        "double-space",
    ],
)
def test_refresh_scope_must_be_a_subset_of_the_tokens_scope(
    client, shop, mode, import_token, count_rows, requested, expected
) -> None:
    import_token("refresh", "rt-shop-scoped", "shop-app", scope="catalog.read orders.read")
    extra = {} if requested is None else {"scope": requested}
    rv = refresh(client, "rt-shop-scoped", **extra)
    if expected is None:
        assert_token_error(rv, SCOPE_INVALID)
        assert count_rows("oauth_refresh_tokens") == 1  # not used up by the failed attempt
        assert_token_ok(
            refresh(client, "rt-shop-scoped"),
            scope="catalog.read orders.read",
            refresh=False,
            as_string=mode == "default",
        )
    else:
        assert_token_ok(rv, scope=expected, refresh=False, as_string=mode == "default")


def test_refresh_token_without_scope_gets_the_default_scopes(
    client, mode, make_client, scopes, import_token
) -> None:
    scopes("one.read", "two.read", "three.read", defaults=("three.read", "one.read"))
    make_client("loose-app", secret="loose-pw")
    import_token("refresh", "rt-loose-1", "loose-app")
    rv = refresh(client, "rt-loose-1", {"client_id": "loose-app", "client_secret": "loose-pw"})
    assert_token_ok(rv, scope="one.read three.read", refresh=False, as_string=mode == "default")


def test_refresh_token_without_scope_and_no_defaults_gets_null(
    client, make_client, scopes, import_token
) -> None:
    scopes("one.read")
    make_client("loose-app", secret="loose-pw")
    import_token("refresh", "rt-loose-2", "loose-app")
    rv = refresh(client, "rt-loose-2", {"client_id": "loose-app", "client_secret": "loose-pw"})
    assert_token_ok(rv, scope=None, refresh=False)


# =========================================================================================
# Refresh rules
# =========================================================================================


def test_a_refresh_token_works_once(client, shop, count_rows) -> None:
    issued = assert_token_ok(cc(client, scope="orders.read"), scope="orders.read", refresh=True)
    rv = refresh(client, issued["refresh_token"])
    renewed = assert_token_ok(rv, scope="orders.read", refresh=False)
    assert renewed["access_token"] != issued["access_token"]
    assert count_rows("oauth_refresh_tokens") == 0
    assert count_rows("oauth_access_tokens") == 2
    assert_token_error(refresh(client, issued["refresh_token"]), INVALID_RT)
    assert count_rows("oauth_access_tokens") == 2


def test_always_issue_new_refresh_token(client, shop, set_params, count_rows) -> None:
    set_params(always_issue_new_refresh_token=True)
    first = assert_token_ok(cc(client), scope=SHOP_SCOPE, refresh=True)
    second = assert_token_ok(
        refresh(client, first["refresh_token"], scope="catalog.write"),
        scope="catalog.write",
        refresh=True,
    )
    assert second["refresh_token"] != first["refresh_token"]
    assert count_rows("oauth_refresh_tokens") == 1
    assert_token_error(refresh(client, first["refresh_token"]), INVALID_RT)
    assert_token_ok(refresh(client, second["refresh_token"]), scope="catalog.write", refresh=True)


def test_unset_refresh_token_after_use_false_keeps_it_valid(
    client, shop, set_params, count_rows
) -> None:
    set_params(unset_refresh_token_after_use=False)
    first = assert_token_ok(cc(client), scope=SHOP_SCOPE, refresh=True)
    for _ in range(3):
        assert_token_ok(refresh(client, first["refresh_token"]), scope=SHOP_SCOPE, refresh=False)
    assert count_rows("oauth_refresh_tokens") == 1


def test_both_refresh_options_together_keep_old_and_add_new(
    client, shop, set_params, count_rows
) -> None:
    set_params(unset_refresh_token_after_use=False, always_issue_new_refresh_token=True)
    first = assert_token_ok(cc(client), scope=SHOP_SCOPE, refresh=True)
    assert_token_ok(refresh(client, first["refresh_token"]), scope=SHOP_SCOPE, refresh=True)
    assert_token_ok(refresh(client, first["refresh_token"]), scope=SHOP_SCOPE, refresh=True)
    assert count_rows("oauth_refresh_tokens") == 3


@pytest.mark.parametrize(
    "seconds_ago", [1, 3600, 30 * 86400], ids=["one-second", "one-hour", "thirty-days"]
)
def test_an_expired_refresh_token_is_refused(client, shop, mode, import_token, seconds_ago) -> None:
    import_token(
        "refresh", "rt-shop-past", "shop-app", scope="orders.read", expires_in=-seconds_ago
    )
    assert_token_error(refresh(client, "rt-shop-past"), EXPIRED_RT)


def test_an_access_token_is_not_a_refresh_token(client, shop) -> None:
    issued = assert_token_ok(cc(client), scope=SHOP_SCOPE, refresh=True)
    assert_token_error(refresh(client, issued["access_token"]), INVALID_RT)
    rv = client.get(RESOURCE_URL, headers=bearer(issued["refresh_token"]))
    assert_resource_error(rv, INVALID_TOKEN)


def test_refreshed_token_carries_the_refresh_tokens_user(client, shop, import_token) -> None:
    import_token("refresh", "rt-shop-user", "shop-app", scope="orders.read", user_id="4242")
    renewed = assert_token_ok(refresh(client, "rt-shop-user"), scope="orders.read", refresh=False)
    rv = client.get(RESOURCE_URL, headers=bearer(renewed["access_token"]))
    assert_resource_ok(rv, user_id="4242")


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


# =========================================================================================
# Deliberate deviations
# =========================================================================================


@pytest.mark.parametrize(
    "creds",
    [
        {"client_id": "SHOP-APP", "client_secret": "Sh0p-Secret!"},
        {"client_id": "Shop-App", "client_secret": "Sh0p-Secret!"},
        {"client_id": "shop-app", "client_secret": "SH0P-SECRET!"},
        {"client_id": "shop-app", "client_secret": "sh0p-secret!"},
    ],
    ids=["id-upper", "id-title", "secret-upper", "secret-lower"],
)
def test_client_ids_and_secrets_are_case_sensitive(client, shop, mode, creds) -> None:
    assert_token_error(cc(client, creds), INVALID_CLIENT)
    basic_rv = send(
        client,
        {"grant_type": "client_credentials"},
        headers=[("Authorization", basic(creds["client_id"], creds["client_secret"]))],
    )
    assert_token_error(basic_rv, INVALID_CLIENT)


@pytest.mark.parametrize(
    "creds",
    [
        {"client_id": "shop-app ", "client_secret": "Sh0p-Secret!"},
        {"client_id": "shop-app", "client_secret": "Sh0p-Secret! "},
        {"client_id": "shop-app\x00", "client_secret": "Sh0p-Secret!"},
        {"client_id": "shop-app", "client_secret": "Sh0p-Secret!\x00"},
    ],
    ids=["id-trailing-space", "secret-trailing-space", "id-trailing-nul", "secret-trailing-nul"],
)
def test_client_ids_and_secrets_compare_exactly(client, shop, count_rows, creds) -> None:
    """Deviation "compare exactly": no padding rule, no C-string end. (A NUL in a client_id
    is simply another id; a secret with a trailing NUL is another secret.)"""
    assert_token_error(cc(client, creds), INVALID_CLIENT)
    assert count_rows("oauth_access_tokens") == 0


def test_tokens_are_case_sensitive(client, shop) -> None:
    issued = assert_token_ok(cc(client), scope=SHOP_SCOPE, refresh=True)
    assert_resource_error(
        client.get(RESOURCE_URL, headers=bearer(issued["access_token"].upper())), INVALID_TOKEN
    )
    assert_token_error(refresh(client, issued["refresh_token"].upper()), INVALID_RT)
    rv = client.get(RESOURCE_URL, headers=bearer(issued["access_token"]))
    assert_resource_ok(rv, user_id="1001")


def test_scopes_are_case_sensitive(client, shop, make_client, import_token) -> None:
    assert_token_error(cc(client, scope="ORDERS.READ"), SCOPE_INVALID)
    make_client("open-app", secret="open-pw")
    assert_token_error(
        cc(client, {"client_id": "open-app", "client_secret": "open-pw"}, scope="Reports.View"),
        SCOPE_UNSUPPORTED,
    )
    import_token("refresh", "rt-shop-case", "shop-app", scope="orders.read")
    assert_token_error(refresh(client, "rt-shop-case", scope="Orders.Read"), SCOPE_INVALID)


def test_ids_that_differ_only_in_case_are_two_clients(client, make_client, scopes) -> None:
    """Deviation "compare exactly", as stored: on every backend (MariaDB's default collations
    would make these one id and find it for ``CLIENT1`` or ``client1 ``)."""
    scopes("orders.read", "Orders.Read")
    make_client("Client1", secret="first-secret", scope="Orders.Read")
    make_client("client1", secret="second-secret", scope="orders.read")
    for client_id, secret, scope in (
        ("Client1", "first-secret", "Orders.Read"),
        ("client1", "second-secret", "orders.read"),
    ):
        creds = {"client_id": client_id, "client_secret": secret}
        assert_token_ok(cc(client, creds), scope=scope, refresh=True)
    for client_id, secret in (
        ("Client1", "second-secret"),
        ("client1", "first-secret"),
        ("CLIENT1", "first-secret"),
        ("CLIENT1", "second-secret"),
        ("client1 ", "second-secret"),
        ("Client1 ", "first-secret"),
    ):
        creds = {"client_id": client_id, "client_secret": secret}
        assert_token_error(cc(client, creds), INVALID_CLIENT)
    creds = {"client_id": "client1", "client_secret": "second-secret"}
    assert_token_error(cc(client, creds, scope="Orders.Read"), SCOPE_INVALID)


def test_ids_secrets_and_user_ids_hold_any_unicode(client, make_client) -> None:
    """4-byte UTF-8 too, on every backend (MySQL's utf8 holds 3 bytes and latin1 one: the
    service's columns and connections are utf8mb4 there)."""
    client_id, secret, user_id = "kunde-ø-客户-😀", "hemmelig-𝄞-0123456789", "bruger-😀"
    make_client(client_id, secret=secret, user_id=user_id)
    rv = send(
        client,
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    token = assert_token_ok(rv, scope=None, refresh=True)["access_token"]
    assert_resource_ok(client.get(RESOURCE_URL, headers=bearer(token)), user_id=user_id)
    basic_rv = send(
        client,
        {"grant_type": "client_credentials"},
        headers=[("Authorization", basic(client_id, secret))],
    )
    assert_token_ok(basic_rv, scope=None, refresh=True)
    wrong = {"client_id": "kunde-ø-客户-😁", "client_secret": secret}  # one bit away
    assert_token_error(cc(client, wrong), INVALID_CLIENT)


@pytest.mark.parametrize(
    "secret",
    [True, 1, 1.5, [], {}, ["Sh0p-Secret!"], {"0": "Sh0p-Secret!"}],
    ids=[
        "true",
        "one",
        "float",
        "empty-list",
        "empty-object",
        "list-of-secret",
        "object-with-secret",
    ],
)
def test_json_non_string_secret_never_authenticates(client, shop, mode, count_rows, secret) -> None:
    body = as_json(
        {"grant_type": "client_credentials", "client_id": "shop-app", "client_secret": secret}
    )
    assert_token_error(send(client, body, content_type="application/json"), INVALID_CLIENT)
    assert count_rows("oauth_access_tokens") == 0


@pytest.mark.parametrize(
    "body, content_type",
    [
        ("grant_type[]=client_credentials&client_id=shop-app&client_secret=Sh0p-Secret!", FORM),
        (
            "grant_type%5B%5D=refresh_token&grant_type%5B%5D=client_credentials&client_id=shop-app"
            "&client_secret=Sh0p-Secret!",
            FORM,
        ),
        ("grant_type[kind]=client_credentials&client_id=shop-app&client_secret=Sh0p-Secret!", FORM),
        (
            '{"grant_type":["client_credentials"],"client_id":"shop-app","client_secret":"Sh0p-Secret!"}',
            "application/json",
        ),
        (
            '{"grant_type":{"type":"client_credentials"},"client_id":"shop-app",'
            '"client_secret":"Sh0p-Secret!"}',
            "application/json",
        ),
    ],
    ids=["form-list", "form-list-of-two", "form-keyed", "json-list", "json-object"],
)
def test_array_grant_type_is_not_specified(
    client, shop, mode, count_rows, body, content_type
) -> None:
    rv = send(client, body, content_type=content_type, query="grant_type=client_credentials")
    assert_token_error(rv, NOT_SPECIFIED)
    assert count_rows("oauth_access_tokens") == 0


@pytest.mark.parametrize(
    "body, expected",
    [
        ("grant_type=%FF&client_id=shop-app&client_secret=Sh0p-Secret!", None),
        ("grant_type=client%E9credentials&client_id=shop-app&client_secret=Sh0p-Secret!", None),
        ("grant_type=client_credentials&client_id=%FF&client_secret=Sh0p-Secret!", INVALID_CLIENT),
        (
            "grant_type=client_credentials&client_id=shop-app&client_secret=Sh0p-Secret%A1",
            INVALID_CLIENT,
        ),
        (
            "grant_type=client_credentials&client_id=shop-app&client_secret=Sh0p-Secret!"
            "&scope=orders%C0.read",
            SCOPE_INVALID,
        ),
        (
            "grant_type=refresh_token&refresh_token=%C3%28&client_id=shop-app&client_secret=Sh0p-Secret!",
            INVALID_RT,
        ),
    ],
    ids=[
        "grant-type-ff",
        "grant-type-latin1",
        "client-id",
        "client-secret",
        "scope",
        "refresh-token",
    ],
)
def test_non_utf8_parameter_gets_a_json_error_body(client, shop, mode, body, expected) -> None:
    rv = send(client, body.encode())
    assert rv.status_code == 400
    assert rv.headers["Content-Type"] == "application/json"
    parsed = json.loads(rv.data)  # valid JSON, never an empty body
    rv.data.decode("ascii")  # PHP's json_encode escapes everything non-ASCII
    if expected is None:
        assert parsed["error"] == "unsupported_grant_type"
        assert re.fullmatch(r'Grant type ".+" not supported', parsed["error_description"])
    else:
        assert rv.data == expected


def test_non_utf8_in_the_query_gets_a_json_error_body(client, shop) -> None:
    rv = send(
        client,
        {"client_id": "shop-app", "client_secret": "Sh0p-Secret!"},
        query="grant_type=%FE%FF",
    )
    assert rv.status_code == 400
    assert json.loads(rv.data)["error"] == "unsupported_grant_type"


@pytest.mark.parametrize(
    "field",
    ["client_id", "client_secret", "grant_type"],
    ids=["client-id", "client-secret", "grant-type"],
)
def test_json_lone_surrogate_is_an_unparseable_body(client, shop, field) -> None:
    """PHP's json_decode rejects an unpaired UTF-16 surrogate: the whole body is unparseable."""
    fields = {"grant_type": "client_credentials", **SHOP}
    body = json.dumps(fields).replace(json.dumps(fields[field]), '"\\ud800"')
    rv = send(client, body, content_type="application/json")
    assert_token_error(rv, NOT_SPECIFIED)


def test_json_body_with_a_byte_order_mark_is_unparseable(client, shop) -> None:
    """PHP's json_decode does not skip a UTF-8 BOM: the body is unparseable."""
    body = b"\xef\xbb\xbf" + as_json({"grant_type": "client_credentials", **SHOP}).encode()
    assert_token_error(send(client, body, content_type="application/json"), NOT_SPECIFIED)


@pytest.mark.parametrize(
    "grant_types, gets_refresh",
    [
        ("client_credentials", False),
        ("client_credentials refresh_token", True),
        (None, True),
    ],
    ids=["cc-only", "both", "unrestricted"],
)
def test_client_credentials_refresh_token_only_for_clients_that_may_refresh(
    client, make_client, count_rows, grant_types, gets_refresh
) -> None:
    make_client("cron-app", secret="cron-pw", scope="jobs.run", grant_types=grant_types)
    rv = cc(client, {"client_id": "cron-app", "client_secret": "cron-pw"})
    assert_token_ok(rv, scope="jobs.run", refresh=gets_refresh)
    assert count_rows("oauth_refresh_tokens") == (1 if gets_refresh else 0)


def test_reuse_detection_revokes_the_chain_and_answers_as_the_original(
    client, shop, set_params
) -> None:
    set_params(revoke_on_refresh_token_reuse=True, always_issue_new_refresh_token=True)
    first = cc(client).get_json()
    second = refresh(client, first["refresh_token"]).get_json()
    rv = refresh(client, first["refresh_token"])  # the used one, again
    assert_token_error(rv, INVALID_RT)  # the same bytes as any unknown refresh token
    for token in (first["access_token"], second["access_token"]):
        rv = client.get(RESOURCE_URL, headers=bearer(token))
        assert rv.status_code == 401  # the revocation was committed although the answer failed
    assert_token_error(refresh(client, second["refresh_token"]), INVALID_RT)


def test_without_reuse_detection_a_reused_token_ends_nothing(client, shop, set_params) -> None:
    set_params(always_issue_new_refresh_token=True)
    first = cc(client).get_json()
    second = refresh(client, first["refresh_token"]).get_json()
    assert_token_error(refresh(client, first["refresh_token"]), INVALID_RT)
    assert client.get(RESOURCE_URL, headers=bearer(second["access_token"])).status_code == 200
