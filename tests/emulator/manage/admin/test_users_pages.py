"""The site users' pages: the list, a user's page, block, unblock, password, delete, create."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

from emulator import oauth
from emulator.ops import audit
from emulator.ops.clock import utcnow
from emulator.storage.database import db
from tests.support.admin import AdminSession
from tests.support.admin import all_values
from tests.support.users import login

Cli = Callable[..., str]
FUTURE = (utcnow() + timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
PAST = (utcnow() - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")


def add_user(cli: Cli, username: str, password: str = "old password 1", *args: str) -> None:
    cli("users", "create", username, "--password-stdin", *args, input=password + "\n")


def add_token(cli: Cli, client_id: str, user_id: str, token: str, expires: str = FUTURE) -> None:
    cli(
        "tokens", "import", "--type", "access", "--token", token, "--client-id", client_id,
        "--user-id", user_id, "--scope", "site.read", "--expires", expires,
    )  # fmt: skip


def user_id_of(app: Flask, username: str) -> int:
    with app.app_context():
        user = oauth.find_user(db.session, username)
        assert user is not None
        return user.id


def record(app: Flask, username: str) -> oauth.UserRecord | None:
    with app.app_context():
        return oauth.find_user(db.session, username)


def events(app: Flask, action: str) -> list[audit.AuditEvent]:
    with app.app_context():
        return [e for e in audit.events(db.session, limit=1000) if e.action == action]


def rows_of(page: str) -> list[str]:
    """The usernames a users list shows, in order."""
    return re.findall(r'<a href="/admin/users/\d+">([^<]*)</a>', page)


# --- the list ----------------------------------------------------------------------------


def test_the_list_searches_usernames_names_and_emails_and_filters_the_blocked(
    admin: AdminSession, cli: Cli
) -> None:
    add_user(cli, "apiuser", "apipass", "--name", "API User", "--email", "api@example.test",
             "--group", "Registered", "--group", "Editor")  # fmt: skip
    add_user(cli, "Bjørn", "pass", "--name", "Bjørn Berg", "--email", "bb@shop.test")
    add_user(cli, "carol", "pass", "--email", "carol@example.test")
    cli("users", "block", "carol")
    rv = admin.get("/admin/users")
    page = rv.get_data(as_text=True)
    assert rv.status_code == 200
    assert 'href="/admin/users" aria-current="page">Users</a>' in page
    assert rows_of(page) == ["apiuser", "Bjørn", "carol"]
    assert "Registered, Editor" in page and "api@example.test" in page
    assert page.count('class="badge off">blocked') == 1
    assert rows_of(admin.get("/admin/users?q=APIUS").get_data(as_text=True)) == ["apiuser"]
    assert rows_of(admin.get("/admin/users?q=Berg").get_data(as_text=True)) == ["Bjørn"]
    assert rows_of(admin.get("/admin/users?q=example.test").get_data(as_text=True)) == [
        "apiuser",
        "carol",
    ]
    assert rows_of(admin.get("/admin/users?blocked=yes").get_data(as_text=True)) == ["carol"]
    assert rows_of(admin.get("/admin/users?blocked=no&q=example").get_data(as_text=True)) == [
        "apiuser"
    ]
    empty = admin.get("/admin/users?q=nobody").get_data(as_text=True)
    assert "No username, name or email contains “nobody”." in empty


def test_a_page_past_the_last_says_so_and_paging_keeps_the_search(
    admin: AdminSession, app: Flask
) -> None:
    with app.app_context():
        oauth.add_users(
            db.session,
            [oauth.UserImport(id=n, username=f"user-{n:03d}") for n in range(1, 52)],
            now=utcnow(),
        )
        db.session.commit()
    first = admin.get("/admin/users?q=user").get_data(as_text=True)
    assert len(rows_of(first)) == 50
    assert "Page 1 of 2 · 1–50 of 51" in first
    assert 'href="/admin/users?page=2&amp;q=user">Next ›</a>' in first
    second = admin.get("/admin/users?q=user&page=2").get_data(as_text=True)
    assert rows_of(second) == ["user-051"]
    past = admin.get("/admin/users?q=user&page=3").get_data(as_text=True)
    assert "No users on page 3; there are 51 users matching" in past
    assert 'href="/admin/users?page=2&amp;q=user">go to the last page (2)</a>' in past
    for odd in ("page=-1", "page=x", f"page={10**30}"):
        rv = admin.get(f"/admin/users?{odd}")
        assert rv.status_code == 200, odd
        assert "Something went wrong" not in rv.get_data(as_text=True)


@pytest.mark.parametrize(
    ("query", "shown"),
    [("q=%00", "control character"), ("blocked=maybe", "Blocked is one of: yes, no")],
    ids=["nul-search", "unknown-filter"],
)
def test_a_refused_list_value_is_named(admin: AdminSession, query: str, shown: str) -> None:
    rv = admin.get(f"/admin/users?{query}")
    assert rv.status_code == 400
    assert shown in rv.get_data(as_text=True)


def test_the_pages_need_a_login(client: FlaskClient, app: Flask, admin_user: object) -> None:
    for path in ("/admin/users", "/admin/users/1", "/admin/users/new"):
        rv = client.get(path)
        assert rv.status_code == 302 and "/admin/login" in rv.headers["Location"], path


# --- a user's page -------------------------------------------------------------------------


def test_a_users_page_shows_groups_password_kind_clients_and_live_tokens(
    admin: AdminSession, app: Flask, cli: Cli, make_client: Callable[..., object]
) -> None:
    add_user(cli, "apiuser", "apipass", "--id", "42", "--name", "API User",
             "--group", "Registered", "--group", "Super Users")  # fmt: skip
    make_client("mobile-app", user_id="42")
    make_client("other-app", user_id="420")
    make_client("plain-app")
    token = "a" * 40
    add_token(cli, "plain-app", "42", token)
    add_token(cli, "mobile-app", "42", "b" * 40, expires=PAST)  # expired: not live
    add_token(cli, "mobile-app", "7", "c" * 40)  # another user's
    rv = admin.get("/admin/users/42")
    page = rv.get_data(as_text=True)
    assert rv.status_code == 200
    groups = '<span class="badge set">Registered</span> <span class="badge set">Super Users</span>'
    assert groups in page
    assert '<td class="wrap" id="password-kind">argon2id</td>' in page
    clients = page[page.index('id="clients"') : page.index('id="tokens"')]
    assert re.findall(r"<code>([^<]+)</code>", clients) == ["mobile-app"]
    assert 'href="/admin/clients/mobile-app/edit"' in clients
    tokens = page[page.index('id="tokens"') :]
    assert "(1; only a hash is kept)" in tokens
    assert 'href="/admin/clients/plain-app/edit"' in tokens
    assert "mobile-app" not in tokens
    assert token not in page and oauth.hash_token(token) not in page


@pytest.mark.parametrize(
    ("password_hash", "words"),
    [
        (None, "none (cannot log in)"),
        ("$2y$10$" + "a" * 53, "in another format (an import&#39;s): replaced by argon2id"),
    ],
    ids=["none", "imported-bcrypt"],
)
def test_the_password_kind_is_said_as_users_show_says_it(
    admin: AdminSession, app: Flask, password_hash: str | None, words: str
) -> None:
    with app.app_context():
        oauth.add_users(
            db.session,
            [oauth.UserImport(id=5, username="imported", password_hash=password_hash)],
            now=utcnow(),
        )
        db.session.commit()
    assert words in admin.get("/admin/users/5").get_data(as_text=True)


@pytest.mark.parametrize(
    "path",
    [
        "/admin/users/999",
        "/admin/users/0",
        "/admin/users/abc",
        "/admin/users/-1",
        "/admin/users/1.5",
        f"/admin/users/{10**30}",
        "/admin/users/999/delete",
        "/admin/users/abc/delete",
    ],
)
def test_an_unknown_user_or_an_id_that_is_no_number_is_the_admins_404(
    admin: AdminSession, path: str
) -> None:
    rv = admin.get(path)
    page = rv.get_data(as_text=True)
    assert rv.status_code == 404
    assert "<h1>Not Found</h1>" in page and "Back to the admin pages" in page
    for post in ("blocked", "password"):
        assert admin.post(path.removesuffix("/delete") + f"/{post}").status_code == 404


def test_hostile_usernames_and_names_are_escaped_everywhere(
    admin: AdminSession, app: Flask, cli: Cli
) -> None:
    hostile = '<script>alert("x")</script>'
    with app.app_context():
        # Only an import brings such a username (one made here may not hold < > "): the
        # old site's are taken as they are.
        oauth.add_users(
            db.session,
            [oauth.UserImport(id=9, username=hostile, name=hostile, email=hostile,
                              groups=(hostile,), password_hash=None)],
            now=utcnow(),
        )  # fmt: skip
        db.session.commit()
    add_user(cli, "named", "pass", "--name", "<img src=x onerror=alert(1)>")
    pages = [
        admin.get("/admin/users").get_data(as_text=True),
        admin.get("/admin/users?q=%3Cscript").get_data(as_text=True),
        admin.get("/admin/users/9").get_data(as_text=True),
        admin.post("/admin/users/9/blocked", {"blocked": "1"}).get_data(as_text=True),
        admin.get("/admin/users/9/delete").get_data(as_text=True),
    ]
    admin.post("/admin/users/9/blocked", {"blocked": "1", "confirm": "1"})
    pages.append(admin.get("/admin/users/9").get_data(as_text=True))  # the flash message
    for page in pages:
        assert "<script>" not in page and "<img" not in page
        assert str(escape(hostile)) in page
    assert "User &lt;script&gt;" in pages[-1]


# --- block, unblock, password, delete ---------------------------------------------------------


def test_block_asks_first_naming_what_breaks_then_revokes_and_is_audited(
    admin: AdminSession, app: Flask, cli: Cli, make_client: Callable[..., object]
) -> None:
    add_user(cli, "apiuser", "apipass", "--id", "42")
    make_client("mobile-app", user_id="42")
    make_client("plain-app")
    add_token(cli, "plain-app", "42", "a" * 40)
    add_token(cli, "plain-app", "42", "b" * 40)
    rv = admin.post("/admin/users/42/blocked", {"blocked": "1"})
    page = rv.get_data(as_text=True)
    assert rv.status_code == 200
    assert "<h1>Block user apiuser?</h1>" in page
    assert "their logins are refused" in page
    assert "the user&#39;s 2 live tokens are revoked" in page
    assert "1 client acts as this user" in page
    assert not record(app, "apiuser").blocked  # nothing done yet
    rv = admin.post("/admin/users/42/blocked", {"blocked": "1", "confirm": "1"})
    assert rv.status_code == 303 and rv.headers["Location"] == "/admin/users/42"
    assert "User apiuser blocked; 2 tokens revoked." in admin.get("/admin/users/42").get_data(
        as_text=True
    )
    assert record(app, "apiuser").blocked
    assert login(app, "apiuser", "apipass") is None
    (event,) = events(app, "user.block")
    assert (event.actor, event.target) == ("admin:alice", "apiuser")
    assert json.loads(event.after) == {"blocked": True, "tokens_removed": 2}
    # Unblock: no confirmation; the revoked tokens stay revoked.
    rv = admin.post("/admin/users/42/blocked", {"blocked": "0"})
    assert rv.status_code == 303
    assert not record(app, "apiuser").blocked
    assert login(app, "apiuser", "apipass") is not None
    assert [e.actor for e in events(app, "user.unblock")] == ["admin:alice"]
    assert "(0; only a hash is kept)" in admin.get("/admin/users/42").get_data(as_text=True)


def test_set_password_asks_twice_warns_when_short_and_never_stores_or_audits_it(
    admin: AdminSession, app: Flask, cli: Cli
) -> None:
    add_user(cli, "apiuser", "apipass", "--id", "42")
    rv = admin.post("/admin/users/42/password", {"password": "new one", "password_again": "other"})
    page = rv.get_data(as_text=True)
    assert rv.status_code == 400
    assert "The two passwords differ." in page and "Nothing was changed" in page
    assert login(app, "apiuser", "apipass") is not None
    rv = admin.post("/admin/users/42/password", {"password": "short", "password_again": "short"})
    assert rv.status_code == 303
    page = admin.get("/admin/users/42").get_data(as_text=True)
    assert "Password of apiuser changed." in page
    assert "Warning: a password shorter than 12 characters is easier to guess." in page
    assert login(app, "apiuser", "apipass") is None
    assert login(app, "apiuser", "short") is not None
    (event,) = events(app, "user.password")
    assert (event.actor, json.loads(event.after)) == ("admin:alice", {"password": "changed"})
    long_enough = "a long enough password"
    admin.post("/admin/users/42/password", {"password": long_enough, "password_again": long_enough})
    assert "easier to guess" not in admin.get("/admin/users/42").get_data(as_text=True)
    assert not [v for v in all_values(app, "audit_events", "site_users") if long_enough in v]


def test_a_refused_password_changes_nothing(admin: AdminSession, app: Flask, cli: Cli) -> None:
    add_user(cli, "apiuser", "apipass", "--id", "42")
    nul = "with\0nul"
    rv = admin.post("/admin/users/42/password", {"password": nul, "password_again": nul})
    assert rv.status_code == 400
    assert "A password cannot hold NUL. Nothing was changed." in rv.get_data(as_text=True)
    assert login(app, "apiuser", "apipass") is not None
    assert events(app, "user.password") == []


def test_delete_asks_first_then_removes_the_user_and_their_tokens(
    admin: AdminSession, app: Flask, cli: Cli, make_client: Callable[..., object]
) -> None:
    add_user(cli, "apiuser", "apipass", "--id", "42")
    make_client("plain-app")
    add_token(cli, "plain-app", "42", "a" * 40)
    for rv in (admin.get("/admin/users/42/delete"), admin.post("/admin/users/42/delete")):
        page = rv.get_data(as_text=True)
        assert rv.status_code == 200
        assert "<h1>Delete user apiuser?</h1>" in page
        assert "the user&#39;s 1 live token is removed" in page
    assert record(app, "apiuser") is not None
    rv = admin.post("/admin/users/42/delete", {"confirm": "1"})
    assert rv.status_code == 303 and rv.headers["Location"] == "/admin/users"
    assert "User apiuser deleted; 1 token revoked." in admin.get("/admin/users").get_data(
        as_text=True
    )
    assert record(app, "apiuser") is None
    (event,) = events(app, "user.delete")
    assert (event.actor, event.target) == ("admin:alice", "apiuser")


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/admin/users/42/blocked", {"blocked": "1", "confirm": "1"}),
        ("/admin/users/42/password", {"password": "x" * 20, "password_again": "x" * 20}),
        ("/admin/users/42/delete", {"confirm": "1"}),
        ("/admin/users/new", {"username": "new", "password": "p" * 12, "password_again": "p" * 12}),
    ],
    ids=["block", "password", "delete", "create"],
)
def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    admin: AdminSession, app: Flask, cli: Cli, path: str, data: dict[str, str]
) -> None:
    add_user(cli, "apiuser", "apipass", "--id", "42")
    for token in (None, "forged"):
        sent = data if token is None else {"csrf_token": token, **data}
        rv = admin.client.post(path, data=sent)
        assert rv.status_code == 400
        assert "Form expired" in rv.get_data(as_text=True)
    user = record(app, "apiuser")
    assert user is not None and not user.blocked
    assert login(app, "apiuser", "apipass") is not None
    assert record(app, "new") is None


# --- a new user ------------------------------------------------------------------------------


def test_a_user_created_on_the_page_is_the_clis_and_audited(
    admin: AdminSession, app: Flask
) -> None:
    rv = admin.post(
        "/admin/users/new",
        {
            "username": "newuser",
            "name": "New User",
            "email": "new@example.test",
            "groups": "Registered, Editor,",
            "password": "a long enough password",
            "password_again": "a long enough password",
        },
    )
    assert rv.status_code == 303
    user = record(app, "NEWUSER")
    assert user is not None
    assert rv.headers["Location"] == f"/admin/users/{user.id}"
    assert (user.name, user.email, user.groups) == ("New User", "new@example.test",
                                                     ("Registered", "Editor"))  # fmt: skip
    assert f"User newuser created (id {user.id})." in admin.get(rv.headers["Location"]).get_data(
        as_text=True
    )
    assert login(app, "newuser", "a long enough password") is not None
    (event,) = events(app, "user.create")
    assert event.actor == "admin:alice"
    assert json.loads(event.after)["password"] == "set"


@pytest.mark.parametrize(
    ("data", "shown"),
    [
        ({"username": "apiuser"}, "A user &#39;APIUser&#39; already exists (usernames ign"),
        ({"username": "<script>"}, "A username may not hold &lt; &gt;"),
        ({"username": "x", "password_again": "other"}, "The two passwords differ."),
        ({"username": ""}, "This field is required."),
    ],
    ids=["taken", "forbidden-characters", "passwords-differ", "no-username"],
)
def test_a_refused_new_user_is_explained_and_nothing_is_saved(
    admin: AdminSession, cli: Cli, count_rows: Callable[[str], int], data: dict, shown: str
) -> None:
    add_user(cli, "APIUser")
    fields = {"password": "p" * 12, "password_again": "p" * 12, **data}
    rv = admin.post("/admin/users/new", fields)
    assert rv.status_code == 400
    assert shown in rv.get_data(as_text=True)
    assert count_rows("site_users") == 1
