"""The redCORE dialect's token endpoint (option=token): the refresh_token grant's rules.

A refresh token works once unless the params say otherwise, expires, is not an access
token, and passes its user on. Reuse detection is with the deliberate deviations
(test_token_deviations.py). Helpers are in tests/support/oauth2.py, the fixtures in
conftest.py.
"""

from __future__ import annotations

import pytest

from tests.support.oauth2 import EXPIRED_RT
from tests.support.oauth2 import INVALID_RT
from tests.support.oauth2 import INVALID_TOKEN
from tests.support.oauth2 import RESOURCE_URL
from tests.support.oauth2 import SHOP_SCOPE
from tests.support.oauth2 import assert_resource_error
from tests.support.oauth2 import assert_resource_ok
from tests.support.oauth2 import assert_token_error
from tests.support.oauth2 import assert_token_ok
from tests.support.oauth2 import bearer
from tests.support.oauth2 import cc
from tests.support.oauth2 import refresh


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
