"""Site users in the engine: the store, passwords, and authenticate_user's rules.

A session and a fixed clock, no HTTP. Passwords of other formats come through a verifier
the test hands in, as the host hands in the plugins' (the Joomla formats have tests of
their own: tests/plugins/oauth2/test_joomla_passwords.py).
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
import sqlalchemy as sa

from emulator import oauth
from emulator.storage.models import SiteUser
from tests.support.engine import NOW
from tests.support.engine import issue
from tests.support.users import FakeGuard
from tests.support.users import counting
from tests.support.users import sha1_verifier


@pytest.fixture
def make_user(session):
    def build(username="alice", password="correct horse", **kwargs) -> oauth.UserRecord:
        user = oauth.create_user(
            session, oauth.UserSpec(username, password, **kwargs), now=NOW - timedelta(days=1)
        )
        session.commit()
        return user

    return build


def stored_hash(session, user_id: int) -> str | None:
    return session.scalar(sa.select(SiteUser.password_hash).where(SiteUser.id == user_id))


def authenticate(session, username, password, **kwargs):
    user = oauth.authenticate_user(session, username, password, now=NOW, **kwargs)
    session.commit()
    return user


# --- the store ---------------------------------------------------------------------------


def test_a_new_user_gets_the_next_id_and_an_argon2id_hash(session, make_user) -> None:
    first = make_user("alice", groups=("Registered", "Editor", "Registered"))
    second = make_user("bob", id=42)
    third = make_user("carol")
    assert (first.id, second.id, third.id) == (1, 42, 43)
    assert first.user_id == "1"
    assert first.groups == ("Registered", "Editor")  # in order, once each
    assert first.name == "alice"  # the username when no name is given
    assert first.password_format == oauth.ARGON2ID
    assert stored_hash(session, 1).startswith("$argon2id$")
    assert first.registered_at == first.password_changed_at == NOW - timedelta(days=1)
    assert first.last_visit_at is None
    shown = repr(first) + repr(first.as_dict())
    assert "correct horse" not in shown and stored_hash(session, 1) not in shown


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"username": "ALICE"}, "A user 'alice' already exists (usernames ignore case)."),
        ({"username": "new", "id": 1}, "The user id 1 is taken (by 'alice')."),
        ({"username": ""}, "A username is 1 to 150 characters."),
        ({"username": "x" * 151}, "A username is 1 to 150 characters."),
        ({"username": " padded"}, "A username has no spaces at its start or end."),
        ({"username": "a<b"}, 'A username may not hold < > " % ; ( ) & or \\.'),
        ({"username": "tab\there"}, "holds a control character"),
        ({"username": "new", "password": ""}, "A password cannot be empty."),
        ({"username": "new", "password": "a\0b"}, "A password cannot hold NUL."),
        ({"username": "new", "password": "x" * 4097}, "at most 4096 bytes"),
        ({"username": "new", "id": 0}, "A user id is 1 to 2147483647."),
        ({"username": "new", "groups": ("",)}, "A group title is 1 to 100 characters."),
        ({"username": "new", "email": "a\nb"}, "holds a control character"),
    ],
    ids=[
        "username-taken-in-another-case",
        "id-taken",
        "empty-username",
        "long-username",
        "padded-username",
        "joomla-forbidden-character",
        "control-character",
        "empty-password",
        "nul-in-password",
        "long-password",
        "id-zero",
        "empty-group",
        "control-in-email",
    ],
)
def test_a_refused_user_is_not_created(session, make_user, kwargs, message) -> None:
    make_user("alice")
    spec = oauth.UserSpec(**{"password": "pw", **kwargs})
    with pytest.raises(ValueError, match=None) as refused:
        oauth.create_user(session, spec, now=NOW)
    assert message in str(refused.value)
    session.rollback()
    assert session.scalar(sa.select(sa.func.count()).select_from(SiteUser)) == 1


def test_usernames_match_in_any_case_and_with_trailing_spaces(session, make_user) -> None:
    made = make_user("Bjørn.Ødegård")
    for typed in ("Bjørn.Ødegård", "bjørn.ødegård", "BJØRN.ØDEGÅRD", "bjørn.ødegård  "):
        assert oauth.find_user(session, typed) == made
    for typed in (" bjørn.ødegård", "bjorn.odegard", "", "bjørn\0", 12):
        assert oauth.find_user(session, typed) is None
    assert oauth.get_user(session, made.id) == made
    assert oauth.get_user(session, 999) is None
    assert oauth.get_user(session, True) is None


def test_list_pages_and_searches(session, make_user) -> None:
    for name in ("delta", "Alpha", "charlie", "bravo"):
        make_user(name, email=f"{name.lower()}@example.test")
    page = oauth.list_users(session, limit=2)
    assert [user.username for user in page.rows] == ["Alpha", "bravo"]
    assert (page.total, page.offset, page.limit) == (4, 0, 2)
    page = oauth.list_users(session, offset=2, limit=2)
    assert [user.username for user in page.rows] == ["charlie", "delta"]
    assert [u.username for u in oauth.list_users(session, search="ALP").rows] == ["Alpha"]
    assert [u.username for u in oauth.list_users(session, search="o@ex").rows] == ["bravo"]
    assert [u.username for u in oauth.list_users(session, search="O@EX").rows] == ["bravo"]
    assert oauth.list_users(session, search="%").total == 0  # no wildcard
    with pytest.raises(ValueError, match="The limit must be 1 to 1000."):
        oauth.list_users(session, limit=0)


def test_a_name_is_found_in_any_case_on_every_backend(session, make_user) -> None:
    """PostgreSQL's LIKE minds the case and SQLite's does not: the search must not."""
    make_user("apiuser", name="API User")
    for typed in ("api user", "API USER", "Api U"):
        assert [u.username for u in oauth.list_users(session, search=typed).rows] == ["apiuser"]


def test_list_filters_the_blocked(session, make_user) -> None:
    for name in ("alpha", "bravo", "charlie"):
        make_user(name)
    oauth.set_user_blocked(session, oauth.find_user(session, "bravo").id, True)
    session.commit()
    assert [u.username for u in oauth.list_users(session, blocked=True).rows] == ["bravo"]
    page = oauth.list_users(session, blocked=False)
    assert ([u.username for u in page.rows], page.total) == (["alpha", "charlie"], 2)
    assert oauth.list_users(session, search="a", blocked=True).total == 1


def test_the_clients_acting_as_a_user_and_its_live_tokens(session, make_user, new_client):
    user = make_user("alice", id=7)
    for client_id, user_id in (("b-app", "7"), ("a-app", "7"), ("other", "70"), ("none", None)):
        new_client(client_id, user_id=user_id)
    assert oauth.user_clients(session, 7) == (2, ["a-app", "b-app"])
    assert oauth.user_clients(session, 7, limit=1) == (2, ["a-app"])
    assert oauth.user_clients(session, 70) == (1, ["other"])
    pks = dict(session.execute(sa.text("SELECT client_id, id FROM oauth_clients")).all())
    for n, (kind, client_id, user_id, expires) in enumerate(
        [
            ("access", "none", "7", NOW + timedelta(hours=1)),
            ("refresh", "a-app", "7", NOW + timedelta(days=14)),
            ("access", "a-app", "7", NOW - timedelta(seconds=1)),  # expired: not live
            ("access", "a-app", "70", NOW + timedelta(hours=1)),  # another user's
        ]
    ):
        oauth.import_token(
            session,
            token_type=kind,
            raw=f"{n:040x}",
            client_pk=pks[client_id],
            user_id=user_id,
            scope="read",
            expires_at=expires,
            now=NOW - timedelta(minutes=10 - n),
        )
    session.commit()
    total, tokens = oauth.user_tokens(session, user.id, now=NOW)
    assert total == 2
    assert (
        [(t.kind, t.client_id, t.scope, t.hash_prefix) for t in tokens]
        == [  # newest first
            ("refresh", "a-app", "read", oauth.hash_token(f"{1:040x}")[:12]),
            ("access", "none", "read", oauth.hash_token(f"{0:040x}")[:12]),
        ]
    )
    assert oauth.user_tokens(session, user.id, now=NOW, limit=1)[0] == 2
    assert len(oauth.user_tokens(session, user.id, now=NOW, limit=1)[1]) == 1


def test_set_password_block_and_delete(session, make_user, new_client) -> None:
    user = make_user("alice")
    oauth.set_password(session, user.id, "a new one", now=NOW)
    session.commit()
    assert authenticate(session, "alice", "correct horse") is None
    assert authenticate(session, "alice", "a new one") is not None
    assert oauth.get_user(session, user.id).password_changed_at == NOW

    assert oauth.set_user_blocked(session, user.id, True) is True
    assert oauth.set_user_blocked(session, user.id, True) is False
    assert oauth.get_user(session, user.id).blocked is True
    assert oauth.set_user_blocked(session, user.id, False) is True

    new_client("c1", user_id=None)
    issue(session, client_id="c1")
    for table in ("oauth_access_tokens", "oauth_refresh_tokens"):  # as a password grant will
        session.execute(sa.text(f"UPDATE {table} SET user_id = :u"), {"u": user.user_id})
    issue(session, client_id="c1")  # no user: stays
    session.commit()
    assert oauth.delete_user(session, user.id) == 2  # its access and refresh token
    session.commit()
    assert oauth.find_user(session, "alice") is None
    assert session.scalar(sa.text("SELECT count(*) FROM site_user_groups")) == 0
    for table in ("oauth_access_tokens", "oauth_refresh_tokens"):
        assert session.scalar(sa.text(f"SELECT count(*) FROM {table}")) == 1


def test_blocking_or_deleting_a_user_ends_its_unexchanged_codes(session, make_user, new_client):
    """A code issued to a user is no way around its blocked account."""
    user = make_user("bob")
    client = new_client("web", user_id=None)
    for raw in ("code-of-bob", "code-of-nobody"):
        oauth.import_code(
            session,
            oauth.CodeImport(
                raw=raw,
                client_pk=client.id,
                user_id=user.user_id if raw == "code-of-bob" else None,
                redirect_uri=None,
                scope=None,
                expires_at=NOW + timedelta(seconds=30),
            ),
            now=NOW,
        )
    session.commit()
    assert oauth.revoke_user_tokens(session, user.id) == 1
    assert session.scalar(sa.text("SELECT count(*) FROM oauth_authorization_codes")) == 1


# --- authenticate_user ---------------------------------------------------------------------


def test_the_right_password_logs_in_and_records_the_visit(session, make_user) -> None:
    made = make_user("alice", groups=("Registered",))
    user = authenticate(session, "ALICE", "correct horse")
    assert user is not None
    assert (user.id, user.username, user.groups) == (made.id, "alice", ("Registered",))
    assert user.last_visit_at == NOW
    assert oauth.get_user(session, made.id).last_visit_at == NOW


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("alice", "wrong"),
        ("nobody", "correct horse"),
        ("alice", ""),
        ("alice", None),
        (None, "correct horse"),
        ("alice", "x" * 5000),
        ("alice\0", "correct horse"),
    ],
    ids=["wrong", "unknown", "empty", "none", "no-username", "too-long", "nul-username"],
)
def test_every_failure_is_none_and_writes_nothing(session, make_user, username, password):
    user = make_user("alice")
    assert authenticate(session, username, password) is None
    assert oauth.get_user(session, user.id).last_visit_at is None


@pytest.mark.parametrize("state", ["blocked", "two_factor"])
def test_blocked_and_two_factor_users_fail_as_a_wrong_password(session, make_user, state):
    user = make_user("alice")
    session.execute(sa.update(SiteUser).where(SiteUser.id == user.id).values({state: True}))
    session.commit()
    guard = FakeGuard()
    right = authenticate(session, "alice", "correct horse", guard=guard)
    wrong = authenticate(session, "alice", "wrong", guard=guard)
    assert right is None and wrong is None
    # Both counted as failures of the same account, in the same words.
    assert guard.failures == [("alice", "alice"), ("alice", "alice")]
    assert oauth.get_user(session, user.id).last_visit_at is None


def test_a_user_without_a_password_never_logs_in(session, make_user) -> None:
    make_user("alice", password=None)
    assert oauth.find_user(session, "alice").password_format == oauth.NO_PASSWORD
    assert authenticate(session, "alice", "") is None
    assert authenticate(session, "alice", "anything") is None


def test_an_unknown_username_costs_one_full_hash(session, make_user, monkeypatch) -> None:
    user = make_user("alice")
    own = stored_hash(session, user.id)
    calls = counting(monkeypatch)
    assert authenticate(session, "nobody", "correct horse") is None
    assert len(calls) == 1 and calls[0].startswith("$argon2id$") and calls[0] != own
    calls.clear()
    assert authenticate(session, "alice", "wrong") is None
    assert calls == [own]  # a wrong password: one hash as well
    calls.clear()
    assert authenticate(session, "alice", 7) is None  # not a password: the dummy, once
    assert len(calls) == 1 and calls[0] != own


def test_a_repeated_good_password_is_hashed_once_and_a_wrong_one_every_time(
    session, make_user, monkeypatch
) -> None:
    user = make_user("alice")
    own = stored_hash(session, user.id)
    memo = oauth.VerifiedSecrets()
    calls = counting(monkeypatch)
    for _ in range(3):
        assert authenticate(session, "alice", "correct horse", verified=memo).id == user.id
    assert calls == [own]  # the first login only
    for _ in range(2):
        assert authenticate(session, "alice", "Correct horse", verified=memo) is None
    assert calls == [own, own, own]
    # Another worker (another memo) knows nothing of this one's.
    assert authenticate(session, "alice", "correct horse", verified=oauth.VerifiedSecrets())
    assert len(calls) == 4


def test_a_new_password_makes_the_remembered_one_count_for_nothing(session, make_user) -> None:
    user = make_user("alice")
    memo = oauth.VerifiedSecrets()
    assert authenticate(session, "alice", "correct horse", verified=memo)
    oauth.set_password(session, user.id, "battery staple", now=NOW)
    session.commit()
    assert authenticate(session, "alice", "correct horse", verified=memo) is None
    assert authenticate(session, "alice", "battery staple", verified=memo)


@pytest.mark.parametrize("state", ["blocked", "two_factor"])
def test_a_blocked_or_two_factor_users_right_password_costs_the_full_hash(
    session, make_user, monkeypatch, state
) -> None:
    user = make_user("alice")
    memo = oauth.VerifiedSecrets()
    assert authenticate(session, "alice", "correct horse", verified=memo)
    session.execute(sa.update(SiteUser).where(SiteUser.id == user.id).values({state: True}))
    session.commit()
    calls = counting(monkeypatch)
    # Remembered before, but not answered from the memo: the full hash, as a wrong one.
    assert authenticate(session, "alice", "correct horse", verified=memo) is None
    assert calls == [stored_hash(session, user.id)]


def test_a_replaced_hash_is_remembered_under_the_new_one(session, make_user, monkeypatch) -> None:
    user = make_user("alice", password=None)
    legacy = "{SHA1}" + hashlib.sha1(b"old secret").hexdigest()
    oauth.update_user(session, user.id, {"password_hash": legacy}, now=NOW)
    session.commit()
    memo = oauth.VerifiedSecrets()
    assert authenticate(session, "alice", "old secret", verifiers=[sha1_verifier], verified=memo)
    calls = counting(monkeypatch)
    assert authenticate(session, "alice", "old secret", verifiers=[sha1_verifier], verified=memo)
    assert calls == []


def test_a_hash_of_another_format_is_checked_by_a_verifier_and_replaced(session, make_user) -> None:
    user = make_user("alice", password=None)
    legacy = "{SHA1}" + hashlib.sha1(b"old secret").hexdigest()
    oauth.update_user(session, user.id, {"password_hash": legacy}, now=NOW)
    session.commit()
    assert oauth.find_user(session, "alice").password_format == oauth.OTHER_FORMAT
    assert authenticate(session, "alice", "old secret") is None  # no verifier knows it
    assert stored_hash(session, user.id) == legacy
    assert authenticate(session, "alice", "wrong", verifiers=[sha1_verifier]) is None
    assert stored_hash(session, user.id) == legacy

    logged_in = authenticate(session, "alice", "old secret", verifiers=[sha1_verifier])
    assert logged_in is not None and logged_in.password_format == oauth.ARGON2ID
    new_hash = stored_hash(session, user.id)
    assert new_hash.startswith("$argon2id$")
    # The new hash is ours: no verifier needed any more, and the old format is gone.
    assert authenticate(session, "alice", "old secret") is not None
    assert stored_hash(session, user.id) == new_hash


def test_a_failed_check_of_another_format_costs_a_full_hash_too(
    session, make_user, monkeypatch
) -> None:
    user = make_user("alice", password=None)
    oauth.update_user(session, user.id, {"password_hash": "{SHA1}00"}, now=NOW)
    session.commit()
    calls = counting(monkeypatch)
    assert authenticate(session, "alice", "wrong", verifiers=[sha1_verifier]) is None
    assert len(calls) == 1  # the dummy: no format answers faster than an unknown username


def test_an_argon2id_hash_with_other_parameters_is_replaced(session, make_user) -> None:
    from argon2 import PasswordHasher

    user = make_user("alice", password=None)
    php_made = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("pw")
    oauth.update_user(session, user.id, {"password_hash": php_made}, now=NOW)
    session.commit()
    assert authenticate(session, "alice", "pw") is not None
    assert stored_hash(session, user.id) != php_made


def test_verifiers_are_asked_in_order_and_none_means_not_mine(session) -> None:
    asked: list[str] = []

    def not_mine(password_hash: str, password: str) -> bool | None:
        asked.append("first")
        return None

    def mine(password_hash: str, password: str) -> bool | None:
        asked.append("second")
        return password == "pw"

    assert oauth.check_password("{X}1", "pw", [not_mine, mine]) is True
    assert oauth.check_password("{X}1", "no", [not_mine, mine]) is False
    assert oauth.check_password("{X}1", "pw", [not_mine]) is False
    assert asked == ["first", "second", "first", "second", "first"]


def test_the_guard_refuses_before_any_check_and_counts_failures(
    session, make_user, monkeypatch
) -> None:
    make_user("alice")
    guard = FakeGuard(locked={"alice"})
    calls = counting(monkeypatch)
    with pytest.raises(oauth.UserLocked) as locked:
        authenticate(session, "alice", "correct horse", guard=guard)
    assert locked.value.retry_after == 60 and locked.value.reason == "locked"
    assert calls == []  # refused before any hash
    guard = FakeGuard()
    authenticate(session, "nobody", "x", guard=guard)
    authenticate(session, "ALICE", "x", guard=guard)
    authenticate(session, "alice", "correct horse", guard=guard)  # a success: not counted
    # Counted by the username as it matches (one count for every case); only an existing
    # account is named.
    assert guard.failures == [("nobody", None), ("alice", "alice")]
    assert guard.asked == ["nobody", "alice", "alice"]
