"""The admin CLI (issue 10, item 4): every command, its --json, its refusals, its audit rows."""

from __future__ import annotations

import getpass
import json
import re

import pytest
import sqlalchemy as sa

from emulator.manage import actions
from emulator.ops import audit
from emulator.storage.database import db
from tests.support.oauth2 import INVALID_CLIENT
from tests.support.oauth2 import INVALID_TOKEN
from tests.support.oauth2 import RESOURCE_URL
from tests.support.oauth2 import TOKEN_URL

ACTOR = f"cli:{getpass.getuser()}"
PASSWORD = "correct horse battery staple"


@pytest.fixture
def run(runner):
    """Run a command; returns (exit code, stdout, stderr)."""

    def invoke(*args: str, input: str | None = None, env: dict | None = None):
        result = runner.invoke(args=list(args), input=input, env=env)
        return result.exit_code, result.stdout, result.stderr

    return invoke


@pytest.fixture
def ok(run):
    def invoke(*args: str, input: str | None = None, env: dict | None = None) -> str:
        code, out, err = run(*args, input=input, env=env)
        assert code == 0, out + err
        return out

    return invoke


@pytest.fixture
def refused(run, app):
    """Run a command that must fail: one 'Error: ...' line, exit 1, nothing stored."""

    def invoke(*args: str, input: str | None = None) -> str:
        before = snapshot(app)
        code, out, err = run(*args, input=input)
        assert code == 1, out + err
        lines = err.strip().splitlines()
        assert lines and lines[-1].startswith("Error: "), err
        assert "Traceback" not in out + err
        assert snapshot(app) == before
        return lines[-1]

    return invoke


def snapshot(app) -> list:
    with app.app_context():
        return [
            db.session.execute(sa.text(f"SELECT * FROM {table.name}")).all()
            for table in db.metadata.sorted_tables
        ]


def events(app, prefix: str | None = None) -> list[dict]:
    with app.app_context():
        return [audit.event_dict(e) for e in audit.events(db.session, action_prefix=prefix)]


def secret_of(out: str) -> str:
    return re.search(r"^client_secret: (\S+)$", out, re.M).group(1)


def get_token(client, client_id: str, secret: str):
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    return client.post(TOKEN_URL, data=data)


def resource(client, token: str):
    return client.get(RESOURCE_URL, headers={"Authorization": f"Bearer {token}"})


# --- existing commands go through actions.py: audited ---------------------------------


def test_existing_commands_are_audited_as_the_cli_user(app, ok) -> None:
    secret = secret_of(ok("clients", "create", "shop", "--scope", "a"))
    ok("scopes", "add", "a")
    ok("scopes", "default", "a")
    ok("plugins", "enable", "apigee")
    ok("plugins", "disable", "apigee")
    ok("plugins", "set", "oauth2", "access_lifetime=120")
    found = events(app)
    assert [(e["action"], e["target"]) for e in reversed(found)] == [
        ("client.create", "shop"),
        ("scope.add", "a"),
        ("scope.default", "scopes"),
        ("plugin.enable", "apigee"),
        ("plugin.disable", "apigee"),
        ("plugin.params", "oauth2"),
    ]
    assert {(e["actor"], e["address"]) for e in found} == {(ACTOR, None)}
    assert secret not in json.dumps(found)


# --- clients list / show -------------------------------------------------------------


