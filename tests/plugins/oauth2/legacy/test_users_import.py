"""`flask legacy import` brings the site's users: Joomla's #__users with their groups, each
password in the format the old site stored it, checked at the first login and then argon2id.

Each test builds the legacy site (tests/support/legacy_site.py: a user per hash format, and
the ones who must not log in) and imports it with the real CLI.
"""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta
from datetime import timezone

import pytest
import sqlalchemy as sa

from emulator import oauth
from emulator.storage.database import db
from plugins.oauth2.legacy import cli as legacy_cli
from plugins.oauth2.legacy.source import map_user
from plugins.oauth2.legacy.source import parse_utc
from tests.support.legacy_site import GROUPS
from tests.support.legacy_site import LOGINS
from tests.support.legacy_site import USERS
from tests.support.legacy_site import LegacyUser
from tests.support.legacy_site import joomla_hash
from tests.support.legacy_site import ok
from tests.support.legacy_site import table
from tests.support.users import login
from tests.support.users import stored_hashes

REGISTERED = datetime(2015, 3, 4, 5, 6, 7)
VISITED = datetime(2024, 1, 2, 3, 4, 5)


def user(app, username: str) -> oauth.UserRecord:
    with app.app_context():
        found = oauth.find_user(db.session, username)
    assert found is not None, username
    return found


def old_site_passwords(site) -> list[tuple]:
    return sorted(map(tuple, site.rows("SELECT id, password FROM {p}users")))


def test_every_user_comes_over_and_logs_in_with_the_old_password(legacy, legacy_import, app):
    out = ok(legacy_import(legacy))
    assert table(out)["users"] == (12, 0, 0, 2, 0)
    for reason in (
        "users                 1  malformed row: empty username (60)",
        "users                 1  malformed row: control character in username "
        "(61: 'ctl\\x01user')",
    ):
        assert reason in out, reason
    assert "Users:\n  imported: apiuser, Phpass.User, phpbb.user, md5.salted" in out
    hashes = stored_hashes(app)
    for legacy_user in USERS:
        assert legacy_user.password not in out or not legacy_user.password
        assert not hashes[legacy_user.username] or hashes[legacy_user.username] not in out
    # The old site's hashes are stored as they are, until each user's first login.
    assert hashes["apiuser"].startswith("$2y$") and hashes["Phpass.User"].startswith("$P$")
    assert hashes["no.password"] is None
    before = old_site_passwords(legacy)

    for username, password in LOGINS.items():
        assert login(app, username.upper(), password + "x") is None, username
        logged_in = login(app, username.upper(), password)
        assert logged_in is not None and logged_in.username == username, username
    after = stored_hashes(app)
    for username in LOGINS:
        assert after[username].startswith("$argon2id$"), username
        assert login(app, username, LOGINS[username]) is not None  # ours now
    assert old_site_passwords(legacy) == before  # the old site's database is never written

    refused = {u.username: u.password for u in USERS if u.username not in LOGINS}
    assert set(refused) == {"blocked.user", "two.factor", "no.password"}
    for username, password in refused.items():
        assert login(app, username, password) is None, username


def test_profiles_groups_and_dates_come_over(legacy, legacy_import, app) -> None:
    ok(legacy_import(legacy))
    api = user(app, "apiuser")
    assert (api.id, api.name, api.email) == (42, "API User", "apiuser@example.test")
    assert api.groups == ("Registered",)  # a membership of a group that is no more: ignored
    assert (api.registered_at, api.last_visit_at) == (REGISTERED, VISITED)
    assert user(app, "phpass.user").groups == ("Registered", "Author")
    assert user(app, "argon.id").groups == (GROUPS[8],)
    assert user(app, "phpbb.user").groups == ()
    assert user(app, "md5.salted").last_visit_at is None  # never: the zero date, or NULL
    assert user(app, "blocked.user").blocked is True
    two_factor = user(app, "two.factor")
    assert two_factor.two_factor is True and not two_factor.blocked
    assert user(app, "BJØRN").id == 50
    with app.app_context():
        columns = " ".join(
            str(value)
            for row in db.session.execute(sa.text("SELECT * FROM site_users"))
            for value in row
        )
    assert "totp" not in columns  # the two-factor key itself never comes over


