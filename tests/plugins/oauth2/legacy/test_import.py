"""`flask legacy import`: a redCORE database carried over, then used at both dialects.

Each test builds the legacy site (tests/support/legacy_site.py) on every legacy backend
with the `jos_` prefix and a random one, imports it with the real CLI into the service's
database, and checks what clients see: the imported secret, access token and refresh
token at the oauth2 token and resource URLs and at the apigee plugin's, with the imported
expiry.
"""

from __future__ import annotations

import json
import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import sqlalchemy as sa

from emulator.ops import audit
from emulator.ops.clock import utcnow
from emulator.storage.database import db
from emulator.storage.models import Client
from tests.live.server import target_server
from tests.support.legacy_site import AT_CC
from tests.support.legacy_site import AT_EXPIRED
from tests.support.legacy_site import AT_GAP
from tests.support.legacy_site import AT_LIVE
from tests.support.legacy_site import AT_OVERLAP
from tests.support.legacy_site import AT_UNKNOWN
from tests.support.legacy_site import CONF
from tests.support.legacy_site import GAP_UTC
from tests.support.legacy_site import OUR_TABLES
from tests.support.legacy_site import OVERLAP_UTC
from tests.support.legacy_site import RT_EXPIRED
from tests.support.legacy_site import RT_LIVE
from tests.support.legacy_site import RT_PUBLIC
from tests.support.legacy_site import SECRETS
from tests.support.legacy_site import ZONE
from tests.support.legacy_site import fill
from tests.support.legacy_site import local_now
from tests.support.legacy_site import ok
from tests.support.legacy_site import table
from tests.support.oauth2 import INVALID_CLIENT
from tests.support.oauth2 import INVALID_TOKEN
from tests.support.oauth2 import RESOURCE_URL
from tests.support.oauth2 import UNAUTHORIZED
from tests.support.oauth2 import assert_resource_error
from tests.support.oauth2 import assert_resource_ok
from tests.support.oauth2 import assert_token_error
from tests.support.oauth2 import assert_token_ok
from tests.support.oauth2 import basic
from tests.support.oauth2 import bearer
from tests.support.oauth2 import send

INTROSPECT_URL = "/index.php?option=introspect&api=oauth2"
APIGEE_TOKEN_URL = "/oauth/accesstoken?grant_type=client_credentials"
APIGEE_REFRESH_URL = "/oauth/client_credential/refresh_accesstoken?grant_type=refresh_token"


def epoch(moment: datetime) -> int:
    return int((moment - datetime(1970, 1, 1)).total_seconds())


def introspect(client, token: str, secret: str = SECRETS["conf-client"]) -> dict:
    """What conf-client's introspection says about one of its tokens."""
    creds = {"client_id": "conf-client", "client_secret": secret}
    rv = send(client, {"token": token, **creds}, path=INTROSPECT_URL)
    assert rv.status_code == 200, rv.data
    return rv.get_json()


def dump(app) -> dict[str, list[tuple]]:
    """Every row of our tables, in a stable order."""
    with app.app_context():
        return {
            name: sorted(map(tuple, db.session.execute(sa.text(f"SELECT * FROM {name}"))), key=repr)
            for name in OUR_TABLES
        }


def cc(client, client_id: str, secret: str):
    return send(
        client,
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )


