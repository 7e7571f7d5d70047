"""The grants and their check order (bshaffer's TokenController), without HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest

from emulator import oauth
from emulator.oauth.errors import InvalidClient
from emulator.oauth.errors import InvalidGrant
from emulator.oauth.errors import InvalidRequest
from emulator.oauth.errors import InvalidScope
from emulator.oauth.errors import InvalidToken
from emulator.oauth.errors import RefreshTokenReused
from emulator.oauth.errors import UnauthorizedClient
from emulator.oauth.errors import UnsupportedGrantType
from emulator.oauth.grants import resolve_scope
from tests.support.engine import CLIENTS
from tests.support.engine import NOW

POLICY = oauth.TokenPolicy(client_credentials_refresh_token=True)


def request(grant_type, client_id="c1", secret="s3cret", **kwargs) -> oauth.TokenRequest:
    credentials = None if client_id is None else oauth.ClientCredentials(client_id, secret)
    return oauth.TokenRequest(grant_type=grant_type, credentials=credentials, **kwargs)


def issue(session, req, policy=POLICY, now=NOW) -> oauth.IssuedToken:
    issued = oauth.issue_token(session, req, policy, clients=CLIENTS, now=now)
    session.commit()
    return issued


def test_the_engine_knows_its_grants_in_bshaffers_order() -> None:
    assert list(oauth.GRANTS) == [
        "authorization_code",
        "client_credentials",
        "password",
        "refresh_token",
    ]


@pytest.mark.parametrize(
    ("req", "error", "reason"),
    [
        (request(None, client_id=None), InvalidRequest, "no_grant_type"),
        (request("device_code", client_id=None), UnsupportedGrantType, "unknown_grant"),
        (request("client_credentials", client_id=None), InvalidClient, "missing"),
        (request("client_credentials", secret="wrong"), InvalidClient, "wrong_secret"),
        (request("refresh_token"), InvalidRequest, "missing"),
        (request("refresh_token", refresh_token="nope"), InvalidGrant, "unknown"),
    ],
    ids=[
        "grant-type-before-client",
        "unknown-grant-before-client",
        "client-before-grant",
        "wrong-secret",
        "refresh-token-missing",
        "refresh-token-unknown",
    ],
)
def test_check_order(session, new_client, req, error, reason) -> None:
    new_client(scope="a")
    with pytest.raises(error) as caught:
        issue(session, req)
    assert caught.value.reason == reason


def test_unsupported_grant_type_carries_the_requested_value(session) -> None:
    with pytest.raises(UnsupportedGrantType) as caught:
        issue(session, request("device_code", client_id=None))
    assert caught.value.facts == {"grant_type": "device_code"}


def test_client_credentials_refuses_a_public_client(session, new_client) -> None:
    new_client("pub", secret=None)
    with pytest.raises(InvalidClient) as caught:
        issue(session, request("client_credentials", client_id="pub", secret=None))
    assert caught.value.reason == "secret_required"


def test_grant_validation_comes_before_the_clients_grant_restriction(session, new_client) -> None:
    new_client(scope="a", grant_types="client_credentials")
    with pytest.raises(InvalidGrant):  # the unknown token is found out first
        issue(session, request("refresh_token", refresh_token="nope"))
    rt = issue(session, request("client_credentials")).refresh_token
    assert rt is None  # a client that may not refresh gets no refresh token


def test_a_client_whose_grant_types_exclude_the_grant_is_unauthorized(session, new_client) -> None:
    new_client(scope="a", grant_types="refresh_token")
    with pytest.raises(UnauthorizedClient):
        issue(session, request("client_credentials"))
    new_client("none", scope="a", grant_types="")  # "" allows no grant at all
    with pytest.raises(UnauthorizedClient):
        issue(session, request("client_credentials", client_id="none"))


def test_another_clients_refresh_token_is_invalid_for_this_one(session, new_client) -> None:
    new_client("c1", scope="a")
    new_client("c2", secret="x", scope="a")
    rt = issue(session, request("client_credentials")).refresh_token
    with pytest.raises(InvalidGrant) as caught:
        issue(session, request("refresh_token", client_id="c2", secret="x", refresh_token=rt))
    assert caught.value.reason == "other_client"


def test_an_expired_refresh_token_is_refused_before_its_owner_is_checked(
    session, new_client
) -> None:
    new_client("c1", scope="a")
    new_client("c2", secret="x", scope="a")
    rt = issue(session, request("client_credentials")).refresh_token
    later = NOW + timedelta(seconds=POLICY.refresh_token_lifetime + 1)
    with pytest.raises(InvalidGrant) as caught:
        req = request("refresh_token", client_id="c2", secret="x", refresh_token=rt)
        issue(session, req, now=later)
    assert caught.value.reason == "expired"


def test_refresh_rotation_follows_the_policy(session, new_client) -> None:
    new_client(scope="a b")
    first = issue(session, request("client_credentials", scope="a"))
    rotate = oauth.TokenPolicy(always_issue_new_refresh_token=True)
    second = issue(session, request("refresh_token", refresh_token=first.refresh_token), rotate)
    assert (second.scope, second.refresh_token is not None) == ("a", True)
    with pytest.raises(InvalidGrant):  # used once: gone
        issue(session, request("refresh_token", refresh_token=first.refresh_token), rotate)
    keep = oauth.TokenPolicy(unset_refresh_token_after_use=False)
    for _ in range(2):
        again = issue(session, request("refresh_token", refresh_token=second.refresh_token), keep)
        assert again.refresh_token is None


@pytest.mark.parametrize(
    ("requested", "available", "own", "granted"),
    [
        ("a", "a b", None, "a"),
        ("b a", "a b", "x", "b a"),  # the grant's scope wins over the client's, verbatim
        (None, "a b", None, "a b"),
        ("x", None, "x y", "x"),  # nothing available from the grant: the client's scope
        (None, None, None, "d1 d2"),  # nothing at all: the default scopes, table order
    ],
    ids=["subset", "verbatim-order", "nothing-requested", "client-scope", "defaults"],
)
def test_resolve_scope_subset_rule(session, new_client, requested, available, own, granted):
    for name, is_default in (("x", False), ("d1", True), ("d2", True)):
        oauth.add_scope(session, name, is_default=is_default)
    session.commit()
    client = new_client(scope=own)
    assert resolve_scope(session, requested, available, client) == granted


@pytest.mark.parametrize(
    ("requested", "available", "own", "reason"),
    [
        ("a c", "a b", None, "not_available"),
        ("z", None, "x y", "not_client"),
        ("unknown", None, None, "unsupported"),
        ("x x", None, None, "unsupported"),  # the legacy count check refuses repeats
    ],
    ids=["outside-the-grant", "outside-the-client", "not-in-the-table", "repeated"],
)
def test_resolve_scope_refusals(session, new_client, requested, available, own, reason) -> None:
    oauth.add_scope(session, "x")
    session.commit()
    client = new_client(scope=own)
    with pytest.raises(InvalidScope) as caught:
        resolve_scope(session, requested, available, client)
    assert caught.value.reason == reason


def test_reserved_scopes_always_exist(session, new_client) -> None:
    client = new_client()
    assert resolve_scope(session, "openid offline_access", None, client) == "openid offline_access"


REUSE = oauth.TokenPolicy(
    client_credentials_refresh_token=True,
    always_issue_new_refresh_token=True,
    revoke_on_refresh_token_reuse=True,
)


def refresh_with(session, token, policy=REUSE, **kwargs) -> oauth.IssuedToken:
    return issue(session, request("refresh_token", refresh_token=token, **kwargs), policy)


def is_live(session, access_token) -> bool:
    try:
        oauth.verify_access_token(session, access_token, now=NOW)
    except InvalidToken:
        return False
    return True


def test_a_reused_refresh_token_ends_its_whole_chain(session, new_client) -> None:
    new_client(scope="a")
    first = issue(session, request("client_credentials"), REUSE)
    second = refresh_with(session, first.refresh_token)
    third = refresh_with(session, second.refresh_token)
    bystander = issue(session, request("client_credentials"), REUSE)  # another chain
    with pytest.raises(RefreshTokenReused) as caught:
        refresh_with(session, first.refresh_token)
    session.commit()  # what the dispatcher does for this error: the revocation stands
    assert (caught.value.code, caught.value.reason) == ("invalid_grant", "reused")
    assert [is_live(session, t.access_token) for t in (first, second, third)] == [False] * 3
    with pytest.raises(InvalidGrant):  # the chain's newest refresh token is gone too
        refresh_with(session, third.refresh_token)
    assert is_live(session, bystander.access_token)
    assert refresh_with(session, bystander.refresh_token).access_token


def test_without_reuse_detection_a_used_token_is_just_unknown(session, new_client) -> None:
    new_client(scope="a")
    policy = oauth.TokenPolicy(
        client_credentials_refresh_token=True, always_issue_new_refresh_token=True
    )
    first = issue(session, request("client_credentials"), policy)
    second = refresh_with(session, first.refresh_token, policy)
    with pytest.raises(InvalidGrant) as caught:
        refresh_with(session, first.refresh_token, policy)
    assert not isinstance(caught.value, RefreshTokenReused)
    assert is_live(session, second.access_token)


def test_another_clients_reuse_ends_nothing(session, new_client) -> None:
    new_client("c1", scope="a")
    new_client("c2", secret="x", scope="a")
    first = issue(session, request("client_credentials"), REUSE)
    second = refresh_with(session, first.refresh_token)
    with pytest.raises(InvalidGrant) as caught:
        refresh_with(session, first.refresh_token, client_id="c2", secret="x")
    assert caught.value.reason == "unknown"
    assert is_live(session, second.access_token)
