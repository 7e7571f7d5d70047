"""`flask legacy import` run again after the switch-over: what ended here stays ended.

The old site still holds the tokens it issued; a token used up, revoked or deleted here
is live there. Each test imports the site (tests/support/legacy_site.py, on every legacy
backend), ends tokens here the way a client or an admin does, imports again, and checks
that the ended tokens are refused exactly as before and named in the summary, while a
token that appeared on the old site since still comes over.
"""

from __future__ import annotations

from datetime import UTC
from datetime import timedelta

import pytest
import sqlalchemy as sa

from emulator import oauth
from emulator.ops.clock import utcnow
from emulator.storage.database import db
from plugins.oauth2.legacy import cli as legacy_cli
from plugins.oauth2.models import ImportedToken
from tests.support.legacy_site import AT_CC
from tests.support.legacy_site import AT_LIVE
from tests.support.legacy_site import CONF
from tests.support.legacy_site import OPTIONS
from tests.support.legacy_site import OUR_TABLES
from tests.support.legacy_site import RT_LIVE
from tests.support.legacy_site import RT_PUBLIC
from tests.support.legacy_site import SECRETS
from tests.support.legacy_site import ZONE
from tests.support.legacy_site import local_now
from tests.support.legacy_site import ok
from tests.support.legacy_site import table
from tests.support.oauth2 import INVALID_RT
from tests.support.oauth2 import INVALID_TOKEN
from tests.support.oauth2 import RESOURCE_URL
from tests.support.oauth2 import assert_resource_error
from tests.support.oauth2 import assert_resource_ok
from tests.support.oauth2 import assert_token_error
from tests.support.oauth2 import assert_token_ok
from tests.support.oauth2 import bearer
from tests.support.oauth2 import send

GONE = "used, revoked or removed here; never imported again"
REVOKE_URL = "/index.php?option=revoke&api=oauth2"
RT_NEW = "e1" * 20  # issued on the old site after the first import
AT_NEW = "e2" * 20
# redCORE's defaults: a refresh token is used up, and no new one comes with the access token.
DEFAULTS = {k: v for k, v in OPTIONS.items() if k != "oauth2_unset_refresh_token_after_use"}
NEW_REFRESH = {**DEFAULTS, "oauth2_always_issue_new_refresh_token": "1"}


def refresh(client, token: str, creds: dict[str, str] = CONF):
    return send(client, {"grant_type": "refresh_token", "refresh_token": token, **creds})


def answer(rv) -> tuple[int, list[tuple[str, str]], bytes]:
    """Everything a client sees of a response."""
    return rv.status_code, sorted(rv.headers.items()), rv.data


def records(app) -> list[tuple]:
    """The importer's records: (kind, hash, expiry)."""
    t = ImportedToken
    with app.app_context():
        return sorted(map(tuple, db.session.execute(sa.select(t.kind, t.token_hash, t.expires_at))))


def dump_all(app) -> dict[str, list[tuple]]:
    """Our tables and the importer's records, to compare around a dry run."""
    with app.app_context():
        return {
            name: sorted(map(tuple, db.session.execute(sa.text(f"SELECT * FROM {name}"))), key=repr)
            for name in (*OUR_TABLES, "oauth2_imported_tokens", "oauth_used_refresh_tokens")
        }


@pytest.mark.parametrize("options", [DEFAULTS, NEW_REFRESH], ids=["redcore-defaults", "new-rt"])
def test_a_refresh_token_used_here_is_never_imported_again(
    legacy, legacy_import, client, app, options
) -> None:
    legacy.set_options(options)
    ok(legacy_import(legacy))
    issued = assert_token_ok(
        refresh(client, RT_LIVE),
        scope="site.read",
        refresh=options is NEW_REFRESH,
        expires_in=7200,
    )
    used = refresh(client, RT_LIVE)
    assert_token_error(used, INVALID_RT)
    refused = answer(used)
    legacy.add_token(
        "refresh", RT_NEW, "conf-client", local_now() + timedelta(days=3), scope="site.read"
    )

    before = dump_all(app)
    out = ok(legacy_import(legacy, "--dry-run"))
    assert table(out)["refresh tokens"] == (1, 0, 1, 2, 0)
    assert f"refresh tokens        1  {GONE} (conf-client)" in out
    assert dump_all(app) == before

    out = ok(legacy_import(legacy))
    assert table(out)["refresh tokens"] == (1, 0, 1, 2, 0)  # RT_NEW; RT_PUBLIC; expired, RT_LIVE
    assert f"refresh tokens        1  {GONE} (conf-client)" in out
    assert answer(refresh(client, RT_LIVE)) == refused
    assert_token_ok(
        refresh(client, RT_NEW), scope="site.read", refresh=options is NEW_REFRESH, expires_in=7200
    )
    if options is NEW_REFRESH:  # the token rotated to here goes on working
        assert_token_ok(
            refresh(client, issued["refresh_token"]),
            scope="site.read",
            refresh=True,
            expires_in=7200,
        )

    # Unchanged re-imports add no record and bring nothing back.
    kept = records(app)
    out = ok(legacy_import(legacy))
    assert table(out)["refresh tokens"] == (0, 0, 1, 3, 0)  # RT_NEW is used up here now
    assert f"refresh tokens        2  {GONE} (conf-client, ...)" in out
    assert records(app) == kept
    assert answer(refresh(client, RT_LIVE)) == refused
    assert answer(refresh(client, RT_NEW)) == refused