def test_import_carries_the_site_over(legacy, legacy_import, client, cli, count_rows) -> None:
    out = ok(legacy_import(legacy))
    assert out.splitlines()[1] == (
        "One transaction for the whole run: nothing is stored unless every table imports."
    )
    assert table(out) == {
        "clients": (5, 0, 0, 3, 0),
        "scopes": (12, 0, 0, 2, 0),
        "users": (12, 0, 0, 2, 0),
        "access tokens": (4, 0, 0, 7, 0),
        "refresh tokens": (2, 0, 0, 1, 0),
        "options": (0, 3, 11, 0, 0),
    }
    for reason in (
        "clients               1  malformed row: empty client_id",
        "clients               1  malformed row: control character in client_id ('ctl\\x01app')",
        "clients               1  malformed row: scope with bad characters (bad-scope: ",
        "scopes                1  duplicate row (merged) (site.read)",
        "scopes                1  malformed row: scope with bad characters ('bad scope')",
        "access tokens         1  expired",
        "access tokens         1  token of an unknown client (ghost-client)",
        "access tokens         1  token of a client that was skipped (bad-scope)",
        "access tokens         1  malformed row: token not 40 lowercase hex characters",
        "access tokens         1  malformed row: empty client_id",
        "access tokens         1  malformed row: control character in scope",
        "access tokens         1  malformed row: scope with bad characters (conf-client)",
        "refresh tokens        1  expired",
    ):
        assert reason in out, reason
    assert 'oauth2_access_lifetime = "7200" -> access_lifetime = 7200 (set; was 3600)' in out
    assert "-> expires_in_as_string = true (unchanged)" in out
    # The authorization endpoint's options are carried over like the others.
    assert 'oauth2_allow_implicit = "1" -> allow_implicit = true (set; was false)' in out
    assert 'oauth2_enforce_state = "1" -> enforce_state = true (unchanged)' in out
    assert (
        "Not carried over: 1 row of " + legacy.prefix + "redcore_oauth_authorization_codes" in out
    )
    assert (
        "  1 in a DST gap (a local time that never happened: clocks went forward), "
        "e.g. 2031-03-30 02:30:00 -> 2031-03-30 01:30:00 UTC (a token of conf-client):"
    ) in out
    assert (
        "  1 in a DST overlap (a local time that happened twice: clocks went back), "
        "e.g. 2031-10-26 02:30:00 -> 2031-10-26 00:30:00 UTC (a token of conf-client):\n"
        "    read as the first occurrence (the offset before the change)"
    ) in out
    assert out.rstrip().splitlines()[-1].startswith("Committed, in one transaction")
    for secret in SECRETS.values():
        assert secret not in out
    assert AT_LIVE not in out

    # Secrets are stored hashed; tokens by hash only.
    assert count_rows("oauth_clients") == 5
    with client.application.app_context():
        stored = " ".join(
            str(v)
            for row in db.session.execute(sa.text("SELECT * FROM oauth_clients"))
            for v in row
        )
        hashes = db.session.scalars(sa.text("SELECT token_hash FROM oauth_access_tokens")).all()
    assert "$argon2id$" in stored and not any(s in stored for s in SECRETS.values())
    assert AT_LIVE not in hashes and len(hashes) == 4

    # The imported secret at the oauth2 token URL, with the imported options.
    issued = assert_token_ok(
        cc(client, *CONF.values()), scope="site.read site.create", refresh=True, expires_in=7200
    )
    assert_token_error(cc(client, "conf-client", "wrong"), INVALID_CLIENT)
    assert_token_error(cc(client, "no-grants", SECRETS["no-grants"]), UNAUTHORIZED)
    assert_token_error(cc(client, "code-app", SECRETS["code-app"]), UNAUTHORIZED)
    assert_token_ok(
        cc(client, "cc-only", SECRETS["cc-only"]), scope="site.read", refresh=False, expires_in=7200
    )
    assert_resource_ok(client.get(RESOURCE_URL, headers=bearer(issued["access_token"])), "42")

    # The imported access tokens, with their expiry converted from Copenhagen time.
    assert_resource_ok(client.get(RESOURCE_URL, headers=bearer(AT_LIVE)), "42")
    assert_resource_ok(client.get(RESOURCE_URL, headers=bearer(AT_CC)))
    assert introspect(client, AT_LIVE)["exp"] == epoch(legacy.expiry["live"])
    assert introspect(client, AT_GAP)["exp"] == epoch(GAP_UTC)
    assert introspect(client, AT_OVERLAP)["exp"] == epoch(OVERLAP_UTC)
    for token in (AT_EXPIRED, AT_UNKNOWN):
        assert_resource_error(client.get(RESOURCE_URL, headers=bearer(token)), INVALID_TOKEN)

    # The imported refresh tokens; the old site's unset_refresh_token_after_use=0 came along,
    # so a refresh token works more than once, as it did there.
    for _ in range(2):
        rv = send(client, {"grant_type": "refresh_token", "refresh_token": RT_LIVE, **CONF})
        assert_token_ok(rv, scope="site.read", refresh=False, expires_in=7200)
    rv = send(
        client,
        {"grant_type": "refresh_token", "refresh_token": RT_PUBLIC, "client_id": "public-app"},
    )
    refreshed = assert_token_ok(rv, scope="site.read", refresh=False, expires_in=7200)
    assert_resource_ok(client.get(RESOURCE_URL, headers=bearer(refreshed["access_token"])), "88")
    rv = send(client, {"grant_type": "refresh_token", "refresh_token": RT_EXPIRED, **CONF})
    assert rv.get_json()["error"] == "invalid_grant"

    # The same secret, access token and refresh token at the apigee plugin's URLs.
    cli("plugins", "enable", "apigee")
    rv = client.get(APIGEE_TOKEN_URL, headers={"Authorization": basic(*CONF.values())})
    assert rv.status_code == 200, rv.data
    apigee_token = rv.get_json()["access_token"]  # Apigee's shape; the same token store
    assert_resource_ok(client.get(RESOURCE_URL, headers=bearer(apigee_token)), "42")
    rv = client.get(APIGEE_TOKEN_URL, headers={"Authorization": basic("conf-client", "wrong")})
    assert rv.status_code == 401
    rv = client.post(
        APIGEE_REFRESH_URL,
        headers={"Authorization": basic(*CONF.values())},
        data={"refresh_token": RT_LIVE},
    )
    assert rv.status_code == 200, rv.data
    with target_server() as target:
        cli("apigee", "proxies", "add", "/weather", "--target", target.base_url)
        rv = client.get("/weather/today", headers=bearer(AT_LIVE))
        assert (rv.status_code, rv.get_json()["path"]) == (200, "/today")
        assert len(target.received) == 1

    shown = cli("plugins", "show", "oauth2")
    assert "* access_lifetime = 7200" in shown
    assert "* unset_refresh_token_after_use = false" in shown


