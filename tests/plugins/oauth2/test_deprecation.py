"""Deprecation notices of the redCORE dialect (emulator/web/deprecation.py): the configured
form's counted answers get Deprecation, Sunset and Link; every other answer keeps its bytes.
"""

from __future__ import annotations

import json

import pytest

from tests.support.oauth2 import send
from tests.support.oauth2_forms import CC
from tests.support.oauth2_forms import CLIENT_ID
from tests.support.oauth2_forms import access_token
from tests.support.oauth2_forms import resource_request
from tests.support.oauth2_forms import token_request

NOTICE = {"deprecation": "2026-01-01", "sunset": "2026-07-01", "link": "https://example.com/move"}
NOTICE_HEADERS = {
    "Deprecation": "@1767225600",
    "Sunset": "Wed, 01 Jul 2026 00:00:00 GMT",
    "Link": '<https://example.com/move>; rel="deprecation", <https://example.com/move>; '
    'rel="sunset"',
}


def notices(set_params, **forms: dict) -> None:
    set_params(deprecations=json.dumps(forms))


def notice_headers(rv) -> dict[str, str]:
    return {
        name: rv.headers[name] for name in ("Deprecation", "Sunset", "Link") if name in rv.headers
    }


def test_no_notice_by_default(client, shop) -> None:
    for form in ("basic", "body", "json", "query"):
        assert notice_headers(token_request(client, form)) == {}


@pytest.mark.parametrize("form", ["basic", "body", "json", "query"])
def test_a_credential_forms_notice_goes_to_that_form_only(client, shop, set_params, form) -> None:
    notices(set_params, **{form: NOTICE})
    for other in ("basic", "body", "json", "query"):
        rv = token_request(client, other)
        assert rv.status_code == 200
        assert notice_headers(rv) == (NOTICE_HEADERS if other == form else {}), other


def test_a_token_forms_notice_goes_to_resource_answers_of_that_form(
    client, shop, set_params
) -> None:
    token = access_token(client)
    notices(set_params, query={"sunset": "2027-01-31T12:30:00+01:00"})
    rv = resource_request(client, "query", token)
    assert rv.status_code == 200 and rv.data.startswith(b'{"success":true')
    assert notice_headers(rv) == {"Sunset": "Sun, 31 Jan 2027 11:30:00 GMT"}
    assert notice_headers(resource_request(client, "header", token)) == {}
    assert notice_headers(resource_request(client, "body", token)) == {}
    # the query notice is about credentials in the query too
    assert notice_headers(token_request(client, "query")) == {
        "Sunset": "Sun, 31 Jan 2027 11:30:00 GMT"
    }


def test_every_form_and_precedence(client, shop, set_params) -> None:
    """``*`` reaches every counted answer; a form's own notice wins over it."""
    notices(
        set_params,
        **{"*": {"deprecation": "2030-01-01"}, "query": {"deprecation": "2026-01-01T00:00:00Z"}},
    )
    assert notice_headers(token_request(client, "basic")) == {"Deprecation": "@1893456000"}
    assert notice_headers(token_request(client, "query")) == {"Deprecation": "@1767225600"}
    token = access_token(client)
    assert notice_headers(resource_request(client, "header", token)) == {
        "Deprecation": "@1893456000"
    }


def test_error_answers_keep_their_bytes_and_headers(client, shop, set_params) -> None:
    notices(set_params, **{"*": NOTICE})
    rv = send(client, {**CC, "client_id": CLIENT_ID, "client_secret": "wrong"})
    assert rv.status_code in (400, 401)
    assert notice_headers(rv) == {}
    rv = resource_request(client, "query", "f" * 40)
    assert rv.status_code == 401 and notice_headers(rv) == {}