def test_clients_list_aligned_paged_searched_and_json(app, ok, run) -> None:
    for n in range(5):
        ok("clients", "create", f"client-{n}", "--user-id", "shop-7" if n == 3 else f"u{n}")
    ok("clients", "create", "public-app", "--public", "--scope", "read write")
    ok("clients", "disable", "client-1")
    out = ok("clients", "list")
    lines = out.splitlines()
    assert lines[0].split() == [
        "CLIENT_ID",
        "KIND",
        "STATE",
        "SCOPE",
        "GRANT",
        "TYPES",
        "USER_ID",
        "CREATED",
    ]
    assert len(lines) == 7
    starts = {line.index(word) for line, word in zip(lines[1:], ["confidential"] * 5, strict=False)}
    assert len(starts) == 1  # aligned
    assert re.match(r"client-1 +confidential +disabled ", lines[2])
    assert re.match(r"public-app +public +enabled +read write +\(all\) +- ", lines[6])
    code, out, err = run("clients", "list", "--limit", "2", "--offset", "2")
    assert out.splitlines()[1].startswith("client-2") and len(out.splitlines()) == 3
    assert "3-4 of 6; --offset 4 for more" in err
    assert ok("clients", "list", "--search", "shop").splitlines()[1].startswith("client-3")
    body = json.loads(ok("clients", "list", "--json", "--search", "client-", "--limit", "2"))
    assert (body["total"], body["offset"], body["limit"]) == (5, 0, 2)
    assert [c["client_id"] for c in body["clients"]] == ["client-0", "client-1"]
    assert body["clients"][1]["disabled"] is True
    assert set(body["clients"][0]) == {
        "client_id",
        "public",
        "disabled",
        "scope",
        "grant_types",
        "redirect_uri",
        "user_id",
        "created_at",
        "secret_grace_until",
        "access_tokens",
        "refresh_tokens",
        "last_used",
    }
    code, out, err = run("clients", "list", "--search", "nothing-like-it")
    assert (code, out, err.strip()) == (0, "", "No clients.")


def test_clients_list_fits_the_terminal(ok) -> None:
    ok(
        "clients",
        "create",
        "a-rather-long-client-identifier-for-a-partner",
        "--scope",
        " ".join(["x"] * 30),
    )
    out = ok("clients", "list", env={"COLUMNS": "80"})
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "..." in out


def test_clients_show_and_json(client, ok, refused) -> None:
    secret = secret_of(ok("clients", "create", "shop", "--scope", "a", "--user-id", "7"))
    ok("scopes", "add", "a")
    assert get_token(client, "shop", secret).status_code == 200
    out = ok("clients", "show", "shop")
    assert re.search(r"^state: +enabled$", out, re.M)
    assert re.search(r"^live access tokens: +1$", out, re.M)
    assert secret not in out
    body = json.loads(ok("clients", "show", "shop", "--json"))
    assert (body["client_id"], body["scope"], body["user_id"], body["access_tokens"]) == (
        "shop",
        "a",
        "7",
        1,
    )
    assert refused("clients", "show", "nobody") == "Error: No client 'nobody'."


# --- clients update ------------------------------------------------------------------


def test_clients_update_sets_and_clears_fields(app, ok) -> None:
    ok("clients", "create", "shop", "--scope", "a", "--user-id", "7")
    out = ok(
        "clients",
        "update",
        "shop",
        "--scope",
        "a b",
        "--grant-types",
        "client_credentials",
        "--redirect-uri",
        "https://shop.example/cb",
        "--clear",
        "user-id",
    )
    assert "Client shop updated." in out
    body = json.loads(ok("clients", "show", "shop", "--json"))
    assert (body["scope"], body["grant_types"], body["redirect_uri"], body["user_id"]) == (
        "a b",
        "client_credentials",
        "https://shop.example/cb",
        None,
    )
    [event] = events(app, "client.update")
    assert event["before"] == {
        "scope": "a",
        "grant_types": None,
        "redirect_uri": "",
        "user_id": "7",
    }
    assert event["after"] == {
        "scope": "a b",
        "grant_types": "client_credentials",
        "redirect_uri": "https://shop.example/cb",
        "user_id": None,
    }
    ok("clients", "update", "shop", "--clear", "grant-types", "--clear", "scope")
    body = json.loads(ok("clients", "show", "shop", "--json"))
    assert (body["scope"], body["grant_types"]) == (None, None)  # every grant again
    ok("clients", "update", "shop", "--grant-types", "")
    assert json.loads(ok("clients", "show", "shop", "--json"))["grant_types"] == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody", "--scope", "a"], "No client 'nobody'."),
        (["shop"], "Nothing to change"),
        (["shop", "--scope", "a", "--clear", "scope"], "--scope and --clear scope"),
        (["shop", "--scope", 'a"b'], "Invalid scope"),
        (["shop", "--grant-types", "device_code"], "Unknown grant type"),
        (["shop", "--user-id", "u" * 81], "user_id must be at most 80"),
        (["shop", "--redirect-uri", "x\ny"], "control character"),
    ],
    ids=[
        "unknown",
        "nothing",
        "set-and-clear",
        "bad-scope",
        "bad-grant",
        "long-user-id",
        "line-break",
    ],
)
def test_clients_update_refusals(ok, refused, args, message) -> None:
    ok("clients", "create", "shop", "--scope", "a")
    assert message in refused("clients", "update", *args)