def test_a_dry_run_writes_nothing(legacy, legacy_import, app, count_rows) -> None:
    out = ok(legacy_import(legacy, "--dry-run"))
    assert table(out)["users"] == (12, 0, 0, 2, 0)
    assert "would be imported: apiuser" in out
    assert count_rows("site_users") == count_rows("oauth2_imported_users") == 0
    ok(legacy_import(legacy))
    legacy.run("UPDATE {p}users SET block = 1 WHERE id = 42")
    out = ok(legacy_import(legacy, "--dry-run"))
    assert "would be updated apiuser (id 42): blocked" in out
    assert user(app, "apiuser").blocked is False


def test_changes_on_the_old_site_are_picked_up(legacy, legacy_import, app) -> None:
    ok(legacy_import(legacy))
    legacy.add_user(LegacyUser(70, "newcomer", "new pass", "phpass", groups=(3,)))
    legacy.run(
        "UPDATE {p}users SET password = :h, name = 'Renamed', email = 'new@example.test' "
        "WHERE id = 46",
        h=joomla_hash("md5", "changed there"),
    )
    legacy.run("UPDATE {p}users SET block = 1 WHERE id = 43")
    legacy.run("UPDATE {p}users SET block = 0 WHERE id = 51")
    legacy.run("INSERT INTO {p}user_usergroup_map (user_id, group_id) VALUES (42, 8)")
    out = ok(legacy_import(legacy))
    assert table(out)["users"] == (1, 4, 8, 2, 0)
    assert "imported: newcomer" in out
    assert "updated md5.bare (id 46): name, email, password" in out
    assert "updated Phpass.User (id 43): blocked" in out
    assert "updated apiuser (id 42): groups" in out
    assert login(app, "newcomer", "new pass") is not None
    assert login(app, "md5.bare", "bare pass") is None
    assert login(app, "md5.bare", "changed there") is not None
    assert login(app, "phpass.user", "php pass") is None  # blocked there, so here
    assert login(app, "blocked.user", "blocked pass") is not None  # unblocked there
    assert user(app, "apiuser").groups == ("Registered", "Super Users")
    assert user(app, "md5.bare").name == "Renamed"


def test_changes_made_here_stay_unless_the_old_site_changes_the_same_value(
    legacy, legacy_import, app, cli
) -> None:
    ok(legacy_import(legacy))
    cli("users", "set-password", "md5.salted", "--password-stdin", input="set here\n")
    assert login(app, "argon.i", "argon i pass") is not None  # rehashed here
    cli("users", "unblock", "blocked.user")
    cli("users", "block", "sha.user")
    out = ok(legacy_import(legacy))
    assert table(out)["users"] == (0, 0, 12, 2, 0)
    assert login(app, "md5.salted", "set here") is not None
    assert login(app, "md5.salted", "salted pass") is None
    assert stored_hashes(app)["argon.i"].startswith("$argon2id$")
    assert login(app, "blocked.user", "blocked pass") is not None
    assert login(app, "sha.user", "sha pass") is None

    # The old site's own change wins: a new hash there, a block there (as here: nothing to
    # do), then that block lifted there.
    legacy.run(
        "UPDATE {p}users SET password = :h WHERE id = 45", h=joomla_hash("bcrypt", "new there")
    )
    legacy.run("UPDATE {p}users SET block = 1 WHERE id = 47")
    out = ok(legacy_import(legacy))
    assert table(out)["users"] == (0, 1, 11, 2, 0)
    assert "updated md5.salted (id 45): password" in out and "sha.user" not in out
    assert login(app, "md5.salted", "set here") is None
    assert login(app, "md5.salted", "new there") is not None
    legacy.run("UPDATE {p}users SET block = 0 WHERE id = 47")
    out = ok(legacy_import(legacy))
    assert "updated sha.user (id 47): blocked" in out
    assert login(app, "sha.user", "sha pass") is not None


