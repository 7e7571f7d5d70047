"""Client authentication: hashed secrets, the verified-secret cache, bshaffer's failure order."""

from __future__ import annotations

import pytest

import emulator.oauth.clients as clients
from emulator.oauth import ClientCredentials
from emulator.oauth import authenticate_client
from emulator.oauth.errors import InvalidClient


def test_secret_is_stored_as_a_slow_salted_hash(new_client) -> None:
    a = new_client("a", secret="201010425")
    b = new_client("b", secret="201010425")
    assert a.secret_hash.startswith("scrypt:32768:8:1$")
    assert "201010425" not in a.secret_hash
    assert a.secret_hash != b.secret_hash  # salted


def test_right_secret_authenticates_and_wrong_one_does_not(session, new_client) -> None:
    client = new_client(secret="s3cret")
    assert (
        authenticate_client(session, ClientCredentials("c1", "s3cret"), allow_public=False).id
        == client.id
    )
    for wrong in ("S3CRET", "s3cret ", "", None):
        with pytest.raises(InvalidClient):
            authenticate_client(session, ClientCredentials("c1", wrong), allow_public=False)


@pytest.mark.parametrize("secret", [True, 1, 0, 1.5, ["s3cret"], {"a": 1}], ids=repr)
def test_a_non_string_secret_never_authenticates(session, new_client, secret) -> None:
    new_client(secret="s3cret")
    with pytest.raises(InvalidClient) as caught:
        authenticate_client(session, ClientCredentials("c1", secret), allow_public=False)
    assert caught.value.reason == "wrong_secret"


def test_verified_secret_is_cached_and_wrong_secrets_pay_full_price(
    session, new_client, monkeypatch
) -> None:
    client = new_client(secret="s3cret")
    calls = []
    real = clients.check_password_hash
    monkeypatch.setattr(clients, "check_password_hash", lambda h, s: calls.append(s) or real(h, s))
    cache = clients.SecretCache()
    assert cache.verify(client, "s3cret") and calls == ["s3cret"]
    assert cache.verify(client, "s3cret") and calls == ["s3cret"]  # served from the cache
    assert not cache.verify(client, "guess") and calls == ["s3cret", "guess"]
    assert not cache.verify(client, "guess") and calls == ["s3cret", "guess", "guess"]


def test_a_new_secret_invalidates_the_cached_one(session, new_client) -> None:
    client = new_client(secret="old")
    cache = clients.SecretCache()
    assert cache.verify(client, "old")
    client.secret_hash = clients.hash_secret("new")
    assert not cache.verify(client, "old")
    assert cache.verify(client, "new")


def test_public_client_rules(session, new_client) -> None:
    public = new_client("pub", secret=None)
    assert (
        authenticate_client(session, ClientCredentials("pub", None), allow_public=True).id
        == public.id
    )
    with pytest.raises(InvalidClient, match="client credentials are required"):
        authenticate_client(session, ClientCredentials("pub", None), allow_public=False)
    with pytest.raises(InvalidClient, match="The client credentials are invalid"):
        authenticate_client(session, ClientCredentials("pub", "made-up"), allow_public=True)


def test_confidential_or_unknown_client_without_secret_where_public_allowed(
    session, new_client
) -> None:
    new_client("conf", secret="x")
    for client_id in ("conf", "ghost"):
        with pytest.raises(InvalidClient, match="must authenticate using a client secret"):
            authenticate_client(session, ClientCredentials(client_id, ""), allow_public=True)


def test_no_credentials_message_depends_on_body_being_allowed(session) -> None:
    with pytest.raises(
        InvalidClient, match=r"^Client credentials were not found in the headers or body$"
    ):
        authenticate_client(session, None, allow_public=False)
    with pytest.raises(InvalidClient, match=r"^Client credentials were not found in the headers$"):
        authenticate_client(session, None, allow_public=False, body_allowed=False)


def test_client_ids_match_exactly(session, new_client) -> None:
    new_client("Shop-1", secret="x")
    for other in ("shop-1", "SHOP-1", "Shop-1 "):
        with pytest.raises(InvalidClient, match="invalid"):
            authenticate_client(session, ClientCredentials(other, "x"), allow_public=False)


def test_client_cache_spares_lookups_for_at_most_max_age(session, new_client, monkeypatch) -> None:
    new_client(secret="s3cret")
    clock = [100.0]
    monkeypatch.setattr(clients.time, "monotonic", lambda: clock[0])
    lookups = []
    real = clients.load_client
    monkeypatch.setattr(clients, "load_client", lambda s, c: lookups.append(c) or real(s, c))
    cache = clients.ClientCache(max_age=1.0)
    for _ in range(3):
        authenticate_client(
            session, ClientCredentials("c1", "s3cret"), allow_public=False, cache=cache
        )
    assert lookups == ["c1"]
    clock[0] += 1.5
    authenticate_client(session, ClientCredentials("c1", "s3cret"), allow_public=False, cache=cache)
    assert lookups == ["c1", "c1"]
    for _ in range(2):  # an unknown client is never cached: a new client works at once
        with pytest.raises(InvalidClient):
            authenticate_client(
                session, ClientCredentials("c9", "x"), allow_public=False, cache=cache
            )
    assert lookups == ["c1", "c1", "c9", "c9"]
