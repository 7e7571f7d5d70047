"""Tokens: stored by hash, expiry boundary, revoke and introspect, refresh exactly once."""

from __future__ import annotations

import hashlib
from datetime import datetime
from datetime import timedelta

import pytest
import sqlalchemy as sa

import emulator.storage.purge
from emulator import oauth
from emulator.oauth.errors import ExpiredToken
from emulator.oauth.errors import InsufficientScope
from emulator.oauth.errors import InvalidGrant
from emulator.oauth.errors import InvalidToken
from emulator.storage.models import AccessToken
from emulator.storage.models import RefreshToken
from emulator.storage.models import UsedRefreshToken
from emulator.storage.purge import PurgePacing
from tests.support.engine import CLIENTS
from tests.support.engine import NOW
from tests.support.engine import POLICY
from tests.support.engine import issue

TOKEN_MODELS = (AccessToken, RefreshToken, UsedRefreshToken)


def refresh(session, token, client_id="c1", secret="s3cret", policy=POLICY, now=NOW):
    req = oauth.TokenRequest(
        grant_type="refresh_token",
        refresh_token=token,
        credentials=oauth.ClientCredentials(client_id, secret),
    )
    issued = oauth.issue_token(session, req, policy, clients=CLIENTS, now=now)
    session.commit()
    return issued


def test_tokens_are_40_hex_and_stored_by_sha256(session, new_client) -> None:
    new_client(scope="a")
    issued = issue(session)
    assert len(issued.access_token) == 40 and int(issued.access_token, 16) >= 0
    stored = session.scalars(sa.select(AccessToken.token_hash)).all()
    assert stored == [hashlib.sha256(issued.access_token.encode()).hexdigest()]
    assert session.get(RefreshToken, hashlib.sha256(issued.refresh_token.encode()).hexdigest())


def test_access_token_is_valid_through_its_last_second(session, new_client) -> None:
    new_client(scope="a")
    issued = issue(session)
    last = NOW + timedelta(seconds=3600)
    assert oauth.verify_access_token(
        session, issued.access_token, now=last + timedelta(microseconds=999_999)
    )
    with pytest.raises(ExpiredToken):
        oauth.verify_access_token(session, issued.access_token, now=last + timedelta(seconds=1))
    with pytest.raises(InvalidToken):
        oauth.verify_access_token(session, issued.access_token.upper(), now=NOW)


def test_stored_times_keep_their_microseconds(session, new_client) -> None:
    """On every backend (a bare DATETIME on MySQL cuts or rounds to the second; rounded up,
    a token would live a second longer and its ``iat`` would be a second late)."""
    client = new_client(scope="a")
    moment = NOW.replace(microsecond=654_321)
    issued = issue(session, now=moment)
    info = oauth.verify_access_token(session, issued.access_token, now=moment)
    assert (info.issued_at, info.expires_at) == (moment, moment + timedelta(seconds=3600))
    claims = oauth.introspect_token(session, client, issued.refresh_token, None, now=moment)
    assert claims["iat"] == int((NOW - datetime(1970, 1, 1)).total_seconds())
    with pytest.raises(ExpiredToken):
        oauth.verify_access_token(session, issued.access_token, now=NOW + timedelta(seconds=3601))


def test_a_long_scope_list_is_stored_whole(session, new_client) -> None:
    """Past 64 KiB too, on every backend (MySQL's TEXT would refuse it: MEDIUMTEXT there)."""
    scope = " ".join(f"scope.{i:05d}" for i in range(8000))  # 95,999 characters
    new_client(scope=scope)
    issued = issue(session)
    assert issued.scope == scope
    assert oauth.verify_access_token(session, issued.access_token, now=NOW).scope == scope


def test_a_verified_token_names_its_client(session, new_client) -> None:
    client = new_client(scope="a")
    issued = issue(session)
    info = oauth.verify_access_token(session, issued.access_token, now=NOW)
    assert (info.client_pk, info.client_id, info.scope) == (client.id, "c1", "a")


def test_required_scope_is_all_of(session, new_client) -> None:
    new_client(scope="a b c")
    issued = issue(session, scope="a b")
    assert oauth.verify_access_token(session, issued.access_token, required_scope="b a", now=NOW)
    with pytest.raises(InsufficientScope) as caught:
        oauth.verify_access_token(session, issued.access_token, required_scope="a c", now=NOW)
    assert caught.value.facts["scope"] == "a c"


def test_revoking_a_refresh_token_ends_its_access_tokens_only(session, new_client) -> None:
    client = new_client(scope="a")
    first = issue(session)
    second = issue(session)
    refreshed = refresh(
        session,
        first.refresh_token,
        policy=oauth.TokenPolicy(
            client_credentials_refresh_token=True, unset_refresh_token_after_use=False
        ),
    )
    oauth.revoke_token(session, client, first.refresh_token, None)
    session.commit()
    for dead in (first.access_token, refreshed.access_token):
        with pytest.raises(InvalidToken):
            oauth.verify_access_token(session, dead, now=NOW)
    assert oauth.verify_access_token(session, second.access_token, now=NOW)
    with pytest.raises(InvalidGrant):
        refresh(session, first.refresh_token)