def test_a_second_run_changes_nothing(legacy, legacy_import, app) -> None:
    ok(legacy_import(legacy))
    before = dump(app)
    out = ok(legacy_import(legacy))
    assert table(out) == {
        "clients": (0, 0, 5, 3, 0),
        "scopes": (0, 0, 12, 2, 0),
        "users": (0, 0, 12, 2, 0),
        "access tokens": (0, 0, 4, 7, 0),
        "refresh tokens": (0, 0, 2, 1, 0),
        "options": (0, 0, 14, 0, 0),
    }
    assert "Clients:" not in out and "Scopes:" not in out and "Users (" not in out
    assert "Secrets: 4 checked against their stored hash" in out
    assert dump(app) == before  # not even a secret re-hashed


def test_changes_on_the_old_site_are_picked_up(legacy, legacy_import, client, app) -> None:
    ok(legacy_import(legacy))
    new_secret = "n3w-Secret!"
    legacy.run(
        "UPDATE {p}redcore_oauth_clients SET client_secret = :s WHERE client_id = 'conf-client'",
        s=new_secret,
    )
    legacy.run(
        "UPDATE {p}redcore_oauth_clients SET scope = 'site.read' WHERE client_id = 'cc-only'"
    )
    legacy.run(
        "UPDATE {p}redcore_oauth_clients SET grant_types = NULL WHERE client_id = 'no-grants'"
    )
    legacy.run(
        "UPDATE {p}redcore_oauth_clients SET redirect_uri = 'https://new.example/cb', "
        "user_id = '77' WHERE client_id = 'code-app'"
    )
    later = local_now() + timedelta(days=1)
    legacy.run(
        "UPDATE {p}redcore_oauth_access_tokens SET expires = :e, scope = 'site.create' "
        "WHERE access_token = :t",
        e=later.strftime("%Y-%m-%d %H:%M:%S") if legacy.backend != "postgresql" else later,
        t=AT_LIVE,
    )
    out = ok(legacy_import(legacy))
    assert table(out)["clients"] == (0, 4, 1, 3, 0)
    assert table(out)["access tokens"] == (0, 1, 3, 7, 0)
    assert "updated conf-client: secret" in out
    assert "updated cc-only: scope" in out
    assert "updated no-grants: grant_types" in out
    assert "updated code-app: redirect_uri, user_id" in out
    assert "Secrets: 1 hashed (argon2id)" in out
    assert new_secret not in out

    assert_token_error(cc(client, "conf-client", SECRETS["conf-client"]), INVALID_CLIENT)
    assert_token_ok(
        cc(client, "conf-client", new_secret),
        scope="site.read site.create",
        refresh=True,
        expires_in=7200,
    )
    # NULL grant types (all grants) is not '' (none): the client may now use every grant.
    assert cc(client, "no-grants", SECRETS["no-grants"]).status_code == 200
    assert introspect(client, AT_LIVE, new_secret)["scope"] == "site.create"
    expected = later.replace(tzinfo=ZONE).astimezone(UTC).replace(tzinfo=None)
    assert introspect(client, AT_LIVE, new_secret)["exp"] == epoch(expected)
    assert table(ok(legacy_import(legacy)))["clients"] == (0, 0, 5, 3, 0)


