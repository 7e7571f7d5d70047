"""Fixtures of the redCORE dialect tests: modes, scopes, clients and tokens they start from.

The expected bytes, request builders and assertions are in tests/support/oauth2.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from emulator.ops.clock import utcnow
from tests.support.oauth2 import SHOP_SCOPE
from tests.support.oauth2 import STRICT
from tests.support.oauth2 import assert_token_ok
from tests.support.oauth2 import cc


@pytest.fixture
def strict(set_params: Callable[..., None]) -> None:
    set_params(**STRICT)


@pytest.fixture(params=["default", "strict"])
def mode(request: pytest.FixtureRequest, set_params: Callable[..., None]) -> str:
    if request.param == "strict":
        set_params(**STRICT)
    return request.param


@pytest.fixture
def scopes(cli: Callable[..., str]) -> Callable[..., None]:
    """Add scopes in table order; ``defaults`` marks the default ones."""

    def add(*names: str, defaults: tuple[str, ...] = ()) -> None:
        for name in names:
            cli("scopes", "add", name, *(["--default"] if name in defaults else []))

    return add


@pytest.fixture
def import_token(cli: Callable[..., str]) -> Callable[..., str]:
    """Carry a token over; ``expires_in`` seconds from now (negative = already expired)."""

    def run(
        kind: str,
        token: str,
        client_id: str,
        *,
        scope: str | None = None,
        user_id: str | None = None,
        expires_in: int = 86400,
    ) -> str:
        expires = utcnow() + timedelta(seconds=expires_in)
        args = [
            "tokens",
            "import",
            "--type",
            kind,
            "--token",
            token,
            "--client-id",
            client_id,
            "--expires",
            f"{expires:%Y-%m-%d %H:%M:%S}",
        ]
        if scope is not None:
            args += ["--scope", scope]
        if user_id is not None:
            args += ["--user-id", user_id]
        cli(*args)
        return token

    return run


@pytest.fixture
def import_code(cli: Callable[..., str]) -> Callable[..., str]:
    """Carry an authorization code over; ``expires_in`` seconds from now."""

    def run(
        code: str,
        client_id: str,
        *,
        redirect_uri: str | None = None,
        scope: str | None = None,
        user_id: str | None = None,
        expires_in: int = 3600,
    ) -> str:
        expires = utcnow() + timedelta(seconds=expires_in)
        args = ["tokens", "import", "--type", "code", "--token", code, "--client-id", client_id]
        args += ["--expires", f"{expires:%Y-%m-%d %H:%M:%S}"]
        for flag, value in (
            ("--redirect-uri", redirect_uri),
            ("--scope", scope),
            ("--user-id", user_id),
        ):
            if value is not None:
                args += [flag, value]
        cli(*args)
        return code

    return run


@pytest.fixture
def shop(make_client: Callable[..., tuple[str, str | None]], scopes: Callable[..., None]) -> None:
    """A confidential client with a scope, and the scopes table around it."""
    scopes(
        "catalog.read",
        "catalog.write",
        "orders.read",
        "reports.view",
        defaults=("catalog.read", "reports.view"),
    )
    make_client("shop-app", secret="Sh0p-Secret!", scope=SHOP_SCOPE, user_id="1001")


@pytest.fixture
def nightly(make_client, import_token) -> dict[str, str]:
    """A client restricted to client_credentials, with refresh tokens it may not use."""
    make_client(
        "nightly", secret="n1ghtly-pw", scope="reports.view", grant_types="client_credentials"
    )
    import_token("refresh", "rt-nightly-live", "nightly", scope="reports.view")
    import_token("refresh", "rt-nightly-old", "nightly", scope="reports.view", expires_in=-5)
    return {"client_id": "nightly", "client_secret": "n1ghtly-pw"}


@pytest.fixture
def table_world(shop, make_client, import_token) -> None:
    """Every client and refresh token the error table of test_token_errors.py needs."""
    make_client(
        "nightly", secret="n1ghtly-pw", scope="reports.view", grant_types="client_credentials"
    )
    make_client("open-app", secret="open-pw")
    make_client("kiosk", public=True, scope="catalog.read")
    import_token("refresh", "rt-shop-live", "shop-app", scope="catalog.read")
    import_token("refresh", "rt-shop-stale", "shop-app", scope="catalog.read", expires_in=-120)
    import_token("refresh", "rt-nightly-live", "nightly", scope="reports.view")


@pytest.fixture
def kiosk(make_client, import_token) -> None:
    """A public client (no secret) with a refresh token of user 88."""
    make_client("kiosk-7", public=True, scope="catalog.read orders.read")
    import_token("refresh", "rt-kiosk-1", "kiosk-7", scope="catalog.read orders.read", user_id="88")


@pytest.fixture
def at(client, shop) -> str:
    """An access token of shop-app (user 1001) holding catalog.read catalog.write orders.read."""
    return assert_token_ok(cc(client), scope=SHOP_SCOPE, refresh=True)["access_token"]
