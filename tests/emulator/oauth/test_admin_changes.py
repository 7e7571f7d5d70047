"""Admin changes to a client as the request paths see them: rotation's grace, disabled and
deleted clients (credentials and tokens), within the caches' max age."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from emulator import oauth
from emulator.oauth.errors import InvalidClient
from emulator.oauth.errors import InvalidToken
from tests.support.engine import CLIENTS
from tests.support.engine import NOW
from tests.support.engine import POLICY
from tests.support.engine import issue


def authenticate(session, secret, *, now=NOW, store=CLIENTS, client_id="c1"):
    return oauth.authenticate_client(
        session,
        oauth.ClientCredentials(client_id, secret),
        clients=store,
        allow_public=False,
        now=now,
    )


def rotate(session, *, grace, secret="n3w-secret", now=NOW):
    client = oauth.find_client(session, "c1")
    until = oauth.rotate_secret(client, secret, grace=grace, now=now)
    session.commit()
    return until


@pytest.mark.parametrize(
    ("grace", "old_works_at"),
    [
        (timedelta(0), []),
        (timedelta(hours=1), [timedelta(0), timedelta(minutes=59, seconds=59)]),
    ],
    ids=["grace-0-stops-at-once", "grace-1h"],
)
def test_rotation_grace(session, new_client, grace, old_works_at) -> None:
    new_client()
    authenticate(session, "s3cret")  # remembered by the store: must not outlive the grace
    until = rotate(session, grace=grace)
    assert until == (NOW + grace if grace else None)
    for offset in (timedelta(0), timedelta(minutes=59, seconds=59), grace, grace + timedelta(1)):
        assert authenticate(session, "n3w-secret", now=NOW + offset).client_id == "c1"
        if offset in old_works_at:
            assert authenticate(session, "s3cret", now=NOW + offset).client_id == "c1"
        else:
            with pytest.raises(InvalidClient) as refused:
                authenticate(session, "s3cret", now=NOW + offset)
            assert refused.value.reason == "wrong_secret"


def test_without_a_clock_the_previous_secret_is_refused(session, new_client) -> None:
    new_client()
    rotate(session, grace=timedelta(hours=1))
    record = CLIENTS.read(session, "c1")
    assert not CLIENTS.verify_secret(record, "s3cret")
    assert CLIENTS.verify_secret(record, "s3cret", now=NOW)


def test_a_second_rotation_ends_the_first_ones_grace(session, new_client) -> None:
    new_client()
    rotate(session, grace=timedelta(hours=1), secret="second")
    rotate(session, grace=timedelta(hours=1), secret="third")
    assert authenticate(session, "second").client_id == "c1"
    assert authenticate(session, "third").client_id == "c1"
    with pytest.raises(InvalidClient):
        authenticate(session, "s3cret")


@pytest.mark.parametrize(
    ("grace", "secret", "message"),
    [
        (timedelta(seconds=-1), "x", "grace period must be 0 to 30 days"),
        (timedelta(days=31), "x", "grace period must be 0 to 30 days"),
        (timedelta(0), "", "empty secret"),
        (timedelta(0), "a\nb", "control character"),
    ],
    ids=["negative-grace", "grace-too-long", "empty-secret", "line-break"],
)
def test_a_refused_rotation_changes_nothing(session, new_client, grace, secret, message) -> None:
    new_client()
    before = session.scalar(sa.text("SELECT secret_hash FROM oauth_clients"))
    client = oauth.find_client(session, "c1")
    with pytest.raises(ValueError, match=message):
        oauth.rotate_secret(client, secret, grace=grace, now=NOW)
    session.rollback()
    assert session.scalar(sa.text("SELECT secret_hash FROM oauth_clients")) == before
    assert authenticate(session, "s3cret").client_id == "c1"


def test_a_public_client_has_no_secret_to_rotate(session, new_client) -> None:
    new_client(secret=None)
    with pytest.raises(ValueError, match="public"):
        oauth.rotate_secret(oauth.find_client(session, "c1"), "x", grace=timedelta(0), now=NOW)


def _disable(session, disabled=True):
    assert oauth.set_client_disabled(oauth.find_client(session, "c1"), disabled)
    session.commit()


def test_a_disabled_client_is_an_unknown_client_and_its_tokens_unknown_tokens(
    session, new_client
) -> None:
    new_client(scope="a")
    issued = issue(session)
    _disable(session)
    with pytest.raises(InvalidClient) as refused:
        authenticate(session, "s3cret")
    assert refused.value.reason == "unknown_client"
    with pytest.raises(InvalidToken):
        oauth.verify_access_token(session, issued.access_token, now=NOW)
    # Enabled again: the client and its unexpired tokens work again.
    _disable(session, False)
    assert authenticate(session, "s3cret").client_id == "c1"
    assert oauth.verify_access_token(session, issued.access_token, now=NOW).client_id == "c1"


class Clock:
    """A cache timer the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("change", ["disable", "delete"], ids=["disabled", "deleted"])
