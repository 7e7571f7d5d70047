"""A disabled or deleted client, a rotated secret: what the redCORE dialect answers.

A disabled or deleted client is answered exactly as an unknown client, its tokens exactly
as unknown tokens (status, headers, bytes), at every operation.
"""

from __future__ import annotations

import pytest

from tests.support.oauth2 import INVALID_CLIENT
from tests.support.oauth2 import INVALID_TOKEN
from tests.support.oauth2 import MUST_AUTHENTICATE
from tests.support.oauth2 import RESOURCE_URL
from tests.support.oauth2 import TOKEN_URL

BASE = "/index.php?api=oauth2&option="


def answer(rv) -> tuple:
    headers = {k: v for k, v in rv.headers.items() if k not in ("Date",)}
    return rv.status_code, headers, rv.data


@pytest.fixture
def shop(client, make_client, cli):
    """A confidential client with a token pair, a public one with a refresh token."""
    make_client("shop", secret="Sh0p-Secret!", scope="read")
    make_client("mobile", public=True, scope="read")
    cli("scopes", "add", "read")
    cli("plugins", "set", "oauth2", "client_credentials_refresh_token=true")
    rv = client.post(
        TOKEN_URL, data={"grant_type": "client_credentials"}, auth=("shop", "Sh0p-Secret!")
    )
    assert rv.status_code == 200
    return rv.get_json()


def change(cli, how: str, client_id: str) -> None:
    if how == "disabled":
        cli("clients", "disable", client_id)
    else:
        cli("clients", "delete", client_id, "--yes")


HOW = ["disabled", "deleted"]


@pytest.mark.parametrize("how", HOW, ids=HOW)
def test_the_client_credentials_grant_answers_as_for_an_unknown_client(client, cli, shop, how):
    change(cli, how, "shop")
    data = {"grant_type": "client_credentials"}
    rv = client.post(TOKEN_URL, data=data, auth=("shop", "Sh0p-Secret!"))
    unknown = client.post(TOKEN_URL, data=data, auth=("nobody", "Sh0p-Secret!"))
    assert answer(rv) == answer(unknown)
    assert (rv.status_code, rv.data) == (400, INVALID_CLIENT)


@pytest.mark.parametrize("how", HOW, ids=HOW)
def test_its_refresh_token_answers_as_for_an_unknown_client(client, cli, shop, how):
    change(cli, how, "shop")
    data = {"grant_type": "refresh_token", "refresh_token": shop["refresh_token"]}
    rv = client.post(TOKEN_URL, data=data, auth=("shop", "Sh0p-Secret!"))
    unknown = client.post(TOKEN_URL, data=data, auth=("nobody", "Sh0p-Secret!"))
    assert answer(rv) == answer(unknown)


@pytest.mark.parametrize("how", HOW, ids=HOW)
def test_a_public_client_answers_as_an_unknown_public_client(client, cli, shop, how):
    change(cli, how, "mobile")
    data = {"grant_type": "refresh_token", "refresh_token": "whatever"}
    rv = client.post(TOKEN_URL, data={**data, "client_id": "mobile"})
    unknown = client.post(TOKEN_URL, data={**data, "client_id": "nobody"})
    assert answer(rv) == answer(unknown)
    assert rv.data == MUST_AUTHENTICATE


@pytest.mark.parametrize("how", HOW, ids=HOW)
def test_its_access_token_answers_as_an_unknown_token(client, cli, shop, how):
    change(cli, how, "shop")
    rv = client.get(RESOURCE_URL, headers={"Authorization": f"Bearer {shop['access_token']}"})
    unknown = client.get(RESOURCE_URL, headers={"Authorization": "Bearer " + "0" * 40})
    assert answer(rv) == answer(unknown)
    assert (rv.status_code, rv.data) == (401, INVALID_TOKEN[0])


@pytest.mark.parametrize("how", HOW, ids=HOW)
@pytest.mark.parametrize("operation", ["revoke", "introspect"], ids=["revoke", "introspect"])
def test_it_cannot_revoke_or_introspect(client, cli, shop, how, operation):
    change(cli, how, "shop")
    data = {"token": shop["access_token"]}
    rv = client.post(BASE + operation, data=data, auth=("shop", "Sh0p-Secret!"))
    unknown = client.post(BASE + operation, data=data, auth=("nobody", "Sh0p-Secret!"))
    assert answer(rv) == answer(unknown)
    assert rv.status_code == 400 and rv.data == INVALID_CLIENT


@pytest.mark.parametrize("how", HOW, ids=HOW)
def test_another_client_introspecting_its_token_sees_an_unknown_token(
    client, cli, make_client, shop, how
):
    make_client("other", secret="0ther-Secret!")
    change(cli, how, "shop")
    auth = ("other", "0ther-Secret!")
    rv = client.post(BASE + "introspect", data={"token": shop["access_token"]}, auth=auth)
    unknown = client.post(BASE + "introspect", data={"token": "0" * 40}, auth=auth)
    assert answer(rv) == answer(unknown)
    assert rv.data == b'{"active":false}'


def test_revoke_and_introspect_accept_the_old_secret_during_the_grace(client, cli, shop):
    cli("clients", "rotate-secret", "shop", "--grace", "30m", "--secret", "N3w-Secret!")
    for secret in ("Sh0p-Secret!", "N3w-Secret!"):
        rv = client.post(
            BASE + "introspect", data={"token": shop["access_token"]}, auth=("shop", secret)
        )
        assert rv.get_json()["active"] is True
    cli("clients", "rotate-secret", "shop", "--secret", "Th1rd-Secret!")
    rv = client.post(
        BASE + "introspect", data={"token": shop["access_token"]}, auth=("shop", "N3w-Secret!")
    )
    assert rv.data == INVALID_CLIENT


def test_an_enabled_client_and_its_tokens_work_again(client, cli, shop):
    cli("clients", "disable", "shop")
    cli("clients", "enable", "shop")
    rv = client.get(RESOURCE_URL, headers={"Authorization": f"Bearer {shop['access_token']}"})
    assert rv.status_code == 200
    data = {"grant_type": "refresh_token", "refresh_token": shop["refresh_token"]}
    assert client.post(TOKEN_URL, data=data, auth=("shop", "Sh0p-Secret!")).status_code == 200
