"""Usage counts of the Apigee dialect: token flows and proxies.

Credentials come by Basic or in a form body (``basic``, ``body``); a proxy's token comes in
the Authorization header only (``header``). A token flow is counted under its policy name,
a proxy under its base path. The proxy's target is faked with ``responses``.
"""

from __future__ import annotations

from emulator.ops import usage
from tests.support.apigee import CC_TOKEN_URL
from tests.support.apigee import GRANT
from tests.support.apigee import REFRESH_URL
from tests.support.apigee import TARGET
from tests.support.apigee import TOKEN_URL
from tests.support.apigee import basic
from tests.support.apigee import bearer
from tests.support.apigee import call_proxy

from .wire_format import SEED_CLIENT_ID


def test_token_flows_are_counted_by_credential_form(client, seed_app, usage_counts) -> None:
    cid, secret = seed_app(client_credentials_refresh_token=True)
    rv = client.get(TOKEN_URL + GRANT, headers=basic(cid, secret))
    assert rv.status_code == 200, rv.data
    for _ in range(2):
        rv = client.post(CC_TOKEN_URL + GRANT, data={"client_id": cid, "client_secret": secret})
        assert rv.status_code == 200, rv.data
    refresh_token = rv.get_json()["refresh_token"]
    rv = client.post(
        REFRESH_URL,
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        headers=basic(cid, secret),
    )
    assert rv.status_code == 200, rv.data
    assert usage_counts() == {
        (cid, "apigee", "GenerateAccessToken", "basic", None): 1,
        (cid, "apigee", "GenerateAccessToken", "body", None): 2,
        (cid, "apigee", "RefreshAccessToken", "basic", None): 1,
    }


def test_proxy_calls_are_counted_by_base_path(client, proxy_to, usage_counts) -> None:
    token = proxy_to(TARGET)
    for _ in range(3):
        rv = call_proxy(client, token)
        assert (rv.status_code, rv.data) == (200, b"<rss>sunny</rss>")
    assert usage_counts() == {
        (SEED_CLIENT_ID, "apigee", "GenerateAccessToken", "basic", None): 1,
        (SEED_CLIENT_ID, "apigee", "/weather", None, "header"): 3,
    }


def test_refused_requests_are_counted_nowhere(client, proxy_to, usage_counts, app) -> None:
    proxy_to(TARGET)
    usage_counts()  # the set-up's own token request, written and out of the way
    refused = [
        client.get(TOKEN_URL + GRANT, headers=basic("ghost-app", "x")),
        client.get(TOKEN_URL + GRANT, headers=basic(SEED_CLIENT_ID, "wrong")),
        client.get("/weather/forecastrss", headers=bearer("unknown-token-000000000000")),
        client.get("/weather/forecastrss"),
    ]
    assert [rv.status_code for rv in refused] == [401, 401, 401, 401]
    assert usage.counter_of(app).pending() == {}
    assert usage_counts() == {(SEED_CLIENT_ID, "apigee", "GenerateAccessToken", "basic", None): 1}
