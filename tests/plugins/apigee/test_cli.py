"""``flask apigee products|apps|proxies`` and the plugin's params through ``plugins set``."""

from __future__ import annotations

import json

import pytest

from emulator.ops.clock import utcnow
from emulator.storage.database import db
from plugins.apigee.apps import add_product
from plugins.apigee.proxies import add_proxy
from plugins.apigee.proxies import remove_proxy

from .wire_format import SEED_PRODUCT


def test_products_add_and_list(cli) -> None:
    assert cli("apigee", "products", "add", "Weather", "--scope", "read  write") == (
        "Product Weather added, scopes: read write.\n"
    )
    cli("apigee", "products", "add", SEED_PRODUCT)
    cli("apigee", "products", "add", "Weather", "--scope", "read")  # replaces the scopes
    assert cli("apigee", "products", "list") == f"{SEED_PRODUCT}  scopes=-\nWeather  scopes=read\n"


def test_a_product_scope_must_be_a_scope(cli) -> None:
    out = cli("apigee", "products", "add", "P", "--scope", 'bad"scope', expect_ok=False)
    assert "Invalid scope" in out
    assert cli("apigee", "products", "list") == ""


def test_apps_set_and_show(cli, make_client, app_id_of) -> None:
    cid, _ = make_client()
    cli("apigee", "products", "add", "P1", "--scope", "a")
    cli("apigee", "products", "add", "P2")
    cli("apigee", "products", "add", SEED_PRODUCT)
    app_id = app_id_of(cid)
    out = cli(
        "apigee", "apps", "set", cid, "--developer-email", "dev@example.com", "--products", "P2 P1"
    )
    assert out == f"App {app_id} (client {cid}): developer dev@example.com, products [P2, P1].\n"
    # --product takes one name, spaces allowed; an option left out keeps what the app has
    cli("apigee", "apps", "set", cid, "--product", SEED_PRODUCT, "--product", "P1")
    assert cli("apigee", "apps", "show", cid) == (
        f"client_id: {cid}\napplication_name: {app_id}\ndeveloper.email: dev@example.com\n"
        f"api_product_list: [{SEED_PRODUCT}, P1]\n"
    )
    cli("apigee", "apps", "set", cid, "--developer-email", "new@example.com")
    assert "api_product_list: [Test App product, P1]" in cli("apigee", "apps", "show", cid)
    assert app_id_of(cid) == app_id  # stable


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody", "--products", "P"], "No client 'nobody'"),
        (["<cid>", "--products", "Nope"], "No API product 'Nope'"),
        (["<cid>", "--developer-email", "not-an-email"], "is not an email address"),
        (["<cid>", "--products", "P", "--product", "P"], "not both"),
        (["<cid>", "--developer-email", "d@" + "e" * 254], "at most 255 characters"),
    ],
    ids=["unknown-client", "unknown-product", "bad-email", "both-product-options", "long-email"],
)
def test_apps_set_refuses(cli, make_client, args, message) -> None:
    cid, _ = make_client()
    cli("apigee", "products", "add", "P")
    out = cli("apigee", "apps", "set", *[cid if a == "<cid>" else a for a in args], expect_ok=False)
    assert message in out


def test_proxies_add_update_list_remove(cli) -> None:
    assert cli("apigee", "proxies", "add", "/weather/", "--target", "http://127.0.0.1:9000/v1") == (
        "Proxy /weather added: -> http://127.0.0.1:9000/v1, scope: (any token).\n"
    )
    assert cli(
        "apigee",
        "proxies",
        "add",
        "/weather",
        "--target",
        "https://api.test",
        "--scope",
        "read write",
    ) == ("Proxy /weather updated: -> https://api.test, scope: read write.\n")
    cli("apigee", "proxies", "add", "/a/b", "--target", "http://127.0.0.1:1")
    assert cli("apigee", "proxies", "list") == (
        "/a/b  -> http://127.0.0.1:1  scope=-\n/weather  -> https://api.test  scope=read write\n"
    )
    assert cli("apigee", "proxies", "remove", "/a/b") == "Proxy /a/b removed.\n"
    assert "No proxy at '/a/b'" in cli("apigee", "proxies", "remove", "/a/b", expect_ok=False)


def test_names_and_base_paths_that_differ_in_case_are_different(cli) -> None:
    """On every backend (MariaDB's default collations would call them one and update it).
    (Sorted here: the listing's order is the database's collation order.)"""
    cli("apigee", "products", "add", "Gold", "--scope", "a")
    cli("apigee", "products", "add", "gold", "--scope", "b")
    cli("apigee", "products", "add", "Gøld 😀", "--scope", "c")
    listed = sorted(cli("apigee", "products", "list").splitlines())
    assert listed == ["Gold  scopes=a", "Gøld 😀  scopes=c", "gold  scopes=b"]
    cli("apigee", "proxies", "add", "/Weather", "--target", "http://127.0.0.1:9001")
    assert "added" in cli(
        "apigee", "proxies", "add", "/weather", "--target", "http://127.0.0.1:9002"
    )
    assert sorted(cli("apigee", "proxies", "list").splitlines()) == [
        "/Weather  -> http://127.0.0.1:9001  scope=-",
        "/weather  -> http://127.0.0.1:9002  scope=-",
    ]


