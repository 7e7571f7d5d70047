"""The clients list: sort, filters (state, type, the plugins' marks), paging that keeps them,
the words of an empty page; the marks' badges; plugins' panels only while enabled."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from markupsafe import escape

from emulator.ops.clock import utcnow
from emulator.storage.database import db
from emulator.storage.models import Client
from plugins.oauth2.models import ImportedClient
from tests.support.admin import AdminSession


def listed(page: str) -> list[str]:
    """The client ids a list page shows, in its order."""
    return re.findall(r'<td class="id"><a href="/admin/clients/[^"]+/edit"><code>([^<]+)', page)


@pytest.fixture
def many(app: Flask) -> Callable[..., list[str]]:
    """Add clients straight to the table: ``count`` of them named ``prefix-NNNNN``, one
    minute apart (the first oldest); every third disabled, every fourth public."""

    def add(count: int, prefix: str = "c") -> list[str]:
        start = utcnow().replace(microsecond=0) - timedelta(days=1)
        rows = [
            {
                "client_id": f"{prefix}-{n:05d}",
                "secret_hash": None if n % 4 == 0 else "argon2-not-a-real-hash",
                "disabled": n % 3 == 0,
                "redirect_uri": "",
                "created_at": start + timedelta(minutes=n),
            }
            for n in range(count)
        ]
        with app.app_context():
            db.session.execute(sa.insert(Client), rows)
            db.session.commit()
        return [row["client_id"] for row in rows]

    return add


def mark_imported(app: Flask, *client_ids: str) -> None:
    """What ``legacy import`` records of the clients it brought over."""
    with app.app_context():
        ids = db.session.scalars(sa.select(Client.id).where(Client.client_id.in_(client_ids)))
        db.session.add_all(ImportedClient(client_id=pk, imported_at=utcnow()) for pk in ids)
        db.session.commit()


# --- empty pages -------------------------------------------------------------------------


def test_a_page_past_the_last_says_how_many_there_are_and_links_the_last(
    admin: AdminSession, many: Callable[..., list[str]]
) -> None:
    many(120)
    page = admin.get("/admin/clients?page=999").get_data(as_text=True)
    assert "No clients on page 999; there are 120 clients:" in page
    assert '<a href="/admin/clients?page=3">go to the last page (3)</a>' in page
    assert "No clients yet" not in page
    page = admin.get("/admin/clients?page=9&state=disabled&sort=created").get_data(as_text=True)
    assert "No clients on page 9; there are 40 clients matching:" in page
    assert escape("/admin/clients?page=1&sort=created&state=disabled") in page


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ("", "No clients yet: <a"),
        ("?q=nothing-like-it", "No client id or user id contains “nothing-like-it”."),
        ("?state=disabled", "No client matches these filters."),
        ("?oauth2.imported=yes&page=4", "No client matches these filters."),
    ],
    ids=["empty-table", "search", "state", "mark"],
)
def test_an_empty_list_says_why(admin: AdminSession, query: str, shown: str) -> None:
    page = admin.get(f"/admin/clients{query}").get_data(as_text=True)
    assert shown in page
    if query:
        assert "No clients yet" not in page


# --- sort and filters ----------------------------------------------------------------------


def test_sort_by_each_column_either_way(admin: AdminSession, many: Callable[..., list]) -> None:
    made = many(8)
    assert listed(admin.get("/admin/clients").get_data(as_text=True)) == made
    assert listed(admin.get("/admin/clients?dir=desc").get_data(as_text=True)) == made[::-1]
    newest = listed(admin.get("/admin/clients?sort=created&dir=desc").get_data(as_text=True))
    assert newest == made[::-1]
    by_state = listed(admin.get("/admin/clients?sort=state").get_data(as_text=True))
    assert by_state == [c for c in made if int(c[-1]) % 3] + [c for c in made if not int(c[-1]) % 3]
    by_type = listed(admin.get("/admin/clients?sort=type").get_data(as_text=True))
    assert by_type == [c for c in made if int(c[-1]) % 4] + [c for c in made if not int(c[-1]) % 4]


def test_a_column_header_sorts_and_turns_the_order_round(
    admin: AdminSession, many: Callable[..., list]
) -> None:
    many(3)
    page = admin.get("/admin/clients?state=enabled").get_data(as_text=True)
    assert 'href="/admin/clients?sort=created&amp;state=enabled"' in page
    assert 'aria-sort="ascending"' in page  # by client id, the default
    page = admin.get("/admin/clients?sort=created&state=enabled").get_data(as_text=True)
    assert escape("/admin/clients?sort=created&dir=desc&state=enabled") in page
    assert page.count("aria-sort=") == 1


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("state=disabled", lambda n: n % 3 == 0),
        ("state=enabled", lambda n: n % 3 != 0),
        ("type=public", lambda n: n % 4 == 0),
        ("type=confidential", lambda n: n % 4 != 0),
        ("oauth2.imported=yes", lambda n: n in (1, 2, 5)),
        ("oauth2.imported=no", lambda n: n not in (1, 2, 5)),
        ("state=enabled&type=confidential&oauth2.imported=yes", lambda n: n in (1, 2, 5)),
        ("q=c-0000&state=disabled", lambda n: n in (0, 3, 6, 9)),
    ],
    ids=["disabled", "enabled", "public", "confidential", "imported", "not-imported", "all", "q"],
)
def test_filters(
    admin: AdminSession, app: Flask, many: Callable[..., list], query: str, expected
) -> None:
    made = many(12)
    mark_imported(app, made[1], made[2], made[5])
    page = admin.get(f"/admin/clients?{query}").get_data(as_text=True)
    assert listed(page) == [c for n, c in enumerate(made) if expected(n)]


def test_paging_keeps_the_sort_and_the_filters(
    admin: AdminSession, app: Flask, many: Callable[..., list]
) -> None:
    made = many(300)
    mark_imported(app, *made[::2])
    query = "sort=created&dir=desc&state=enabled&oauth2.imported=yes"
    page = admin.get(f"/admin/clients?{query}").get_data(as_text=True)
    wanted = [c for n, c in enumerate(made) if n % 2 == 0 and n % 3 != 0][::-1]
    assert listed(page) == wanted[:50]
    assert "Page 1 of 2" in page
    nxt = re.search(r'<a href="([^"]+)">Next ›</a>', page).group(1).replace("&amp;", "&")
    assert nxt == f"/admin/clients?page=2&{query}"
    second = admin.get(nxt).get_data(as_text=True)
    assert listed(second) == wanted[50:]
    prev = re.search(r'<a href="([^"]+)">‹ Previous</a>', second).group(1).replace("&amp;", "&")
    assert prev == f"/admin/clients?page=1&{query}"
    # The filter form sends the sort back with the filters.
    assert '<input type="hidden" name="sort" value="created">' in second
    assert '<input type="hidden" name="dir" value="desc">' in second


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ("sort=secret_hash", "The sort is one of: client_id, created, state, type"),
        ("dir=sideways", "The order is one of: asc, desc"),
        ("state=maybe", "The state is one of: enabled, disabled"),
        ("type=%3Cscript%3E", "The type is one of: confidential, public; “&lt;script&gt;”"),
        ("oauth2.imported=perhaps", "The imported filter is one of: yes, no"),
        ("state=" + "x" * 5000, "The state is one of"),
    ],
    ids=["sort", "dir", "state", "type-escaped", "mark", "long"],
)
def test_a_bad_choice_is_a_message_not_a_500(
    admin: AdminSession, many: Callable[..., list], query: str, shown: str
) -> None:
    many(2)
    rv = admin.get(f"/admin/clients?{query}")
    page = rv.get_data(as_text=True)
    assert rv.status_code == 400, page[:500]
    assert shown in page
    assert len(listed(page)) == 2  # the rest of the list, without the refused choice


# --- marks -------------------------------------------------------------------------------


def test_an_imported_client_has_a_badge_on_the_list_and_its_page(
    admin: AdminSession, app: Flask, many: Callable[..., list]
) -> None:
    made = many(3)
    mark_imported(app, made[1])
    badge = (
        '<span class="badge mark" title="Brought over from the redCORE database by the '
        'legacy import.">imported</span>'
    )
    page = admin.get("/admin/clients").get_data(as_text=True)
    assert page.count(badge) == 1
    row = page[page.index(f"<code>{made[1]}</code>") :]
    assert row.index(badge) < row.index("</tr>")
    assert badge in admin.get(f"/admin/clients/{made[1]}/edit").get_data(as_text=True)
    assert badge not in admin.get(f"/admin/clients/{made[0]}/edit").get_data(as_text=True)


def test_the_filter_offers_every_plugins_mark_by_its_label(admin: AdminSession) -> None:
    page = admin.get("/admin/clients").get_data(as_text=True)
    assert re.search(
        r'<label for="f-1"[^>]*>Imported</label>\s*<select id="f-1" name="oauth2.imported">', page
    )


# --- plugins' panels -------------------------------------------------------------------------


def test_a_plugins_panel_and_token_command_show_only_while_it_is_enabled(
    admin: AdminSession, cli: Callable[..., str]
) -> None:
    rv = admin.post("/admin/clients/new", {"client_id": "app-2", "all_grants": "y"})
    assert "Apigee token URL" not in rv.get_data(as_text=True)
    assert "redCORE token URL" in rv.get_data(as_text=True)
    page = admin.get("/admin/clients/app-2/edit").get_data(as_text=True)
    assert 'id="panel-apigee"' not in page
    rv = admin.post("/admin/clients/app-2/panel/apigee", {"developer_email": "a@example.com"})
    assert rv.status_code == 409
    assert "The apigee plugin is disabled" in rv.get_data(as_text=True)
    cli("plugins", "enable", "apigee")
    assert 'id="panel-apigee"' in admin.get("/admin/clients/app-2/edit").get_data(as_text=True)
    rv = admin.post("/admin/clients/new", {"client_id": "app-3", "all_grants": "y"})
    assert "Apigee token URL" in rv.get_data(as_text=True)