# --- rotate-secret -------------------------------------------------------------------


def test_rotate_secret_without_grace_stops_the_old_one_at_once(app, client, ok, run) -> None:
    old = secret_of(ok("clients", "create", "shop"))
    assert get_token(client, "shop", old).status_code == 200
    code, out, err = run("clients", "rotate-secret", "shop")
    new = secret_of(out)
    assert code == 0 and re.fullmatch(r"[0-9a-f]{40}", new) and new != old
    assert out.count(new) == 1 and "The old secret stopped working." in err
    rv = get_token(client, "shop", old)
    assert (rv.status_code, rv.data) == (400, INVALID_CLIENT)
    assert get_token(client, "shop", new).status_code == 200
    [event] = events(app, "client.rotate_secret")
    assert event["after"] == {"secret": "rotated", "grace_seconds": 0, "secret_grace_until": None}
    assert old not in json.dumps(event) and new not in json.dumps(event)


def test_rotate_secret_with_grace_lets_both_work_until_it_ends(app, client, ok, run) -> None:
    old = secret_of(ok("clients", "create", "shop"))
    code, out, err = run("clients", "rotate-secret", "shop", "--grace", "1h", "--secret", "n" * 40)
    assert code == 0 and secret_of(out) == "n" * 40
    assert "The old secret works until " in err
    assert get_token(client, "shop", old).status_code == 200
    assert get_token(client, "shop", "n" * 40).status_code == 200
    assert json.loads(ok("clients", "show", "shop", "--json"))["secret_grace_until"]
    with app.app_context():  # the hour has passed
        db.session.execute(sa.text("UPDATE oauth_clients SET previous_secret_until = '2000-01-01'"))
        db.session.commit()
    assert get_token(client, "shop", old).data == INVALID_CLIENT
    assert get_token(client, "shop", "n" * 40).status_code == 200
    [event] = events(app, "client.rotate_secret")
    assert event["after"]["grace_seconds"] == 3600


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody"], "No client 'nobody'."),
        (["shop", "--grace", "1w"], "'1w' is not a duration"),
        (["shop", "--grace", "-1h"], "is not a duration"),
        (["shop", "--grace", "31d"], "grace period must be 0 to 30 days"),
        (["public-app"], "is public: it has no secret to rotate"),
        (["shop", "--secret", ""], "empty secret"),
    ],
    ids=["unknown", "bad-unit", "negative", "too-long", "public", "empty-secret"],
)
def test_rotate_secret_refusals(ok, refused, args, message) -> None:
    ok("clients", "create", "shop")
    ok("clients", "create", "public-app", "--public")
    assert message in refused("clients", "rotate-secret", *args)


# --- disable / enable / delete -------------------------------------------------------


def test_a_disabled_client_answers_as_an_unknown_one_until_enabled(app, client, ok) -> None:
    secret = secret_of(ok("clients", "create", "shop"))
    token = get_token(client, "shop", secret).get_json()["access_token"]
    unknown = get_token(client, "nobody", secret)
    assert "disabled" in ok("clients", "disable", "shop")
    rv = get_token(client, "shop", secret)
    assert (rv.status_code, rv.headers, rv.data) == (
        unknown.status_code,
        unknown.headers,
        unknown.data,
    )
    assert rv.data == INVALID_CLIENT
    rv = resource(client, token)
    assert (rv.status_code, rv.data) == (401, INVALID_TOKEN[0])
    ok("clients", "enable", "shop")
    assert get_token(client, "shop", secret).status_code == 200
    assert resource(client, token).status_code == 200
    assert [(e["action"], e["before"], e["after"]) for e in events(app, "client.") if e][:2] == [
        ("client.enable", {"disabled": True}, {"disabled": False}),
        ("client.disable", {"disabled": False}, {"disabled": True}),
    ]


