"""Failed site-user logins are throttled per (username, address) and per address.

The real throttle (the app's, with the default limits) behind the engine's
``authenticate_user``, as the password grant and the login page will call it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask

from config import Config
from emulator import oauth
from emulator.ops import throttle
from emulator.storage.database import db
from emulator.storage.models import RateLimitCounter
from tests.support.app import empty_database
from tests.support.app import make_app
from tests.support.engine import NOW

ATTACKER = "203.0.113.7"
OTHER = "198.51.100.20"


@pytest.fixture
def throttled(database_url: str, request: pytest.FixtureRequest) -> Iterator[Flask]:
    settings = {
        "USER_AUTH_FAILURE_LIMIT": Config.USER_AUTH_FAILURE_LIMIT,
        "USER_AUTH_ADDRESS_FAILURE_LIMIT": Config.USER_AUTH_ADDRESS_FAILURE_LIMIT,
        **getattr(request, "param", {}),
    }
    app = make_app(database_url, **settings)
    empty_database(app)
    with app.app_context():
        oauth.create_user(db.session, oauth.UserSpec("Alice", "right password"), now=NOW)
        db.session.commit()
    yield app
    with app.app_context():
        db.engine.dispose()


def login(app: Flask, username: str, password: str, address: str = ATTACKER):
    """One login through the engine, with the app's guard for a request from ``address``."""
    with app.test_request_context(environ_base={"REMOTE_ADDR": address}):
        try:
            return oauth.authenticate_user(
                db.session, username, password, guard=throttle.user_guard(), now=NOW
            )
        finally:
            db.session.commit()


def test_ten_failures_lock_the_username_from_that_address(throttled) -> None:
    for typed in ["alice", "ALICE", "Alice ", "aLiCe"] * 2 + ["alice", "alice"]:
        assert login(throttled, typed, "guess") is None  # every case is one username
    with pytest.raises(oauth.UserLocked) as locked:
        login(throttled, "alice", "right password")  # the right password too
    assert 0 < locked.value.retry_after <= 300
    assert login(throttled, "alice", "right password", OTHER) is not None  # another address
    with throttled.app_context():
        events = db.session.execute(
            sa.text("SELECT target, after FROM audit_events WHERE action = 'security.lockout'")
        ).all()
    assert [event.target for event in events] == ["Alice"]  # the account, as it is spelled
    assert json.loads(events[0].after)["kind"] == "user"


def test_one_address_guessing_many_usernames_is_locked_out(throttled) -> None:
    for n in range(100):
        assert login(throttled, f"user{n}", "guess") is None
    with pytest.raises(oauth.UserLocked):
        login(throttled, "alice", "right password")
    with throttled.app_context():
        target = db.session.execute(
            sa.text(
                "SELECT after FROM audit_events WHERE action = 'security.lockout' ORDER BY id DESC"
            )
        ).scalar()
    after = json.loads(target)
    # No typed username is kept: they may be passwords typed in the wrong box.
    assert (after["kind"], after["client_id"]) == ("user-address", "(unknown username)")


def test_blocked_users_count_as_failures(throttled) -> None:
    with throttled.app_context():
        user = oauth.find_user(db.session, "alice")
        oauth.set_user_blocked(db.session, user.id, True)
        db.session.commit()
    for _ in range(10):
        assert login(throttled, "alice", "right password") is None
    with pytest.raises(oauth.UserLocked):
        login(throttled, "alice", "right password")


def test_the_counter_keys_hold_no_username(throttled) -> None:
    login(throttled, "my secret password", "guess")
    with throttled.app_context():
        keys = db.session.scalars(sa.select(RateLimitCounter.key)).all()
    plain = hashlib.sha256(b"my secret password").hexdigest()[:32]
    assert keys and not any(plain in key or "secret" in key for key in keys)


@pytest.mark.parametrize("throttled", [{"USER_AUTH_FAILURE_LIMIT": ""}], indirect=True)
def test_an_empty_limit_turns_the_user_throttle_off(throttled) -> None:
    with throttled.test_request_context():
        assert throttle.user_guard() is None
    for _ in range(12):
        login(throttled, "alice", "guess")
    assert login(throttled, "alice", "right password") is not None