def test_tokens_revoked_here_are_never_imported_again(
    legacy, legacy_import, client, app, cli
) -> None:
    ok(legacy_import(legacy))
    for token in (AT_LIVE, RT_LIVE):
        rv = client.post(REVOKE_URL, data={"token": token, **CONF})
        assert rv.data == b'{"revoked":true}'
    assert "Revoked 1 token(s) of client cc-only." in cli("tokens", "revoke", "--client", "cc-only")
    unknown = answer(client.get(RESOURCE_URL, headers=bearer(AT_LIVE)))
    assert_resource_error(client.get(RESOURCE_URL, headers=bearer(AT_CC)), INVALID_TOKEN)
    refused = answer(refresh(client, RT_LIVE))
    legacy.add_token("access", AT_NEW, "cc-only", local_now() + timedelta(hours=1))

    out = ok(legacy_import(legacy))
    assert table(out)["access tokens"] == (1, 0, 2, 9, 0)  # AT_NEW; AT_GAP, AT_OVERLAP
    assert table(out)["refresh tokens"] == (0, 0, 1, 2, 0)
    assert f"access tokens         2  {GONE} (conf-client, cc-only)" in out
    assert f"refresh tokens        1  {GONE} (conf-client)" in out
    assert answer(client.get(RESOURCE_URL, headers=bearer(AT_LIVE))) == unknown
    assert answer(client.get(RESOURCE_URL, headers=bearer(AT_CC))) == unknown
    assert answer(refresh(client, RT_LIVE)) == refused
    assert_resource_ok(client.get(RESOURCE_URL, headers=bearer(AT_NEW)))
    assert_token_ok(  # RT_PUBLIC, never ended here, goes on working
        refresh(client, RT_PUBLIC, {"client_id": "public-app"}),
        scope="site.read",
        refresh=False,
        expires_in=7200,
    )


def test_a_client_deleted_here_comes_back_without_its_old_tokens(
    legacy, legacy_import, client, cli, count_rows
) -> None:
    """The old site still has the client, so an import brings it back (as it always has);
    deleting it here ended its tokens, and those stay ended. Tokens the old site issued to
    it since come over."""
    ok(legacy_import(legacy))
    cli("clients", "delete", "conf-client", "--yes")
    legacy.add_token("access", AT_NEW, "conf-client", local_now() + timedelta(hours=1))

    out = ok(legacy_import(legacy))
    assert table(out)["clients"] == (1, 0, 4, 3, 0)
    assert table(out)["access tokens"] == (1, 0, 1, 10, 0)  # AT_NEW; AT_CC
    assert table(out)["refresh tokens"] == (0, 0, 1, 2, 0)
    assert f"access tokens         3  {GONE} (conf-client, ...)" in out
    assert f"refresh tokens        1  {GONE} (conf-client)" in out
    assert_resource_error(client.get(RESOURCE_URL, headers=bearer(AT_LIVE)), INVALID_TOKEN)
    assert_token_error(refresh(client, RT_LIVE), INVALID_RT)
    assert_resource_ok(client.get(RESOURCE_URL, headers=bearer(AT_NEW)))
    rv = send(client, {"grant_type": "client_credentials", **CONF})
    assert_token_ok(rv, scope="site.read site.create", refresh=True, expires_in=7200)
    assert count_rows("oauth_access_tokens") == 3  # AT_CC, AT_NEW and the one just issued


