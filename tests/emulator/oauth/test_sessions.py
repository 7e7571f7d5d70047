"""Site users' browser sessions (emulator/oauth/sessions.py): stored by hash, live for
their lifetime, only for a user who may log in, ended one by one or all at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from emulator import oauth
from emulator.storage.models import SiteUserSession
from tests.support.engine import NOW


@pytest.fixture
def alice(session) -> oauth.UserRecord:
    user = oauth.create_user(session, oauth.UserSpec("alice", "a password here"), now=NOW)
    session.commit()
    return user


def start(session, user, lifetime=60, now=NOW) -> str:
    raw = oauth.start_user_session(session, user.id, lifetime=lifetime, now=now)
    session.commit()
    return raw


def test_a_session_is_stored_by_hash_and_finds_its_user(session, alice) -> None:
    raw = start(session, alice)
    [row] = session.scalars(sa.select(SiteUserSession)).all()
    assert row.session_hash == oauth.hash_token(raw) != raw
    assert oauth.session_user(session, raw, now=NOW).username == "alice"


def test_a_session_ends_with_its_lifetime(session, alice) -> None:
    raw = start(session, alice, lifetime=60)
    assert oauth.session_user(session, raw, now=NOW + timedelta(seconds=59)) is not None
    assert oauth.session_user(session, raw, now=NOW + timedelta(seconds=60)) is None


@pytest.mark.parametrize("raw", [None, "", 7, "x" * 200, "nope", "a\x00b"])
def test_anything_else_is_no_session(session, alice, raw) -> None:
    start(session, alice)
    assert oauth.session_user(session, raw, now=NOW) is None


def test_a_blocked_or_two_factor_user_has_no_session(session, alice) -> None:
    raw = start(session, alice)
    session.execute(sa.text("UPDATE site_users SET two_factor = true"))
    assert oauth.session_user(session, raw, now=NOW) is None
    session.execute(sa.text("UPDATE site_users SET two_factor = false, blocked = true"))
    assert oauth.session_user(session, raw, now=NOW) is None


def test_ending_one_session_leaves_the_others(session, alice) -> None:
    first, second = start(session, alice), start(session, alice)
    oauth.end_user_session(session, first)
    assert oauth.session_user(session, first, now=NOW) is None
    assert oauth.session_user(session, second, now=NOW) is not None
    assert oauth.end_user_sessions(session, alice.id) == 1


def test_a_new_session_clears_the_users_expired_ones(session, alice) -> None:
    start(session, alice, lifetime=60)
    start(session, alice, lifetime=60, now=NOW + timedelta(seconds=120))
    assert session.scalar(sa.select(sa.func.count()).select_from(SiteUserSession)) == 1


def test_revoking_or_removing_the_user_ends_its_sessions(session, alice) -> None:
    raw = start(session, alice)
    assert oauth.revoke_user_tokens(session, alice.id) == 0  # sessions are not counted
    assert oauth.session_user(session, raw, now=NOW) is None
    start(session, alice)
    oauth.delete_user(session, alice.id)
    session.commit()
    assert session.scalar(sa.select(sa.func.count()).select_from(SiteUserSession)) == 0