def test_cached_credentials_and_tokens_stop_within_the_caches_max_age(
    session, new_client, change
) -> None:
    """A worker that read the client and verified the token just before the change keeps
    its copies at most max_age (CACHE_MAX_AGE): then both are refused."""
    new_client(scope="a")
    clock = Clock()
    store = oauth.ClientStore(max_age=1.0, timer=clock)
    tokens = oauth.AccessTokenCache(1.0, 100, timer=clock)
    raw = issue(session).access_token
    authenticate(session, "s3cret", store=store)
    oauth.verify_access_token(session, raw, now=NOW, cache=tokens)
    if change == "disable":
        _disable(session)
    else:
        oauth.remove_client(session, oauth.find_client(session, "c1").id)
        session.commit()
    clock.now += 0.5  # within max_age: this worker's copies still answer
    assert authenticate(session, "s3cret", store=store).client_id == "c1"
    assert oauth.verify_access_token(session, raw, now=NOW, cache=tokens).client_id == "c1"
    clock.now += 0.6  # past it
    with pytest.raises(InvalidClient):
        authenticate(session, "s3cret", store=store)
    with pytest.raises(InvalidToken):
        oauth.verify_access_token(session, raw, now=NOW, cache=tokens)


def test_removing_a_client_removes_its_tokens_only(session, new_client) -> None:
    new_client("c1", scope="a")
    new_client("c2", secret="other", scope="a")
    issue(session)
    issue(session)
    kept = issue(session, "c2", "other")
    removed = oauth.remove_client(session, oauth.find_client(session, "c1").id)
    session.commit()
    assert removed == 4  # two access tokens and two refresh tokens
    assert oauth.find_client(session, "c1") is None
    assert oauth.verify_access_token(session, kept.access_token, now=NOW).client_id == "c2"


def test_revoking_a_clients_tokens_keeps_the_client_and_other_clients_tokens(
    session, new_client
) -> None:
    client = new_client("c1", scope="a")
    new_client("c2", secret="other", scope="a")
    mine = issue(session)
    kept = issue(session, "c2", "other")
    assert oauth.revoke_client_tokens(session, client.id) == 2
    session.commit()
    with pytest.raises(InvalidToken):
        oauth.verify_access_token(session, mine.access_token, now=NOW)
    assert oauth.verify_access_token(session, kept.access_token, now=NOW).client_id == "c2"
    assert authenticate(session, "s3cret").client_id == "c1"


def test_a_clients_tokens_are_listed_by_hash_prefix_never_the_token(session, new_client) -> None:
    client = new_client(scope="a")
    first = issue(session)
    second = issue(session, now=NOW + timedelta(minutes=1))
    rows = oauth.client_tokens(session, client.id)
    assert [(row.kind, row.issued_at) for row in rows] == [
        ("access", NOW + timedelta(minutes=1)),
        ("refresh", NOW + timedelta(minutes=1)),
        ("access", NOW),
        ("refresh", NOW),
    ]
    hashes = {row.hash_prefix for row in rows}
    assert hashes == {
        oauth.tokens.hash_token(raw)[:12]
        for raw in (
            first.access_token,
            first.refresh_token,
            second.access_token,
            second.refresh_token,
        )
    }
    for raw in (first.access_token, first.refresh_token):
        assert all(raw[:12] != row.hash_prefix for row in rows)
    assert len(oauth.client_tokens(session, client.id, limit=3)) == 3
    assert rows[0].scope == "a"
    assert rows[0].expires_at == NOW + timedelta(minutes=1, seconds=POLICY.access_lifetime)


def test_tokens_issued_in_the_same_instant_are_listed_by_hash(session, new_client) -> None:
    client = new_client(scope="a")
    issued = [issue(session) for _ in range(3)]
    rows = [row for row in oauth.client_tokens(session, client.id) if row.kind == "access"]
    expected = sorted((oauth.tokens.hash_token(t.access_token) for t in issued), reverse=True)
    assert [row.hash_prefix for row in rows] == [digest[:12] for digest in expected]


