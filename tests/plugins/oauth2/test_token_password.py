"""The redCORE dialect's token endpoint (option=token): the password grant's rules.

A client trades a site user's username (any case) and password for tokens for that user:
both must be given (PHP-truthy), every failure of the user's side is one 401 with no
challenge, the client's checks come first and its grant restriction after the user's, and
the scope offered is that of the client the ``client_id`` parameter names (redCORE's
storage), not the authenticated client's. Built from the rules with other users, clients
and values than the captured cases (compat/redcore.md, "Site users").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import bcrypt
import pytest
import sqlalchemy as sa
from flask import Flask
from passlib.hash import phpass

from config import Config
from emulator import oauth
from emulator.oauth.clients import scrypt_hash
from emulator.storage.database import db
from emulator.storage.models import Client
from emulator.storage.models import SiteUser
from tests.support.app import empty_database
from tests.support.app import make_app
from tests.support.engine import NOW
from tests.support.oauth2 import INVALID_CLIENT
from tests.support.oauth2 import INVALID_TOKEN
from tests.support.oauth2 import NOT_FOUND
from tests.support.oauth2 import RESOURCE_URL
from tests.support.oauth2 import SHOP
from tests.support.oauth2 import SHOP_SCOPE
from tests.support.oauth2 import UNAUTHORIZED
from tests.support.oauth2 import as_json
from tests.support.oauth2 import assert_resource_error
from tests.support.oauth2 import assert_resource_ok
from tests.support.oauth2 import assert_token_error
from tests.support.oauth2 import assert_token_ok
from tests.support.oauth2 import basic
from tests.support.oauth2 import bearer
from tests.support.oauth2 import err
from tests.support.oauth2 import refresh
from tests.support.oauth2 import send
from tests.support.users import counting

MISSING = err("invalid_request", r"Missing parameters: \"username\" and \"password\" required")
WRONG = err("invalid_grant", "Invalid username and password combination")
MARTA = {"username": "marta.k", "password": "Tulpen-2019"}
OUTLET = {"client_id": "outlet-app", "client_secret": "0utlet-pw"}
DEFAULTS = "catalog.read reports.view"


def password_grant(client, creds: dict[str, str] = SHOP, user=MARTA, **extra: str):
    return send(client, {"grant_type": "password", **creds, **user, **extra})


def show(cli, username: str) -> dict:
    return json.loads(cli("users", "show", username, "--json"))


@pytest.fixture
def marta(cli, shop, make_client) -> None:
    """Site user marta.k (id 7001) beside shop-app, and a second client with its own scope."""
    cli(
        "users", "create", "marta.k", "--password-stdin", "--id", "7001", "--name", "Marta K",
        "--group", "Registered", input="Tulpen-2019\n",
    )  # fmt: skip
    make_client("outlet-app", secret="0utlet-pw", scope="orders.read")


def test_a_user_logs_in_through_a_client(client, marta, mode, cli) -> None:
    body = assert_token_ok(
        password_grant(client), scope=SHOP_SCOPE, refresh=True, as_string=mode == "default"
    )
    assert_resource_ok(
        client.get(RESOURCE_URL, headers=bearer(body["access_token"])), user_id="7001"
    )
    again = refresh(client, body["refresh_token"])
    token = assert_token_ok(again, scope=SHOP_SCOPE, refresh=False, as_string=mode == "default")
    # The refreshed token is still the user's.
    assert_resource_ok(
        client.get(RESOURCE_URL, headers=bearer(token["access_token"])), user_id="7001"
    )


@pytest.mark.parametrize("typed", ["MARTA.K", "Marta.K", "marta.k  "])
def test_the_username_matches_in_any_case(client, marta, strict, typed) -> None:
    rv = password_grant(client, user={"username": typed, "password": "Tulpen-2019"})
    assert_token_ok(rv, scope=SHOP_SCOPE, refresh=True, as_string=False)


def test_the_password_is_exact(client, marta, strict) -> None:
    for typed in ["tulpen-2019", "Tulpen-2019 ", "Tulpen-201"]:
        rv = password_grant(client, user={"username": "marta.k", "password": typed})
        assert_token_error(rv, WRONG, status=401)


@pytest.mark.parametrize(
    "user",
    [
        {"username": "marta.k"},
        {"password": "Tulpen-2019"},
        {"username": "marta.k", "password": ""},
        {"username": "marta.k", "password": "0"},
        {"username": "0", "password": "Tulpen-2019"},
        {"username": "", "password": ""},
        {},
    ],
    ids=["no-password", "no-username", "empty-password", "zero", "zero-username", "empty", "none"],
)
def test_missing_or_php_falsy_username_or_password(client, marta, mode, user) -> None:
    assert_token_error(password_grant(client, user=user), MISSING)


def test_a_json_body_carries_them_too(client, marta, strict) -> None:
    body = {"grant_type": "password", **SHOP, "username": "marta.k", "password": "Tulpen-2019"}
    rv = send(client, as_json(body), content_type="application/json")
    assert_token_ok(rv, scope=SHOP_SCOPE, refresh=True, as_string=False)
    falsy = send(client, as_json({**body, "password": 0}), content_type="application/json")
    assert_token_error(falsy, MISSING)


def test_an_array_is_no_username(client, marta, strict) -> None:
    rv = send(
        client,
        "grant_type=password&username[]=marta.k&password=Tulpen-2019"
        "&client_id=shop-app&client_secret=Sh0p-Secret!",
    )
    assert rv.status_code == 400
    assert rv.get_json()["error"] == "invalid_request"


def test_the_default_mode_reads_them_from_the_query_too(client, marta, mode) -> None:
    rv = send(
        client, {"grant_type": "password", **SHOP}, query="username=marta.k&password=Tulpen-2019"
    )
    if mode == "default":
        assert_token_ok(rv, scope=SHOP_SCOPE, refresh=True)
    else:
        assert_token_error(rv, MISSING)


def test_unknown_blocked_and_two_factor_users_fail_as_a_wrong_password(
    app: Flask, client, marta, cli, strict
) -> None:
    cli("users", "create", "jonas", "--password-stdin", input="Fahrrad-77\n")
    cli("users", "create", "ines", "--password-stdin", input="Kastanie-3\n")
    cli("users", "block", "jonas")
    with app.app_context():
        ines = oauth.find_user(db.session, "ines")
        oauth.update_user(db.session, ines.id, {"two_factor": True}, now=NOW)
        db.session.commit()
    for user in (
        {"username": "nobody.here", "password": "Tulpen-2019"},
        {"username": "marta.k", "password": "wrong"},
        {"username": "jonas", "password": "Fahrrad-77"},
        {"username": "ines", "password": "Kastanie-3"},
    ):
        assert_token_error(password_grant(client, user=user), WRONG, status=401)
    # None of them counts as a visit.
    assert {show(cli, name)["last_visit_at"] for name in ("marta.k", "jonas", "ines")} == {None}


def test_a_successful_login_is_the_users_last_visit(client, marta, cli) -> None:
    assert show(cli, "marta.k")["last_visit_at"] is None
    assert_token_ok(password_grant(client), scope=SHOP_SCOPE, refresh=True)
    assert show(cli, "marta.k")["last_visit_at"] is not None


def test_the_client_is_checked_before_the_user(client, marta, strict) -> None:
    wrong_user = {"username": "marta.k", "password": "wrong"}
    rv = password_grant(client, {**SHOP, "client_secret": "nope"}, user=wrong_user)
    assert_token_error(rv, INVALID_CLIENT)
    assert_token_error(password_grant(client, {}, user=wrong_user), NOT_FOUND)


def test_a_client_barred_from_the_grant_learns_so_only_with_a_right_password(
    client, marta, make_client, strict
) -> None:
    make_client("nightly", secret="n1ghtly-pw", grant_types="client_credentials")
    creds = {"client_id": "nightly", "client_secret": "n1ghtly-pw"}
    assert_token_error(password_grant(client, creds), UNAUTHORIZED)
    wrong = {"username": "marta.k", "password": "wrong"}
    assert_token_error(password_grant(client, creds, user=wrong), WRONG, status=401)


def test_no_refresh_token_for_a_client_that_may_not_refresh(
    client, marta, make_client, strict
) -> None:
    make_client("kiosk-pw", secret="k1osk-pw", scope="catalog.read", grant_types="password")
    rv = password_grant(client, {"client_id": "kiosk-pw", "client_secret": "k1osk-pw"})
    assert_token_ok(rv, scope="catalog.read", refresh=False, as_string=False)


def test_a_public_client_logs_users_in_by_client_id_alone(
    client, marta, make_client, strict
) -> None:
    make_client("kiosk-7", public=True, scope="catalog.read")
    rv = password_grant(client, {"client_id": "kiosk-7"})
    assert_token_ok(rv, scope="catalog.read", refresh=True, as_string=False)
    made_up = password_grant(client, {"client_id": "kiosk-7", "client_secret": "guess"})
    assert_token_error(made_up, INVALID_CLIENT)


# --- the scope quirk: the client_id parameter's client, not the authenticated one -------


def test_a_basic_client_gets_the_default_scopes(client, marta, mode) -> None:
    rv = send(
        client,
        {"grant_type": "password", **MARTA},
        headers=[("Authorization", basic("shop-app", "Sh0p-Secret!"))],
    )
    assert_token_ok(rv, scope=DEFAULTS, refresh=True, as_string=mode == "default")


def test_a_basic_client_may_still_ask_within_its_own_scope(client, marta, strict) -> None:
    rv = send(
        client,
        {"grant_type": "password", **MARTA, "scope": "orders.read"},
        headers=[("Authorization", basic("shop-app", "Sh0p-Secret!"))],
    )
    assert_token_ok(rv, scope="orders.read", refresh=True, as_string=False)


def test_the_body_client_id_names_the_scope_with_basic(client, marta, strict) -> None:
    rv = send(
        client,
        {"grant_type": "password", **MARTA, "client_id": "outlet-app"},
        headers=[("Authorization", basic("shop-app", "Sh0p-Secret!"))],
    )
    body = assert_token_ok(rv, scope="orders.read", refresh=True, as_string=False)
    # The token is the authenticated client's: shop-app refreshes it, outlet-app cannot.
    assert_token_ok(
        refresh(client, body["refresh_token"]), scope="orders.read", refresh=False, as_string=False
    )


def test_a_query_client_id_names_the_scope_in_default_mode_only(client, marta, mode) -> None:
    rv = send(
        client,
        {"grant_type": "password", **MARTA},
        query="client_id=outlet-app",
        headers=[("Authorization", basic("shop-app", "Sh0p-Secret!"))],
    )
    scope = "orders.read" if mode == "default" else DEFAULTS
    assert_token_ok(rv, scope=scope, refresh=True, as_string=mode == "default")


def test_a_client_id_naming_a_wider_client_gives_the_clients_own_scope(
    client, marta, make_client, mode
) -> None:
    """A deviation: the original gave the named client's scope even when it was wider than
    the authenticated client's own, so a client could widen its users' tokens."""
    make_client("reports-app", secret="R3ports-pw", scope="orders.read reports.view")
    rv = send(
        client,
        {"grant_type": "password", **MARTA, "client_id": "reports-app"},
        headers=[("Authorization", basic("shop-app", "Sh0p-Secret!"))],
    )
    assert_token_ok(rv, scope=SHOP_SCOPE, refresh=True, as_string=mode == "default")


def test_a_client_id_naming_no_client_gives_the_default_scopes(client, marta, strict) -> None:
    rv = send(
        client,
        {"grant_type": "password", **MARTA, "client_id": "no-such-app"},
        headers=[("Authorization", basic("shop-app", "Sh0p-Secret!"))],
    )
    assert_token_ok(rv, scope=DEFAULTS, refresh=True, as_string=False)


# --- blocked users, imported hashes ------------------------------------------------------


def test_blocking_a_user_ends_the_tokens_it_was_given(client, marta, cli, strict) -> None:
    body = assert_token_ok(password_grant(client), scope=SHOP_SCOPE, refresh=True, as_string=False)
    cli("users", "block", "marta.k")
    rv = client.get(RESOURCE_URL, headers=bearer(body["access_token"]))
    assert_resource_error(rv, INVALID_TOKEN)
    assert_token_error(password_grant(client), WRONG, status=401)
    cli("users", "unblock", "marta.k")
    assert_token_ok(password_grant(client), scope=SHOP_SCOPE, refresh=True, as_string=False)


IMPORTED = {
    "bcrypt": lambda pw: (
        bcrypt.hashpw(pw.encode(), bcrypt.gensalt(4)).decode().replace("$2b$", "$2y$")
    ),
    "phpass": lambda pw: phpass.using(rounds=8).hash(pw),
    "salted-md5": lambda pw: hashlib.md5((pw + "Xy7").encode()).hexdigest() + ":Xy7",
}


@pytest.mark.parametrize("kind", sorted(IMPORTED))
def test_an_imported_hash_logs_in_and_becomes_argon2id(
    app: Flask, client, shop, strict, kind
) -> None:
    stored = IMPORTED[kind]("Brücke 1907")
    with app.app_context():
        oauth.add_users(
            db.session, [oauth.UserImport(812, "Old.Hand", password_hash=stored)], now=NOW
        )
        db.session.commit()
    user = {"username": "old.hand", "password": "Brücke 1907"}
    assert_token_error(password_grant(client, user={**user, "password": "Brücke"}), WRONG, 401)
    assert_token_ok(
        password_grant(client, user=user), scope=SHOP_SCOPE, refresh=True, as_string=False
    )
    with app.app_context():
        now_stored = db.session.scalar(sa.select(SiteUser.password_hash).where(SiteUser.id == 812))
    assert now_stored.startswith("$argon2id$")
    assert_token_ok(
        password_grant(client, user=user), scope=SHOP_SCOPE, refresh=True, as_string=False
    )


# --- throttling ---------------------------------------------------------------------------

ATTACKER = "203.0.113.9"


@pytest.fixture
def throttled(database_url: str) -> Iterator[Flask]:
    """An app with the shipped limits of failed logins, marta.k and shop-app in it."""
    app = make_app(
        database_url,
        USER_AUTH_FAILURE_LIMIT=Config.USER_AUTH_FAILURE_LIMIT,
        USER_AUTH_ADDRESS_FAILURE_LIMIT=Config.USER_AUTH_ADDRESS_FAILURE_LIMIT,
    )
    empty_database(app)
    runner = app.test_cli_runner()
    for args, stdin in (
        (["clients", "create", "shop-app", "--secret", "Sh0p-Secret!", "--scope", "catalog.read"],
         None),
        (["users", "create", "marta.k", "--password-stdin"], "Tulpen-2019\n"),
        (["plugins", "set", "oauth2", "expires_in_as_string=false"], None),
    ):  # fmt: skip
        result = runner.invoke(args=args, input=stdin)
        assert result.exit_code == 0, result.output
    yield app
    with app.app_context():
        db.engine.dispose()


def from_address(app: Flask, address: str, user: dict[str, str]) -> Any:
    return app.test_client().post(
        "/index.php?option=token&api=oauth2",
        data={"grant_type": "password", **SHOP, **user},
        environ_base={"REMOTE_ADDR": address},
    )


def test_guessing_a_users_password_is_locked_out(throttled: Flask) -> None:
    limit = int(Config.USER_AUTH_FAILURE_LIMIT.split("/")[0])
    for attempt in range(limit):
        typed = {"username": "MARTA.K" if attempt % 2 else "marta.k", "password": f"guess{attempt}"}
        assert from_address(throttled, ATTACKER, typed).status_code == 401
    # Now even the right password is refused from there, before it is checked.
    rv = from_address(throttled, ATTACKER, MARTA)
    assert rv.status_code == 429
    assert rv.get_json() == {
        "error": "invalid_grant",
        "error_description": "Too many failed logins; retry later",
    }
    assert int(rv.headers["Retry-After"]) > 0
    assert rv.headers["Cache-Control"] == "no-store"
    # From elsewhere the user still logs in; the client itself is not locked.
    assert from_address(throttled, "198.51.100.4", MARTA).status_code == 200
    client_credentials = throttled.test_client().post(
        "/index.php?option=token&api=oauth2",
        data={"grant_type": "client_credentials", **SHOP},
        environ_base={"REMOTE_ADDR": ATTACKER},
    )
    assert client_credentials.status_code == 200


def test_a_password_grant_leaves_an_old_client_hash_to_another_grant(
    app: Flask, client, marta, strict
) -> None:
    """A failed login is counted apart, after the client is checked: the request must not
    have written before (on SQLite its write lock would keep the count waiting for ever), so
    the client's old secret hash is replaced by its next request of another grant."""
    old = scrypt_hash("Sh0p-Secret!")
    with app.app_context():
        db.session.execute(
            sa.update(Client).where(Client.client_id == "shop-app").values(secret_hash=old)
        )
        db.session.commit()

    def stored() -> str:
        with app.app_context():
            return db.session.scalar(
                sa.select(Client.secret_hash).where(Client.client_id == "shop-app")
            )

    assert_token_ok(password_grant(client), scope=SHOP_SCOPE, refresh=True, as_string=False)
    wrong = {"username": "marta.k", "password": "wrong"}
    assert_token_error(password_grant(client, user=wrong), WRONG, status=401)
    assert stored() == old
    assert_token_ok(
        send(client, {"grant_type": "client_credentials", **SHOP}),
        scope=SHOP_SCOPE,
        refresh=False,
        as_string=False,
    )
    assert stored().startswith("$argon2id$")


def test_an_unknown_username_costs_what_a_wrong_password_does(
    client, marta, strict, monkeypatch
) -> None:
    """One full password hash either way (a dummy one for a username nobody has)."""
    checks = counting(monkeypatch)
    for user in ({"username": "marta.k", "password": "wrong"}, {"username": "x", "password": "y"}):
        checks.clear()
        assert_token_error(password_grant(client, user=user), WRONG, status=401)
        assert len(checks) == 1 and checks[0].startswith("$argon2id$")


def test_a_repeated_good_password_costs_one_full_hash_per_worker(
    client, marta, strict, monkeypatch
) -> None:
    """The worker remembers a password that matched (emulator.oauth.memo); a wrong one
    pays the full hash every time."""
    checks = counting(monkeypatch)
    for _ in range(3):
        assert_token_ok(password_grant(client), scope=SHOP_SCOPE, refresh=True, as_string=False)
    assert len(checks) == 1
    wrong = {"username": "marta.k", "password": "tulpen-2019"}
    for _ in range(2):
        assert_token_error(password_grant(client, user=wrong), WRONG, status=401)
    assert len(checks) == 3
