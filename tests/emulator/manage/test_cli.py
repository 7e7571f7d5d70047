"""The CLI forms scripts depend on (issue: token endpoint, item 5)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from emulator.ops import audit
from emulator.ops.clock import utcnow
from emulator.storage.database import db
from emulator.storage.models import AuditEvent
from emulator.storage.models import Client

HEX40 = re.compile(r"[0-9a-f]{40}")
ROOT = Path(__file__).resolve().parents[3]


def test_clients_create_prints_a_new_secret_once_and_stores_only_a_hash(app, cli) -> None:
    out = cli(
        "clients",
        "create",
        "shop",
        "--scope",
        "a b",
        "--grant-types",
        "client_credentials",
        "--redirect-uri",
        "https://shop.example/cb",
        "--user-id",
        "7",
    )
    secret = re.search(r"^client_secret: (.*)$", out, re.M).group(1)
    assert HEX40.fullmatch(secret)
    with app.app_context():
        client = db.session.scalar(sa.select(Client).where(Client.client_id == "shop"))
        assert secret not in client.secret_hash and client.secret_hash.startswith("$argon2id$")
        assert (client.scope, client.grant_types, client.user_id) == (
            "a b",
            "client_credentials",
            "7",
        )
    assert re.search(
        r"^shop +confidential +enabled +a b +client_credentials +7 ", cli("clients", "list"), re.M
    )
    assert secret not in cli("clients", "list")


def test_clients_create_warns_about_a_short_legacy_secret(cli) -> None:
    out = cli("clients", "create", "legacy", "--secret", "201010425")
    assert "client_secret: 201010425" in out
    assert "Warning: a secret shorter than 32 characters is easier to guess" in out
    assert "Warning" not in cli("clients", "create", "new")  # 40 hex characters
    assert "Warning" not in cli("clients", "create", "long", "--secret", "x" * 32)


def test_clients_create_with_given_secret_and_public(cli) -> None:
    assert "client_secret: s3cret" in cli("clients", "create", "a", "--secret", "s3cret")
    out = cli("clients", "create", "b", "--public")
    assert "client_secret" not in out
    assert re.search(r"^b +public +enabled ", cli("clients", "list"), re.M)


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["dup"], "already exists"),
        (["x", "--grant-types", "device_code"], "Unknown grant type"),
        (["x", "--scope", "a  b"], "Invalid scope"),
        (["x", "--public", "--secret", "s"], "public client has no secret"),
        (["x", "--secret", ""], "empty secret"),
        (["../../admin/clients/dup"], "client_id '../../admin/clients/dup' may not hold '/'"),
        (["a\\b"], "client_id 'a\\\\b' may not hold '/' or '\\'"),
        ([".."], "client_id '..' may not hold '/' or '\\', nor be '.' or '..'"),
    ],
    ids=[
        "duplicate",
        "unknown-grant",
        "bad-scope",
        "public-with-secret",
        "empty-secret",
        "id-with-dot-segments",
        "id-with-backslash",
        "id-dot-dot",
    ],
)
def test_clients_create_refuses_bad_input(cli, count_rows, args, reason) -> None:
    cli("clients", "create", "dup")
    out = cli("clients", "create", *args, expect_ok=False)
    assert reason in out
    assert count_rows("oauth_clients") == 1


@pytest.mark.parametrize(
    ("args", "reason", "table"),
    [
        (["clients", "create", "c" * 81], "client_id must be 1 to 80", "oauth_clients"),
        (["clients", "create", "x", "--user-id", "u" * 81], "at most 80", "oauth_clients"),
        (
            ["clients", "create", "x", "--redirect-uri", "https://a.test/" + "r" * 2000],
            "at most 2000",
            "oauth_clients",
        ),
        (["scopes", "add", "s" * 256], "at most 255", "oauth_scopes"),
        (
            ["apigee", "proxies", "add", "/" + "p" * 255, "--target", "http://t.test"],
            "at most 255",
            "apigee_proxies",
        ),
        (
            ["apigee", "proxies", "add", "/p", "--target", "http://t.test/" + "t" * 2000],
            "at most 2000",
            "apigee_proxies",
        ),
    ],
    ids=["client-id", "user-id", "redirect-uri", "scope", "base-path", "target"],
)
def test_values_longer_than_their_column_are_refused_with_one_line(
    cli, count_rows, args, reason, table
) -> None:
    """Never cut short (SQLite), never a database error's traceback (PostgreSQL, MariaDB)."""
    out = cli(*args, expect_ok=False)
    assert reason in out and "Traceback" not in out
    assert count_rows(table) == 0


