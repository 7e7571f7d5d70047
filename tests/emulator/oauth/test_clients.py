"""Client authentication: hashed secrets, the verified-secret cache, bshaffer's failure order."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

import emulator.oauth.clients as clients
from emulator.oauth import ClientCredentials
from emulator.oauth import ClientStore
from emulator.oauth.errors import ClientLocked
from emulator.oauth.errors import InvalidClient
from tests.support.engine import CLIENTS

REAL_HASHER = clients.SECRET_HASHER  # taken before cheap_secret_hashes patches it


def stored_hash(session, client_pk: int) -> str:
    return session.scalar(
        sa.text("SELECT secret_hash FROM oauth_clients WHERE id = :id"), {"id": client_pk}
    )


ROOT = Path(__file__).resolve().parents[3]


def authenticate(session, credentials, *, store=CLIENTS, **kwargs):
    """The engine's authenticate_client, with the tests' store unless one is given."""
    return clients.authenticate_client(session, credentials, clients=store, **kwargs)


def test_secret_is_stored_as_an_argon2id_hash_with_owasps_parameters(
    new_client, monkeypatch
) -> None:
    monkeypatch.setattr(clients, "SECRET_HASHER", REAL_HASHER)  # the production cost
    a = new_client("a", secret="201010425")
    b = new_client("b", secret="201010425")
    assert a.secret_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert "201010425" not in a.secret_hash
    assert a.secret_hash != b.secret_hash  # salted
    assert not clients.needs_rehash(a.secret_hash)


def test_an_earlier_scrypt_hash_verifies_and_is_replaced_on_success(session, new_client) -> None:
    client = new_client(secret="placeholder")
    legacy = clients.scrypt_hash("201010425")
    session.execute(
        sa.text("UPDATE oauth_clients SET secret_hash = :h WHERE id = :id"),
        {"h": legacy, "id": client.id},
    )
    session.commit()
    with pytest.raises(InvalidClient):  # a wrong secret changes nothing
        authenticate(session, ClientCredentials("c1", "wrong"), allow_public=False)
    session.commit()
    assert stored_hash(session, client.id) == legacy
    authenticate(session, ClientCredentials("c1", "201010425"), allow_public=False)
    session.commit()
    upgraded = stored_hash(session, client.id)
    assert upgraded.startswith("$argon2id$") and not clients.needs_rehash(upgraded)
    assert clients.check_secret(upgraded, "201010425")
    store = ClientStore(max_age=0)  # another worker: the new hash, the same secret
    authenticate(session, ClientCredentials("c1", "201010425"), allow_public=False, store=store)


@pytest.mark.parametrize(
    ("client_id", "secret"),
    [
        ("ghost", "anything"),
        ("c1", "wrong"),
        ("c1", "a\0"),
        ("c1", True),
        ("pub", "made-up"),
    ],
    ids=["unknown-client", "wrong-secret", "nul-in-secret", "non-string", "public-client"],
)
def test_every_failure_costs_one_full_hash(session, new_client, monkeypatch, client_id, secret):
    new_client("c1", secret="s3cret")
    new_client("pub", secret=None)
    calls = []
    real = clients.check_secret
    monkeypatch.setattr(clients, "check_secret", lambda h, s: calls.append(h) or real(h, s))
    with pytest.raises(InvalidClient):
        authenticate(session, ClientCredentials(client_id, secret), allow_public=True)
    assert len(calls) == 1  # the same work whatever failed: timing does not tell which


class RecordingGuard:
    """An AuthGuard that locks after ``limit`` failures and records what it was told."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.failures: list[str] = []
        self.checked: list[str] = []

    def ensure_allowed(self, client_id: str) -> None:
        self.checked.append(client_id)
        if self.failures.count(client_id) >= self.limit:
            raise ClientLocked("locked", retry_after=60)

    def failed(self, client_id: str) -> None:
        self.failures.append(client_id)


def test_a_guard_counts_failures_and_refuses_before_checking(session, new_client, monkeypatch):
    new_client("c1", secret="s3cret")
    guard = RecordingGuard(limit=2)
    for wrong in ("x", "y"):
        with pytest.raises(InvalidClient):
            authenticate(session, ClientCredentials("c1", wrong), allow_public=False, guard=guard)
    with pytest.raises(InvalidClient):
        authenticate(session, ClientCredentials("ghost", "z"), allow_public=False, guard=guard)
    assert guard.failures == ["c1", "c1", "ghost"]
    calls = []
    monkeypatch.setattr(clients, "check_secret", lambda h, s: calls.append(h))
    with pytest.raises(ClientLocked) as caught:  # the right secret, refused like a wrong one
        authenticate(session, ClientCredentials("c1", "s3cret"), allow_public=False, guard=guard)
    assert (caught.value.retry_after, caught.value.code, calls) == (60, "invalid_client", [])
    # no secret (a public-client request) is no guess: not checked, not counted
    with pytest.raises(InvalidClient):
        authenticate(session, ClientCredentials("c1", None), allow_public=True, guard=guard)
    assert guard.failures == ["c1", "c1", "ghost"]


