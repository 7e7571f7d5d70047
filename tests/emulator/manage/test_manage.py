"""manage/actions.py: the admin operations the CLI and the pages share, and their audit rows."""

from __future__ import annotations

import re
import time
from datetime import datetime
from datetime import timedelta

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from emulator import oauth
from emulator.manage import actions
from emulator.ops import audit
from emulator.ops.audit import Actor
from emulator.storage.database import db
from emulator.storage.models import AuditEvent
from emulator.storage.models import Client
from emulator.web.errors import ParamsError
from emulator.web.registry import get_registry
from plugins.oauth2.models import ImportedClient

NOW = datetime(2026, 1, 15, 12, 0, 0)
ADMIN = Actor("admin:alice", "203.0.113.5")


@pytest.fixture
def session(app):
    with app.app_context():
        yield db.session


def only_event(session) -> dict:
    [event] = audit.events(session)
    return audit.event_dict(event)


def make(session, client_id="shop", *, public=False, **kwargs) -> str | None:
    secret = None if public else kwargs.pop("secret", None) or actions.new_secret()
    spec = oauth.ClientSpec(client_id=client_id, secret=secret, **kwargs)
    actions.create_client(session, ADMIN, spec, now=NOW)
    session.commit()
    return secret


# --- each change records one event: who, where, what, before/after --------------------

CHANGES = [
    (
        "update",
        lambda s: actions.update_client(s, ADMIN, "shop", scope="b", user_id=None, now=NOW),
        "client.update",
        "shop",
        {"scope": "a", "user_id": "7"},
        {"scope": "b", "user_id": None},
    ),
    (
        "rotate",
        lambda s: actions.rotate_secret(s, ADMIN, "shop", grace=timedelta(hours=2), now=NOW),
        "client.rotate_secret",
        "shop",
        {"secret_grace_until": None},
        {"secret": "rotated", "grace_seconds": 7200, "secret_grace_until": "2026-01-15T14:00:00Z"},
    ),
    (
        "disable",
        lambda s: actions.set_client_disabled(s, ADMIN, "shop", True, now=NOW),
        "client.disable",
        "shop",
        {"disabled": False},
        {"disabled": True},
    ),
    (
        "delete",
        lambda s: actions.delete_client(s, ADMIN, "shop", now=NOW),
        "client.delete",
        "shop",
        {
            "public": False,
            "disabled": False,
            "scope": "a",
            "grant_types": None,
            "redirect_uri": "",
            "user_id": "7",
        },
        {"tokens_removed": 0},
    ),
    (
        "revoke-tokens",
        lambda s: actions.revoke_client_tokens(s, ADMIN, "shop", now=NOW),
        "client.revoke_tokens",
        "shop",
        None,
        {"tokens_removed": 0},
    ),
    (
        "scope-add",
        lambda s: actions.add_scope(s, ADMIN, "c", is_default=True, now=NOW),
        "scope.add",
        "c",
        None,
        {"is_default": True},
    ),
    (
        "scope-default",
        lambda s: actions.set_default_scopes(s, ADMIN, ["z"], now=NOW),
        "scope.default",
        "scopes",
        {"default": []},
        {"default": ["z"]},
    ),
    (
        "scope-remove",
        lambda s: actions.remove_scope(s, ADMIN, "z", now=NOW),
        "scope.remove",
        "z",
        {"is_default": False},
        None,
    ),
    (
        "plugin-enable",
        lambda s: actions.set_plugin_enabled(s, ADMIN, "apigee", True, now=NOW),
        "plugin.enable",
        "apigee",
        {"enabled": False},
        {"enabled": True},
    ),
    (
        "plugin-disable",
        lambda s: actions.set_plugin_enabled(s, ADMIN, "oauth2", False, now=NOW),
        "plugin.disable",
        "oauth2",
        {"enabled": True},
        {"enabled": False},
    ),
    (
        "plugin-params",
        lambda s: actions.set_plugin_params(
            s, ADMIN, "oauth2", {"access_lifetime": "120", "www_realm": "Service"}, now=NOW
        ),
        "plugin.params",
        "oauth2",
        {"access_lifetime": 3600},
        {"access_lifetime": 120},
    ),
    (
        "admin-create",
        lambda s: actions.create_admin_user(s, ADMIN, "bob", "correct horse battery", now=NOW),
        "admin.create",
        "bob",
        None,
        {"password": "set"},
    ),
]