def test_scopes_add_list_and_default(cli) -> None:

    cli("scopes", "add", "a", "--default")
    cli("scopes", "add", "b")
    cli("scopes", "add", "c")
    assert cli("scopes", "list") == "a  (default)\nb\nc\n"
    cli("scopes", "default", "c", "b")
    assert cli("scopes", "list") == "a\nb  (default)\nc  (default)\n"
    cli("scopes", "default")
    assert cli("scopes", "list") == "a\nb\nc\n"
    assert "Unknown scope" in cli("scopes", "default", "zzz", expect_ok=False)
    assert "Invalid scope" in cli("scopes", "add", "has space", expect_ok=False)


def test_plugins_commands(cli) -> None:
    assert re.search(r"^oauth2\s+enabled", cli("plugins", "list"), re.M)
    cli("plugins", "disable", "oauth2")
    assert re.search(r"^oauth2\s+disabled", cli("plugins", "list"), re.M)
    cli("plugins", "enable", "oauth2")
    cli("plugins", "set", "oauth2", "access_lifetime=120", "www_realm=Shop")
    shown = cli("plugins", "show", "oauth2")
    assert "* access_lifetime = 120" in shown and '* www_realm = "Shop"' in shown
    assert "  expires_in_as_string = true" in shown
    out = cli("plugins", "set", "oauth2", "access_lifetime=ten", "www_realm=x", expect_ok=False)
    assert "access_lifetime" in out and "nothing was stored" in out
    assert "* access_lifetime = 120" in cli("plugins", "show", "oauth2")
    assert "not KEY=VALUE" in cli("plugins", "set", "oauth2", "oops", expect_ok=False)
    assert "No plugin 'nope'" in cli("plugins", "enable", "nope", expect_ok=False)


def test_tokens_import_and_its_errors(client, cli, make_client) -> None:
    make_client("legacy", secret="s", scope="site.read")
    later = utcnow() + timedelta(hours=1)
    cli(
        "tokens",
        "import",
        "--type",
        "access",
        "--token",
        "legacy-token-1",
        "--client-id",
        "legacy",
        "--scope",
        "site.read",
        "--user-id",
        "9",
        "--expires",
        f"{later:%Y-%m-%d %H:%M:%S}",
    )
    rv = client.get(
        "/index.php?option=resource&api=oauth2", headers={"Authorization": "Bearer legacy-token-1"}
    )
    assert rv.get_json()["user_id"] == "9"
    args = [
        "tokens",
        "import",
        "--type",
        "access",
        "--token",
        "legacy-token-1",
        "--client-id",
        "legacy",
        "--expires",
        f"{later:%Y-%m-%d %H:%M:%S}",
    ]
    assert "already imported" in cli(*args, expect_ok=False)
    assert "No client 'ghost'" in cli(
        *[a if a != "legacy" else "ghost" for a in args], expect_ok=False
    )
    assert "is not" in cli(*args[:-1], "tomorrow", expect_ok=False)


def test_tokens_import_is_audited_without_the_token(app, cli, make_client) -> None:
    make_client("legacy", secret="s", scope="site.read")
    later = (utcnow() + timedelta(hours=1)).replace(microsecond=0)
    token = "legacy-token-" + "f" * 27
    cli(
        "tokens",
        "import",
        "--type",
        "refresh",
        "--token",
        token,
        "--client-id",
        "legacy",
        "--scope",
        "site.read",
        "--expires",
        f"{later:%Y-%m-%d %H:%M:%S}",
    )
    cli(
        "tokens",
        "import",
        "--type",
        "refresh",
        "--token",
        token,
        "--client-id",
        "legacy",
        "--expires",
        f"{later:%Y-%m-%d %H:%M:%S}",
        expect_ok=False,
    )  # refused: no event
    with app.app_context():
        events = [e for e in audit.events(db.session) if e.action == "token.import"]
        [event] = events
        assert (event.actor.startswith("cli:"), event.target) == (True, "legacy")
        assert json.loads(event.after) == {
            "token_type": "refresh",
            "tokens": 1,
            "scope": "site.read",
            "user_id": None,
            "expires_at": f"{later:%Y-%m-%dT%H:%M:%S}Z",
        }
        stored = db.session.execute(sa.select(AuditEvent)).scalars().all()
        assert not [e for e in stored if token in " ".join(map(str, vars(e).values()))]


def test_a_code_import_is_audited_without_the_code(app, cli, make_client) -> None:
    make_client("web-app", secret="s", scope="site.read")
    later = (utcnow() + timedelta(seconds=30)).replace(microsecond=0)
    code = "legacy-code-" + "c" * 28
    cli(
        "tokens", "import", "--type", "code", "--token", code, "--client-id", "web-app",
        "--redirect-uri", "https://app.example/cb", "--user-id", "42",
        "--expires", f"{later:%Y-%m-%d %H:%M:%S}",
    )  # fmt: skip
    with app.app_context():
        [event] = [e for e in audit.events(db.session) if e.action == "token.import"]
        assert json.loads(event.after) == {
            "token_type": "code",
            "tokens": 1,
            "scope": None,
            "user_id": "42",
            "redirect_uri": "https://app.example/cb",
            "expires_at": f"{later:%Y-%m-%dT%H:%M:%S}Z",
        }
        assert code not in " ".join(map(str, vars(event).values()))


