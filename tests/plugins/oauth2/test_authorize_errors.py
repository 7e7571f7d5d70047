"""option=authorize's refusals, as bshaffer's AuthorizeController made them: about the
client or its redirect URI, shown on a page (the URI is not trusted); about the rest,
redirected to the client with error, error_description and state."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient

from tests.support.pages import AUTHORIZE_URL
from tests.support.pages import CALLBACK
from tests.support.pages import PASSWORD
from tests.support.pages import login
from tests.support.pages import query_of

OTHER = "https://app.test/elsewhere"


@pytest.fixture
def browser(client: FlaskClient, cli: Callable[..., str]) -> FlaskClient:
    cli("users", "create", "alice", "--password-stdin", input=PASSWORD + "\n")
    cli("scopes", "add", "site.read", "--default")
    cli("clients", "create", "app", "--secret", "s-1", "--redirect-uri", CALLBACK, "--scope",
        "site.read")  # fmt: skip
    cli("clients", "create", "bare", "--secret", "s-2")  # no redirect URI
    cli("clients", "create", "two", "--secret", "s-3", "--redirect-uri", f"{CALLBACK} {OTHER}")
    cli("clients", "create", "cc", "--secret", "s-4", "--redirect-uri", CALLBACK,
        "--grant-types", "client_credentials")  # fmt: skip
    assert login(client, "alice").status_code == 303
    return client


def url(**values: str) -> str:
    return AUTHORIZE_URL + "&" + urlencode(values)


SHOWN = [
    ({}, "invalid_client", "No client id supplied"),
    ({"client_id": "nosuch"}, "invalid_client", "The client id supplied is invalid"),
    (
        {"client_id": "app", "redirect_uri": OTHER},
        "redirect_uri_mismatch",
        "The redirect URI provided is missing or does not match",
    ),
    (
        {"client_id": "app", "redirect_uri": CALLBACK + "/more"},
        "redirect_uri_mismatch",
        "The redirect URI provided is missing or does not match",
    ),
    (
        {"client_id": "app", "redirect_uri": CALLBACK + "#frag"},
        "invalid_uri",
        "The redirect URI must not contain a fragment",
    ),
    ({"client_id": "bare"}, "invalid_uri", "No redirect URI was supplied or stored"),
    (
        {"client_id": "bare", "redirect_uri": CALLBACK},
        "invalid_uri",
        "No redirect URI is registered for this client",
    ),
    (
        {"client_id": "two"},
        "invalid_uri",
        "A redirect URI must be supplied when multiple redirect URIs are registered",
    ),
]


@pytest.mark.parametrize(
    ("values", "error", "description"),
    SHOWN,
    ids=[
        "no-client-id",
        "unknown-client",
        "other-uri",
        "longer-uri-exact",
        "fragment",
        "none-registered-none-given",
        "none-registered-one-given",
        "several-registered-none-given",
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_errors_about_the_client_or_its_uri_are_shown_not_redirected(
    browser, values, error, description, method
):
    rv = browser.open(url(response_type="code", state="s", **values), method=method)
    assert rv.status_code == 400
    assert "Location" not in rv.headers
    assert rv.content_type == "text/html; charset=utf-8"
    page = rv.get_data(as_text=True)
    assert f"<code>{error}</code>: {description}" in page
    assert "frame-ancestors 'none'" in rv.headers["Content-Security-Policy"]


REDIRECTED = [
    ({"client_id": "app"}, "invalid_request", "Invalid or missing response type", "s"),
    (
        {"client_id": "app", "response_type": "id_token"},
        "invalid_request",
        "Invalid or missing response type",
        "s",
    ),
    (
        {"client_id": "cc", "response_type": "code"},
        "unauthorized_client",
        "The grant type is unauthorized for this client_id",
        "s",
    ),
    (
        {"client_id": "app", "response_type": "code", "scope": "site.write"},
        "invalid_scope",
        "An unsupported scope was requested",
        "s",
    ),
    (
        {"client_id": "app", "response_type": "code", "state": ""},
        "invalid_request",
        "The state parameter is required",
        None,
    ),
]


@pytest.mark.parametrize(
    ("values", "error", "description", "state"),
    REDIRECTED,
    ids=["no-response-type", "unknown-response-type", "grant-not-allowed", "scope", "no-state"],
)
def test_other_errors_go_back_to_the_client(browser, values, error, description, state):
    rv = browser.get(url(**({"state": "s"} | values)))
    assert rv.status_code == 302
    expected = {"error": error, "error_description": description}
    if state is not None:
        expected["state"] = state
    assert query_of(rv.headers["Location"]) == expected
    assert rv.headers["Location"].startswith(CALLBACK + "?error=")


def test_a_client_without_a_scope_may_ask_for_scopes_that_exist(browser, cli):
    cli("clients", "create", "open", "--secret", "s-5", "--redirect-uri", CALLBACK)
    rv = browser.get(url(client_id="open", response_type="code", state="s", scope="site.read"))
    assert rv.status_code == 200
    rv = browser.get(url(client_id="open", response_type="code", state="s", scope="nope"))
    assert query_of(rv.headers["Location"])["error"] == "invalid_scope"


def test_state_may_be_left_out_when_not_enforced(browser, set_params):
    set_params(enforce_state=False)
    assert browser.get(url(client_id="app", response_type="code")).status_code == 200


@pytest.mark.parametrize(
    ("given", "allowed"),
    [
        (CALLBACK, True),
        (CALLBACK + "?next=1", True),
        ("HTTPS://APP.TEST/CALLBACK/more", True),
        ("https://app.test/call", False),
        (OTHER, False),
    ],
    ids=["same", "longer", "other-case", "shorter", "other"],
)
def test_the_prefix_rule_when_exact_uris_are_not_required(browser, set_params, given, allowed):
    set_params(require_exact_redirect_uri=False)
    rv = browser.get(url(client_id="app", response_type="code", state="s", redirect_uri=given))
    assert rv.status_code == (200 if allowed else 400)


def test_a_second_registered_uri_is_taken_when_given(browser):
    rv = browser.get(url(client_id="two", response_type="code", state="s", redirect_uri=OTHER))
    assert rv.status_code == 200


def test_an_error_keeps_the_state_as_given(browser):
    rv = browser.get(url(client_id="app", state="a&b <c>"))
    assert rv.headers["Location"].endswith("&state=a%26b+%3Cc%3E")