def test_a_block_from_the_old_site_revokes_the_users_tokens(legacy, legacy_import, app):
    def held() -> int:
        with app.app_context():
            return sum(
                db.session.scalar(sa.text(f"SELECT count(*) FROM {table} WHERE user_id = '42'"))
                for table in ("oauth_access_tokens", "oauth_refresh_tokens")
            )

    ok(legacy_import(legacy))
    assert held() == 2  # the live access and refresh token the old site issued to user 42
    legacy.run("UPDATE {p}users SET block = 1 WHERE id = 42")
    out = ok(legacy_import(legacy))
    assert "updated apiuser (id 42): blocked; blocked: 2 tokens revoked" in out
    assert held() == 0


def test_a_user_removed_here_is_not_brought_back(legacy, legacy_import, app, cli) -> None:
    ok(legacy_import(legacy))
    cli("users", "delete", "md5.bare", "--yes")
    out = ok(legacy_import(legacy))
    assert table(out)["users"] == (0, 0, 11, 3, 0)
    assert "users                 1  removed here; never imported again (46: md5.bare)" in out
    assert login(app, "md5.bare", "bare pass") is None


def test_users_gone_from_the_old_site_are_kept_or_pruned(legacy, legacy_import, app, cli):
    ok(legacy_import(legacy))
    cli("users", "create", "made.here", "--password-stdin", input="pw\n")
    legacy.run("DELETE FROM {p}users WHERE id IN (46, 47)")
    out = ok(legacy_import(legacy))
    assert "not on the old site, kept: md5.bare (id 46; --prune removes it)" in out
    assert login(app, "md5.bare", "bare pass") is not None
    out = ok(legacy_import(legacy, "--prune"))
    assert table(out)["users"] == (0, 0, 10, 2, 2)
    assert "removed md5.bare (id 46) and its 0 tokens (not on the old site)" in out
    assert login(app, "md5.bare", "bare pass") is None and login(app, "made.here", "pw")
    with app.app_context():
        records = db.session.scalars(sa.text("SELECT user_id FROM oauth2_imported_users")).all()
    assert 46 not in records and 47 not in records


def test_users_made_here_are_never_the_old_sites(make_legacy, legacy_import, app, cli) -> None:
    site = make_legacy()
    cli("users", "create", "someone", "--password-stdin", "--id", "42", input="mine\n")
    cli("users", "create", "Taken.Name", "--password-stdin", "--id", "7", input="mine\n")
    cli("users", "create", "apiuser2", "--password-stdin", "--id", "44", input="here\n")
    site.add_user(LegacyUser(42, "apiuser", "apipass", "md5"))
    site.add_user(LegacyUser(43, "taken.name", "theirs", "md5"))
    site.add_user(LegacyUser(44, "APIUSER2", "there", "md5", name="From There"))
    out = ok(legacy_import(site))
    assert table(out)["users"] == (0, 1, 0, 2, 0)
    assert "id taken here by another user (42: someone here, apiuser there)" in out
    assert "username taken here by another user (43: taken.name)" in out
    # Same id, same username (in any case): the old site's user, from now on.
    assert "updated APIUSER2 (id 44): username, name, registered, password, last visit" in out
    assert login(app, "someone", "mine") is not None
    assert login(app, "taken.name", "mine") is not None
    assert login(app, "apiuser2", "there") is not None and login(app, "apiuser2", "here") is None


def test_the_later_last_visit_wins(legacy, legacy_import, app) -> None:
    ok(legacy_import(legacy))
    assert login(app, "apiuser", "apipass", now=datetime(2030, 1, 1)) is not None
    legacy.run(
        f"UPDATE {{p}}users SET {legacy.quoted('lastvisitDate')} = :d WHERE id IN (42, 46)",
        d=legacy.date("2025-06-07 08:09:10"),
    )
    out = ok(legacy_import(legacy))
    assert "updated md5.bare (id 46): last visit" in out
    assert user(app, "apiuser").last_visit_at == datetime(2030, 1, 1)
    assert user(app, "md5.bare").last_visit_at == datetime(2025, 6, 7, 8, 9, 10)


def test_a_site_without_users_tables_imports_the_rest(make_legacy, legacy_import) -> None:
    site = make_legacy()
    site.add_client("one", "one-Pass")
    site.run("DROP TABLE {p}users")
    out = ok(legacy_import(site))
    assert table(out)["clients"] == (1, 0, 0, 0, 0)
    assert table(out)["users"] == (0, 0, 0, 0, 0)
    assert "Users: not imported (no table jos_users)." in out


