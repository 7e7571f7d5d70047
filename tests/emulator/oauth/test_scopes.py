"""Scope rules of the engine: bshaffer's subset rule, Apigee's intersect rule, any-of checks."""

from __future__ import annotations

import pytest

from emulator import oauth
from emulator.oauth.errors import InsufficientScope
from emulator.oauth.errors import InvalidScope
from emulator.oauth.grants import resolve_scope
from emulator.oauth.scopes import check_scope
from emulator.oauth.scopes import check_scope_any
from emulator.oauth.scopes import intersect_scope
from emulator.oauth.scopes import split_scope
from tests.support.engine import CLIENTS
from tests.support.engine import NOW

INTERSECT = oauth.TokenPolicy(scope_rule="intersect")


@pytest.mark.parametrize(
    ("required", "available", "expected"),
    [
        ("a", "a b", True),
        ("b a", "a b", True),
        ("a c", "a b", False),
        ("a  b", "a b", False),
        (" a ", "a", True),
        ("A", "a", False),
        ("a\x00", "a", False),
        ("\na", "a", False),
        ("a\x7f", "a", False),
    ],
    ids=[
        "subset",
        "reordered",
        "one-missing",
        "double-space",
        "trimmed",
        "case-sensitive",
        "trailing-nul-not-trimmed-away",
        "leading-line-feed-not-trimmed-away",
        "del",
    ],
)
def test_check_scope(required, available, expected) -> None:
    assert check_scope(required, available) is expected


def test_split_keeps_empty_elements_between_double_spaces() -> None:
    assert split_scope("\ta  b \n") == ["a", "", "b"]


def test_any_of_and_intersection() -> None:
    assert check_scope_any("x a", "a b") and not check_scope_any("x y", "a b")
    assert not check_scope_any("a b\x00", "a b")
    assert intersect_scope("c a x a", "a b c") == "c a"
    assert intersect_scope("x", "a") == ""


def test_intersect_rule_narrows_and_refuses_no_overlap(session, new_client) -> None:
    client = new_client()
    assert resolve_scope(session, "write x read", "read write", client, INTERSECT) == "write read"
    assert resolve_scope(session, None, "read write", client, INTERSECT) == "read write"
    assert resolve_scope(session, None, None, client, INTERSECT) is None
    with pytest.raises(InvalidScope) as caught:
        resolve_scope(session, "x", "read", client, INTERSECT)
    assert caught.value.reason == "no_overlap"
    empty = oauth.TokenPolicy(scope_rule="intersect", empty_intersection="empty")
    assert resolve_scope(session, "x", "read", client, empty) == ""


def test_token_factories_and_any_of_verification(session, new_client) -> None:
    new_client(scope="read write")
    policy = oauth.TokenPolicy(access_token_factory=lambda: "A" * 28)
    req = oauth.TokenRequest(
        grant_type="client_credentials",
        credentials=oauth.ClientCredentials("c1", "s3cret"),
        scope="read",
    )
    issued = oauth.issue_token(session, req, policy, clients=CLIENTS, now=NOW)
    assert issued.access_token == "A" * 28
    assert oauth.verify_access_token(
        session, "A" * 28, required_scope="admin read", any_scope=True, now=NOW
    )
    with pytest.raises(InsufficientScope):
        oauth.verify_access_token(session, "A" * 28, required_scope="admin read", now=NOW)
