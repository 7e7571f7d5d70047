"""The activity page and the audit log; every page action audited, no secret stored."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import datetime
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

from emulator.manage.admin import auditlog
from emulator.ops import audit
from emulator.ops.clock import utcnow
from emulator.storage.database import db
from tests.support.admin import CLI
from tests.support.admin import PASSWORD
from tests.support.admin import USERNAME
from tests.support.admin import AdminSession
from tests.support.admin import all_values
from tests.support.admin import create
from tests.support.admin import log_in
from tests.support.admin import rotate
from tests.support.admin import rotation_form
from tests.support.admin import secret_of

# --- activity and audit ----------------------------------------------------------------


def test_activity_counts_tokens_issued_per_client(
    admin: AdminSession,
    client: FlaskClient,
    app: Flask,
    make_client: Callable[..., tuple[str, str | None]],
) -> None:
    busy, busy_secret = make_client("busy")
    quiet, quiet_secret = make_client("quiet")
    for credentials, times in (((busy, busy_secret), 3), ((quiet, quiet_secret), 1)):
        for _ in range(times):
            client.post(
                "/index.php?option=token&api=oauth2",
                data={"grant_type": "client_credentials"},
                auth=credentials,
            )
    with app.app_context():
        from emulator.ops import usage

        usage.flush()
    page = admin.get("/admin/activity").get_data(as_text=True)
    table = page[page.index('id="issued"') :]
    busy_row = table[table.index("<code>busy</code>") :]
    busy_row = busy_row[: busy_row.index("</tr>")]
    assert busy_row.endswith("<td>3</td>")
    assert "<svg" in page and "<rect" in page  # the chart, drawn without JavaScript


def test_the_audit_page_pages_and_filters(admin: AdminSession, app: Flask) -> None:
    with app.app_context():
        for n in range(60):
            audit.record(db.session, actor=CLI, action="scope.add", target=f"s{n}", now=utcnow())
        db.session.commit()
    first = admin.get("/admin/audit").get_data(as_text=True)
    assert "s59" in first and "Older" in first
    second = admin.get("/admin/audit?page=2").get_data(as_text=True)
    assert "s5<" not in first and ">s5<" in second
    logins = admin.get("/admin/audit?action=admin.").get_data(as_text=True)
    assert "admin.login" in logins and "scope.add" not in logins


def test_every_page_action_is_audited_with_the_admin_and_address(
    admin: AdminSession, audit_actions: Callable[[], list], cli: Callable[..., str]
) -> None:
    cli("scopes", "add", "read")
    create(admin, "audited")
    admin.post("/admin/clients/audited/edit", {"scope": "read", "all_grants": "y"})
    rotate(admin, "audited")
    admin.post("/admin/clients/audited/state", {"disabled": "1", "confirm": "1"})
    admin.post("/admin/clients/audited/state", {"disabled": "0"})
    admin.post("/admin/clients/audited/revoke", {"confirm": "1"})
    admin.post("/admin/clients/audited/delete", {"confirm": "1"})
    admin.post("/admin/scopes", {"name": "extra"})
    admin.post("/admin/scopes/defaults", {"default": ["extra"]})
    admin.post("/admin/scopes/remove", {"name": "extra"})
    admin.post("/admin/plugins/oauth2/enabled", {"enabled": "0", "confirm": "1"})
    admin.post("/admin/plugins/oauth2/enabled", {"enabled": "1"})
    admin.post("/admin/plugins/oauth2", {"access_lifetime": "120"})
    admin.post("/admin/plugins/oauth2/reset", {"confirm": "1"})
    admin.post("/admin/logout")
    mine = [a for a in audit_actions() if a[1] == f"admin:{USERNAME}"]
    assert all(address == "127.0.0.1" for _action, _actor, address, _target in mine)
    assert [a[0] for a in mine] == [
        "admin.login",
        "client.create",
        "client.update",
        "client.rotate_secret",
        "client.disable",
        "client.enable",
        "client.revoke_tokens",
        "client.delete",
        "scope.add",
        "scope.default",
        "scope.remove",
        "plugin.disable",
        "plugin.enable",
        "plugin.params",
        "plugin.reset",
        "admin.logout",
    ]


def test_no_secret_anywhere_in_the_database_after_the_pages_flow(
    admin: AdminSession, app: Flask, client: FlaskClient
) -> None:
    made = [create(admin, "first"), create(admin, "second")]
    made.append(rotate(admin, "first", "5"))
    # A rotation not shown yet: its secret is kept for the page, in no table as it is.
    rv = admin.post("/admin/clients/second/rotate", rotation_form(admin, "second"))
    waiting = all_values(app, *db.metadata.tables)
    made.append(secret_of(admin.get(rv.headers["Location"]).get_data(as_text=True)))
    assert not [value for value in waiting if made[-1] in value]
    issued = client.post(
        "/index.php?option=token&api=oauth2",
        data={"grant_type": "client_credentials"},
        auth=("first", made[2]),
    ).get_json()
    made += [issued["access_token"], issued["refresh_token"], PASSWORD]
    log_in(app.test_client(), USERNAME, "a wrong password typed")
    made.append("a wrong password typed")
    with app.app_context():
        with db.engine.connect() as conn:
            for table in db.metadata.sorted_tables:
                for row in conn.execute(sa.select(table)):
                    for value in row:
                        for secret in made:
                            assert secret not in str(value), (table.name, secret)


# --- the audit log's filters and changes --------------------------------------------------

DAY = datetime(2025, 3, 10, 12, 0, 0)
ALICE = audit.Actor("admin:alice", "203.0.113.5")


def record(app: Flask, *events: tuple) -> None:
    """Record (actor, action, target, when, before, after) events."""
    with app.app_context():
        for actor, action, target, when, before, after in events:
            audit.record(
                db.session,
                actor=actor,
                action=action,
                target=target,
                before=before,
                after=after,
                now=when,
            )
        db.session.commit()


def shown_targets(page: str) -> list[str]:
    """The objects of the events a page shows, in its order."""
    return re.findall(r'<td class="target"><a [^>]+>([^<]*)</a>', page)


@pytest.fixture
def history(app: Flask) -> None:
    """Events by two actors, on three days, against a few objects."""
    record(
        app,
        (ALICE, "client.update", "shop", DAY - timedelta(days=1), {"scope": "a"}, {"scope": "b"}),
        (ALICE, "client.disable", "shop-2", DAY, None, None),
        (CLI, "client.update", "shop", DAY, None, {"user_id": "7"}),
        (CLI, "plugin.params", "oauth2", DAY + timedelta(hours=11, minutes=59), None, None),
        (ALICE, "scope.add", "read", DAY + timedelta(days=1), None, {"is_default": False}),
    )


@pytest.mark.parametrize(
    ("query", "targets"),
    [
        ("actor=alice", ["read", "shop-2", "shop"]),
        ("actor=cli%3A", ["oauth2", "shop"]),
        ("action=client.", ["shop", "shop-2", "shop"]),
        ("target=shop", ["shop", "shop"]),
        ("from=2025-03-10&to=2025-03-10", ["oauth2", "shop", "shop-2"]),
        ("from=2025-03-11", ["read"]),
        ("to=2025-03-09", ["shop"]),
        ("actor=alice&action=client.&target=shop", ["shop"]),
        ("actor=nobody", []),
    ],
    ids=["actor", "actor-prefix", "action", "target-exact", "one-day", "from", "to", "all", "none"],
)
def test_the_audit_filters_and_their_count(
    admin: AdminSession, history: None, query: str, targets: list[str]
) -> None:
    rv = admin.get(f"/admin/audit?{query}")
    page = rv.get_data(as_text=True)
    assert rv.status_code == 200
    assert [t for t in shown_targets(page) if t != USERNAME] == targets
    count = len(shown_targets(page))
    assert f'<small id="event-count">{count} event{"" if count == 1 else "s"} found</small>' in page
    if not targets:
        assert "No events match these filters." in page


def test_the_audit_page_keeps_its_filters_when_paging(admin: AdminSession, app: Flask) -> None:
    record(
        app,
        *((CLI, "scope.add", f"s{n}", DAY + timedelta(minutes=n), None, None) for n in range(120)),
    )
    query = "actor=cli&action=scope.&from=2025-03-10&to=2025-03-10"
    page = admin.get(f"/admin/audit?{query}").get_data(as_text=True)
    assert "120 events found" in page and "Page 1 of 3" in page
    older = re.search(r'<a href="([^"]+)">Older ›</a>', page).group(1).replace("&amp;", "&")
    assert older == f"/admin/audit?page=2&{query}"
    third = admin.get(older.replace("page=2", "page=3")).get_data(as_text=True)
    assert shown_targets(third) == [f"s{n}" for n in range(19, -1, -1)]
    newer = re.search(r'<a href="([^"]+)">‹ Newer</a>', third).group(1).replace("&amp;", "&")
    assert newer == f"/admin/audit?page=2&{query}"
    past = admin.get(f"/admin/audit?page=99&{query}").get_data(as_text=True)
    assert "No events on page 99; there are 120 events matching these filters:" in past
    assert escape(f"/admin/audit?page=3&{query}") in past


def test_each_change_is_a_line_of_field_old_and_new(admin: AdminSession, app: Flask) -> None:
    record(
        app,
        (
            ALICE,
            "client.delete",
            "gone",
            DAY,
            {"scope": "read write", "user_id": None},
            {"tokens_removed": 2},
        ),
        (ALICE, "client.update", "kept", DAY, {"scope": "a"}, {"scope": "a <b>"}),
    )
    page = admin.get("/admin/audit?action=client.").get_data(as_text=True)
    assert (
        '<li><code class="key">scope</code>: <code>&#34;a&#34;</code> -&gt; '
        "<code>&#34;a &lt;b&gt;&#34;</code></li>"
    ) in page
    assert (
        '<li><code class="key">scope</code>: <span class="muted">was</span> '
        "<code>&#34;read write&#34;</code></li>"
    ) in page
    assert (
        '<code class="key">user_id</code>: <span class="muted">was</span> <code>null</code>' in page
    )
    assert '<li><code class="key">tokens_removed</code>: <code>2</code></li>' in page
    assert "{&#34;" not in page  # no raw JSON object


def test_a_long_value_is_shortened_at_a_word_and_shown_whole_on_demand(
    admin: AdminSession, app: Flask
) -> None:
    words = " ".join(f"scope.number{n}" for n in range(40))
    record(app, (ALICE, "client.update", "wide", DAY, {"scope": "a"}, {"scope": words}))
    page = admin.get("/admin/audit?target=wide").get_data(as_text=True)
    details = re.search(
        r'<details class="value"><summary title="([^"]*)"><code>([^<]*)</code></summary>'
        r'<code class="full">([^<]*)</code></details>',
        page,
    )
    assert details is not None, page
    title, short, whole = map(html.unescape, details.groups())
    assert title == whole == f'"{words}"'
    assert short.endswith("…") and len(short) <= auditlog.SHORT_VALUE
    assert whole.startswith(short[:-1]) and whole[len(short) - 1] == " "  # a whole word


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ("from=2025-13-01", "The from date “2025-13-01” is not a date: give YYYY-MM-DD."),
        ("to=yesterday", "The to date “yesterday” is not a date"),
        ("from=20250310", "The from date “20250310” is not a date"),
        ("from=0001-01-01", "The from date is from 1970-01-01 to 9999-12-30."),
        ("to=9999-12-31", "The to date is from 1970-01-01 to 9999-12-30."),
        ("from=2025-03-11&to=2025-03-09", "The from date is after the to date"),
        ("actor=a%00b", "An actor cannot hold a control character"),
        ("target=a%0Ab", "An object cannot hold a control character"),
        ("from=%3Cb%3E", "The from date “&lt;b&gt;” is not a date"),
        ("from=" + "9" * 5000, "is not a date"),
    ],
    ids=[
        "month-13",
        "words",
        "no-dashes",
        "too-early",
        "too-late",
        "from-after-to",
        "actor-nul",
        "target-line-break",
        "escaped",
        "long",
    ],
)
def test_a_bad_filter_is_a_message_not_a_500(
    admin: AdminSession, history: None, query: str, shown: str
) -> None:
    rv = admin.get(f"/admin/audit?{query}")
    page = rv.get_data(as_text=True)
    assert rv.status_code == 400, page[:500]
    assert shown in page
    assert "Something went wrong" not in page
    assert "shop-2" in page  # the log, without the refused filter


@pytest.mark.parametrize(
    ("text", "short"),
    [
        ("short", "short"),
        ("a\nb  c", "a b c"),
        ("word " * 30, " ".join(["word"] * 16) + "…"),
        ("x" * 100, "x" * 79 + "…"),
        (
            "https://example.com/" + "segment/" * 12,
            "https://example.com/segment/segment/segment/segment/segment/segment/segment/…",
        ),
        ("a, " + "b" * 90, "a, " + "b" * 76 + "…"),
    ],
    ids=["short", "one-line", "words", "no-boundary", "url", "boundary-too-early"],
)
def test_shorten_cuts_at_a_boundary_with_an_ellipsis(text: str, short: str) -> None:
    assert auditlog.shorten(text) == short
    assert len(auditlog.shorten(text)) <= auditlog.SHORT_VALUE