@pytest.mark.parametrize(
    ("change", "action", "target", "before", "after"),
    [c[1:] for c in CHANGES],
    ids=[c[0] for c in CHANGES],
)
def test_each_change_records_one_event(session, change, action, target, before, after) -> None:
    make(session, scope="a", user_id="7")
    actions.add_scope(session, ADMIN, "z", now=NOW)
    actions.set_plugin_params(session, ADMIN, "oauth2", {"www_realm": "Service"}, now=NOW)
    session.execute(sa.delete(AuditEvent))
    session.commit()
    change(session)
    session.commit()
    event = only_event(session)
    assert event["actor"] == "admin:alice" and event["address"] == "203.0.113.5"
    assert event["occurred_at"] == "2026-01-15T12:00:00Z"
    assert (event["action"], event["target"]) == (action, target)
    assert (event["before"], event["after"]) == (before, after)


def test_a_change_that_changes_nothing_records_nothing(session) -> None:
    make(session, scope="a")
    session.execute(sa.delete(AuditEvent))
    actions.update_client(session, ADMIN, "shop", scope="a", now=NOW)
    actions.set_client_disabled(session, ADMIN, "shop", False, now=NOW)
    actions.set_plugin_enabled(session, ADMIN, "oauth2", True, now=NOW)
    actions.reset_plugin(session, ADMIN, "oauth2", now=NOW)
    session.commit()
    assert audit.events(session) == []


def test_create_records_the_fields_and_never_the_secret(session) -> None:
    secret = make(session, scope="a b", grant_types="client_credentials", user_id="7")
    assert len(secret) == 40
    event = only_event(session)
    assert event["action"] == "client.create"
    assert event["after"] == {
        "public": False,
        "secret": "set",
        "scope": "a b",
        "grant_types": "client_credentials",
        "redirect_uri": "",
        "user_id": "7",
    }
    assert make(session, "app", public=True) is None


def test_reset_plugin_records_what_was_set_and_puts_defaults_back(session) -> None:
    actions.set_plugin_params(session, ADMIN, "oauth2", {"access_lifetime": "120"}, now=NOW)
    session.execute(sa.delete(AuditEvent))
    actions.reset_plugin(session, ADMIN, "oauth2", now=NOW)
    session.commit()
    event = only_event(session)
    assert (event["action"], event["before"], event["after"]) == (
        "plugin.reset",
        {"access_lifetime": 120},
        {},
    )
    status = get_registry().status(session, "oauth2")
    assert status.stored == {} and status.params["access_lifetime"] == 3600
    assert status.enabled


# --- refused: one line, nothing written, no event --------------------------------------

REFUSALS = [
    ("unknown-client", lambda s: actions.show_client(s, "nobody"), actions.NotFound, "No client"),
    (
        "update-unknown",
        lambda s: actions.update_client(s, ADMIN, "nobody", scope="a", now=NOW),
        actions.NotFound,
        "No client 'nobody'",
    ),
    (
        "update-bad-scope",
        lambda s: actions.update_client(s, ADMIN, "shop", scope='a"b', user_id="9", now=NOW),
        ValueError,
        "Invalid scope",
    ),
    (
        "rotate-too-long",
        lambda s: actions.rotate_secret(s, ADMIN, "shop", grace=timedelta(days=31), now=NOW),
        ValueError,
        "grace period",
    ),
    (
        "rotate-stale-stamp",  # a rotation form sent again names the secret it replaced
        lambda s: actions.rotate_secret(s, ADMIN, "shop", if_stamp="0" * 16, now=NOW),
        actions.SecretChanged,
        "has changed since this form was shown",
    ),
    (
        "create-duplicate",
        lambda s: actions.create_client(s, ADMIN, oauth.ClientSpec("shop", "s3cret"), now=NOW),
        ValueError,
        "already exists",
    ),
    (
        "remove-unknown-scope",
        lambda s: actions.remove_scope(s, ADMIN, "nope", now=NOW),
        actions.NotFound,
        "No scope 'nope'",
    ),
    (
        "remove-used-scope",
        lambda s: actions.remove_scope(s, ADMIN, "a", now=NOW),
        actions.ScopeInUse,
        r"Scope 'a' is in the scope of client\(s\) shop;",
    ),
    (
        "default-unknown",
        lambda s: actions.set_default_scopes(s, ADMIN, ["a", "nope"], now=NOW),
        ValueError,
        "Unknown scope",
    ),
    (
        "plugin-unknown",
        lambda s: actions.set_plugin_enabled(s, ADMIN, "nope", True, now=NOW),
        actions.NotFound,
        "No plugin 'nope'",
    ),
    (
        "plugin-bad-param",
        lambda s: actions.set_plugin_params(
            s, ADMIN, "oauth2", {"www_realm": "x", "access_lifetime": "0"}, now=NOW
        ),
        ParamsError,
        "access_lifetime",
    ),
    (
        "short-password",
        lambda s: actions.create_admin_user(s, ADMIN, "bob", "short", now=NOW),
        ValueError,
        "at least 12",
    ),
    (
        "bad-username",
        lambda s: actions.create_admin_user(s, ADMIN, " bob", "long enough password", now=NOW),
        ValueError,
        "A username is",
    ),
    (
        "password-unknown-user",
        lambda s: actions.set_admin_password(s, ADMIN, "nobody", "long enough password", now=NOW),
        actions.NotFound,
        "No admin user",
    ),
    ("list-limit", lambda s: actions.list_clients(s, limit=0), ValueError, "limit"),
    ("tokens-unknown", lambda s: actions.list_tokens(s, "nobody"), actions.NotFound, "No client"),
]