@pytest.mark.parametrize(
    ("base_path", "target", "scope", "message"),
    [
        ("/", "http://127.0.0.1:1", None, "is not a base path"),
        ("weather", "http://127.0.0.1:1", None, "is not a base path"),
        ("/a//b", "http://127.0.0.1:1", None, "is not a base path"),
        ("/index.php", "http://127.0.0.1:1", None, "is not a base path"),
        ("/w", "ftp://127.0.0.1/x", None, "is not a target"),
        ("/w", "http://127.0.0.1:1/x?key=1", None, "is not a target"),
        ("/w", "http://127.0.0.1:1", 'a"b', "Invalid scope"),
    ],
    ids=["root", "relative", "double-slash", "legacy-entry", "not-http", "query", "bad-scope"],
)
def test_proxies_add_refuses(cli, base_path, target, scope, message) -> None:
    out = cli(
        "apigee",
        "proxies",
        "add",
        base_path,
        "--target",
        target,
        *(["--scope", scope] if scope else []),
        expect_ok=False,
    )
    assert message in out
    assert cli("apigee", "proxies", "list") == ""


def test_the_commands_work_while_the_plugin_is_disabled(cli) -> None:
    assert "apigee           disabled" in cli("plugins", "list")
    cli("apigee", "products", "add", "P")
    cli("apigee", "proxies", "add", "/w", "--target", "http://127.0.0.1:1")


def test_params_defaults(cli) -> None:
    shown = cli("plugins", "show", "apigee")
    assert shown.startswith("apigee: disabled (Apigee Edge OAuth proxy 1.0.0)\n")
    for line in [
        "    access_token_lifetime_ms = 3600000",
        "    client_credentials_refresh_token = false",
        "    grant_type_in_body = true",
        '    organization_name = ""',
        '    response_profile = "edge-2014"',
        '    scope_no_overlap = "error"',
        '    token_type = "BearerToken"',
        "    expires_in_as_string = true",
        "    refresh_token_lifetime_ms = 0",
        "    target_timeout_ms = 55000",
        '    base_paths = {"/oauth/accesstoken": "GenerateAccessToken", '
        '"/oauth/client_credential/accesstoken": "POST GenerateAccessToken", '
        '"/oauth/client_credential/refresh_accesstoken": "POST RefreshAccessToken"}',
    ]:
        assert line in shown.splitlines(), line


@pytest.mark.parametrize(
    "assignment",
    [
        "response_profile=x-2020",
        "scope_no_overlap=ignore",
        "token_type=MAC",
        "access_token_lifetime_ms=10",
        "grant_type_in_body=maybe",
        "base_paths=not json",
        'base_paths={"/oauth/token/": "GenerateAccessToken"}',
        'base_paths={"/oauth/token": "GET AuthorizeCode"}',
        'base_paths={"/index.php": "GenerateAccessToken"}',
        "nonsense=1",
    ],
)
def test_bad_params_are_refused_and_nothing_is_stored(cli, assignment) -> None:
    out = cli("plugins", "set", "apigee", "organization_name=acme", assignment, expect_ok=False)
    assert "nothing was stored" in out
    assert 'organization_name = ""' in cli("plugins", "show", "apigee")


def test_base_paths_from_the_cli(cli) -> None:
    value = json.dumps(
        {"/token": "POST GenerateAccessToken", "/token/refresh": "POST RefreshAccessToken"}
    )
    cli("plugins", "set", "apigee", f"base_paths={value}")
    assert f"  * base_paths = {value}" in cli("plugins", "show", "apigee")


def test_proxy_limit_params_defaults(cli) -> None:
    shown = cli("plugins", "show", "apigee").splitlines()
    for line in [
        "    proxy_max_request_bytes = 10485760",
        "    proxy_max_response_bytes = 10485760",
        "    proxy_deadline_ms = 60000",
    ]:
        assert line in shown, line


@pytest.mark.parametrize(
    "assignment",
    [
        "proxy_max_request_bytes=-1",
        "proxy_max_response_bytes=1073741825",
        "proxy_deadline_ms=0",
        "proxy_deadline_ms=soon",
    ],
    ids=["negative-request-limit", "response-limit-over-1-gib", "zero-deadline", "not-a-number"],
)
def test_bad_proxy_limits_are_refused(cli, assignment) -> None:
    out = cli("plugins", "set", "apigee", assignment, expect_ok=False)
    assert "nothing was stored" in out


