"""The redCORE dialect's token endpoint (option=token): where its parameters come from.

The body types PHP read (form with a charset, multipart, JSON) and the ones it did not,
duplicated keys, and the query: its scope in both modes, every other parameter in the
default mode only. Where client credentials come from is test_token_credentials.py.
Helpers are in tests/support/oauth2.py, the fixtures in conftest.py.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.support.oauth2 import FORM
from tests.support.oauth2 import INVALID_CLIENT
from tests.support.oauth2 import MISSING_RT
from tests.support.oauth2 import NOT_FOUND
from tests.support.oauth2 import NOT_SPECIFIED
from tests.support.oauth2 import REQUIRED
from tests.support.oauth2 import SCOPE_INVALID
from tests.support.oauth2 import SHOP
from tests.support.oauth2 import SHOP_SCOPE
from tests.support.oauth2 import as_json
from tests.support.oauth2 import assert_token_error
from tests.support.oauth2 import assert_token_ok
from tests.support.oauth2 import multipart
from tests.support.oauth2 import send


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