@pytest.mark.parametrize(
    ("call", "error", "message"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_a_refused_change_writes_nothing(session, call, error, message) -> None:
    make(session, scope="a")
    actions.add_scope(session, ADMIN, "a", now=NOW)
    session.commit()
    before = _snapshot(session)
    with pytest.raises(error, match=message) as refused:
        call(session)
    assert "\n" not in str(refused.value)
    # Refused before anything was written: nothing is pending in the session either.
    session.flush()
    assert _snapshot(session) == before
    session.rollback()
    assert _snapshot(session) == before


def test_a_rotation_with_the_stamp_it_saw_happens_once(session) -> None:
    make(session)
    stamp = actions.secret_stamp(session, "shop")
    first = actions.rotate_secret(session, ADMIN, "shop", if_stamp=stamp, now=NOW)
    session.commit()
    assert actions.secret_stamp(session, "shop") != stamp
    with pytest.raises(actions.SecretChanged):
        actions.rotate_secret(session, ADMIN, "shop", if_stamp=stamp, now=NOW)
    session.rollback()
    client = session.scalar(sa.select(Client).where(Client.client_id == "shop"))
    assert oauth.check_secret(client.secret_hash, first)


def test_a_rotation_another_worker_made_meanwhile_is_not_undone(session) -> None:
    """The stamp is checked against the row as it is at the update, not as this session
    read it: another worker's rotation in between makes this one refused."""
    make(session)
    # This session has read the client (and holds it: the identity map's reference is weak)
    # when another worker's rotation commits.
    held = session.scalar(sa.select(Client).where(Client.client_id == "shop"))
    stamp = actions.secret_stamp(session, "shop")
    with db.engine.begin() as conn:
        conn.execute(
            sa.update(Client.__table__)
            .where(Client.client_id == "shop")
            .values(secret_hash=oauth.hash_secret("rotated elsewhere"))
        )
    with pytest.raises(actions.SecretChanged):
        actions.rotate_secret(session, ADMIN, "shop", if_stamp=stamp, now=NOW)
    session.rollback()
    assert oauth.check_secret(held.secret_hash, "rotated elsewhere")


def _snapshot(session) -> list:
    return [
        session.execute(sa.text(f"SELECT * FROM {table} ORDER BY 1")).all()
        for table in (
            "oauth_clients",
            "oauth_scopes",
            "plugin_state",
            "admin_users",
            "audit_events",
        )
    ]


def test_scope_in_use_names_the_clients(session) -> None:
    for n in range(12):
        make(session, f"client-{n:02}", scope="read write" if n % 2 else "read")
    actions.add_scope(session, ADMIN, "write", now=NOW)
    actions.add_scope(session, ADMIN, "read", now=NOW)
    with pytest.raises(actions.ScopeInUse) as refused:
        actions.remove_scope(session, ADMIN, "write", now=NOW)
    assert refused.value.clients == [f"client-{n:02}" for n in range(1, 12, 2)]
    with pytest.raises(actions.ScopeInUse, match="client-00, client-01, .* and more"):
        actions.remove_scope(session, ADMIN, "read", now=NOW)


# --- listing clients -------------------------------------------------------------------


def test_list_clients_pages_searches_and_counts(session) -> None:
    for n in range(30):
        make(session, f"c{n:02}", user_id="u-shop" if n % 10 == 3 else None)
    page = actions.list_clients(session, limit=10, offset=10)
    assert (page.total, page.offset, page.limit) == (30, 10, 10)
    assert [row.client_id for row in page.rows] == [f"c{n}" for n in range(10, 20)]
    found = actions.list_clients(session, search="shop")
    assert [row.client_id for row in found.rows] == ["c03", "c13", "c23"] and found.total == 3
    assert actions.list_clients(session, search="c2").total == 10
    assert actions.list_clients(session, search="%").total == 0  # LIKE's wildcards are literal
    assert actions.list_clients(session, search="_").total == 0


def test_list_clients_sorts_and_filters_by_state_type_and_the_plugins_marks(session) -> None:
    for n in range(6):
        make(session, f"c{n}", public=n % 2 == 1)
        session.execute(
            sa.update(Client)
            .where(Client.client_id == f"c{n}")
            .values(created_at=NOW - timedelta(minutes=n), disabled=n % 3 == 0)
        )
    marked = session.scalars(sa.select(Client.id).where(Client.client_id.in_(["c1", "c4"])))
    session.add_all(ImportedClient(client_id=pk, imported_at=NOW) for pk in marked)
    session.commit()

    def ids(**kwargs) -> list[str]:
        return [row.client_id for row in actions.list_clients(session, **kwargs).rows]

    assert ids(sort="created") == ["c5", "c4", "c3", "c2", "c1", "c0"]
    assert ids(sort="created", descending=True) == ["c0", "c1", "c2", "c3", "c4", "c5"]
    assert ids(sort="state") == ["c1", "c2", "c4", "c5", "c0", "c3"]
    assert ids(sort="type", descending=True) == ["c1", "c3", "c5", "c0", "c2", "c4"]
    assert ids(disabled=True) == ["c0", "c3"]
    assert ids(public=False, disabled=False) == ["c2", "c4"]
    assert ids(marks={"oauth2.imported": True}) == ["c1", "c4"]
    assert ids(marks={"oauth2.imported": False}, public=True) == ["c3", "c5"]
    page = actions.list_clients(session, marks={"oauth2.imported": True}, limit=1)
    assert page.total == 2 and [row.marks for row in page.rows] == [("imported",)]
    assert actions.show_client(session, "c2").marks == ()
    assert actions.client_marks()["oauth2.imported"].label == "imported"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sort": "secret_hash"}, "Sort by one of: client_id, created, state, type."),
        ({"marks": {"oauth2.nothing": True}}, "No client mark 'oauth2.nothing'"),
    ],
    ids=["sort", "mark"],
)
def test_list_clients_refuses_an_unknown_sort_or_mark(session, kwargs, message) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        actions.list_clients(session, **kwargs)