@pytest.mark.parametrize("char", ["\x00", "\n", "\x1b"], ids=["nul", "line-feed", "escape"])
@pytest.mark.parametrize(
    "args",
    [
        ["products", "add", "P{c}"],
        ["products", "add", "P", "--scope", "read{c}"],
        ["apps", "set", "c1{c}"],
        ["apps", "set", "c1", "--developer-email", "dev@example.com{c}"],
        ["apps", "set", "c1", "--product", "Test{c} product"],
        ["apps", "set", "c1", "--products", "P{c}"],
        ["apps", "show", "c1{c}"],
        ["proxies", "add", "/w{c}", "--target", "http://127.0.0.1:1"],
        ["proxies", "add", "/w", "--target", "http://127.0.0.1:1/{c}"],
        ["proxies", "add", "/w", "--target", "http://127.0.0.1:1", "--scope", "read{c}"],
        ["proxies", "remove", "/w{c}"],
    ],
    ids=[
        "product-name",
        "product-scope",
        "app-client-id",
        "developer-email",
        "product",
        "products",
        "show-client-id",
        "base-path",
        "target",
        "proxy-scope",
        "remove-base-path",
    ],
)
def test_control_characters_are_refused_with_one_line(
    cli, make_client, count_rows, args, char
) -> None:
    """On every backend (PostgreSQL would refuse a NUL with a traceback): one line, exit
    status 1, nothing stored."""
    make_client("c1", secret="s")
    argv = ["apigee", *(arg.replace("{c}", char) for arg in args)]
    out = cli(*argv, expect_ok=False)
    assert out.count("\n") == 1 and out.startswith("Error: "), out
    assert "control character" in out
    for table in ("apigee_products", "apigee_apps", "apigee_proxies"):
        assert count_rows(table) == 0, table


def test_the_plugins_functions_refuse_control_characters_too(app) -> None:
    """Below the CLI (a script calling them): a ValueError, not a database error."""
    with app.app_context():
        for call in (
            lambda: add_product(db.session, "P\x00"),
            lambda: add_proxy(db.session, "/w\x00", "http://127.0.0.1:1", None, now=utcnow()),
            lambda: add_proxy(db.session, "/w", "http://127.0.0.1:1/\x00", None, now=utcnow()),
        ):
            with pytest.raises(ValueError, match="control character|not a base path"):
                call()
        assert remove_proxy(db.session, "/w\x00") is None
        db.session.rollback()


def audit_log(cli, action: str) -> list[tuple]:
    """The events of ``action`` (a prefix) as ``flask audit list`` shows them, oldest first."""
    found = cli("audit", "list", "--action", action, "--json")
    events = json.loads(found) if found.strip() else []
    assert all(event["actor"].startswith("cli:") for event in events)
    return [(e["action"], e["target"], e["before"], e["after"]) for e in reversed(events)]


def test_product_and_proxy_commands_are_audited(cli) -> None:
    """As the core commands are: who changed what, from what to what; nothing when nothing
    changed or the change was refused."""
    cli("apigee", "products", "add", "P1", "--scope", "a")
    cli("apigee", "products", "add", "P1", "--scope", "a")  # unchanged
    cli("apigee", "products", "add", "P1", "--scope", "a  b")
    cli("apigee", "products", "add", "P2", "--scope", 'bad"scope', expect_ok=False)
    assert audit_log(cli, "apigee.product.") == [
        ("apigee.product.add", "P1", None, {"scopes": "a"}),
        ("apigee.product.update", "P1", {"scopes": "a"}, {"scopes": "a b"}),
    ]
    cli("apigee", "proxies", "add", "/w/", "--target", "http://u:pw@127.0.0.1:9/x")
    cli("apigee", "proxies", "add", "/w", "--target", "http://u:pw@127.0.0.1:9/x")  # unchanged
    cli("apigee", "proxies", "add", "/w", "--target", "http://127.0.0.1:9/y", "--scope", "a")
    cli("apigee", "proxies", "add", "/v", "--target", "ftp://127.0.0.1/", expect_ok=False)
    cli("apigee", "proxies", "remove", "/w")
    cli("apigee", "proxies", "remove", "/w", expect_ok=False)
    first = {"target_url": "http://u:***@127.0.0.1:9/x", "scope": None}
    second = {"target_url": "http://127.0.0.1:9/y", "scope": "a"}
    assert audit_log(cli, "apigee.proxy.") == [
        ("apigee.proxy.add", "/w", None, first),
        ("apigee.proxy.update", "/w", first, second),
        ("apigee.proxy.remove", "/w", second, None),
    ]
    assert "pw" not in cli("audit", "list", "--json")


def test_apps_set_is_audited_as_the_admin_pages_app_panel_is(cli, make_client) -> None:
    cid, _ = make_client()
    cli("apigee", "products", "add", "P1")
    cli("apigee", "products", "add", "P2")
    cli("apigee", "apps", "set", cid, "--developer-email", "dev@example.com", "--products", "P1")
    cli("apigee", "apps", "set", cid, "--products", "P1")  # unchanged
    cli("apigee", "apps", "set", cid, "--products", "P2 P1")
    cli("apigee", "apps", "set", cid, "--products", "Nope", expect_ok=False)
    assert audit_log(cli, "client.update") == [
        (
            "client.update",
            cid,
            {"apigee.developer_email": None, "apigee.products": []},
            {"apigee.developer_email": "dev@example.com", "apigee.products": ["P1"]},
        ),
        ("client.update", cid, {"apigee.products": ["P1"]}, {"apigee.products": ["P2", "P1"]}),
    ]