def test_delete_asks_unless_yes_and_takes_the_tokens(app, client, ok, run, refused) -> None:
    secret = secret_of(ok("clients", "create", "shop"))
    token = get_token(client, "shop", secret).get_json()["access_token"]
    code, out, err = run("clients", "delete", "shop", input="n\n")
    assert code == 1 and "Delete client shop and all its tokens?" in out
    assert resource(client, token).status_code == 200  # still there
    assert events(app, "client.delete") == []
    out = ok("clients", "delete", "shop", input="y\n")
    assert "Client shop deleted with 2 token(s)." in out  # its access and refresh token
    rv = resource(client, token)
    assert (rv.status_code, rv.data) == (401, INVALID_TOKEN[0])
    assert get_token(client, "shop", secret).data == INVALID_CLIENT
    ok("clients", "create", "other")
    assert "deleted with 0 token(s)" in ok("clients", "delete", "other", "--yes")
    assert refused("clients", "delete", "nobody", "--yes") == "Error: No client 'nobody'."
    assert [e["target"] for e in events(app, "client.delete")] == ["other", "shop"]


@pytest.mark.parametrize("command", ["disable", "enable"], ids=["disable", "enable"])
def test_disable_and_enable_an_unknown_client(refused, command) -> None:
    assert (
        refused("clients", command, "nobody") == "Error: No client 'nobody'. (nothing was stored)"
    )


# --- scopes remove, plugins reset ----------------------------------------------------


def test_scopes_remove_is_refused_while_a_client_uses_it(app, ok, refused) -> None:
    ok("scopes", "add", "read")
    ok("scopes", "add", "write")
    ok("clients", "create", "shop", "--scope", "read write")
    ok("clients", "create", "app", "--scope", "read")
    message = refused("scopes", "remove", "read")
    assert "Scope 'read' is in the scope of client(s) app, shop;" in message
    assert refused("scopes", "remove", "nope") == "Error: No scope 'nope'. (nothing was stored)"
    ok("clients", "update", "shop", "--scope", "read")
    assert "Scope write removed." in ok("scopes", "remove", "write")
    assert ok("scopes", "list").split() == ["read"]
    [event] = events(app, "scope.remove")
    assert (event["target"], event["before"]) == ("write", {"is_default": False})


def test_plugins_reset_puts_the_defaults_back(app, ok, refused) -> None:
    ok("plugins", "set", "oauth2", "access_lifetime=120", "www_realm=Shop")
    assert "Params of oauth2 reset to their defaults." in ok("plugins", "reset", "oauth2")
    out = ok("plugins", "show", "oauth2")
    assert "    access_lifetime = 3600" in out
    assert not re.search(r"^  \* ", out, re.M)
    [event] = events(app, "plugin.reset")
    assert event["before"] == {"access_lifetime": 120, "www_realm": "Shop"}
    assert "No plugin 'nope'" in refused("plugins", "reset", "nope")


def test_plugins_enable_is_refused_without_the_settings_the_plugin_requires(
    app, ok, refused
) -> None:
    message = refused("plugins", "enable", "passthrough")
    assert message == (
        "Error: The passthrough plugin cannot be enabled while legacy_url is not set: "
        "set it first. (nothing was stored)"
    )
    assert events(app, "plugin.") == []
    ok("plugins", "set", "passthrough", "legacy_url=https://legacy.example")
    assert "Plugin passthrough enabled." in ok("plugins", "enable", "passthrough")
    message = refused("plugins", "set", "passthrough", "legacy_url=")
    assert "legacy_url: Required while the plugin is enabled" in message
    assert "disable the plugin first" in refused("plugins", "reset", "passthrough")


# --- tokens list / revoke ------------------------------------------------------------


def test_tokens_list_shows_hash_prefixes_never_tokens(app, client, ok, refused) -> None:
    secret = secret_of(ok("clients", "create", "shop"))
    ok("plugins", "set", "oauth2", "client_credentials_refresh_token=true")
    issued = [get_token(client, "shop", secret).get_json() for _ in range(2)]
    out = ok("tokens", "list", "--client", "shop")
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["KIND", "SHA-256", "PREFIX"] and len(lines) == 5
    body = json.loads(ok("tokens", "list", "--client", "shop", "--json"))
    assert sorted(row["kind"] for row in body) == ["access", "access", "refresh", "refresh"]
    assert all(re.fullmatch(r"[0-9a-f]{12}", row["hash_prefix"]) for row in body)
    assert all(row["expired"] is False for row in body)
    for token in issued:
        for raw in (token["access_token"], token["refresh_token"]):
            assert raw not in out and raw[:12] not in out and raw[:12] not in json.dumps(body)
    assert len(json.loads(ok("tokens", "list", "--client", "shop", "--json", "--limit", "1"))) == 1
    assert "No client 'nobody'" in refused("tokens", "list", "--client", "nobody")