def test_a_plugin_is_not_enabled_without_the_params_it_requires(session) -> None:
    registry = get_registry()
    with pytest.raises(actions.MissingSettings) as refused:
        actions.set_plugin_enabled(session, ADMIN, "passthrough", True, now=NOW)
    assert (refused.value.plugin, refused.value.missing) == ("passthrough", ["legacy_url"])
    assert str(refused.value) == (
        "The passthrough plugin cannot be enabled while legacy_url is not set: set it first."
    )
    session.rollback()
    assert not registry.status(session, "passthrough").enabled
    assert audit.events(session) == []
    actions.set_plugin_params(
        session, ADMIN, "passthrough", {"legacy_url": "https://legacy.test"}, now=NOW
    )
    actions.set_plugin_enabled(session, ADMIN, "passthrough", True, now=NOW)
    session.commit()
    # Enabled, the required param stays set: emptying it or resetting it is refused.
    with pytest.raises(ParamsError) as emptied:
        actions.set_plugin_params(session, ADMIN, "passthrough", {"legacy_url": ""}, now=NOW)
    assert emptied.value.messages == {
        "legacy_url": ["Required while the plugin is enabled: disable it first to clear it."]
    }
    with pytest.raises(ValueError, match="disable the plugin first to reset its options"):
        actions.reset_plugin(session, ADMIN, "passthrough", now=NOW)
    session.rollback()
    assert registry.status(session, "passthrough").params["legacy_url"] == "https://legacy.test"
    actions.set_plugin_params(session, ADMIN, "passthrough", {"shadow": "true"}, now=NOW)
    actions.set_plugin_enabled(session, ADMIN, "passthrough", False, now=NOW)
    actions.reset_plugin(session, ADMIN, "passthrough", now=NOW)  # disabled: it may
    assert [e.action for e in audit.events(session)][:3] == [
        "plugin.reset",
        "plugin.disable",
        "plugin.params",
    ]