def newest_tokens_plan(session, table, client_pk: int) -> str:
    """How the database reads a client's newest tokens (``newest_tokens``), as text."""
    conn = session.connection()
    dialect = conn.dialect.name
    query = oauth.tokens.newest_tokens(table, client_pk, 100)
    sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    if dialect == "sqlite":
        return "\n".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
    if dialect == "postgresql":
        # Tiny tables are cheaper to scan and sort: ask whether the index serves the order.
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        conn.exec_driver_sql("SET LOCAL enable_sort = off")
        return "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}"))
    # MySQL, MariaDB: the same question (FORCE INDEX), answered by "Using filesort" or not.
    index = f"ix_{table.name}_client_id_issued_at"
    sql = sql.replace(f"FROM {table.name}", f"FROM {table.name} FORCE INDEX ({index})", 1)
    return "\n".join(f"{row.key} {row.Extra}" for row in conn.exec_driver_sql(f"EXPLAIN {sql}"))


@pytest.mark.parametrize("kind", ["access", "refresh"])
def test_a_clients_newest_tokens_are_read_in_index_order(session, new_client, kind) -> None:
    """The admin page's listing reads only the rows it shows, however many the client has."""
    client = new_client(scope="a")
    for minutes in range(5):
        issue(session, now=NOW + timedelta(minutes=minutes))
    session.commit()
    table = oauth.tokens.TOKEN_TABLES[kind]
    plan = newest_tokens_plan(session, table, client.id)
    session.rollback()
    assert f"ix_{table.name}_client_id_issued_at" in plan, plan
    assert "TEMP B-TREE" not in plan.upper(), plan  # SQLite sorting
    assert "Sort" not in plan, plan  # PostgreSQL
    assert "filesort" not in plan, plan  # MySQL, MariaDB


def test_clients_using_a_scope_match_whole_names(session, new_client) -> None:
    new_client("b-client", scope="read write")
    new_client("a-client", secret="x", scope="read")
    new_client("c-client", secret="y", scope="read2 write")
    new_client("d-client", secret="z")
    assert oauth.clients_using_scope(session, "read") == ["a-client", "b-client"]
    assert oauth.clients_using_scope(session, "write") == ["b-client", "c-client"]
    assert oauth.clients_using_scope(session, "read", limit=1) == ["a-client"]
    assert oauth.clients_using_scope(session, "rea") == []
    assert oauth.clients_using_scope(session, "%") == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"scope": "b"}, {"scope": ("a", "b")}),
        ({"scope": ""}, {"scope": ("a", None)}),
        ({"scope": None, "user_id": None}, {"scope": ("a", None), "user_id": ("7", None)}),
        ({"grant_types": ""}, {"grant_types": (None, "")}),
        ({"grant_types": "client_credentials"}, {"grant_types": (None, "client_credentials")}),
        ({"redirect_uri": "https://x.example/cb"}, {"redirect_uri": ("", "https://x.example/cb")}),
        ({"scope": "a"}, {}),
        ({}, {}),
    ],
    ids=[
        "scope",
        "scope-cleared",
        "scope-and-user-cleared",
        "no-grants",
        "one-grant",
        "redirect-uri",
        "unchanged",
        "nothing-given",
    ],
)
def test_update_client_changes_only_what_is_given(session, new_client, changes, expected) -> None:
    new_client(scope="a", user_id="7")
    client = oauth.find_client(session, "c1")
    assert oauth.update_client(client, **changes) == expected
    session.commit()
    record = CLIENTS.read(session, "c1")
    assert record.allowed_scope == ("a" if "scope" not in expected else expected["scope"][1])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"scope": "a  b"}, "Invalid scope"),
        ({"grant_types": "device_code"}, "Unknown grant type"),
        ({"user_id": "u" * 81}, "user_id must be at most 80"),
        ({"redirect_uri": "x\0"}, "control character"),
    ],
    ids=["double-space", "unknown-grant", "long-user-id", "nul"],
)
def test_a_refused_update_changes_nothing(session, new_client, changes, message) -> None:
    new_client(scope="a", user_id="7")
    client = oauth.find_client(session, "c1")
    with pytest.raises(ValueError, match=message):
        oauth.update_client(client, **{"scope": "b", **changes})
    session.rollback()
    row = session.execute(sa.text("SELECT scope, user_id, grant_types FROM oauth_clients")).one()
    assert tuple(row) == ("a", "7", None)