def test_tokens_revoke_ends_every_token_of_the_client(app, client, ok, refused) -> None:
    secret = secret_of(ok("clients", "create", "shop"))
    other = secret_of(ok("clients", "create", "other"))
    mine = get_token(client, "shop", secret).get_json()["access_token"]
    kept = get_token(client, "other", other).get_json()["access_token"]
    assert "Revoked 2 token(s) of client shop." in ok("tokens", "revoke", "--client", "shop")
    assert resource(client, mine).data == INVALID_TOKEN[0]
    assert resource(client, kept).status_code == 200
    assert get_token(client, "shop", secret).status_code == 200  # the client stays
    [event] = events(app, "client.revoke_tokens")
    assert (event["target"], event["after"]) == ("shop", {"tokens_removed": 2})
    assert "No client" in refused("tokens", "revoke", "--client", "nobody")


# --- admin users ---------------------------------------------------------------------


def test_admin_create_user_asks_twice_without_echo(app, run) -> None:
    code, out, err = run("admin", "create-user", "alice", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert code == 0, out + err
    assert "Admin user alice created." in out
    assert PASSWORD not in out + err  # hidden input is not echoed
    [event] = events(app, "admin.")
    assert (event["action"], event["target"], event["after"]) == (
        "admin.create",
        "alice",
        {"password": "set"},
    )


def test_admin_create_user_from_stdin_list_set_password_delete(app, ok, run, refused) -> None:
    ok("admin", "create-user", "alice", "--password-stdin", input=PASSWORD + "\n")
    ok("admin", "create-user", "bob", "--password-stdin", input="another long password\n")
    lines = ok("admin", "list").splitlines()
    assert lines[0].split()[0] == "USERNAME" and [line.split()[0] for line in lines[1:]] == [
        "alice",
        "bob",
    ]
    users = json.loads(ok("admin", "list", "--json"))
    assert [u["username"] for u in users] == ["alice", "bob"]
    assert set(users[0]) == {"username", "created_at", "password_changed_at", "last_login_at"}
    assert users[0]["last_login_at"] is None
    ok("admin", "set-password", "alice", "--password-stdin", input="a brand new password\n")
    with app.app_context():
        assert actions.check_admin_password(db.session, "alice", PASSWORD) is None
        assert actions.check_admin_password(db.session, "alice", "a brand new password")
    code, out, err = run("admin", "delete", "bob", input="n\n")
    assert code == 1 and "Delete admin user bob?" in out
    assert "Admin user bob deleted." in ok("admin", "delete", "bob", "--yes")
    assert [u["username"] for u in json.loads(ok("admin", "list", "--json"))] == ["alice"]
    assert [e["action"] for e in events(app, "admin.")] == [
        "admin.delete",
        "admin.password",
        "admin.create",
        "admin.create",
    ]
    assert refused("admin", "delete", "nobody", "--yes") == "Error: No admin user 'nobody'."


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["create-user", "carol", "--password-stdin"], "short\n", "at least 12 characters"),
        (["create-user", "carol", "--password-stdin"], "\n", "at least 12 characters"),
        (["create-user", "alice", "--password-stdin"], PASSWORD + "\n", "already exists"),
        (["create-user", "c arol", "--password-stdin"], PASSWORD + "\n", "A username is"),
        (["create-user", "c\x00rol", "--password-stdin"], PASSWORD + "\n", "control character"),
        (["set-password", "nobody", "--password-stdin"], PASSWORD + "\n", "No admin user"),
        (["set-password", "alice", "--password-stdin"], "short\n", "at least 12"),
    ],
    ids=[
        "short",
        "empty",
        "duplicate",
        "space-in-name",
        "nul-in-name",
        "unknown-user",
        "short-new-password",
    ],
)
def test_admin_refusals(ok, refused, args, stdin, message) -> None:
    ok("admin", "create-user", "alice", "--password-stdin", input=PASSWORD + "\n")
    assert message in refused("admin", *args, input=stdin)