def test_a_client_cannot_revoke_or_introspect_another_clients_token(session, new_client) -> None:
    new_client("c1", scope="a")
    other = new_client("c2", secret="x", scope="a")
    issued = issue(session)
    oauth.revoke_token(session, other, issued.access_token, "access_token")
    session.commit()
    assert oauth.verify_access_token(session, issued.access_token, now=NOW)
    assert oauth.introspect_token(session, other, issued.access_token, None, now=NOW) is None


def test_introspection_claims(session, new_client) -> None:
    client = new_client(scope="a b", user_id="42")
    issued = issue(session)
    claims = oauth.introspect_token(session, client, issued.access_token, None, now=NOW)
    epoch = int((NOW - NOW.replace(year=1970, month=1, day=1, hour=0)).total_seconds())
    assert claims == {
        "active": True,
        "scope": "a b",
        "client_id": "c1",
        "token_type": "Bearer",
        "exp": epoch + 3600,
        "iat": epoch,
        "sub": "42",
    }
    rt = oauth.introspect_token(session, client, issued.refresh_token, "refresh_token", now=NOW)
    assert rt["token_type"] == "refresh_token"
    assert (
        oauth.introspect_token(
            session, client, issued.access_token, None, now=NOW + timedelta(hours=2)
        )
        is None
    )


@pytest.mark.parametrize("rotate", [False, True], ids=["access", "access+refresh"])
@pytest.mark.parametrize("remember", [False, True], ids=["forget", "remember"])
def test_refresh_token_is_consumed_exactly_once(session, new_client, rotate, remember) -> None:
    """Of two uses of a refresh token only the first issues; the second writes nothing
    (no access token, no refresh token, no used-token row)."""
    client = new_client(scope="a")
    row = oauth.tokens.find_refresh_token(session, issue(session).refresh_token)
    kept = oauth.tokens.UsedToken(client.id, row.token_hash, row.expires_at) if remember else None

    def use() -> oauth.IssuedToken | None:
        return oauth.tokens.issue_tokens(
            session,
            client,
            user_id=None,
            scope="a",
            access_lifetime=60,
            refresh_lifetime=600 if rotate else None,
            linked_refresh_hash=row.token_hash,
            family_hash=row.token_hash,
            consume=row.token_hash,
            remember=kept,
            now=NOW,
        )

    assert use() is not None
    counts = [session.scalar(sa.select(sa.func.count()).select_from(m)) for m in TOKEN_MODELS]
    assert use() is None
    assert [
        session.scalar(sa.select(sa.func.count()).select_from(m)) for m in TOKEN_MODELS
    ] == counts
    assert counts == [2, 1 if rotate else 0, 1 if remember else 0]


def test_purge_deletes_in_batches_and_reports(session, new_client) -> None:
    client = new_client()
    for i in range(7):
        oauth.import_token(
            session,
            token_type="access",
            raw=f"t{i}",
            client_pk=client.id,
            user_id=None,
            scope=None,
            expires_at=NOW - timedelta(days=i * 5),
            now=NOW,
        )
    for i in range(3):  # authorization codes go the same way
        code = oauth.CodeImport(
            raw=f"c{i}",
            client_pk=client.id,
            user_id="7",
            redirect_uri=None,
            scope=None,
            expires_at=NOW - timedelta(days=i * 10),
        )
        oauth.import_code(session, code, now=NOW)
    session.commit()
    seen = []
    removed = oauth.purge_expired(
        session,
        before=NOW - timedelta(days=14),
        pacing=PurgePacing(batch_size=2),
        on_batch=lambda table, total: seen.append((table, total)),
    )
    assert removed == {
        "oauth_access_tokens": 4,
        "oauth_refresh_tokens": 0,
        "oauth_used_refresh_tokens": 0,
        "oauth_authorization_codes": 1,
    }
    assert seen == [
        ("oauth_access_tokens", 2),
        ("oauth_access_tokens", 4),
        ("oauth_authorization_codes", 1),
    ]
    assert session.scalar(sa.select(sa.func.count()).select_from(AccessToken)) == 3


def expired_access_tokens(session, client, count: int) -> None:
    """``count`` access tokens of ``client`` that expired 30 days before NOW, committed."""
    for i in range(count):
        oauth.import_token(
            session,
            token_type="access",
            raw=f"old{i}",
            client_pk=client.id,
            user_id=None,
            scope=None,
            expires_at=NOW - timedelta(days=30),
            now=NOW,
        )
    session.commit()


