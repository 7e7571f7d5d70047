"""Deprecation notices of the Apigee dialect (emulator/web/deprecation.py): token flows by
credential form, proxies by the header form; a target's own notice is kept.
"""

from __future__ import annotations

import json

import responses

from tests.support.apigee import CC_TOKEN_URL
from tests.support.apigee import GRANT
from tests.support.apigee import TARGET
from tests.support.apigee import TOKEN_URL
from tests.support.apigee import basic
from tests.support.apigee import bearer
from tests.support.apigee import call_proxy

from .wire_format import SEED_CLIENT_ID
from .wire_format import SEED_SECRET

NOTICE = {"deprecation": "2026-01-01", "link": "https://example.com/apigee-move"}
NOTICE_HEADERS = {
    "Deprecation": "@1767225600",
    "Link": '<https://example.com/apigee-move>; rel="deprecation"',
}


def notice_headers(rv) -> dict[str, str]:
    return {
        name: rv.headers[name] for name in ("Deprecation", "Sunset", "Link") if name in rv.headers
    }


def test_no_notice_by_default(client, proxy_to) -> None:
    token = proxy_to(TARGET)
    assert notice_headers(call_proxy(client, token)) == {}
    rv = client.get(TOKEN_URL + GRANT, headers=basic(SEED_CLIENT_ID, SEED_SECRET))
    assert notice_headers(rv) == {}


def test_a_credential_forms_notice_goes_to_that_form_only(client, seed_app, set_params) -> None:
    cid, secret = seed_app()
    set_params("apigee", deprecations=json.dumps({"body": NOTICE}))
    rv = client.post(CC_TOKEN_URL + GRANT, data={"client_id": cid, "client_secret": secret})
    assert rv.status_code == 200 and rv.data.startswith(b"{\n")
    assert notice_headers(rv) == NOTICE_HEADERS
    rv = client.post(CC_TOKEN_URL + GRANT, headers=basic(cid, secret))
    assert rv.status_code == 200 and notice_headers(rv) == {}


def test_a_proxys_answer_gets_the_header_forms_notice(client, proxy_to, set_params) -> None:
    token = proxy_to(TARGET, deprecations=json.dumps({"header": {"sunset": "2026-07-01"}}))
    rv = call_proxy(client, token)
    assert rv.data == b"<rss>sunny</rss>"
    assert notice_headers(rv) == {"Sunset": "Wed, 01 Jul 2026 00:00:00 GMT"}
    rv = client.get(TOKEN_URL + GRANT, headers=basic(SEED_CLIENT_ID, SEED_SECRET))
    assert notice_headers(rv) == {}


def test_a_targets_own_notice_is_kept(client, proxy_to) -> None:
    token = proxy_to(TARGET, deprecations=json.dumps({"header": NOTICE}))
    with responses.RequestsMock() as target:
        target.get(
            TARGET + "/forecastrss",
            body=b"old api",
            headers={
                "Deprecation": "@1000000000",
                "Link": '<https://t.test/v2>; rel="successor-version"',
            },
        )
        rv = client.get("/weather/forecastrss", headers=bearer(token))
    assert rv.headers["Deprecation"] == "@1000000000"
    assert rv.headers.getlist("Link") == [
        '<https://t.test/v2>; rel="successor-version"',
        '<https://example.com/apigee-move>; rel="deprecation"',
    ]
