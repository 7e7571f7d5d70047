"""The redCORE dialect's token endpoint (option=token): which scope a token gets.

A requested scope against the client's, against the scopes table for a client without
one, the defaults when nothing is requested, and a refresh against its token's scope.
Helpers are in tests/support/oauth2.py, the fixtures in conftest.py.
"""

from __future__ import annotations

import pytest

from tests.support.oauth2 import SCOPE_INVALID
from tests.support.oauth2 import SCOPE_UNSUPPORTED
from tests.support.oauth2 import assert_token_error
from tests.support.oauth2 import assert_token_ok
from tests.support.oauth2 import cc
from tests.support.oauth2 import refresh


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
