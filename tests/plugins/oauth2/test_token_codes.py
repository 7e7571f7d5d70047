"""The redCORE dialect's token endpoint (option=token): the authorization_code grant's rules.

A code works once, for its own client, before it expires, with the redirect URI its
authorization request named (compared as bshaffer did: both sides URL-decoded once more),
and gives its user and scope to the tokens it is traded for, a refresh token included.
The checks come in bshaffer's order. Helpers are in tests/support/oauth2.py, the fixtures
in conftest.py.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest

from plugins.oauth2.params import OAuth2Params
from plugins.oauth2.params import token_policy
from tests.support.oauth2 import EXPIRED_CODE
from tests.support.oauth2 import FOREIGN_CODE
from tests.support.oauth2 import INVALID_CLIENT
from tests.support.oauth2 import MISSING_CODE
from tests.support.oauth2 import NOT_FOUND
from tests.support.oauth2 import REDIRECT_MISMATCH
from tests.support.oauth2 import RESOURCE_URL
from tests.support.oauth2 import SCOPE_INVALID
from tests.support.oauth2 import SHOP
from tests.support.oauth2 import SHOP_SCOPE
from tests.support.oauth2 import STRICT
from tests.support.oauth2 import UNAUTHORIZED
from tests.support.oauth2 import UNKNOWN_CODE
from tests.support.oauth2 import as_json
from tests.support.oauth2 import assert_resource_ok
from tests.support.oauth2 import assert_token_error
from tests.support.oauth2 import assert_token_ok
from tests.support.oauth2 import basic
from tests.support.oauth2 import bearer
from tests.support.oauth2 import exchange
from tests.support.oauth2 import refresh
from tests.support.oauth2 import send

RETURN = "https://shop.example/orders/return"
CODE_SCOPE = "catalog.read orders.read"
OTHER = {"client_id": "outlet-app", "client_secret": "0utlet-pw"}


@pytest.fixture
def codes(shop, make_client, import_code) -> None:
    """shop-app's codes for user 73 (one with no redirect URI and no scope), and a second
    client, outlet-app, with a code of its own."""
    import_code("ac-shop-1", "shop-app", redirect_uri=RETURN, scope=CODE_SCOPE, user_id="73")
    import_code("ac-shop-2", "shop-app", redirect_uri=RETURN, scope=CODE_SCOPE, user_id="73")
    import_code("ac-shop-bare", "shop-app", user_id="73")
    import_code("ac-shop-old", "shop-app", redirect_uri=RETURN, scope=CODE_SCOPE, expires_in=-2)
    make_client("outlet-app", secret="0utlet-pw", scope="catalog.read")
    import_code("ac-outlet-1", "outlet-app", redirect_uri="https://outlet.example/cb")


def test_a_code_gives_tokens_for_its_user_and_scope(client, codes, mode, count_rows) -> None:
    as_string = mode == "default"
    rv = exchange(client, "ac-shop-1", redirect_uri=RETURN)
    issued = assert_token_ok(rv, scope=CODE_SCOPE, refresh=True, as_string=as_string)
    assert_resource_ok(client.get(RESOURCE_URL, headers=bearer(issued["access_token"])), "73")
    rv = refresh(client, issued["refresh_token"])
    renewed = assert_token_ok(rv, scope=CODE_SCOPE, refresh=False, as_string=as_string)
    assert_resource_ok(client.get(RESOURCE_URL, headers=bearer(renewed["access_token"])), "73")
    assert count_rows("oauth_authorization_codes") == 4  # ac-shop-1 is gone


def test_a_code_works_once(client, codes, count_rows) -> None:
    assert_token_ok(
        exchange(client, "ac-shop-2", redirect_uri=RETURN), scope=CODE_SCOPE, refresh=True
    )
    assert_token_error(exchange(client, "ac-shop-2", redirect_uri=RETURN), UNKNOWN_CODE)
    assert (count_rows("oauth_access_tokens"), count_rows("oauth_refresh_tokens")) == (1, 1)


def test_concurrent_uses_of_one_code_give_exactly_one_success(app, codes, count_rows) -> None:
    def use(_):
        rv = exchange(app.test_client(), "ac-shop-1", redirect_uri=RETURN)
        return rv.status_code, rv.data

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(use, range(16)))
    assert sorted(status for status, _ in results) == [200] + [400] * 15
    assert all(body == UNKNOWN_CODE for status, body in results if status == 400)
    assert (count_rows("oauth_access_tokens"), count_rows("oauth_refresh_tokens")) == (1, 1)


@pytest.mark.parametrize(
    "extra",
    [{}, {"code": ""}, {"code": "0"}],
    ids=["absent", "empty", "php-falsy-zero"],
)
def test_a_missing_code(client, codes, mode, extra) -> None:
    body = {"grant_type": "authorization_code", **SHOP, "redirect_uri": RETURN, **extra}
    assert_token_error(send(client, body), MISSING_CODE)


@pytest.mark.parametrize(
    "code",
    ["ac-nope", "AC-SHOP-1", "ac-shop-1 ", "ac-shop"],
    ids=["unknown", "other-case", "trailing-space", "prefix"],
)
def test_an_unknown_code(client, codes, code) -> None:
    assert_token_error(exchange(client, code, redirect_uri=RETURN), UNKNOWN_CODE)


def test_an_expired_code(client, codes, mode) -> None:
    assert_token_error(exchange(client, "ac-shop-old", redirect_uri=RETURN), EXPIRED_CODE)


def test_another_clients_code_is_refused_and_kept(client, codes, count_rows) -> None:
    rv = exchange(client, "ac-outlet-1", redirect_uri="https://outlet.example/cb")
    assert_token_error(rv, FOREIGN_CODE)
    assert count_rows("oauth_authorization_codes") == 5
    rv = exchange(client, "ac-outlet-1", OTHER, redirect_uri="https://outlet.example/cb")
    assert_token_ok(rv, scope="catalog.read reports.view", refresh=True)  # no scope: defaults


@pytest.mark.parametrize(
    "redirect_uri",
    [
        None,
        "",
        "0",
        "https://evil.example/orders/return",
        RETURN + "/",
        RETURN.upper(),
        RETURN + "?next=1",
        "http://shop.example/orders/return",
    ],
    ids=[
        "absent",
        "empty",
        "php-falsy-zero",
        "other-host",
        "trailing-slash",
        "other-case",
        "extra-query",
        "http",
    ],
)
def test_the_redirect_uri_must_be_repeated(client, codes, mode, redirect_uri, count_rows) -> None:
    extra = {} if redirect_uri is None else {"redirect_uri": redirect_uri}
    assert_token_error(exchange(client, "ac-shop-1", **extra), REDIRECT_MISMATCH)
    assert count_rows("oauth_authorization_codes") == 5  # the code is still there


def test_a_double_encoded_redirect_uri_is_decoded_once_more(client, codes) -> None:
    rv = send(
        client,
        "grant_type=authorization_code&code=ac-shop-1&client_id=shop-app"
        f"&client_secret=Sh0p-Secret%21&redirect_uri={quote(quote(RETURN, safe=''), safe='')}",
    )
    assert_token_ok(rv, scope=CODE_SCOPE, refresh=True)


def test_redirect_uris_are_compared_url_decoded_on_both_sides(client, shop, import_code) -> None:
    """bshaffer compared urldecode() of both: %20, + and a space are one character."""
    stored = "https://shop.example/back?tag=new%20in&lang=da+en"
    for n, given in enumerate(
        [
            stored,
            "https://shop.example/back?tag=new in&lang=da en",
            "https://shop.example/back?tag=new+in&lang=da%20en",
        ]
    ):
        import_code(f"ac-dec-{n}", "shop-app", redirect_uri=stored, scope="orders.read")
        rv = exchange(client, f"ac-dec-{n}", redirect_uri=given)
        assert_token_ok(rv, scope="orders.read", refresh=True)


def test_a_code_without_a_redirect_uri_needs_none(client, codes) -> None:
    rv = exchange(client, "ac-shop-bare")
    assert_token_ok(rv, scope="catalog.read reports.view", refresh=True)  # the default scopes


def test_a_code_without_a_redirect_uri_ignores_one_given(client, codes) -> None:
    rv = exchange(client, "ac-shop-bare", redirect_uri="https://anywhere.example/")
    assert_token_ok(rv, scope="catalog.read reports.view", refresh=True)


@pytest.mark.parametrize(
    ("code", "creds", "extra", "expected"),
    [
        # the redirect URI is checked before the code's client, and before its expiry
        ("ac-outlet-1", SHOP, {"redirect_uri": RETURN}, REDIRECT_MISMATCH),
        ("ac-shop-old", OTHER, {"redirect_uri": "https://x.example/"}, REDIRECT_MISMATCH),
        # the expiry before the code's client
        ("ac-shop-old", OTHER, {"redirect_uri": RETURN}, EXPIRED_CODE),
        # the client is authenticated before the code is looked at
        ("", {"client_id": "shop-app", "client_secret": "wrong"}, {}, INVALID_CLIENT),
        ("ac-nope", {}, {}, NOT_FOUND),
        ("ac-shop-1", {"client_id": "ghost-app", "client_secret": "x"}, {}, INVALID_CLIENT),
    ],
    ids=[
        "mismatch-before-other-client",
        "mismatch-before-expiry",
        "expired-before-other-client",
        "client-before-missing-code",
        "no-credentials-before-unknown-code",
        "unknown-client-before-redirect",
    ],
)
def test_check_order(client, codes, code, creds, extra, expected) -> None:
    body = {"grant_type": "authorization_code", **creds, **extra}
    if code:
        body["code"] = code
    assert_token_error(send(client, body), expected)


def test_a_client_barred_from_the_grant_learns_so_only_with_a_good_code(
    client, make_client, import_code, count_rows
) -> None:
    make_client("batch-app", secret="b4tch", grant_types="client_credentials refresh_token")
    import_code("ac-batch", "batch-app", redirect_uri="https://batch.example/cb")
    creds = {"client_id": "batch-app", "client_secret": "b4tch"}
    assert_token_error(exchange(client, "ac-nope", creds), UNKNOWN_CODE)
    rv = exchange(client, "ac-batch", creds, redirect_uri="https://batch.example/cb")
    assert_token_error(rv, UNAUTHORIZED)
    assert count_rows("oauth_authorization_codes") == 1  # not used up by a refused request


@pytest.mark.parametrize(
    ("scope", "granted"),
    [("orders.read", "orders.read"), ("orders.read catalog.read", "orders.read catalog.read")],
    ids=["subset", "reordered"],
)
def test_a_narrower_scope_may_be_asked_for(client, codes, scope, granted) -> None:
    rv = exchange(client, "ac-shop-1", redirect_uri=RETURN, scope=scope)
    assert_token_ok(rv, scope=granted, refresh=True)


@pytest.mark.parametrize(
    "scope", ["catalog.write", "orders.read reports.view"], ids=["outside", "partly-outside"]
)
def test_a_scope_beyond_the_codes_is_refused(client, codes, scope, count_rows) -> None:
    rv = exchange(client, "ac-shop-1", redirect_uri=RETURN, scope=scope)
    assert_token_error(rv, SCOPE_INVALID)
    assert count_rows("oauth_authorization_codes") == 5


def test_a_public_client_redeems_by_client_id_alone(client, make_client, import_code) -> None:
    make_client("kiosk-9", public=True, scope="catalog.read")
    for code in ("ac-kiosk", "ac-kiosk-2"):
        import_code(
            code, "kiosk-9", redirect_uri="app://kiosk/cb", scope="catalog.read", user_id="88"
        )
    rv = exchange(
        client,
        "ac-kiosk-2",
        {"client_id": "kiosk-9", "client_secret": "made-up"},
        redirect_uri="app://kiosk/cb",
    )
    assert_token_error(rv, INVALID_CLIENT)
    rv = exchange(client, "ac-kiosk", {"client_id": "kiosk-9"}, redirect_uri="app://kiosk/cb")
    issued = assert_token_ok(rv, scope="catalog.read", refresh=True)
    assert_resource_ok(client.get(RESOURCE_URL, headers=bearer(issued["access_token"])), "88")


def test_with_basic_credentials(client, codes) -> None:
    rv = send(
        client,
        {"grant_type": "authorization_code", "code": "ac-shop-1", "redirect_uri": RETURN},
        headers=[("Authorization", basic("shop-app", "Sh0p-Secret!"))],
    )
    assert_token_ok(rv, scope=CODE_SCOPE, refresh=True)


def test_with_a_json_body(client, codes) -> None:
    body = {"grant_type": "authorization_code", "code": "ac-shop-1", "redirect_uri": RETURN}
    rv = send(client, as_json({**body, **SHOP}), content_type="application/json")
    assert_token_ok(rv, scope=CODE_SCOPE, refresh=True)


def test_code_and_redirect_uri_from_the_query_in_default_mode_only(
    client, codes, set_params
) -> None:
    query = f"grant_type=authorization_code&code=ac-shop-1&redirect_uri={quote(RETURN, safe='')}"
    rv = send(client, SHOP, query=query)
    assert_token_ok(rv, scope=CODE_SCOPE, refresh=True)
    set_params(**STRICT)
    query = query.replace("ac-shop-1", "ac-shop-2")
    rv = send(client, {"grant_type": "authorization_code", **SHOP}, query=query)
    assert_token_error(rv, MISSING_CODE)


def test_the_body_wins_over_the_query(client, codes) -> None:
    rv = send(
        client,
        {"grant_type": "authorization_code", "code": "ac-shop-2", "redirect_uri": RETURN, **SHOP},
        query="code=ac-shop-1&redirect_uri=https%3A%2F%2Fevil.example%2F",
    )
    assert_token_ok(rv, scope=CODE_SCOPE, refresh=True)
    assert_token_ok(
        exchange(client, "ac-shop-1", redirect_uri=RETURN), scope=CODE_SCOPE, refresh=True
    )


def test_an_array_code_is_refused(client, codes) -> None:
    rv = send(
        client,
        "grant_type=authorization_code&code[]=ac-shop-1&client_id=shop-app"
        "&client_secret=Sh0p-Secret%21",
    )
    assert rv.status_code == 400
    assert rv.get_json() == {
        "error": "invalid_request",
        "error_description": 'The parameter "code" must be a single value',
    }


def test_no_refresh_token_for_a_client_that_may_not_refresh(
    client, make_client, import_code
) -> None:
    """The deviation for client_credentials, kept here: a refresh token it could never use."""
    make_client("web-only", secret="w3b", grant_types="authorization_code")
    import_code("ac-web", "web-only", redirect_uri="https://web.example/cb", scope="a.b")
    creds = {"client_id": "web-only", "client_secret": "w3b"}
    rv = exchange(client, "ac-web", creds, redirect_uri="https://web.example/cb")
    assert_token_ok(rv, scope="a.b", refresh=False)


@pytest.mark.parametrize(
    ("value", "ok"),
    [("1", True), ("600", True), ("0", False), ("601", False), ("thirty", False)],
    ids=["one-second", "ten-minutes", "zero", "past-ten-minutes", "not-a-number"],
)
def test_auth_code_lifetime_param(cli, value, ok) -> None:
    out = cli("plugins", "set", "oauth2", f"auth_code_lifetime={value}", expect_ok=ok)
    shown = cli("plugins", "show", "oauth2")
    assert ("auth_code_lifetime = " + (value if ok else "30")) in shown, (out, shown)


def test_the_policy_has_the_code_lifetime_and_bshaffers_redirect_rule() -> None:
    assert token_policy(OAuth2Params().load({})).auth_code_lifetime == 30
    policy = token_policy(OAuth2Params().load({"auth_code_lifetime": 45}))
    assert policy.auth_code_lifetime == 45
    assert policy.redirect_uri_matches("https%3A%2F%2Fa.example%2Fcb", "https://a.example/cb")
    assert not policy.redirect_uri_matches("https://a.example/cb/", "https://a.example/cb")


def test_other_grants_do_not_read_code_or_redirect_uri(client, shop) -> None:
    """bshaffer read them in the authorization_code grant only: an array there harms none."""
    rv = send(
        client,
        "grant_type=client_credentials&client_id=shop-app&client_secret=Sh0p-Secret%21"
        "&code[]=x&redirect_uri[a]=y",
    )
    assert_token_ok(rv, scope=SHOP_SCOPE, refresh=True)