def test_purge_pauses_in_proportion_to_its_writes(session, new_client, monkeypatch) -> None:
    """With writer_share 0.25, a batch that held the writer 0.1 s is followed by 0.3 s
    without a transaction (at least the configured pause), so issuance keeps ~75%."""
    expired_access_tokens(session, new_client(), 3)
    ticks = iter(range(100))
    slept: list[float] = []
    monkeypatch.setattr(emulator.storage.purge, "_purge_clock", lambda: next(ticks) * 0.1)
    monkeypatch.setattr(emulator.storage.purge.time, "sleep", slept.append)
    oauth.purge_expired(
        session, before=NOW, pacing=PurgePacing(batch_size=2, pause=0.01, writer_share=0.25)
    )
    assert slept == [pytest.approx(0.3), pytest.approx(0.3)]
    with pytest.raises(ValueError, match="writer_share"):
        oauth.purge_expired(session, before=NOW, pacing=PurgePacing(batch_size=2, writer_share=0))


def test_purge_batches_shrink_while_slow_and_grow_back_while_quick(
    session, new_client, monkeypatch
) -> None:
    expired_access_tokens(session, new_client(), 40)
    # Each batch's DELETE-to-commit: 0.1 s for the first three (slow), then 1 ms (quick).
    took = [0.1, 0.1, 0.1] + [0.001] * 40
    ticks = iter(t for i, d in enumerate(took) for t in (float(i), i + d))
    monkeypatch.setattr(emulator.storage.purge, "_purge_clock", lambda: next(ticks))
    monkeypatch.setattr(emulator.storage.purge.time, "sleep", lambda _seconds: None)
    totals: list[int] = []
    oauth.purge_expired(
        session,
        before=NOW,
        pacing=PurgePacing(batch_size=16),
        on_batch=lambda table, total: totals.append(total),
    )
    sizes = [b - a for a, b in zip([0, *totals], totals, strict=False)]
    assert sizes[:6] == [16, 8, 4, 2, 4, 6]  # halved while slow; doubled, up to what is left
    assert sum(sizes) == 40


def test_revoking_a_used_refresh_token_still_ends_the_access_tokens_obtained_with_it(
    session, new_client
) -> None:
    client = new_client(scope="a")
    first = issue(session)
    refreshed = refresh(session, first.refresh_token)  # the refresh token is gone now
    other = new_client("c2", secret="x", scope="a")
    oauth.revoke_token(session, other, first.refresh_token, "refresh_token")  # not c2's: no effect
    session.commit()
    assert oauth.verify_access_token(session, refreshed.access_token, now=NOW)
    oauth.revoke_token(session, client, first.refresh_token, "refresh_token")
    session.commit()
    for dead in (first.access_token, refreshed.access_token):
        with pytest.raises(InvalidToken):
            oauth.verify_access_token(session, dead, now=NOW)


def test_the_token_cache_spares_queries_but_never_stretches_expiry(
    session, new_client, monkeypatch
) -> None:
    new_client(scope="a")
    issued = issue(session)
    cache = oauth.AccessTokenCache(60, 100)
    queries = []
    real_execute = session.execute
    monkeypatch.setattr(
        session, "execute", lambda *a, **k: queries.append(a) or real_execute(*a, **k)
    )
    for _ in range(3):
        oauth.verify_access_token(session, issued.access_token, now=NOW, cache=cache)
    assert len(queries) == 1
    with pytest.raises(ExpiredToken):
        oauth.verify_access_token(
            session, issued.access_token, now=NOW + timedelta(hours=2), cache=cache
        )


def test_revoking_through_this_worker_empties_its_token_cache(session, new_client) -> None:
    client = new_client(scope="a")
    issued = issue(session)
    cache = oauth.AccessTokenCache(60, 100)
    oauth.verify_access_token(session, issued.access_token, now=NOW, cache=cache)
    oauth.revoke_token(session, client, issued.refresh_token, None, cache=cache)
    session.commit()
    with pytest.raises(InvalidToken):
        oauth.verify_access_token(session, issued.access_token, now=NOW, cache=cache)


def test_revoking_forgets_only_the_revoked_tokens_in_this_workers_cache(
    session, new_client
) -> None:
    new_client("c1", scope="a")
    other = new_client("c2", secret="x", scope="a")
    mine = issue(session)
    theirs = issue(session, client_id="c2", secret="x")
    cache = oauth.AccessTokenCache(60, 100)
    for issued in (mine, theirs):
        oauth.verify_access_token(session, issued.access_token, now=NOW, cache=cache)
    oauth.revoke_token(session, other, theirs.refresh_token, None, cache=cache)
    session.commit()
    assert cache.get(oauth.tokens.hash_token(mine.access_token)) is not None  # still cached
    assert cache.get(oauth.tokens.hash_token(theirs.access_token)) is None
    with pytest.raises(InvalidToken):
        oauth.verify_access_token(session, theirs.access_token, now=NOW, cache=cache)