def test_show_client_counts_live_tokens_and_says_until_when_the_old_secret_works(
    session, app
) -> None:
    secret = make(session, scope="a")
    policy = oauth.TokenPolicy(access_lifetime=3600, client_credentials_refresh_token=True)
    req = oauth.TokenRequest(
        grant_type="client_credentials", credentials=oauth.ClientCredentials("shop", secret)
    )
    store = oauth.ClientStore(max_age=0)
    for when in (NOW, NOW - timedelta(hours=2)):  # one live, one expired access token
        oauth.issue_token(session, req, policy, clients=store, now=when)
    actions.rotate_secret(session, ADMIN, "shop", grace=timedelta(minutes=30), now=NOW)
    session.commit()
    row = actions.show_client(session, "shop", now=NOW)
    assert (row.access_tokens, row.refresh_tokens) == (1, 2)
    assert row.secret_grace_until == NOW + timedelta(minutes=30)
    later = actions.show_client(session, "shop", now=NOW + timedelta(hours=2))
    assert later.secret_grace_until is None and later.access_tokens == 0
    assert "secret" not in str(row.as_dict()).replace("secret_grace_until", "")


def test_listing_stays_fast_with_twenty_thousand_clients(session) -> None:
    session.execute(
        sa.insert(oauth.registration.Client.__table__),
        [
            {
                "client_id": f"client-{n:05}",
                "secret_hash": "x",
                "redirect_uri": "",
                "user_id": f"user-{n % 500}",
                "created_at": NOW,
            }
            for n in range(20_000)
        ],
    )
    session.commit()
    started = time.perf_counter()
    first = actions.list_clients(session, limit=50)
    last = actions.list_clients(session, offset=19_950, limit=50)
    searched = actions.list_clients(session, search="user-42", limit=50)
    elapsed = time.perf_counter() - started
    assert first.total == 20_000 and last.rows[-1].client_id == "client-19999"
    assert searched.total == 40 * 11  # user-42, user-420..429 (each 40 clients)
    assert elapsed < 2.0, elapsed  # three pages; about 0.1 s on SQLite here


# --- admin users -----------------------------------------------------------------------


def test_admin_passwords_are_argon2id_and_checked(session, monkeypatch) -> None:
    actions.create_admin_user(session, ADMIN, "bob", "correct horse battery", now=NOW)
    session.commit()
    [user] = actions.list_admin_users(session)
    assert user.password_hash.startswith("$argon2id$")
    assert "correct horse" not in user.password_hash
    assert (user.created_at, user.password_changed_at, user.last_login_at) == (NOW, NOW, None)
    assert actions.check_admin_password(session, "bob", "correct horse battery", now=NOW) is user
    assert user.last_login_at == NOW
    assert actions.check_admin_password(session, "bob", "wrong horse battery") is None
    assert actions.check_admin_password(session, "BOB", "correct horse battery") is None
    with pytest.raises(ValueError, match="already exists"):
        actions.create_admin_user(session, ADMIN, "bob", "another long password", now=NOW)


@pytest.mark.parametrize(
    ("username", "password"),
    [("nobody", "correct horse battery"), ("bob", "wrong"), ("bob", ""), ("bo\0b", "x")],
    ids=["unknown-user", "wrong-password", "empty-password", "nul-username"],
)
def test_every_failed_login_costs_one_hash(session, monkeypatch, username, password) -> None:
    actions.create_admin_user(session, ADMIN, "bob", "correct horse battery", now=NOW)
    session.commit()
    checked = []
    real = oauth.check_secret
    monkeypatch.setattr(oauth, "check_secret", lambda h, p: checked.append(h) or real(h, p))
    assert actions.check_admin_password(session, username, password) is None
    assert len(checked) == 1


def test_a_password_hashed_with_other_parameters_is_rehashed_on_login(session, monkeypatch) -> None:
    actions.create_admin_user(session, ADMIN, "bob", "correct horse battery", now=NOW)
    session.commit()
    old = actions.list_admin_users(session)[0].password_hash
    monkeypatch.setattr(
        "emulator.oauth.clients.SECRET_HASHER",
        PasswordHasher(time_cost=1, memory_cost=16, parallelism=1),
    )
    user = actions.check_admin_password(session, "bob", "correct horse battery")
    assert user is not None and user.password_hash != old and "m=16," in user.password_hash