def test_tokens_purge_removes_only_rows_past_the_grace_period_in_batches(
    app, cli, make_client, count_rows
) -> None:
    make_client("c", secret="s")
    now = utcnow()
    for i, age in enumerate([timedelta(days=20)] * 5 + [timedelta(days=1)] * 2):
        expires = now - age
        for kind in ("access", "refresh"):
            cli(
                "tokens",
                "import",
                "--type",
                kind,
                "--token",
                f"{kind}-{i}",
                "--client-id",
                "c",
                "--expires",
                f"{expires:%Y-%m-%d %H:%M:%S}",
            )
    app.config["TOKEN_PURGE_BATCH_SIZE"] = 2
    out = cli("tokens", "purge")
    assert "oauth_access_tokens: 5" in out and "oauth_refresh_tokens: 5" in out
    assert "removed so far" in out  # progress per batch
    assert count_rows("oauth_access_tokens") == 2 and count_rows("oauth_refresh_tokens") == 2
    cli("tokens", "purge", "--grace-days", "0")
    assert count_rows("oauth_access_tokens") == 0


LATER = "2099-01-01 00:00:00"
IMPORT = ["tokens", "import", "--type", "access", "--token", "t-1", "--client-id", "legacy"]
CODE_IMPORT = ["tokens", "import", "--type", "code", "--token", "ac-1", "--client-id", "legacy"]


@pytest.mark.parametrize("char", ["\x00", "\n", "\x1b"], ids=["nul", "line-feed", "escape"])
@pytest.mark.parametrize(
    "args",
    [
        ["clients", "create", "new{c}"],
        ["clients", "create", "new", "--secret", "s{c}"],
        ["clients", "create", "new", "--scope", "site.read{c}"],
        ["clients", "create", "new", "--grant-types", "client_credentials{c}"],
        ["clients", "create", "new", "--redirect-uri", "https://x.example/{c}"],
        ["clients", "create", "new", "--user-id", "7{c}"],
        ["scopes", "add", "site.write{c}"],
        ["scopes", "default", "site.read{c}"],
        [*IMPORT[:5], "t{c}", *IMPORT[6:], "--expires", LATER],
        [*IMPORT[:7], "legacy{c}", "--expires", LATER],
        [*IMPORT, "--scope", "site.read{c}", "--expires", LATER],
        [*IMPORT, "--user-id", "9{c}", "--expires", LATER],
        [*IMPORT, "--expires", LATER + "{c}"],
        [*CODE_IMPORT[:5], "ac{c}", *CODE_IMPORT[6:], "--expires", LATER],
        [*CODE_IMPORT, "--redirect-uri", "https://x.example/{c}", "--expires", LATER],
        ["plugins", "show", "oauth2{c}"],
        ["plugins", "enable", "oauth2{c}"],
        ["plugins", "set", "oauth2", "www_realm=Shop{c}"],
    ],
    ids=[
        "client-id",
        "secret",
        "client-scope",
        "grant-types",
        "redirect-uri",
        "user-id",
        "scope-name",
        "default-scope",
        "token",
        "token-client-id",
        "token-scope",
        "token-user-id",
        "token-expires",
        "code",
        "code-redirect-uri",
        "plugin-name-show",
        "plugin-name-enable",
        "plugin-param",
    ],
)
def test_control_characters_are_refused_with_one_line(
    cli, make_client, count_rows, args, char
) -> None:
    """On every backend (PostgreSQL would refuse a NUL with a traceback): one line, exit
    status 1, nothing stored. A line break is allowed in a param's value only (JSON)."""
    make_client("legacy", secret="s")
    cli("scopes", "add", "site.read")
    argv = [arg.replace("{c}", char) for arg in args]
    if args[0] == "plugins" and args[1] == "set" and char == "\n":
        assert "www_realm" in cli(*argv, expect_ok=False)  # the realm's own rule refuses it
        return
    out = cli(*argv, expect_ok=False)
    assert out.count("\n") == 1 and out.startswith("Error: "), out
    assert "control character" in out
    assert (count_rows("oauth_clients"), count_rows("oauth_scopes")) == (1, 1)
    assert count_rows("oauth_access_tokens") == 0
    assert count_rows("oauth_authorization_codes") == 0
    assert count_rows("plugin_state") == 0