def test_admin_create_user_refuses_two_different_passwords(app, run) -> None:
    code, out, err = run(
        "admin", "create-user", "alice", input=f"{PASSWORD}\nsomething else entirely\n"
    )
    assert code == 1 and "do not match" in out + err
    with app.app_context():
        assert db.session.execute(sa.text("SELECT count(*) FROM admin_users")).scalar() == 0


# --- audit list ----------------------------------------------------------------------


def test_audit_list_filters_and_prints_json(app, ok, run, refused) -> None:
    ok("clients", "create", "shop")
    ok("scopes", "add", "read")
    ok("clients", "update", "shop", "--scope", "read")
    with app.app_context():  # an old event, outside --since 1d
        db.session.execute(
            sa.text(
                "INSERT INTO audit_events (occurred_at, actor, action, target) "
                "VALUES ('2020-01-01 00:00:00', 'cli:old', 'client.create', 'old')"
            )
        )
        db.session.commit()
    lines = ok("audit", "list").splitlines()
    assert lines[0].split()[:3] == ["WHEN", "(UTC)", "ACTOR"]
    assert len(lines) == 5
    assert re.search(r"client\.update +shop +scope: null -> \"read\"$", lines[1])
    recent = json.loads(ok("audit", "list", "--since", "1d", "--json"))
    assert [e["action"] for e in recent] == ["client.update", "scope.add", "client.create"]
    assert recent[0]["actor"] == ACTOR and recent[0]["address"] is None
    assert recent[0]["before"] == {"scope": None} and recent[0]["after"] == {"scope": "read"}
    clients = json.loads(ok("audit", "list", "--action", "client.", "--json"))
    assert [e["target"] for e in clients] == ["shop", "shop", "old"]
    assert len(json.loads(ok("audit", "list", "--limit", "1", "--json"))) == 1
    assert "is not a window" in refused("audit", "list", "--since", "yesterday")
    code, out, err = run("audit", "list", "--action", "nothing.")
    assert (code, out, err.strip()) == (0, "", "No audit events.")


# --- no secret anywhere --------------------------------------------------------------


def test_no_secret_password_or_token_is_stored_anywhere(app, client, ok, run) -> None:
    """Make clients, rotate secrets, issue tokens, make admins; then look for each of them
    in every column of every row of every table."""
    made = []
    made.append(secret_of(ok("clients", "create", "generated")))
    ok("clients", "create", "legacy", "--secret", "201010425")
    made.append("201010425")
    ok("plugins", "set", "oauth2", "client_credentials_refresh_token=true")
    for client_id, secret in (("generated", made[0]), ("legacy", "201010425")):
        body = get_token(client, client_id, secret).get_json()
        made += [body["access_token"], body["refresh_token"]]
    made.append(secret_of(ok("clients", "rotate-secret", "generated", "--grace", "1h")))
    ok("clients", "rotate-secret", "legacy", "--secret", "Legacy-Rotated-77")
    made.append("Legacy-Rotated-77")
    body = get_token(client, "generated", made[-2]).get_json()
    made += [body["access_token"], body["refresh_token"]]
    ok("admin", "create-user", "alice", "--password-stdin", input="Alice-Pass-0001\n")
    run("admin", "create-user", "bob", input="Bob-Password-0002\nBob-Password-0002\n")
    ok("admin", "set-password", "alice", "--password-stdin", input="Alice-Pass-0003\n")
    made += ["Alice-Pass-0001", "Bob-Password-0002", "Alice-Pass-0003"]
    for attempt in range(3):  # failed attempts (and what they carried) are not kept either
        wrong = f"Wrong-Guess-{attempt:04}"
        get_token(client, "generated", wrong)
        made.append(wrong)
    assert len(events(app)) >= 7
    with app.app_context():
        cells = [
            str(value)
            for table in db.metadata.sorted_tables
            for row in db.session.execute(sa.select(table)).all()
            for value in row
            if value is not None
        ]
    assert cells
    for secret in made:
        assert not [cell for cell in cells if secret in cell], secret
