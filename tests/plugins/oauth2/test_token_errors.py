"""The redCORE dialect's token endpoint (option=token): its errors (compat/redcore.md).

Which error wins when a request has several faults (the check order), the error table
row by row, and the unsupported grant type echoed as PHP's json_encode wrote it. The
constants, request helpers and assertions are in tests/support/oauth2.py, the fixtures in
conftest.py.
"""

from __future__ import annotations

import json
from urllib.parse import quote
from urllib.parse import urlencode

import pytest

from tests.support.oauth2 import EXPIRED_RT
from tests.support.oauth2 import FOREIGN_RT
from tests.support.oauth2 import FORM
from tests.support.oauth2 import INVALID_CLIENT
from tests.support.oauth2 import INVALID_RT
from tests.support.oauth2 import MISSING_RT
from tests.support.oauth2 import NOT_FOUND
from tests.support.oauth2 import NOT_SPECIFIED
from tests.support.oauth2 import REQUIRED
from tests.support.oauth2 import SCOPE_INVALID
from tests.support.oauth2 import SCOPE_UNSUPPORTED
from tests.support.oauth2 import SHOP
from tests.support.oauth2 import UNAUTHORIZED
from tests.support.oauth2 import WRONG_METHOD
from tests.support.oauth2 import assert_token_error
from tests.support.oauth2 import basic
from tests.support.oauth2 import cc
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
