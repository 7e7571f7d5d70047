"""The redCORE dialect's token endpoint (option=token): where it deliberately differs.

Ids, secrets, tokens and scopes compare exactly (case, padding, NUL) and hold any
Unicode; an array or a JSON value that is not a string is never a secret or a grant type;
a parameter that is not UTF-8 gets a JSON error; a JSON body with a lone surrogate or a
byte order mark is unparseable; a refresh token with client_credentials only for clients
that may refresh; refresh token reuse detection. Helpers are in tests/support/oauth2.py,
the fixtures in conftest.py.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.support.oauth2 import FORM
from tests.support.oauth2 import INVALID_CLIENT
from tests.support.oauth2 import INVALID_RT
from tests.support.oauth2 import INVALID_TOKEN
from tests.support.oauth2 import NOT_SPECIFIED
from tests.support.oauth2 import RESOURCE_URL
from tests.support.oauth2 import SCOPE_INVALID
from tests.support.oauth2 import SCOPE_UNSUPPORTED
from tests.support.oauth2 import SHOP
from tests.support.oauth2 import SHOP_SCOPE
from tests.support.oauth2 import as_json
from tests.support.oauth2 import assert_resource_error
from tests.support.oauth2 import assert_resource_ok
from tests.support.oauth2 import assert_token_error
from tests.support.oauth2 import assert_token_ok
from tests.support.oauth2 import basic
from tests.support.oauth2 import bearer
from tests.support.oauth2 import cc
from tests.support.oauth2 import refresh
from tests.support.oauth2 import send


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