def test_clients_and_scopes_gone_from_the_old_site_are_removed_only_with_prune(
    legacy, legacy_import, client, cli, count_rows
) -> None:
    ok(legacy_import(legacy))
    cli("scopes", "add", "local.only")  # never on the old site: not its to remove
    cli("clients", "create", "made-here")
    legacy.run("DELETE FROM {p}redcore_oauth_clients WHERE client_id = 'conf-client'")
    legacy.run("DELETE FROM {p}redcore_oauth_scopes WHERE scope = 'site.task'")

    out = ok(legacy_import(legacy))
    assert table(out)["clients"] == (0, 0, 4, 3, 0)
    assert table(out)["scopes"] == (0, 0, 11, 2, 0)
    assert "not on the old site, kept: conf-client (4 tokens; --prune removes it)" in out
    assert "keep site.task (not on the old site; --prune removes it)" in out
    assert "made-here" not in out and "local.only" not in out
    assert_resource_ok(client.get(RESOURCE_URL, headers=bearer(AT_LIVE)), "42")
    assert count_rows("oauth_clients") == 6

    out = ok(legacy_import(legacy, "--prune"))
    assert table(out)["clients"] == (0, 0, 4, 3, 1)
    assert table(out)["scopes"] == (0, 0, 11, 2, 1)
    assert "removed conf-client and its 4 tokens (not on the old site)" in out
    assert "remove site.task (not on the old site)" in out
    assert "made-here" not in out and "local.only" not in out
    assert count_rows("oauth_clients") == 5
    assert "made-here" in cli("clients", "list")
    assert count_rows("oauth2_imported_clients") == 4  # conf-client's row went with it
    assert count_rows("oauth2_imported_scopes") == 11  # site.task's too

    assert_resource_error(client.get(RESOURCE_URL, headers=bearer(AT_LIVE)), INVALID_TOKEN)
    listed = cli("scopes", "list")
    assert "local.only" in listed and "site.task" not in listed
    # Its tokens went with it; a skipped client (a malformed row) is never pruned.
    assert count_rows("oauth_access_tokens") == 1  # cc-only's
    assert count_rows("oauth_refresh_tokens") == 1  # public-app's


