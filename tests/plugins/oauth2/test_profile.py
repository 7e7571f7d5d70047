"""The redCORE dialect's option=profile: the bearer token's row and its user's profile.

The token as bshaffer's storage returned it (``expires`` a unix time, ``user_id`` a string
or null) with redCORE's formatted expiry, then Joomla's user object: the user's own, with
its group titles in order, or the guest's (id 0, nulls) for a token without a user or whose
user is not there. Errors are the resource endpoint's (compat/redcore.md, "Site users").
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from emulator import oauth
from emulator.storage.database import db
from tests.support.app import empty_database
from tests.support.app import make_app
from tests.support.oauth2 import DATETIME
from tests.support.oauth2 import EXPIRED_TOKEN
from tests.support.oauth2 import INVALID_TOKEN
from tests.support.oauth2 import SHOP
from tests.support.oauth2 import SHOP_SCOPE
from tests.support.oauth2 import TWO_METHODS
from tests.support.oauth2 import assert_no_token
from tests.support.oauth2 import assert_resource_error
from tests.support.oauth2 import assert_token_ok
from tests.support.oauth2 import bearer
from tests.support.oauth2 import cc
from tests.support.oauth2 import send

PROFILE_URL = "/index.php?option=profile&api=oauth2"
WHEN = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
GUEST = (
    '"profile":{"id":0,"name":null,"username":null,"email":null,"registerDate":null,'
    '"lastVisitDate":null,"authorisedGroups":[]}}'
)


@pytest.fixture
def zofia(cli, shop) -> None:
    """Site user zofia (id 318) in three groups, with a name and an email PHP escapes."""
    cli(
        "users", "create", "Zofia.W", "--password-stdin", "--id", "318", "--name", "Zofia Wójcik",
        "--email", "zofia/w@example.test", "--group", "Registered", "--group", "Editor",
        "--group", "Shop Staff", input="Bursztyn-88\n",
    )  # fmt: skip


def user_token(client, username: str = "zofia.w", password: str = "Bursztyn-88") -> str:
    rv = send(
        client, {"grant_type": "password", **SHOP, "username": username, "password": password}
    )
    assert rv.status_code == 200, rv.data
    return rv.get_json()["access_token"]


def assert_profile(
    rv, token: str, client_id: str, user_id: str | None, scope: str | None, profile: str
) -> dict:
    """The exact bytes, but for the times, which are checked against each other."""
    assert rv.status_code == 200, rv.data
    assert rv.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert "Cache-Control" not in rv.headers
    assert "WWW-Authenticate" not in rv.headers
    pattern = (
        re.escape(
            f'{{"access_token":"{token}","client_id":{json.dumps(client_id)},'
            f'"user_id":{json.dumps(user_id)},"expires":'
        )
        + r"(?P<expires>[0-9]+)"
        + re.escape(f',"scope":{json.dumps(scope)},"expireTimeFormatted":"')
        + f'(?P<formatted>{WHEN})",'
        + profile
    )
    text = rv.get_data(as_text=True)
    match = re.fullmatch(pattern, text)
    assert match, text
    expires = datetime.fromtimestamp(int(match["expires"]), UTC).replace(tzinfo=None)
    assert match["formatted"] == f"{expires:{DATETIME}}"
    assert abs((expires - datetime.now(UTC).replace(tzinfo=None)).total_seconds() - 3600) < 30
    return rv.get_json()


def test_a_users_token_shows_the_user_with_every_group(client, zofia, mode) -> None:
    token = user_token(client)
    profile = (
        r'"profile":\{"id":318,"name":"Zofia W\\u00f3jcik","username":"Zofia\.W",'
        r'"email":"zofia\\/w@example\.test",'
        f'"registerDate":"{WHEN}","lastVisitDate":"{WHEN}",'
        r'"authorisedGroups":\["Registered","Editor","Shop Staff"\]\}\}'
    )
    body = assert_profile(
        client.get(PROFILE_URL, headers=bearer(token)), token, "shop-app", "318", SHOP_SCOPE,
        profile,
    )  # fmt: skip
    assert body["profile"]["lastVisitDate"] >= body["profile"]["registerDate"]


def test_a_token_without_a_user_shows_the_guest(client, shop, make_client, strict) -> None:
    make_client("plain-app", secret="pl41n-pw", scope="orders.read")
    token = assert_token_ok(
        cc(client, {"client_id": "plain-app", "client_secret": "pl41n-pw"}),
        scope="orders.read",
        refresh=False,
        as_string=False,
    )["access_token"]
    rv = client.get(PROFILE_URL, headers=bearer(token))
    assert_profile(rv, token, "plain-app", None, "orders.read", re.escape(GUEST))


@pytest.mark.parametrize("user_id", ["4040", "not-a-number", "0"])
def test_a_token_whose_user_is_not_there_shows_the_guest(
    client, shop, import_token, user_id
) -> None:
    token = import_token(
        "access", "a" * 40, "shop-app", scope="orders.read", user_id=user_id, expires_in=3600
    )
    rv = client.get(PROFILE_URL, headers=bearer(token))
    assert_profile(rv, token, "shop-app", user_id, "orders.read", re.escape(GUEST))


def test_a_deleted_users_tokens_are_gone(client, zofia, cli) -> None:
    token = user_token(client)
    cli("users", "delete", "zofia.w", "--yes")
    assert_resource_error(client.get(PROFILE_URL, headers=bearer(token)), INVALID_TOKEN)


def test_a_user_who_never_logged_in_here_has_no_last_visit(client, zofia, import_token) -> None:
    token = import_token("access", "b" * 40, "shop-app", user_id="318", expires_in=3600)
    rv = client.get(PROFILE_URL, headers=bearer(token))
    profile = (
        r'"profile":\{"id":318,"name":"Zofia W\\u00f3jcik","username":"Zofia\.W",'
        r'"email":"zofia\\/w@example\.test",'
        f'"registerDate":"{WHEN}","lastVisitDate":null,'
        r'"authorisedGroups":\["Registered","Editor","Shop Staff"\]\}\}'
    )
    assert_profile(rv, token, "shop-app", "318", None, profile)


def test_the_token_may_come_as_at_the_resource_endpoint(client, zofia) -> None:
    token = user_token(client)
    for rv in (
        client.get(f"{PROFILE_URL}&access_token={token}"),
        send(client, {"access_token": token}, path=PROFILE_URL),
    ):
        assert rv.status_code == 200
        assert rv.get_json()["profile"]["id"] == 318


def test_errors_are_the_resource_endpoints(client, zofia, import_token) -> None:
    assert_no_token(client.get(PROFILE_URL))
    assert_resource_error(client.get(PROFILE_URL, headers=bearer("0" * 40)), INVALID_TOKEN)
    old = import_token("access", "c" * 40, "shop-app", user_id="318", expires_in=-10)
    assert_resource_error(client.get(PROFILE_URL, headers=bearer(old)), EXPIRED_TOKEN)
    token = user_token(client)
    rv = client.get(f"{PROFILE_URL}&access_token={token}", headers=bearer(token))
    assert_resource_error(rv, TWO_METHODS)


@pytest.fixture
def warsaw(database_url: str) -> Iterator[Flask]:
    app = make_app(database_url, SITE_TIMEZONE="Europe/Warsaw")
    empty_database(app)
    yield app
    with app.app_context():
        db.engine.dispose()


def test_the_expiry_is_in_the_sites_zone_and_the_users_dates_in_utc(warsaw: Flask) -> None:
    registered = datetime(2019, 7, 1, 22, 30, 0)
    with warsaw.app_context():
        oauth.add_users(
            db.session,
            [oauth.UserImport(55, "piotr", registered_at=registered, last_visit_at=registered)],
            now=registered,
        )
        db.session.commit()
    runner = warsaw.test_cli_runner()
    expires = datetime.now(UTC).replace(tzinfo=None, microsecond=0) + timedelta(hours=1)
    for args in (
        ["clients", "create", "shop-app", "--secret", "Sh0p-Secret!"],
        ["tokens", "import", "--type", "access", "--token", "d" * 40, "--client-id", "shop-app",
         "--user-id", "55", "--expires", f"{expires:{DATETIME}}"],
    ):  # fmt: skip
        assert runner.invoke(args=args).exit_code == 0
    body = warsaw.test_client().get(PROFILE_URL, headers=bearer("d" * 40)).get_json()
    assert body["profile"]["registerDate"] == "2019-07-01 22:30:00"
    assert body["profile"]["lastVisitDate"] == "2019-07-01 22:30:00"
    # The expiry (imported in UTC) is a unix time, and formatted in the site's zone.
    moment = expires.replace(tzinfo=UTC)
    assert body["expires"] == int(moment.timestamp())
    local = moment.astimezone(ZoneInfo("Europe/Warsaw"))
    assert body["expireTimeFormatted"] == f"{local:{DATETIME}}"
