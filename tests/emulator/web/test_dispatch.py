"""The dispatcher: which plugin and operation a legacy URL reaches (api, option, path).

Seen through the oauth2 plugin, whose token and resource operations show where a request
landed. ``option`` is read like every other parameter, by PHP's rules. The request and
assertion helpers are the oauth2 tests' (tests/support/oauth2.py); the two fixtures are
local, since pytest does not share tests/plugins/oauth2/conftest.py with this folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import request
from flask.testing import FlaskClient

from emulator.web.dispatch import render_error
from emulator.web.errors import BodyTooLarge
from emulator.web.resolution import Resolution
from tests.support.oauth2 import FORM
from tests.support.oauth2 import SHOP
from tests.support.oauth2 import SHOP_SCOPE
from tests.support.oauth2 import assert_resource_ok
from tests.support.oauth2 import assert_token_ok
from tests.support.oauth2 import bearer
from tests.support.oauth2 import multipart
from tests.support.oauth2 import send

EMPTY_OPTION = (
    b'{"message":"OAuth2 operation name is empty. Please provide proper option name.",'
    b'"code":0,"type":"RuntimeException"}'
)


def assert_dispatcher_404(rv: Any) -> None:
    assert rv.status_code == 404
    body = json.loads(rv.data)
    assert list(body) == ["message", "code", "type"]
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["code"], int)
    assert isinstance(body["type"], str)


@pytest.fixture
def shop(cli: Callable[..., str], make_client: Callable[..., tuple[str, str | None]]) -> None:
    """A confidential client with a scope (user 1001), and the scopes table around it."""
    for name in ("catalog.read", "catalog.write", "orders.read", "reports.view"):
        default = name in ("catalog.read", "reports.view")
        cli("scopes", "add", name, *(["--default"] if default else []))
    make_client("shop-app", secret="Sh0p-Secret!", scope=SHOP_SCOPE, user_id="1001")


@pytest.fixture
def at(client: FlaskClient, shop: None) -> str:
    """An access token of shop-app (user 1001) holding catalog.read catalog.write orders.read."""
    rv = send(client, {"grant_type": "client_credentials", **SHOP})
    return assert_token_ok(rv, scope=SHOP_SCOPE, refresh=True)["access_token"]


@pytest.mark.parametrize(
    "api", ["OAuth2", "OAUTH2", "oAuTh2"], ids=["title-case", "upper-case", "mixed-case"]
)
def test_api_is_matched_in_any_case(client, at, api) -> None:
    rv = client.get(f"/index.php?option=resource&api={api}", headers=bearer(at))
    assert_resource_ok(rv, user_id="1001")
    rv = send(
        client,
        {"grant_type": "client_credentials", **SHOP},
        path=f"/index.php?option=token&api={api}",
    )
    assert_token_ok(rv, scope=SHOP_SCOPE, refresh=True)


@pytest.mark.parametrize("encoding", ["form", "multipart"], ids=["form", "multipart"])
def test_api_may_come_from_the_form_body(client, shop, encoding) -> None:
    fields = [
        ("api", "OAuth2"),
        ("grant_type", "client_credentials"),
        ("client_id", "shop-app"),
        ("client_secret", "Sh0p-Secret!"),
    ]
    if encoding == "form":
        body, content_type = urlencode(fields), FORM
    else:
        body, content_type = multipart(fields)
    rv = send(client, body, content_type=content_type, path="/index.php?option=Token")
    assert_token_ok(rv, scope=SHOP_SCOPE, refresh=True)


@pytest.mark.parametrize(
    "option",
    ["Token", "TOKEN", "com_token", "COM_TOKEN", "Com_Token"],
    ids=[
        "title-case",
        "upper-case",
        "com-prefix",
        "com-prefix-upper-case",
        "com-prefix-title-case",
    ],
)
def test_option_is_matched_in_any_case_with_or_without_com_prefix(client, shop, option) -> None:
    rv = send(
        client,
        {"grant_type": "client_credentials", **SHOP},
        path=f"/index.php?api=oauth2&option={option}",
    )
    assert_token_ok(rv, scope=SHOP_SCOPE, refresh=True)


@pytest.mark.parametrize(
    "option",
    ["Resource", "COM_RESOURCE", "com_Resource"],
    ids=["title-case", "com-prefix-upper-case", "com-prefix-mixed-case"],
)
def test_resource_option_any_case(client, at, option) -> None:
    assert_resource_ok(
        client.get(f"/index.php?api=oauth2&option={option}", headers=bearer(at)), user_id="1001"
    )


def test_option_comes_from_the_query_only(client, shop) -> None:
    rv = send(
        client,
        {"option": "token", "grant_type": "client_credentials", **SHOP},
        path="/index.php?api=oauth2",
    )
    assert (rv.status_code, rv.data) == (500, EMPTY_OPTION)


@pytest.mark.parametrize(
    "query",
    [
        "api=oauth2&option=",
        "api=oauth2",
        "api=oauth2&option=com_",
        "api=oauth2&option=COM_",
        "api=OAUTH2&option=Com_",
    ],
    ids=["empty", "missing", "prefix-only", "prefix-upper", "prefix-mixed"],
)
@pytest.mark.parametrize("method", ["GET", "POST"], ids=["GET", "POST"])
def test_empty_option_is_a_500_with_the_exception_body(client, query, method) -> None:
    rv = client.open(f"/index.php?{query}", method=method)
    assert (rv.status_code, rv.data) == (500, EMPTY_OPTION)
    assert rv.headers["Content-Type"].lower() == "text/html; charset=utf-8"


@pytest.mark.parametrize(
    "option",
    ["authorise", "com_contact", "tokens", "Resources", "com_content"],
    ids=["authorise-british", "com-contact", "tokens-plural", "resources-plural", "com-content"],
)
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"], ids=["GET", "POST", "DELETE"])
def test_unknown_option_is_an_empty_200(client, shop, count_rows, option, method) -> None:
    rv = send(
        client,
        {"grant_type": "client_credentials", **SHOP},
        method=method,
        path=f"/index.php?api=oauth2&option={option}",
    )
    assert (rv.status_code, rv.data) == (200, b"")
    assert rv.headers["Content-Type"].lower() == "text/html; charset=utf-8"
    assert count_rows("oauth_access_tokens") == 0


@pytest.mark.parametrize("path", ["/", "/index.php"], ids=["root", "index-php"])
def test_root_and_index_php_both_answer(client, shop, path) -> None:
    rv = send(
        client, {"grant_type": "client_credentials", **SHOP}, path=f"{path}?option=token&api=oauth2"
    )
    token = assert_token_ok(rv, scope=SHOP_SCOPE, refresh=True)
    rv = client.get(f"{path}?option=resource&api=oauth2", headers=bearer(token["access_token"]))
    assert_resource_ok(rv, user_id="1001")


@pytest.mark.parametrize(
    "query",
    ["api=oauth3&option=token", "option=token", "api=&option=token", "api=oauth2x&option=resource"],
    ids=["unknown", "absent", "empty", "near-miss"],
)
def test_unknown_or_absent_api_is_a_404_json(client, shop, count_rows, query) -> None:
    rv = send(client, {"grant_type": "client_credentials", **SHOP}, path=f"/index.php?{query}")
    assert_dispatcher_404(rv)
    assert count_rows("oauth_access_tokens") == 0


def test_disabled_plugin_is_a_404_json(client, shop, cli) -> None:
    cli("plugins", "disable", "oauth2")
    rv = send(client, {"grant_type": "client_credentials", **SHOP})
    assert_dispatcher_404(rv)


def test_repeated_option_takes_the_last_value(client) -> None:
    rv = client.get("/index.php?api=oauth2&option=resource&option=nosuch")
    assert (rv.status_code, rv.data) == (200, b"")  # the unknown operation, not resource
    rv = client.get("/index.php?api=oauth2&option=nosuch&option=resource")
    assert (rv.status_code, rv.data) == (401, b"[]")  # resource without a token


def test_an_array_option_names_no_operation(client) -> None:
    rv = client.get("/index.php?api=oauth2&option[]=token")
    assert rv.status_code == 500
    assert json.loads(rv.data)["message"].startswith("OAuth2 operation name is empty")


def test_a_plugin_without_operations_answers_no_legacy_url(client, cli) -> None:
    cli("plugins", "enable", "apigee")  # path routes only
    rv = client.get("/index.php?api=APIGEE&option=token")
    assert rv.status_code == 404
    assert (
        rv.data
        == b'{"message":"API \\"APIGEE\\" is not available","code":404,"type":"RuntimeException"}'
    )


def test_a_body_too_large_in_the_hosts_shape() -> None:
    """Where no dialect words it (a plugin without ``render_error``), the 413 is the host's
    RuntimeException shape."""
    rv = render_error(Resolution(), BodyTooLarge(1048576))
    assert (rv.status_code, rv.data) == (
        413,
        b'{"message":"The request body is larger than 1048576 bytes","code":413,'
        b'"type":"RuntimeException"}',
    )
    assert rv.headers["Content-Type"] == "text/html; charset=UTF-8"


def test_a_body_too_large_outside_the_dispatcher_in_the_hosts_shape(app) -> None:
    """Werkzeug's own 413, raised where no plugin was resolved (a route reading its body),
    renders through the host's handler with the same bytes."""
    app.add_url_rule(
        "/test-reads-body", "test_reads_body", lambda: request.get_data(), methods=["POST"]
    )
    rv = app.test_client().post("/test-reads-body", data=b"x" * (1024 * 1024 + 1))
    assert (rv.status_code, rv.data) == (
        413,
        b'{"message":"The request body is larger than 1048576 bytes","code":413,'
        b'"type":"RuntimeException"}',
    )