def test_a_new_id_that_is_a_path_is_skipped_and_a_stored_one_kept(
    make_legacy, legacy_import, app, cli
) -> None:
    """A new client may not take an id with '/' or '\\' (or '.', '..'): its admin pages'
    links would name another client's (issue 20). One stored before is still updated."""
    site = make_legacy("sqlite")
    site.add_client("good", "Good-Secret-1")
    site.add_client("../../admin/clients/good", "Odd-Secret-1")
    site.add_client("kept/../good", "Kept-Secret-1")
    with app.app_context():
        db.session.add(Client(client_id="kept/../good", secret_hash=None, created_at=utcnow()))
        db.session.commit()
    out = ok(legacy_import(site))
    assert table(out)["clients"] == (1, 1, 0, 1, 0)
    assert (
        "clients               1  malformed row: client_id with '/' or '\\', or '.' or '..' "
        "(it would name another client's admin page) ('../../admin/clients/good')"
    ) in out
    assert "updated kept/../good: secret" in out
    listed = cli("clients", "list")
    assert "kept/../good" in listed and "../../admin" not in listed


def test_an_import_is_audited_without_secrets_tokens_or_the_password(
    make_legacy, legacy_import, app
) -> None:
    """Who ran it, from where (the URL with its password masked) and the counts; a dry run
    records nothing."""
    site = make_legacy("sqlite")
    site.expiry = fill(site)
    source = "sqlite://dba:Legacy-Db-Pw-42@/" + site.url.removeprefix("sqlite:///")
    ok(legacy_import(source, "--dry-run"))
    with app.app_context():
        assert [e for e in audit.events(db.session) if e.action == "legacy.import"] == []
    ok(legacy_import(source, "--prune"))
    with app.app_context():
        [event] = [e for e in audit.events(db.session) if e.action == "legacy.import"]
        assert event.actor.startswith("cli:")
        assert event.target == "sqlite://dba:***@/" + site.url.removeprefix("sqlite:///")
        after = json.loads(event.after)
        assert (after["prefix"], after["timezone"], after["prune"]) == (
            "jos_",
            "Europe/Copenhagen",
            True,
        )
        assert after["clients"] == {"imported": 5, "skipped": 3}
        assert after["access tokens"] == {"imported": 4, "skipped": 7}
        rows = db.session.execute(sa.text("SELECT * FROM audit_events")).all()
    stored = " ".join(str(value) for row in rows for value in row)
    for secret in ["Legacy-Db-Pw-42", *SECRETS.values(), AT_LIVE, RT_LIVE, RT_PUBLIC]:
        assert secret not in stored


def test_a_dry_run_writes_nothing(legacy, legacy_import, app, client) -> None:
    before = dump(app)
    out = ok(legacy_import(legacy, "--dry-run"))
    assert out.splitlines()[1] == "Dry run: every change is computed and printed, none is written."
    assert table(out)["clients"] == (5, 0, 0, 3, 0)
    assert table(out)["access tokens"] == (4, 0, 0, 7, 0)
    assert "would be imported: conf-client, cc-only, no-grants, public-app, code-app" in out
    assert "would be set; was 3600" in out
    assert out.rstrip().splitlines()[-1].startswith("Dry run: nothing was written")
    assert dump(app) == before

    ok(legacy_import(legacy))
    legacy.run(
        "UPDATE {p}redcore_oauth_clients SET client_secret = 'other-Pass' "
        "WHERE client_id = 'conf-client'"
    )
    legacy.run("DELETE FROM {p}redcore_oauth_clients WHERE client_id = 'cc-only'")
    before = dump(app)
    out = ok(legacy_import(legacy, "--dry-run", "--prune"))
    assert "would be updated conf-client: secret" in out
    assert "would be removed cc-only and its 1 token" in out
    assert table(out)["clients"] == (0, 1, 3, 3, 1)
    assert dump(app) == before
    assert cc(client, *CONF.values()).status_code == 200  # the old secret still works