def test_an_authorization_code_is_imported_by_hash_once(cli, make_client, app) -> None:
    make_client("legacy", secret="s")
    out = cli(
        *CODE_IMPORT,
        "--redirect-uri",
        "https://legacy.example/cb",
        "--scope",
        "site.read",
        "--user-id",
        "42",
        "--expires",
        LATER,
    )
    assert out == "Imported authorization code for legacy, expires 2099-01-01 00:00:00 UTC.\n"
    with app.app_context():
        row = db.session.execute(sa.text("SELECT * FROM oauth_authorization_codes")).one()
    assert row.code_hash == hashlib.sha256(b"ac-1").hexdigest()
    assert (row.redirect_uri, row.scope, row.user_id) == (
        "https://legacy.example/cb",
        "site.read",
        "42",
    )
    out = cli(*CODE_IMPORT, "--expires", LATER, expect_ok=False)
    assert out == "Error: This code is already imported. (nothing was stored)\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([*IMPORT, "--redirect-uri", "https://x.example/", "--expires", LATER], "--type code only"),
        ([*CODE_IMPORT[:7], "nobody", "--expires", LATER], "No client 'nobody'"),
        ([*CODE_IMPORT, "--expires", "tomorrow"], "is not"),
    ],
    ids=["redirect-uri-for-a-token", "unknown-client", "bad-expiry"],
)
def test_a_code_import_that_cannot_be_done_says_why(cli, make_client, args, message) -> None:
    make_client("legacy", secret="s")
    out = cli(*args, expect_ok=False)
    assert out.startswith("Error: ") and message in out, out


def test_a_param_value_may_be_json_on_several_lines(cli) -> None:
    cli("plugins", "set", "apigee", 'base_paths={\n  "/t": "GenerateAccessToken"\n}')
    assert '"/t": "GenerateAccessToken"' in cli("plugins", "show", "apigee")


def test_scopes_add_on_an_existing_scope_says_what_changed(cli) -> None:
    assert cli("scopes", "add", "a", "--default").strip() == "Scope a added (default)."
    assert cli("scopes", "add", "a", "--default").strip() == (
        "Scope a already exists (a default one); nothing changed."
    )
    assert cli("scopes", "add", "a").strip() == (
        "Scope a already existed as a default one; it is no longer one "
        "(scopes add a --default makes it one again)."
    )
    assert cli("scopes", "add", "a").strip() == (
        "Scope a already exists (not a default one); nothing changed."
    )
    assert cli("scopes", "add", "a", "--default").strip() == (
        "Scope a already existed; it is now a default one."
    )
    assert "a  (default)" in cli("scopes", "list")


def test_a_client_scope_outside_the_scopes_list_is_a_warning(cli) -> None:
    cli("scopes", "add", "site.read")
    out = cli("clients", "create", "shop", "--scope", "site.read site.raed")
    assert "client_id: shop" in out  # registered all the same: redCORE allowed it
    assert "Warning: site.raed is not in the scopes list" in out
    assert "site.read is" not in out
    assert "Warning" not in cli("clients", "create", "known", "--scope", "site.read")
    out = cli("clients", "update", "known", "--scope", "x y")
    assert "Warning: x y are not in the scopes list" in out


def help_lines(cli, *group: str) -> list[str]:
    """The command lines of a group's --help (two-space indented, name then summary)."""
    text = cli(*group, "--help")
    listing = text.split("Commands:", 1)[1].split("\n\n", 1)[0]
    return [line.strip() for line in listing.splitlines() if line.strip()]


@pytest.mark.parametrize(
    "group",
    [(), ("clients",), ("scopes",), ("tokens",), ("plugins",), ("admin",), ("audit",),
     ("users",), ("usage",), ("legacy",), ("apigee",), ("apigee", "proxies")],
    ids=lambda g: " ".join(g) or "flask",
)  # fmt: skip
def test_every_command_summary_is_whole(cli, group) -> None:
    """Click cuts a summary longer than the terminal allows with "..."; ours fit."""
    lines = help_lines(cli, *group)
    assert lines
    assert not [line for line in lines if line.endswith("...") and not line.startswith("db ")]


def test_flask_help_names_this_product(tmp_path) -> None:
    """The real ``flask`` command: Flask's own heading, then the commands, then ours."""
    env = {
        "PATH": os.environ["PATH"],
        "FLASK_SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'help.sqlite'}",
    }
    result = subprocess.run(
        [str(Path(sys.executable).with_name("flask")), "--app", "app", "--help"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "legacy OAuth2 service" in result.stdout
    assert "flask --app app GROUP --help" in result.stdout
    assert result.stdout.index("Commands:") < result.stdout.index("legacy OAuth2 service")
