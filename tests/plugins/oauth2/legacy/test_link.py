"""`flask legacy link`: one token world with the old redCORE site while a site moves.

Each test imports the filled site (tests/support/legacy_site.py, on every legacy backend),
sets the link to the same database, and checks the old site's token tables as redCORE
reads them (the plain token, `expires` as its Copenhagen wall clock) after what a client
or an admin does here.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import sqlalchemy as sa

from emulator import oauth
from emulator.storage.database import db
from emulator.storage.models import AccessToken
from emulator.storage.models import AuditEvent
from emulator.storage.models import RefreshToken
from plugins.oauth2.legacy import link as legacy_link
from tests.support.legacy_site import AT_LIVE
from tests.support.legacy_site import CONF
from tests.support.legacy_site import LEGACY_BACKENDS
from tests.support.legacy_site import LOCAL
from tests.support.legacy_site import RT_LIVE
from tests.support.legacy_site import ZONE
from tests.support.legacy_site import fill
from tests.support.legacy_site import local_now
from tests.support.legacy_site import ok
from tests.support.oauth2 import INVALID_RT
from tests.support.oauth2 import INVALID_TOKEN
from tests.support.oauth2 import RESOURCE_URL
from tests.support.oauth2 import assert_resource_error
from tests.support.oauth2 import assert_resource_ok
from tests.support.oauth2 import assert_token_error
from tests.support.oauth2 import assert_token_ok
from tests.support.oauth2 import bearer
from tests.support.oauth2 import cc
from tests.support.oauth2 import refresh

REVOKE_URL = "/index.php?option=revoke&api=oauth2"
CLOSED = "mysql+pymysql://legacy:Pa55-w0rd@127.0.0.1:1/redcore"  # nothing listens on port 1
AT_NEW = "f1" * 20  # issued by the old site after the import
RT_NEW = "f2" * 20


@pytest.fixture
def linked(legacy, legacy_import, cli):
    """The site imported, and the link set to it."""
    return link_to(legacy, legacy_import, cli)


def link_to(legacy, legacy_import, cli):
    """Import ``legacy`` and set the link to it."""
    ok(legacy_import(legacy))
    cli(
        "legacy",
        "link",
        "set",
        "--url",
        legacy.url,
        "--prefix",
        legacy.prefix,
        "--timezone",
        "Europe/Copenhagen",
    )
    return legacy


def old_row(site, kind: str, token: str):
    column = "access_token" if kind == "access" else "refresh_token"
    rows = site.rows(
        f"SELECT client_id, user_id, expires, scope FROM {{p}}redcore_oauth_{kind}_tokens "
        f"WHERE {column} = :t",
        t=token,
    )
    assert len(rows) <= 1
    return rows[0] if rows else None


def expiry_here(app, kind: str, token: str) -> datetime:
    model = AccessToken if kind == "access" else RefreshToken
    with app.app_context():
        return db.session.execute(
            sa.select(model.expires_at).where(model.token_hash == oauth.hash_token(token))
        ).scalar_one()


def local(moment: datetime) -> str:
    return moment.replace(tzinfo=UTC).astimezone(ZONE).strftime(LOCAL)


def as_text(value) -> str:
    return value.strftime(LOCAL) if isinstance(value, datetime) else str(value)[:19]


def test_a_token_issued_here_is_written_as_the_old_site_stores_it(linked, client, app) -> None:
    issued = assert_token_ok(
        cc(client, CONF), scope="site.read site.create", refresh=True, expires_in=7200
    )
    for kind in ("access", "refresh"):
        token = issued[f"{kind}_token"]
        row = old_row(linked, kind, token)
        assert (row.client_id, row.user_id, row.scope) == (
            "conf-client",
            "42",
            "site.read site.create",
        )
        assert as_text(row.expires) == local(expiry_here(app, kind, token).replace(microsecond=0))


def test_revoked_here_gone_there(linked, client) -> None:
    token = cc(client, CONF).get_json()["access_token"]
    assert old_row(linked, "access", token) is not None
    assert client.post(REVOKE_URL, data={"token": token, **CONF}).data == b'{"revoked":true}'
    assert old_row(linked, "access", token) is None
    # An imported token revoked here goes there too.
    client.post(REVOKE_URL, data={"token": AT_LIVE, **CONF})
    assert old_row(linked, "access", AT_LIVE) is None


def test_a_refresh_here_ends_the_used_refresh_token_there(linked, client, set_params, app) -> None:
    set_params(unset_refresh_token_after_use=True, always_issue_new_refresh_token=True)
    issued = assert_token_ok(
        refresh(client, RT_LIVE, CONF), scope="site.read", refresh=True, expires_in=7200
    )
    assert old_row(linked, "refresh", RT_LIVE) is None
    new = old_row(linked, "refresh", issued["refresh_token"])
    assert (new.client_id, new.user_id, new.scope) == ("conf-client", "42", "site.read")
    assert as_text(new.expires) == local(
        expiry_here(app, "refresh", issued["refresh_token"]).replace(microsecond=0)
    )
    assert old_row(linked, "access", issued["access_token"]).user_id == "42"


def test_a_client_disabled_or_deleted_here_loses_its_tokens_there(linked, client, cli) -> None:
    token = cc(client, CONF).get_json()["access_token"]
    cli("clients", "disable", "conf-client")
    assert old_row(linked, "access", token) is None
    assert old_row(linked, "refresh", RT_LIVE) is None
    assert (
        linked.rows(
            "SELECT count(*) FROM {p}redcore_oauth_access_tokens WHERE client_id = 'cc-only'"
        )[0][0]
        == 1
    )


def test_tokens_the_old_site_made_after_the_import_work_here(linked, client, set_params) -> None:
    later = local_now() + timedelta(hours=1)
    linked.add_token("access", AT_NEW, "conf-client", later, scope="site.read", user_id="42")
    linked.add_token("refresh", RT_NEW, "conf-client", later, scope="site.read", user_id="42")
    assert_resource_ok(client.get(RESOURCE_URL, headers=bearer(AT_NEW)), user_id="42")
    assert_resource_ok(client.get(RESOURCE_URL, headers=bearer(AT_NEW)), user_id="42")
    assert_token_ok(
        refresh(client, RT_NEW, CONF), scope="site.read", refresh=False, expires_in=7200
    )
    # Made up, expired there, or not the old site's shape: unknown, as before.
    linked.add_token("access", "f3" * 20, "conf-client", local_now() - timedelta(minutes=1))
    for made_up in ("f4" * 20, "f3" * 20, "not-a-token"):
        assert_resource_error(client.get(RESOURCE_URL, headers=bearer(made_up)), INVALID_TOKEN)
    assert_token_error(refresh(client, "f5" * 20, CONF), INVALID_RT)


SERVER_SIDE = {  # a connection's id, and how its server ends it (as a restart does)
    "mysql": ("SELECT CONNECTION_ID()", "KILL {}"),
    "postgresql": ("SELECT pg_backend_pid()", "SELECT pg_terminate_backend({})"),
}


@pytest.mark.parametrize("backend", sorted(set(SERVER_SIDE) & set(LEGACY_BACKENDS)))
def test_a_lookup_after_the_old_database_restarted_finds_the_token(
    backend, make_legacy, legacy_import, cli, client, app
) -> None:
    site = make_legacy(backend)
    fill(site)
    link_to(site, legacy_import, cli)
    later = local_now() + timedelta(hours=1)
    site.add_token("access", AT_NEW, "conf-client", later, scope="site.read", user_id="42")
    assert_resource_ok(client.get(RESOURCE_URL, headers=bearer(AT_NEW)), user_id="42")
    # The old database ends the worker's pooled connection, as a restart of it does.
    ask_id, end = SERVER_SIDE[backend]
    with app.app_context():
        link = legacy_link.current()
        assert link is not None
        with legacy_link._engine(link).connect() as conn:
            pooled = conn.execute(sa.text(ask_id)).scalar()
    with site.engine.connect() as conn:
        conn.execute(sa.text(end.format(int(pooled))))
        conn.commit()
    # A token the old site made since is still found: the dead connection is not the answer.
    site.add_token("access", "f6" * 20, "conf-client", later, scope="site.read", user_id="42")
    assert_resource_ok(client.get(RESOURCE_URL, headers=bearer("f6" * 20)), user_id="42")


def test_a_token_revoked_here_is_not_taken_over_again(linked, client, cli) -> None:
    cli(
        "legacy",
        "link",
        "set",
        "--url",
        linked.url,
        "--prefix",
        linked.prefix,
        "--no-check",
        "--timezone",
        "Europe/Copenhagen",
    )
    # Revoked here while the link was off: the old site still holds it.
    cli("legacy", "link", "off", "--keep-rows")
    client.post(REVOKE_URL, data={"token": AT_LIVE, **CONF})
    assert old_row(linked, "access", AT_LIVE) is not None
    cli(
        "legacy",
        "link",
        "set",
        "--url",
        linked.url,
        "--prefix",
        linked.prefix,
        "--timezone",
        "Europe/Copenhagen",
    )
    assert_resource_error(client.get(RESOURCE_URL, headers=bearer(AT_LIVE)), INVALID_TOKEN)


def test_without_a_link_nothing_is_written_or_read_there(legacy, legacy_import, client) -> None:
    ok(legacy_import(legacy))
    token = cc(client, CONF).get_json()["access_token"]
    assert old_row(legacy, "access", token) is None
    legacy.add_token("access", AT_NEW, "conf-client", local_now() + timedelta(hours=1))
    assert_resource_error(client.get(RESOURCE_URL, headers=bearer(AT_NEW)), INVALID_TOKEN)


def test_old_site_down_tokens_still_issued_and_queued_writes_land_once(
    linked, client, cli, app, runner, monkeypatch
) -> None:
    monkeypatch.setattr(legacy_link, "start_drain", lambda: None)  # drained by the command
    cli(
        "legacy",
        "link",
        "set",
        "--url",
        CLOSED,
        "--no-check",
        "--prefix",
        linked.prefix,
        "--timezone",
        "Europe/Copenhagen",
    )
    first = cc(client, CONF).get_json()["access_token"]
    second = cc(client, CONF).get_json()["access_token"]
    client.post(REVOKE_URL, data={"token": first, **CONF})
    status = cli("legacy", "link", "status")
    assert "Backlog: 5 mirror writes waiting since" in status
    assert "Pa55-w0rd" not in status
    with app.app_context():
        payloads = db.session.execute(sa.text("SELECT payload FROM oauth2_legacy_link_queue"))
        assert not [p for (p,) in payloads if first in p or second in p]
        events = db.session.execute(sa.text("SELECT action, target, after FROM audit_events"))
        behind = [e for e in events if e.action == "oauth2.link.behind"]
        assert behind and "Pa55-w0rd" not in repr(behind)
    result = runner.invoke(args=["legacy", "link", "drain"])
    assert result.exit_code == 1 and "refused" in result.output  # still down
    # Back: the same site under its real URL. Every write lands, in order, once.
    cli(
        "legacy",
        "link",
        "set",
        "--url",
        linked.url,
        "--prefix",
        linked.prefix,
        "--timezone",
        "Europe/Copenhagen",
    )
    assert "Landed 5 mirror writes; 0 waiting." in cli("legacy", "link", "drain")
    assert "Landed 0 mirror writes; 0 waiting." in cli("legacy", "link", "drain")
    assert old_row(linked, "access", first) is None
    assert old_row(linked, "access", second).client_id == "conf-client"
    assert "Backlog: none" in cli("legacy", "link", "status")
    # A new token is written at once again.
    third = cc(client, CONF).get_json()["access_token"]
    assert old_row(linked, "access", third) is not None


def test_link_commands_never_show_the_password(runner, cli, app) -> None:
    cli("legacy", "link", "set", "--url", CLOSED, "--no-check", "--timezone", "Europe/Copenhagen")
    outputs = [cli("legacy", "link", "status")]
    checked = runner.invoke(args=["legacy", "link", "status", "--check"])
    assert checked.exit_code == 1
    outputs.append(checked.output)
    refused = runner.invoke(args=["legacy", "link", "set", "--url", CLOSED])
    assert refused.exit_code == 1
    outputs.append(refused.output)
    with app.app_context():
        stored = db.session.execute(sa.text("SELECT url, password FROM oauth2_legacy_link")).one()
        # Through the model: BEFORE is a reserved word on MariaDB.
        audit = db.session.execute(sa.select(AuditEvent.before, AuditEvent.after)).all()
    assert "legacy:***@127.0.0.1:1/redcore" in outputs[0]
    assert "Pa55-w0rd" not in "".join(outputs) + repr(stored) + repr(audit)
    assert stored.url == "mysql+pymysql://legacy@127.0.0.1:1/redcore"
    with app.app_context():
        assert legacy_link.read_link(db.session).url.password == "Pa55-w0rd"
    assert "Legacy link off." in cli("legacy", "link", "off", "--keep-rows")
    assert "Legacy link: off." in cli("legacy", "link", "status")


def test_link_off_deletes_the_mirrored_rows_only(linked, client, cli) -> None:
    token = cc(client, CONF).get_json()["access_token"]
    out = cli("legacy", "link", "off", input="y\n")
    assert "Deleted 2 mirrored rows on the old site." in out
    assert old_row(linked, "access", token) is None
    assert old_row(linked, "access", AT_LIVE) is not None  # the old site's own
    again = cc(client, CONF).get_json()["access_token"]
    assert old_row(linked, "access", again) is None  # off: nothing written


def test_bad_link_input_is_one_line(runner) -> None:
    for args, words in (
        (["--url", "nosuch://x"], "--url"),
        (["--url", "sqlite:////nonexistent/x.sqlite"], "--url"),
        (["--url", CLOSED, "--no-check", "--prefix", "jos-"], "--prefix"),
        (["--url", CLOSED, "--no-check", "--timezone", "Mars/Olympus"], "--timezone"),
    ):
        result = runner.invoke(args=["legacy", "link", "set", *args])
        assert result.exit_code == 1, result.output
        assert words in result.output and "Traceback" not in result.output