def also(client_id: str, secret: str, *, alt_id: str, alt_secret: str) -> ClientCredentials:
    """Credentials with another reading of them (a dialect's form-decoded HTTP Basic)."""
    return ClientCredentials(client_id, secret, alternative=ClientCredentials(alt_id, alt_secret))


def test_the_alternative_is_tried_when_the_credentials_fail(session, new_client) -> None:
    client = new_client("ops bot@example", secret="a+b c")
    guard = RecordingGuard(limit=5)
    encoded = also("ops+bot%40example", "a%2Bb+c", alt_id="ops bot@example", alt_secret="a+b c")
    assert authenticate(session, encoded, allow_public=False, guard=guard).id == client.id
    assert guard.failures == []  # the alternative's success is no failure
    # the credentials as sent first: they win when they are right
    raw = also("ops bot@example", "a+b c", alt_id="ops bot@example", alt_secret="a b c")
    assert authenticate(session, raw, allow_public=False, guard=guard).id == client.id


@pytest.mark.parametrize(
    ("credentials", "counted"),
    [
        (also("c1", "wr%2Bong", alt_id="c1", alt_secret="wr+ong"), ["c1"]),
        (also("c%31", "x", alt_id="c1", alt_secret="x"), ["c1"]),  # the client there
        (also("c1", "x%41", alt_id="g%68ost", alt_secret="xA"), ["c1"]),
        (also("gh%6Fst", "x", alt_id="ghost", alt_secret="x"), ["ghost"]),  # the last tried
    ],
    ids=["same-id", "decoded-id-is-the-client", "sent-id-is-the-client", "no-client"],
)
def test_a_request_that_fails_both_ways_is_counted_once(
    session, new_client, credentials, counted
) -> None:
    new_client("c1", secret="s3cret")
    guard = RecordingGuard(limit=5)
    with pytest.raises(InvalidClient):
        authenticate(session, credentials, allow_public=False, guard=guard)
    assert guard.failures == counted


def test_a_locked_alternative_is_refused(session, new_client) -> None:
    new_client("c1", secret="s3cret")
    guard = RecordingGuard(limit=1)
    guard.failures.append("c1")  # c1 is at its limit
    with pytest.raises(ClientLocked):
        authenticate(
            session,
            also("c%31", "s3cret", alt_id="c1", alt_secret="s3cret"),
            allow_public=False,
            guard=guard,
        )


def test_right_secret_authenticates_and_wrong_one_does_not(session, new_client) -> None:
    client = new_client(secret="s3cret")
    assert (
        authenticate(session, ClientCredentials("c1", "s3cret"), allow_public=False).id == client.id
    )
    for wrong in ("S3CRET", "s3cret ", "", None):
        with pytest.raises(InvalidClient):
            authenticate(session, ClientCredentials("c1", wrong), allow_public=False)


@pytest.mark.parametrize("secret", [True, 1, 0, 1.5, ["s3cret"], {"a": 1}], ids=repr)
def test_a_non_string_secret_never_authenticates(session, new_client, secret) -> None:
    new_client(secret="s3cret")
    with pytest.raises(InvalidClient) as caught:
        authenticate(session, ClientCredentials("c1", secret), allow_public=False)
    assert caught.value.reason == "wrong_secret"


def test_verified_secret_is_cached_and_wrong_secrets_pay_full_price(
    session, new_client, monkeypatch
) -> None:
    client = new_client(secret="s3cret")
    calls = []
    real = clients.check_secret
    monkeypatch.setattr(clients, "check_secret", lambda h, s: calls.append(s) or real(h, s))
    store = ClientStore(max_age=0)
    assert store.verify_secret(client, "s3cret") and calls == ["s3cret"]
    assert store.verify_secret(client, "s3cret") and calls == ["s3cret"]  # from the cache
    assert not store.verify_secret(client, "guess") and calls == ["s3cret", "guess"]
    assert not store.verify_secret(client, "guess") and calls == ["s3cret", "guess", "guess"]


