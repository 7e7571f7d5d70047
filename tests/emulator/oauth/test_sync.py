"""Bulk admin writes for an import: sync_clients, sync_tokens, the scope helpers."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
import sqlalchemy as sa

from emulator import oauth
from emulator.storage.models import AccessToken
from emulator.storage.models import Client
from emulator.storage.models import RefreshToken
from emulator.storage.models import UsedRefreshToken
from tests.support.engine import CLIENTS
from tests.support.engine import NOW

h = oauth.hash_token

SPECS = [
    oauth.ClientSpec("all-grants", "pw-all"),  # grant_types None: every grant
    oauth.ClientSpec("no-grants", "pw-none", grant_types=""),  # '': none
    oauth.ClientSpec("listed", "pw-listed", grant_types="client_credentials", scope="a b"),
    oauth.ClientSpec("kiosk", None, scope="a", user_id="9", redirect_uri="https://k.example/cb"),
    oauth.ClientSpec("future", "pw-f", grant_types="authorization_code refresh_token"),
]


def sync(session, specs, **kwargs):
    result = oauth.sync_clients(session, specs, now=NOW, **kwargs)
    session.commit()
    return result


def actions(result) -> dict[str, tuple]:
    return {c.client_id: (c.action, c.fields) for c in result.changes}


def test_sync_creates_every_kind_of_client(session) -> None:
    specs = [oauth.check_client_spec(s, other_grant_types=True) for s in SPECS]
    result = sync(session, specs, threads=2)
    assert actions(result) == {s.client_id: (oauth.IMPORTED, ()) for s in SPECS}
    assert result.secrets_hashed == 4 and set(result.pks) == {s.client_id for s in SPECS}
    rows = {c.client_id: c for c in session.scalars(sa.select(Client))}
    assert rows["all-grants"].grant_types is None
    assert rows["no-grants"].grant_types == ""
    assert rows["kiosk"].is_public and rows["kiosk"].user_id == "9"
    assert rows["kiosk"].redirect_uri == "https://k.example/cb"
    assert rows["future"].grant_types == "authorization_code refresh_token"
    records = {s.client_id: CLIENTS.read(session, s.client_id) for s in SPECS}
    assert records["all-grants"].allows_grant("refresh_token")
    assert not records["no-grants"].allows_grant("client_credentials")
    assert records["future"].allows_grant("refresh_token")
    assert not records["future"].allows_grant("client_credentials")
    assert CLIENTS.verify_secret(records["listed"], "pw-listed")
    assert "pw-listed" not in rows["listed"].secret_hash


def test_a_second_sync_verifies_and_keeps_every_hash(session) -> None:
    sync(session, SPECS)
    hashes = dict(session.execute(sa.select(Client.client_id, Client.secret_hash)).all())
    result = sync(session, SPECS, threads=2)
    assert {c.action for c in result.changes} == {oauth.UNCHANGED}
    assert result.secrets_checked == 4 and result.secrets_hashed == 0
    assert dict(session.execute(sa.select(Client.client_id, Client.secret_hash)).all()) == hashes


def test_sync_updates_what_differs(session) -> None:
    sync(session, SPECS)
    changed = [
        oauth.ClientSpec("all-grants", "pw-NEW"),
        oauth.ClientSpec("no-grants", "pw-none"),  # grant_types '' -> None
        oauth.ClientSpec("listed", None, grant_types="client_credentials", scope="a b"),
        oauth.ClientSpec("kiosk", "now-secret", scope="b", user_id="10"),
        SPECS[4],
    ]
    result = sync(session, changed)
    assert actions(result) == {
        "all-grants": (oauth.UPDATED, ("secret",)),
        "no-grants": (oauth.UPDATED, ("grant_types",)),
        "listed": (oauth.UPDATED, ("secret",)),
        "kiosk": (oauth.UPDATED, ("secret", "scope", "redirect_uri", "user_id")),
        "future": (oauth.UNCHANGED, ()),
    }
    assert result.secrets_hashed == 2  # all-grants' new secret, kiosk's first one
    assert CLIENTS.verify_secret(CLIENTS.read(session, "all-grants"), "pw-NEW")
    assert not CLIENTS.verify_secret(CLIENTS.read(session, "all-grants"), "pw-all")
    assert CLIENTS.read(session, "listed").is_public
    assert CLIENTS.read(session, "no-grants").grant_types is None


def test_missing_clients_are_reported_and_removed_only_when_asked(session) -> None:
    result = sync(session, SPECS)
    pk = result.pks["listed"]
    for model in (AccessToken, RefreshToken):
        oauth.sync_tokens(
            session,
            "access" if model is AccessToken else "refresh",
            [oauth.TokenImport("t" * 40, pk, None, "a", NOW + timedelta(hours=1))],
            now=NOW,
        )
    session.commit()
    rest = [s for s in SPECS if s.client_id != "listed"]
    result = sync(session, rest, keep={"kiosk-broken-row"})
    assert actions(result)["listed"] == (oauth.MISSING, ())
    assert [c.tokens for c in result.changes if c.client_id == "listed"] == [2]
    assert session.scalar(sa.select(sa.func.count()).select_from(Client)) == 5

    result = sync(session, rest[1:], keep={"all-grants"}, remove_missing=True)
    assert actions(result)["listed"] == (oauth.REMOVED, ())
    assert "all-grants" not in actions(result)  # kept: not "missing"
    assert session.scalar(sa.select(sa.func.count()).select_from(Client)) == 4
    assert session.scalar(sa.select(sa.func.count()).select_from(AccessToken)) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(RefreshToken)) == 0


def test_a_dry_sync_writes_and_hashes_nothing(session) -> None:
    result = sync(session, SPECS, write=False)
    assert {c.action for c in result.changes} == {oauth.IMPORTED}
    assert result.pks == {} and result.secrets_hashed == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(Client)) == 0


def test_check_client_spec_refuses_what_cannot_be_stored() -> None:
    for spec, reason in (
        (oauth.ClientSpec("", "s"), "client_id must be"),
        (oauth.ClientSpec(" x", "s"), "client_id must be"),
        (oauth.ClientSpec("x", ""), "empty secret"),
        (oauth.ClientSpec("x", "s", scope="a  b"), "Invalid scope"),
        (oauth.ClientSpec("x", "s", grant_types="device_code"), "Unknown grant type"),
        (oauth.ClientSpec("x", "s", user_id="u" * 81), "user_id"),
        (oauth.ClientSpec("x", "s\n"), "control character"),
    ):
        with pytest.raises(ValueError, match=reason):
            oauth.check_client_spec(spec)
    with pytest.raises(ValueError, match="Malformed grant type"):
        oauth.check_client_spec(
            oauth.ClientSpec("x", "s", grant_types='a"b'), other_grant_types=True
        )


def test_sync_tokens_by_hash(session, new_client) -> None:
    client = new_client()
    later = NOW + timedelta(hours=1)
    batch = [
        oauth.TokenImport("a" * 40, client.id, "7", "x y", later),
        oauth.TokenImport("b" * 40, client.id, None, None, later),
    ]
    assert oauth.sync_tokens(session, "access", batch, now=NOW) == [oauth.IMPORTED] * 2
    session.commit()
    stored = session.scalars(sa.select(AccessToken.token_hash)).all()
    assert sorted(stored) == sorted(hashlib.sha256(t.raw.encode()).hexdigest() for t in batch)
    assert oauth.sync_tokens(session, "access", batch, now=NOW) == [oauth.UNCHANGED] * 2

    moved = [
        oauth.TokenImport("a" * 40, client.id, "7", "x", later),
        oauth.TokenImport("b" * 40, client.id, None, None, later + timedelta(days=1)),
        oauth.TokenImport("c" * 40, None, None, None, later),
    ]
    assert oauth.sync_tokens(session, "access", moved, write=False, now=NOW) == [
        oauth.UPDATED,
        oauth.UPDATED,
        oauth.IMPORTED,
    ]
    with pytest.raises(ValueError, match="primary key"):
        oauth.sync_tokens(session, "access", moved, now=NOW)
    assert oauth.sync_tokens(session, "access", moved[:2], now=NOW) == [oauth.UPDATED] * 2
    session.commit()
    info = oauth.verify_access_token(session, "b" * 40, now=NOW)
    assert info.expires_at == later + timedelta(days=1) and info.issued_at == NOW
    assert oauth.verify_access_token(session, "a" * 40, now=NOW).scope == "x"
    with pytest.raises(ValueError, match="Invalid scope"):
        oauth.sync_tokens(
            session,
            "refresh",
            [oauth.TokenImport("d" * 40, client.id, None, "a  b", later)],
            now=NOW,
        )


def test_sync_tokens_never_stores_again_what_is_gone(session, new_client) -> None:
    client = new_client()
    later = NOW + timedelta(hours=1)
    kept, gone, new = (oauth.TokenImport(c * 40, client.id, None, None, later) for c in "abc")
    oauth.sync_tokens(session, "refresh", [kept, gone], now=NOW)
    session.execute(sa.delete(RefreshToken).where(RefreshToken.token_hash == h(gone.raw)))
    session.commit()
    not_again = {h(kept.raw), h(gone.raw)}
    batch = [kept, gone, new]
    assert oauth.sync_tokens(
        session, "refresh", batch, write=False, now=NOW, not_again=not_again
    ) == [
        oauth.UNCHANGED,
        oauth.GONE,
        oauth.IMPORTED,
    ]
    assert oauth.sync_tokens(session, "refresh", batch, now=NOW, not_again=not_again) == [
        oauth.UNCHANGED,
        oauth.GONE,
        oauth.IMPORTED,
    ]
    session.commit()
    assert sorted(session.scalars(sa.select(RefreshToken.token_hash))) == sorted(
        [h(kept.raw), h(new.raw)]
    )


def test_used_refresh_hashes(session, new_client) -> None:
    client = new_client()
    later = NOW + timedelta(hours=1)
    session.add_all(
        [
            UsedRefreshToken(  # remembered as used, the start of its chain
                token_hash=h("a"), client_id=client.id, family_hash=h("a"), expires_at=later
            ),
            UsedRefreshToken(  # used further down a chain that began with "b"
                token_hash=h("b2"), client_id=client.id, family_hash=h("b"), expires_at=later
            ),
            RefreshToken(  # live, rotated from a chain that began with "c"
                token_hash=h("c2"),
                client_id=client.id,
                family_hash=h("c"),
                issued_at=NOW,
                expires_at=later,
            ),
            RefreshToken(token_hash=h("d"), client_id=client.id, issued_at=NOW, expires_at=later),
        ]
    )
    session.commit()
    asked = {h(name) for name in ("a", "b", "c", "d", "e")}
    assert oauth.used_refresh_hashes(session, asked) == {h("a"), h("b"), h("c")}
    assert oauth.used_refresh_hashes(session, set()) == set()


def test_scope_defaults_and_remove_scope(session) -> None:
    oauth.add_scope(session, "a", is_default=True)
    oauth.add_scope(session, "b")
    session.commit()
    assert oauth.scope_defaults(session) == {"a": True, "b": False}
    oauth.remove_scope(session, "a")
    session.commit()
    assert oauth.scope_defaults(session) == {"b": False}
