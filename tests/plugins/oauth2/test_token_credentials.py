"""The redCORE dialect's token endpoint (option=token): where client credentials come from.

HTTP Basic against the body and the query (which wins, which header is ignored; the parts
as sent, and in default mode form-urlencoded ones too), the param that allows credentials
only in the header, and public clients (a client_id alone, for refresh_token only).
Helpers are in tests/support/oauth2.py, the fixtures in conftest.py.
"""

from __future__ import annotations

from urllib.parse import quote
from urllib.parse import quote_plus
from urllib.parse import urlencode

import pytest

from emulator.oauth import hash_secret
from emulator.ops.clock import utcnow
from emulator.storage.database import db
from emulator.storage.models import Client
from tests.support.oauth2 import INVALID_CLIENT
from tests.support.oauth2 import MUST_AUTHENTICATE
from tests.support.oauth2 import NOT_FOUND
from tests.support.oauth2 import NOT_FOUND_HEADERS_ONLY
from tests.support.oauth2 import REQUIRED
from tests.support.oauth2 import RESOURCE_URL
from tests.support.oauth2 import SHOP
from tests.support.oauth2 import SHOP_SCOPE
from tests.support.oauth2 import STRICT
from tests.support.oauth2 import as_json
from tests.support.oauth2 import assert_resource_ok
from tests.support.oauth2 import assert_token_error
from tests.support.oauth2 import assert_token_ok
from tests.support.oauth2 import basic
from tests.support.oauth2 import bearer
from tests.support.oauth2 import send

# =========================================================================================
# HTTP Basic
# =========================================================================================


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
def test_basic_parts_are_not_url_decoded(app, client, make_client, user, password, ok) -> None:
    """In either mode the parts as sent come first; only they count in strict mode."""
    make_client("ops%2Fbot", secret="k%3Dv%26w", scope="ops.run")
    if not ok:  # stored as before ids were checked: a new client may not hold "/"
        with app.app_context():
            db.session.add(
                Client(client_id="ops/bot", secret_hash=hash_secret("other"), created_at=utcnow())
            )
            db.session.commit()
    rv = send(
        client,
        {"grant_type": "client_credentials"},
        headers=[("Authorization", basic(user, password))],
    )
    if ok:
        assert_token_ok(rv, scope="ops.run", refresh=True)
    else:
        assert_token_error(rv, INVALID_CLIENT)


# A secret with @, +, / or a space, and an id with one, as RFC 6749 §2.3.1 clients send them
# (openid-client by default): each part application/x-www-form-urlencoded before base64.
ODD_ID, ODD_SECRET = "ops bot@example", "p+q/r s@t%u"


@pytest.mark.parametrize(
    ("user", "password"),
    [(quote_plus(ODD_ID), quote_plus(ODD_SECRET)), (quote(ODD_ID), quote(ODD_SECRET, safe=""))],
    ids=["plus-for-space", "percent-20"],
)
def test_form_urlencoded_basic_parts_work_in_default_mode_only(
    client, make_client, set_params, user, password
) -> None:
    make_client(ODD_ID, secret=ODD_SECRET, scope="ops.run")
    header = [("Authorization", basic(user, password))]
    rv = send(client, {"grant_type": "client_credentials"}, headers=header)
    assert_token_ok(rv, scope="ops.run", refresh=True)
    set_params(**STRICT)  # the original did not decode them
    assert_token_error(
        send(client, {"grant_type": "client_credentials"}, headers=header), INVALID_CLIENT
    )


def test_raw_basic_parts_still_work_in_both_modes(client, make_client, mode) -> None:
    """A secret sent as it is, '+' and '%' included, is never decoded into another."""
    make_client(ODD_ID, secret=ODD_SECRET, scope="ops.run")
    rv = send(
        client,
        {"grant_type": "client_credentials"},
        headers=[("Authorization", basic(ODD_ID, ODD_SECRET))],
    )
    assert_token_ok(rv, scope="ops.run", refresh=mode == "default", as_string=mode == "default")


def test_form_urlencoded_basic_parts_work_for_every_operation(client, make_client) -> None:
    """The token endpoint's grants, revocation and introspection read credentials alike."""
    make_client(ODD_ID, secret=ODD_SECRET, scope="ops.run")
    header = [("Authorization", basic(quote_plus(ODD_ID), quote_plus(ODD_SECRET)))]
    issued = assert_token_ok(
        send(client, {"grant_type": "client_credentials"}, headers=header),
        scope="ops.run",
        refresh=True,
    )
    rv = send(
        client,
        {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]},
        headers=header,
    )
    renewed = assert_token_ok(rv, scope="ops.run", refresh=False)
    rv = send(
        client,
        {"token": renewed["access_token"]},
        headers=header,
        path="/index.php?option=introspect&api=oauth2",
    )
    assert rv.get_json()["active"] is True


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
