"""`flask users ...`: every command in the forms the compat harness uses, the audit event each
writes (never a password), one-line refusals that store nothing."""

from __future__ import annotations

import getpass
import json

import pytest
import sqlalchemy as sa

from emulator import oauth
from emulator.ops import audit
from emulator.storage.database import db
from tests.support.engine import NOW

ACTOR = f"cli:{getpass.getuser()}"
PASSWORD = "apipass"


@pytest.fixture
def run(runner):
    """Run a command; returns (exit code, stdout, stderr)."""

    def invoke(*args: str, input: str | None = None):
        result = runner.invoke(args=list(args), input=input)
        return result.exit_code, result.stdout, result.stderr

    return invoke


@pytest.fixture
def ok(run):
    def invoke(*args: str, input: str | None = None) -> str:
        code, out, err = run(*args, input=input)
        assert code == 0, out + err
        return out

    return invoke


def snapshot(app) -> list:
    with app.app_context():
        return [
            db.session.execute(sa.text(f"SELECT * FROM {table.name}")).all()
            for table in db.metadata.sorted_tables
        ]


@pytest.fixture
def refused(run, app):
    """Run a command that must fail: one 'Error: ...' line, exit 1, nothing stored."""

    def invoke(*args: str, input: str | None = None) -> str:
        before = snapshot(app)
        code, out, err = run(*args, input=input)
        assert code == 1, out + err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), err
        assert "Traceback" not in out + err
        assert snapshot(app) == before
        return lines[0]

    return invoke


def events(app) -> list[dict]:
    with app.app_context():
        found = audit.events(db.session, action_prefix="user.")
        return [audit.event_dict(event) for event in reversed(found)]


def login(app, username: str, password: str) -> oauth.UserRecord | None:
    with app.app_context():
        user = oauth.authenticate_user(db.session, username, password, now=NOW)
        db.session.commit()
        return user


def test_create_in_the_harness_form_then_log_in(app, ok) -> None:
    out = ok(
        "users",
        "create",
        "apiuser",
        "--password-stdin",
        "--id",
        "42",
        "--name",
        "API User",
        "--email",
        "apiuser@example.test",
        "--group",
        "Registered",
        "--group",
        "Editor",
        input=PASSWORD + "\n",
    )
    assert out == "User apiuser created (id 42).\n"
    user = login(app, "APIUSER", PASSWORD)
    assert user is not None
    assert (user.id, user.name, user.email) == (42, "API User", "apiuser@example.test")
    assert user.groups == ("Registered", "Editor")
    [event] = events(app)
    assert (event["action"], event["target"], event["actor"]) == ("user.create", "apiuser", ACTOR)
    assert event["after"] == {
        "id": 42,
        "name": "API User",
        "email": "apiuser@example.test",
        "groups": ["Registered", "Editor"],
        "password": "set",
    }


def test_a_short_password_is_taken_with_a_warning(run) -> None:
    code, out, err = run("users", "create", "bob", "--password-stdin", input="short\n")
    assert code == 0 and "User bob created (id 1)." in out
    assert "Warning: a password shorter than 12 characters is easier to guess." in err
    _, _, err = run("users", "create", "carol", "--password-stdin", input="long enough pw\n")
    assert "Warning" not in err


def test_the_password_is_asked_twice_without_echo(app, run) -> None:
    code, out, _ = run("users", "create", "dave", input="s3cret pass\ns3cret pass\n")
    assert code == 0 and "s3cret" not in out
    assert login(app, "dave", "s3cret pass") is not None


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("users", "create", "APIUSER"), PASSWORD, "A user 'apiuser' already exists"),
        (("users", "create", "x", "--id", "42"), PASSWORD, "The user id 42 is taken"),
        (("users", "create", "new"), "", "A password cannot be empty; nothing was stored."),
        (("users", "create", "a;b"), PASSWORD, 'A username may not hold < > " % ; ( ) &'),
        (("users", "create", "new", "--group", " "), PASSWORD, "A group title is 1 to 100"),
        (("users", "create", "new\x01"), PASSWORD, "holds a control character"),
        (("users", "set-password", "nobody"), PASSWORD, "No user 'nobody'."),
        (("users", "set-password", "apiuser"), "", "A password cannot be empty"),
        (("users", "show", "nobody"), None, "No user 'nobody'."),
        (("users", "block", "nobody"), None, "No user 'nobody'."),
        (("users", "unblock", "nobody"), None, "No user 'nobody'."),
        (("users", "delete", "nobody", "--yes"), None, "No user 'nobody'."),
        (("users", "list", "--search", "a\x00"), None, "holds a control character"),
    ],
    ids=[
        "username-taken",
        "id-taken",
        "empty-password",
        "forbidden-character",
        "blank-group",
        "control-character",
        "set-password-unknown",
        "set-password-empty",
        "show-unknown",
        "block-unknown",
        "unblock-unknown",
        "delete-unknown",
        "list-control-character",
    ],
)
def test_refusals_are_one_line_and_store_nothing(ok, refused, args, stdin, message) -> None:
    ok("users", "create", "apiuser", "--password-stdin", "--id", "42", input=PASSWORD + "\n")
    extra = ("--password-stdin",) if stdin is not None else ()
    line = refused(*args, *extra, input=None if stdin is None else stdin + "\n")
    assert message in line


def test_an_id_out_of_range_is_a_usage_error(run) -> None:
    code, out, err = run("users", "create", "new", "--id", "0", "--password-stdin", input="p\n")
    assert code == 2 and "Invalid value for '--id'" in err and "Traceback" not in out + err