def test_a_new_secret_invalidates_the_cached_one(session, new_client) -> None:
    client = new_client(secret="old")
    store = ClientStore(max_age=0)
    assert store.verify_secret(client, "old")
    client = replace(client, secret_hash=clients.hash_secret("new"))
    assert not store.verify_secret(client, "old")
    assert store.verify_secret(client, "new")


def test_public_client_rules(session, new_client) -> None:
    public = new_client("pub", secret=None)
    assert authenticate(session, ClientCredentials("pub", None), allow_public=True).id == public.id
    with pytest.raises(InvalidClient) as caught:
        authenticate(session, ClientCredentials("pub", None), allow_public=False)
    assert (caught.value.reason, caught.value.facts) == (
        "secret_required",
        {"public_allowed": False},
    )
    with pytest.raises(InvalidClient) as caught:
        authenticate(session, ClientCredentials("pub", "made-up"), allow_public=True)
    assert caught.value.reason == "wrong_secret"


def test_confidential_or_unknown_client_without_secret_where_public_allowed(
    session, new_client
) -> None:
    new_client("conf", secret="x")
    for client_id in ("conf", "ghost"):
        with pytest.raises(InvalidClient) as caught:
            authenticate(session, ClientCredentials(client_id, ""), allow_public=True)
        assert (caught.value.reason, caught.value.facts) == (
            "secret_required",
            {"public_allowed": True},
        )


def test_no_credentials_say_whether_the_body_was_looked_at(session) -> None:
    for body_allowed in (True, False):
        with pytest.raises(InvalidClient) as caught:
            authenticate(session, None, allow_public=False, body_allowed=body_allowed)
        assert (caught.value.reason, caught.value.facts) == (
            "missing",
            {"body_allowed": body_allowed},
        )


def test_client_ids_match_exactly(session, new_client) -> None:
    new_client("Shop-1", secret="x")
    for other in ("shop-1", "SHOP-1", "Shop-1 "):
        with pytest.raises(InvalidClient, match="unknown_client"):
            authenticate(session, ClientCredentials(other, "x"), allow_public=False)


def test_client_cache_spares_lookups_for_at_most_max_age(session, new_client, monkeypatch) -> None:
    new_client(secret="s3cret")
    clock = [100.0]
    store = ClientStore(max_age=1.0, timer=lambda: clock[0])
    lookups = []
    real = store.read
    monkeypatch.setattr(store, "read", lambda s, c: lookups.append(c) or real(s, c))
    for _ in range(3):
        authenticate(session, ClientCredentials("c1", "s3cret"), allow_public=False, store=store)
    assert lookups == ["c1"]
    clock[0] += 1.5
    authenticate(session, ClientCredentials("c1", "s3cret"), allow_public=False, store=store)
    assert lookups == ["c1", "c1"]
    for _ in range(2):  # an unknown client is never cached: a new client works at once
        with pytest.raises(InvalidClient):
            authenticate(session, ClientCredentials("c9", "x"), allow_public=False, store=store)
    assert lookups == ["c1", "c1", "c9", "c9"]


def test_scope_hooks_supply_the_scope_of_a_client_without_one(session, new_client) -> None:
    asked = []

    def none_hook(db, client_pk):
        asked.append(("none", client_pk))
        return None

    def products_hook(db, client_pk):
        asked.append(("products", client_pk))
        return "read write"

    store = ClientStore(max_age=0, scope_hooks=[none_hook, products_hook])
    bare = new_client("bare")
    assert store.load(session, "bare").allowed_scope == "read write"
    assert asked == [("none", bare.id), ("products", bare.id)]
    new_client("own", scope="mine")
    assert store.load(session, "own").allowed_scope == "mine"  # its own scope wins
    assert len(asked) == 2  # and the hooks are not asked
    assert ClientStore(max_age=0).load(session, "bare").allowed_scope is None


def test_nothing_heavy_runs_at_import_or_app_creation() -> None:
    # The dummy hash that unknown clients are checked against costs a full scrypt: it is
    # made when the first unknown client asks, not when a worker starts.
    script = (
        "import app; app.create_app({'SQLALCHEMY_DATABASE_URI': 'sqlite://', 'TESTING': True,"
        " 'SECRET_KEY': 'x'}); from emulator.oauth import clients;"
        " print(clients._dummy_hash.cache_info().currsize)"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert (out.returncode, out.stdout.strip()) == (0, "0"), out.stderr
