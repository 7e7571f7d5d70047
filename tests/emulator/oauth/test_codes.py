"""Authorization codes: stored by hash, used once, live through their last second, the
authorization_code grant's facts (the wire's words are the dialect's: tests/plugins/oauth2)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
import sqlalchemy as sa

from emulator import oauth
from emulator.oauth.errors import InvalidGrant
from emulator.oauth.errors import InvalidRequest
from emulator.oauth.errors import UnauthorizedClient
from emulator.storage.models import AccessToken
from emulator.storage.models import AuthorizationCode
from emulator.storage.models import RefreshToken
from tests.support.engine import CLIENTS
from tests.support.engine import NOW

POLICY = oauth.TokenPolicy()
CB = "https://app.example/cb"


def new_code(session, client, *, redirect_uri=CB, scope="a", user_id="u-9", lifetime=30):
    issued = oauth.issue_code(
        session,
        client,
        user_id=user_id,
        redirect_uri=redirect_uri,
        scope=scope,
        lifetime=lifetime,
        now=NOW,
    )
    session.commit()
    return issued.code


def redeem(session, code, client_id="c1", secret="s3cret", policy=POLICY, now=NOW, **kwargs):
    req = oauth.TokenRequest(
        grant_type="authorization_code",
        credentials=oauth.ClientCredentials(client_id, secret),
        code=code,
        **kwargs,
    )
    issued = oauth.issue_token(session, req, policy, clients=CLIENTS, now=now)
    session.commit()
    return issued


def count(session, model) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model))


def test_a_code_is_40_hex_stored_by_sha256_for_its_lifetime(session, new_client) -> None:
    client = new_client(scope="a b")
    issued = oauth.issue_code(
        session, client, user_id="u-9", redirect_uri=CB, scope="a", lifetime=30, now=NOW
    )
    session.commit()
    assert len(issued.code) == 40 and int(issued.code, 16) >= 0
    assert issued.expires_at == NOW + timedelta(seconds=30)
    row = session.get(AuthorizationCode, hashlib.sha256(issued.code.encode()).hexdigest())
    assert (row.client_id, row.user_id, row.redirect_uri, row.scope) == (client.id, "u-9", CB, "a")
    assert row.expires_at == NOW + timedelta(seconds=30)


def test_the_policy_says_how_long_codes_live() -> None:
    assert oauth.TokenPolicy().auth_code_lifetime == 30  # bshaffer's auth_code_lifetime


def test_a_code_gives_tokens_for_its_user_and_scope_and_goes(session, new_client) -> None:
    client = new_client(scope="a b")
    issued = redeem(session, new_code(session, client), redirect_uri=CB)
    assert (issued.scope, issued.user_id, issued.client_id) == ("a", "u-9", "c1")
    assert issued.refresh_token is not None
    info = oauth.verify_access_token(session, issued.access_token, now=NOW)
    assert info.user_id == "u-9"
    assert (count(session, AuthorizationCode), count(session, RefreshToken)) == (0, 1)


def test_a_code_is_used_exactly_once(session, new_client) -> None:
    """Of two uses only the first issues; the second writes nothing."""
    client = new_client(scope="a")
    code = new_code(session, client)
    row = oauth.codes.find_code(session, code)

    def use() -> oauth.IssuedToken | None:
        return oauth.tokens.issue_tokens(
            session,
            client,
            user_id=row.user_id,
            scope="a",
            access_lifetime=60,
            refresh_lifetime=600,
            consume_code=row.code_hash,
            now=NOW,
        )

    assert use() is not None
    assert use() is None
    assert (count(session, AccessToken), count(session, RefreshToken)) == (1, 1)


def test_a_second_use_is_an_unknown_code(session, new_client) -> None:
    client = new_client(scope="a")
    code = new_code(session, client)
    redeem(session, code, redirect_uri=CB)
    with pytest.raises(InvalidGrant) as caught:
        redeem(session, code, redirect_uri=CB)
    assert caught.value.reason == "unknown_code"


def test_a_code_and_a_refresh_token_are_not_used_up_together(session, new_client) -> None:
    client = new_client(scope="a")
    with pytest.raises(ValueError, match="not both"):
        oauth.tokens.issue_tokens(
            session,
            client,
            user_id=None,
            scope="a",
            access_lifetime=60,
            refresh_lifetime=None,
            consume="x" * 64,
            consume_code="y" * 64,
            now=NOW,
        )


@pytest.mark.parametrize(
    ("later", "expired"),
    [(timedelta(seconds=30, microseconds=999_999), False), (timedelta(seconds=31), True)],
    ids=["last-second", "after"],
)
def test_a_code_lives_through_its_last_second(session, new_client, later, expired) -> None:
    client = new_client(scope="a")
    code = new_code(session, client)
    if expired:
        with pytest.raises(InvalidGrant) as caught:
            redeem(session, code, redirect_uri=CB, now=NOW + later)
        assert caught.value.reason == "expired_code"
    else:
        assert redeem(session, code, redirect_uri=CB, now=NOW + later).scope == "a"


@pytest.mark.parametrize(
    ("kwargs", "error", "reason", "facts"),
    [
        ({"code": None}, InvalidRequest, "missing", {"parameter": "code"}),
        ({"code": "nope"}, InvalidGrant, "unknown_code", {}),
        ({"redirect_uri": None}, InvalidGrant, "redirect_uri_mismatch", {}),
        ({"redirect_uri": CB + "/"}, InvalidGrant, "redirect_uri_mismatch", {}),
        ({"client_id": "c2", "secret": "t0p"}, InvalidGrant, "other_client", {}),
    ],
    ids=["missing", "unknown", "no-redirect-uri", "other-redirect-uri", "other-client"],
)
def test_what_fails_says_why(session, new_client, kwargs, error, reason, facts) -> None:
    client = new_client(scope="a")
    new_client("c2", secret="t0p")
    args = {"code": new_code(session, client), "redirect_uri": CB, **kwargs}
    with pytest.raises(error) as caught:
        redeem(session, **args)
    assert caught.value.reason == reason
    if reason == "other_client":
        facts = {"grant_type": "authorization_code"}
    assert caught.value.facts == facts
    assert count(session, AuthorizationCode) == 1


def test_the_engine_compares_redirect_uris_exactly_unless_the_dialect_says(
    session, new_client
) -> None:
    """RFC 6749 §4.1.3: identical. A dialect may bring its legacy comparison."""
    client = new_client(scope="a")
    code = new_code(session, client, redirect_uri="https://app.example/cb?x=a%20b")
    with pytest.raises(InvalidGrant):
        redeem(session, code, redirect_uri="https://app.example/cb?x=a b")
    lenient = oauth.TokenPolicy(redirect_uri_matches=lambda given, stored: given.lower() == stored)
    issued = redeem(session, code, redirect_uri="HTTPS://APP.EXAMPLE/CB?X=A%20B", policy=lenient)
    assert issued.scope == "a"


def test_a_code_without_scope_gives_the_default_scopes(session, new_client) -> None:
    oauth.add_scope(session, "d1", is_default=True)
    oauth.add_scope(session, "d2")
    session.commit()
    client = new_client(scope="a d2")
    issued = redeem(session, new_code(session, client, scope=None, redirect_uri=None))
    assert issued.scope == "d1"  # not the client's scope (bshaffer's getDefaultScope)


def test_the_grant_restriction_comes_after_the_code_and_keeps_it(session, new_client) -> None:
    client = new_client(scope="a", grant_types="client_credentials")
    code = new_code(session, client)
    with pytest.raises(InvalidGrant):
        redeem(session, "nope", redirect_uri=CB)
    with pytest.raises(UnauthorizedClient):
        redeem(session, code, redirect_uri=CB)
    assert count(session, AuthorizationCode) == 1


def test_no_refresh_token_for_a_client_that_may_not_refresh(session, new_client) -> None:
    client = new_client(scope="a", grant_types="authorization_code")
    issued = redeem(session, new_code(session, client), redirect_uri=CB)
    assert issued.refresh_token is None
    assert count(session, RefreshToken) == 0


def test_revoking_a_clients_tokens_ends_its_codes(session, new_client) -> None:
    client = new_client(scope="a")
    other = new_client("c2", secret="t0p", scope="a")
    new_code(session, client)
    new_code(session, other)
    oauth.revoke_client_tokens(session, client.id)
    session.commit()
    assert session.scalars(sa.select(AuthorizationCode.client_id)).all() == [other.id]


def code_import(**overrides) -> oauth.CodeImport:
    values = {
        "raw": "legacy-code-1",
        "client_pk": 1,
        "user_id": "42",
        "redirect_uri": CB,
        "scope": "a",
        "expires_at": NOW + timedelta(seconds=30),
    }
    return oauth.CodeImport(**{**values, **overrides})


def test_an_imported_code_works_once(session, new_client) -> None:
    client = new_client(scope="a")
    oauth.import_code(session, code_import(client_pk=client.id), now=NOW)
    session.commit()
    with pytest.raises(ValueError, match="already imported"):
        oauth.import_code(session, code_import(client_pk=client.id), now=NOW)
    session.rollback()
    assert redeem(session, "legacy-code-1", redirect_uri=CB).user_id == "42"
    with pytest.raises(InvalidGrant):
        redeem(session, "legacy-code-1", redirect_uri=CB)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"raw": ""}, "empty"),
        ({"raw": "c\x00"}, "control character"),
        ({"redirect_uri": "https://a.example/\n"}, "control character"),
        ({"scope": "a  b"}, "scope"),
        ({"user_id": "u" * 256}, "255"),
        ({"redirect_uri": "https://a.example/" + "p" * 2000}, "2000"),
    ],
    ids=["empty", "nul", "line-break-in-uri", "bad-scope", "long-user", "long-uri"],
)
def test_a_code_that_cannot_be_stored_is_refused(overrides, message) -> None:
    with pytest.raises(ValueError, match=message):
        oauth.check_code_import(code_import(**overrides))