def test_list_aligned_paged_searched_and_json(app, ok, run) -> None:
    for name in ("delta", "alpha", "charlie", "bravo"):
        ok("users", "create", name, "--password-stdin", "--email", f"{name}@ex.test", input="p\n")
    ok("users", "block", "charlie")
    lines = ok("users", "list").splitlines()
    assert lines[0].split() == [
        "ID",
        "USERNAME",
        "NAME",
        "EMAIL",
        "STATE",
        "GROUPS",
        "LAST",
        "VISIT",
    ]
    assert [line.split()[1] for line in lines[1:]] == ["alpha", "bravo", "charlie", "delta"]
    assert "blocked" in lines[3] and "never" in lines[3]
    code, out, err = run("users", "list", "--limit", "2", "--offset", "1")
    assert [line.split()[1] for line in out.splitlines()[1:]] == ["bravo", "charlie"]
    assert err.strip() == "2-3 of 4; --offset 3 for more"
    body = json.loads(ok("users", "list", "--json", "--search", "LPH"))
    assert body["total"] == 1 and body["users"][0]["username"] == "alpha"
    assert set(body["users"][0]) == {
        "id",
        "username",
        "name",
        "email",
        "blocked",
        "two_factor",
        "groups",
        "registered_at",
        "last_visit_at",
        "password_changed_at",
        "password",
    }
    assert body["users"][0]["password"] == "argon2id"
    with app.app_context():
        stored = db.session.scalars(sa.text("SELECT password_hash FROM site_users")).all()
    listed = ok("users", "list", "--json")
    assert not any(h in listed for h in stored)
    code, out, err = run("users", "list", "--search", "nobody")
    assert (code, out, err.strip()) == (0, "", "No users.")


def test_show_never_shows_the_password_or_its_hash(app, ok) -> None:
    ok("users", "create", "Ann", "--password-stdin", "--group", "Registered", input="pw-ann\n")
    out = ok("users", "show", "ANN")
    assert "username:     Ann\n" in out and "groups:       Registered\n" in out
    assert "password:     argon2id\n" in out and "last visit:   never\n" in out
    assert "pw-ann" not in out and "$argon2" not in out
    body = json.loads(ok("users", "show", "ann", "--json"))
    assert (body["username"], body["id"], body["blocked"]) == ("Ann", 1, False)


def test_set_password_block_unblock_delete_are_audited(app, ok, client) -> None:
    ok("users", "create", "apiuser", "--password-stdin", "--id", "42", input=PASSWORD + "\n")
    assert ok("users", "set-password", "APIuser", "--password-stdin", input="new pass 1\n") == (
        "Password of apiuser changed.\n"
    )
    assert login(app, "apiuser", PASSWORD) is None
    assert login(app, "apiuser", "new pass 1") is not None

    assert ok("users", "block", "apiuser") == "User apiuser blocked; 0 tokens revoked.\n"
    assert ok("users", "block", "apiuser") == "User apiuser was already blocked; nothing changed.\n"
    assert login(app, "apiuser", "new pass 1") is None
    assert ok("users", "unblock", "apiuser") == "User apiuser unblocked.\n"
    assert ok("users", "unblock", "apiuser") == "User apiuser was not blocked; nothing changed.\n"
    assert login(app, "apiuser", "new pass 1") is not None

    assert ok("users", "delete", "apiuser", "--yes") == "User apiuser deleted; 0 tokens revoked.\n"
    assert login(app, "apiuser", "new pass 1") is None
    found = events(app)
    assert [(e["action"], e["target"]) for e in found] == [
        ("user.create", "apiuser"),
        ("user.password", "apiuser"),
        ("user.block", "apiuser"),
        ("user.unblock", "apiuser"),
        ("user.delete", "apiuser"),
    ]
    assert found[1]["after"] == {"password": "changed"}
    assert found[2]["after"] == {"blocked": True, "tokens_removed": 0}
    assert found[4]["before"] == {"id": 42, "name": "apiuser", "email": ""}
    shown = json.dumps(found)
    assert PASSWORD not in shown and "new pass 1" not in shown and "$argon2" not in shown


def test_block_and_delete_revoke_the_users_tokens(app, ok, make_client, client) -> None:
    client_id, secret = make_client(scope="site.read")
    ok("users", "create", "apiuser", "--password-stdin", "--id", "42", input=PASSWORD + "\n")
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    for _ in range(2):
        assert client.post("/index.php?option=token&api=oauth2", data=data).status_code == 200
    with app.app_context():  # one token as the password grant will issue them (a later part)
        db.session.execute(
            sa.text(
                "UPDATE oauth_access_tokens SET user_id = '42' WHERE token_hash = "
                "(SELECT min(token_hash) FROM oauth_access_tokens)"
            )
        )
        db.session.commit()
    assert ok("users", "block", "apiuser") == "User apiuser blocked; 1 token revoked.\n"
    with app.app_context():
        assert db.session.scalar(sa.text("SELECT count(*) FROM oauth_access_tokens")) == 1


def test_delete_asks_first(app, run, ok) -> None:
    ok("users", "create", "apiuser", "--password-stdin", input=PASSWORD + "\n")
    code, out, _ = run("users", "delete", "apiuser", input="n\n")
    assert code == 1 and "Delete user apiuser (id 1)?" in out
    assert ok("users", "show", "apiuser")
    assert "User apiuser deleted" in ok("users", "delete", "APIUSER", input="y\n")
