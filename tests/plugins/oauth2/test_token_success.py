"""The redCORE dialect's token endpoint (option=token): what a token answer looks like.

The success body per mode, the scope in it, and the params and settings that change it:
the access lifetime, the type of expires_in, the site's time zone; a refresh token's
lifetime. Helpers are in tests/support/oauth2.py, the fixtures in conftest.py.
"""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from emulator.storage.database import db
from emulator.storage.models import RefreshToken
from tests.support.app import make_app
from tests.support.oauth2 import DATETIME
from tests.support.oauth2 import SHOP_SCOPE
from tests.support.oauth2 import assert_token_ok
from tests.support.oauth2 import cc
from tests.support.oauth2 import refresh


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