def test_records_end_with_their_tokens_expiry(
    legacy, legacy_import, app, count_rows, monkeypatch
) -> None:
    ok(legacy_import(legacy))
    kept = records(app)
    assert len(kept) == 6  # 4 access tokens, 2 refresh tokens
    assert {(kind, expires) for kind, _hash, expires in kept} >= {
        ("access", legacy.expiry["live"]),
        ("refresh", legacy.expiry["refresh"]),
    }
    ok(legacy_import(legacy))
    assert records(app) == kept

    # Three hours on: AT_LIVE and AT_CC (two hours to live) are expired, here and there.
    later = utcnow() + timedelta(hours=3)
    monkeypatch.setattr(legacy_cli, "utcnow", lambda: later)
    out = ok(legacy_import(legacy, "--dry-run"))
    assert "Records of imported tokens past their expiry: 2 would be removed." in out
    assert records(app) == kept
    out = ok(legacy_import(legacy))
    assert "Records of imported tokens past their expiry: 2 removed." in out
    assert table(out)["access tokens"] == (0, 0, 2, 9, 0)
    assert len(records(app)) == 4
    assert all(expires >= later for _kind, _hash, expires in records(app))
    out = ok(legacy_import(legacy))
    assert "Records of imported tokens past their expiry" not in out
    assert len(records(app)) == 4


def test_a_later_expiry_on_the_old_site_moves_the_record(legacy, legacy_import, app) -> None:
    ok(legacy_import(legacy))
    later = local_now() + timedelta(days=1)
    legacy.run(
        "UPDATE {p}redcore_oauth_access_tokens SET expires = :e WHERE access_token = :t",
        e=later.strftime("%Y-%m-%d %H:%M:%S") if legacy.backend != "postgresql" else later,
        t=AT_LIVE,
    )
    ok(legacy_import(legacy))
    recorded = {(kind, token_hash): expires for kind, token_hash, expires in records(app)}
    utc = later.replace(tzinfo=ZONE).astimezone(UTC).replace(tzinfo=None)
    assert recorded["access", oauth.hash_token(AT_LIVE)] == utc
    assert recorded["access", oauth.hash_token(AT_CC)] == legacy.expiry["live"]


@pytest.mark.parametrize(
    "how",
    [
        pytest.param((NEW_REFRESH, False), id="rotated-to-a-new-token"),
        pytest.param((DEFAULTS, True), id="remembered-as-used"),
    ],
)
def test_after_the_upgrade_what_the_engine_knows_was_used_stays_used(
    legacy, legacy_import, client, app, cli, how
) -> None:
    """Tokens imported by a version without records: the first import records them. A
    refresh token the engine knows as used (the start of a chain here, or remembered while
    reuse detection is on) stays refused; an access token revoked before cannot be told
    from a new one, and comes back once."""
    options, detect_reuse = how
    legacy.set_options(options)
    ok(legacy_import(legacy))
    if detect_reuse:
        cli("plugins", "set", "oauth2", "revoke_on_refresh_token_reuse=true")
    with app.app_context():  # as an earlier version left it
        db.session.execute(sa.text("DELETE FROM oauth2_imported_tokens"))
        db.session.commit()
    assert_token_ok(
        refresh(client, RT_LIVE), scope="site.read", refresh=options is NEW_REFRESH, expires_in=7200
    )
    cli("tokens", "revoke", "--client", "cc-only")

    out = ok(legacy_import(legacy))
    assert f"refresh tokens        1  {GONE} (conf-client)" in out
    assert table(out)["access tokens"] == (1, 0, 3, 7, 0)  # AT_CC back, this once
    assert_token_error(refresh(client, RT_LIVE), INVALID_RT)  # (a reuse ends the chain here)
    assert_resource_ok(client.get(RESOURCE_URL, headers=bearer(AT_CC)))
    assert len(records(app)) == 6  # RT_LIVE's too: protected once the engine forgets it

    cli("tokens", "revoke", "--client", "cc-only")
    out = ok(legacy_import(legacy))
    assert f"access tokens         1  {GONE} (cc-only)" in out
    assert f"refresh tokens        1  {GONE} (conf-client)" in out
    assert_resource_error(client.get(RESOURCE_URL, headers=bearer(AT_CC)), INVALID_TOKEN)
    assert SECRETS["cc-only"] not in out