def test_a_large_users_table_streams_with_a_progress_bar(
    make_legacy, legacy_import, app, count_rows
) -> None:
    site = make_legacy()
    rows = [
        {"id": n, "u": f"user{n}", "p": joomla_hash("md5", f"pw{n}"), "d": "2020-01-01 00:00:00"}
        for n in range(1, legacy_cli.PROGRESS_MIN + 501)
    ]
    with site.engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO jos_users (id, name, username, email, password, registerDate) "
                "VALUES (:id, :u, :u, '', :p, :d)"
            ),
            rows,
        )
    out = ok(legacy_import(site))
    assert table(out)["users"] == (len(rows), 0, 0, 0, 0)
    assert f"{'users':<15}" in out.splitlines()
    assert "and 5480 more" in out
    assert count_rows("site_users") == len(rows)
    assert login(app, "USER4321", "pw4321") is not None


# --- mapping a row ----------------------------------------------------------------------------


class Row:
    """A #__users row as the source hands it out."""

    def __init__(self, **values: object) -> None:
        base = {
            "id": 5,
            "name": "N",
            "username": "u5",
            "email": "e@x",
            "password": "5f4dcc3b5aa765d61d8327deb882cf99",
            "block": 0,
            "registerDate": "2015-03-04 05:06:07",
            "lastvisitDate": "0000-00-00 00:00:00",
            "otpKey": "",
        }
        self.__dict__.update({**base, **values})


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, {"blocked": False, "two_factor": False, "last_visit_at": None}),
        ({"block": "1", "otpKey": "totp:x"}, {"blocked": True, "two_factor": True}),
        ({"block": "0", "otpKey": "  "}, {"blocked": False, "two_factor": False}),
        ({"otpKey": None, "lastvisitDate": None}, {"two_factor": False, "last_visit_at": None}),
        ({"password": ""}, {"password_hash": None}),
        ({"username": b"bytes\xc3\xa9"}, {"username": "bytesé"}),
        ({"id": "7"}, {"id": 7}),
        ({"lastvisitDate": datetime(2020, 1, 2)}, {"last_visit_at": datetime(2020, 1, 2)}),
    ],
    ids=[
        "defaults",
        "blocked-2fa",
        "falsy",
        "nulls",
        "no-password",
        "bytes",
        "text-id",
        "datetime",
    ],
)
def test_map_user(values, expected) -> None:
    mapped = map_user(Row(**values), ["Registered"])
    assert isinstance(mapped, oauth.UserImport)
    for name, value in expected.items():
        assert getattr(mapped, name) == value
    assert mapped.groups == ("Registered",)
    assert mapped.registered_at == datetime(2015, 3, 4, 5, 6, 7)


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"id": 0}, "malformed row: id is not a positive number"),
        ({"id": None}, "malformed row: id is not a positive number"),
        ({"username": ""}, "malformed row: empty username"),
        ({"username": " padded"}, "malformed row: username too long or with spaces around it"),
        ({"username": "x" * 151}, "malformed row: username too long or with spaces around it"),
        ({"password": "abc\ndef"}, "malformed row: control character in password"),
        ({"name": b"\xff"}, "malformed row: a column is not text"),
    ],
    ids=["id-zero", "id-null", "empty", "padded", "long", "password-control", "not-utf8"],
)
def test_map_user_skips(values, reason) -> None:
    skipped = map_user(Row(**values), [])
    assert getattr(skipped, "reason", None) == reason
    assert "abc" not in getattr(skipped, "detail", "")  # never the password hash


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0000-00-00 00:00:00", None),
        (None, None),
        ("not a date", None),
        (b"2020-02-03 04:05:06", datetime(2020, 2, 3, 4, 5, 6)),
        ("2020-02-03 04:05:06.000", datetime(2020, 2, 3, 4, 5, 6)),
    ],
)
def test_joomla_dates_are_utc(value, expected) -> None:
    assert parse_utc(value) == expected
    aware = datetime(2020, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    assert parse_utc(aware) == datetime(2020, 1, 1, 10)