def test_set_password_and_delete(session) -> None:
    actions.create_admin_user(session, ADMIN, "bob", "correct horse battery", now=NOW)
    later = NOW + timedelta(days=1)
    actions.set_admin_password(session, ADMIN, "bob", "a new long password", now=later)
    session.commit()
    assert actions.check_admin_password(session, "bob", "correct horse battery") is None
    user = actions.check_admin_password(session, "bob", "a new long password")
    assert user.password_changed_at == later
    actions.delete_admin_user(session, ADMIN, "bob", now=later)
    session.commit()
    assert actions.list_admin_users(session) == []
    done = [event.action for event in audit.events(session)]
    assert done == ["admin.delete", "admin.password", "admin.create"]


# --- the audit log itself --------------------------------------------------------------


def test_events_filter_by_actor_target_and_time_and_are_counted(session) -> None:
    cli = Actor("cli:root", None)
    for minute, (actor, target) in enumerate(
        [(ADMIN, "shop"), (cli, "shop"), (ADMIN, "shop-2"), (cli, "read"), (ADMIN, "shop")]
    ):
        audit.record(
            session,
            actor=actor,
            action="client.update",
            target=target,
            now=NOW + timedelta(minutes=minute),
        )
    session.commit()

    def targets(**filters) -> list[str]:
        found = [e.target for e in audit.events(session, **filters)]
        assert audit.count_events(session, **filters) == len(found)
        return found

    assert targets(actor="alice") == ["shop", "shop-2", "shop"]
    assert targets(actor="%") == []  # LIKE's wildcards are literal
    assert targets(target="shop") == ["shop", "shop", "shop"]
    assert targets(target="sho") == []
    window = {"since": NOW + timedelta(minutes=1), "until": NOW + timedelta(minutes=3)}
    assert targets(**window) == ["shop-2", "shop"]
    assert targets(actor="cli:", target="shop", **window) == ["shop"]
    assert audit.count_events(session) == 5


def test_events_newest_first_by_time_prefix_and_page(session) -> None:
    for minute, action in enumerate(["client.create", "scope.add", "client.update", "admin.x"]):
        audit.record(
            session,
            actor=ADMIN,
            action=action,
            target="t",
            now=NOW + timedelta(minutes=minute),
        )
    session.commit()
    assert [e.action for e in audit.events(session)] == [
        "admin.x",
        "client.update",
        "scope.add",
        "client.create",
    ]
    assert [e.action for e in audit.events(session, action_prefix="client.")] == [
        "client.update",
        "client.create",
    ]
    assert [e.action for e in audit.events(session, since=NOW + timedelta(minutes=2))] == [
        "admin.x",
        "client.update",
    ]
    assert [e.action for e in audit.events(session, limit=1, offset=1)] == ["client.update"]
    assert audit.events(session, action_prefix="client%") == []


@pytest.mark.parametrize(
    ("values", "stored"),
    [
        ({"secret": "rotated"}, {"secret": "rotated"}),
        (
            {"legacy_url": "https://user:hunter2@legacy.example/x"},
            {"legacy_url": "https://user:***@legacy.example/x"},
        ),
        (  # a raw "@" in the password: all of it is masked, up to the host
            {"target_url": "http://u:p@ss@127.0.0.1:9/x?a=b@c"},
            {"target_url": "http://u:***@127.0.0.1:9/x?a=b@c"},
        ),
        (
            {"urls": "postgresql://a:b@h/db mysql://c:d:e@f"},
            {"urls": "postgresql://a:***@h/db mysql://c:***@f"},
        ),
    ],
    ids=["marker", "url-password-masked", "password-with-at", "two-urls"],
)
def test_record_keeps_credentials_out(session, values, stored) -> None:
    audit.record(session, actor=ADMIN, action="plugin.params", target="t", after=values, now=NOW)
    assert only_event(session)["after"] == stored


@pytest.mark.parametrize(
    "values",
    [{"secret": "s3cret"}, {"password": "hunter2hunter2"}, {"nested": {"token": "abc"}}],
    ids=["secret", "password", "nested-token"],
)
def test_record_refuses_a_credential(session, values) -> None:
    with pytest.raises(audit.AuditLeak):
        audit.record(session, actor=ADMIN, action="x", target="t", after=values, now=NOW)