def test_options_the_schema_refuses_are_reported_not_stored(
    make_legacy, legacy_import, cli
) -> None:
    site = make_legacy()
    site.add_client("one", "one-Pass")
    site.set_options(
        {
            "enable_oauth2_server": "1",
            "oauth2_access_lifetime": 3600,  # a number: expires_in as a number
            "oauth2_token_param_name": "bad name!",
            "oauth2_use_openid_connect": "1",
        }
    )
    out = ok(legacy_import(site))
    assert (
        'oauth2_token_param_name = "bad name!" -> token_param_name: refused '
        "(Use letters, digits, '_', '.' or '-' only.); stays \"access_token\""
    ) in out
    assert "-> expires_in_as_string = false (set; was true)" in out
    assert 'oauth2_use_openid_connect = "1": no counterpart here (OpenID Connect' in out
    assert table(out)["options"] == (0, 1, 12, 2, 0)
    shown = cli("plugins", "show", "oauth2")
    assert '  token_param_name = "access_token"' in shown
    assert "* expires_in_as_string = false" in shown


def test_a_site_that_never_saved_its_options_has_its_oauth2_server_off(
    make_legacy, legacy_import, cli, client
) -> None:
    """redCORE's defaults: enable_oauth2_server absent means 0, the server was off."""
    site = make_legacy()
    site.add_client("one", "one-Pass")
    site.set_options("")
    out = ok(legacy_import(site))
    assert "enable_oauth2_server (absent: redCORE's default) -> plugin enabled = false" in out
    assert "oauth2_access_lifetime (not stored as a string) -> expires_in_as_string = false" in out
    assert re.search(r"^oauth2\s+disabled", cli("plugins", "list"), re.M)
    assert cc(client, "one", "one-Pass").status_code == 404
    changes = json.loads(cli("audit", "list", "--action", "plugin.", "--json"))
    assert [(e["action"], e["target"]) for e in changes] == [
        ("plugin.disable", "oauth2"),
        ("plugin.params", "oauth2"),
    ]
    assert changes[1]["after"] == {"expires_in_as_string": False}


def test_options_are_left_alone_without_an_extensions_row(make_legacy, legacy_import, cli) -> None:
    site = make_legacy()
    site.add_client("one", "one-Pass")
    out = ok(legacy_import(site))
    assert (
        "Options: not imported (no com_redcore component row in jos_extensions); "
        "the plugin's stay as they are."
    ) in out
    assert re.search(r"^oauth2\s+enabled", cli("plugins", "list"), re.M)


@pytest.mark.parametrize("kind", ["access", "refresh"])
def test_a_large_token_table_streams_with_a_progress_bar(
    make_legacy, legacy_import, count_rows, kind
) -> None:
    site = make_legacy()
    site.add_client("bulk", "bulk-Pass")
    expires = (local_now() + timedelta(hours=3)).strftime("%Y-%m-%d %H:%M:%S")
    column = "access_token" if kind == "access" else "refresh_token"
    rows = [{"t": f"{n:040x}", "e": expires} for n in range(6000)]
    with site.engine.begin() as conn:
        conn.execute(
            sa.text(
                f"INSERT INTO jos_redcore_oauth_{kind}_tokens ({column}, client_id, expires) "
                "VALUES (:t, 'bulk', :e)"
            ),
            rows,
        )
    out = ok(legacy_import(site))
    assert table(out)[f"{kind} tokens"] == (6000, 0, 0, 0, 0)
    assert count_rows(f"oauth_{kind}_tokens") == 6000
    # click shows the bar's label alone when stderr is not a terminal.
    assert f"{kind + ' tokens':<15}" in out.splitlines()


def test_the_source_url_may_come_from_the_environment(make_legacy, runner, count_rows) -> None:
    """A password in LEGACY_DATABASE_URL stays out of the process list."""
    site = make_legacy()
    site.add_client("one", "one-Pass")
    result = runner.invoke(args=["legacy", "import"], env={"LEGACY_DATABASE_URL": site.url})
    assert table(ok(result))["clients"] == (1, 0, 0, 0, 0)
    assert count_rows("oauth_clients") == 1
