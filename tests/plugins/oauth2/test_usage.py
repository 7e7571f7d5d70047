"""Usage counts of the redCORE dialect: each URL form, counted once per request.

The form words are the engine's (``basic``, ``body``, ``json``, ``query`` for credentials;
``header``, ``query``, ``body``, ``json`` for tokens); the wire module sets them by the
dialect's own rules (Basic wins, the body wins over the query, a JSON body is ``json``).
"""

from __future__ import annotations

import pytest

from emulator.ops import usage
from emulator.storage.database import db
from tests.support.app import make_app
from tests.support.oauth2 import STRICT
from tests.support.oauth2 import as_json
from tests.support.oauth2 import send
from tests.support.oauth2_forms import BASIC
from tests.support.oauth2_forms import CC
from tests.support.oauth2_forms import CLIENT_ID
from tests.support.oauth2_forms import CREDS
from tests.support.oauth2_forms import SECRET
from tests.support.oauth2_forms import access_token
from tests.support.oauth2_forms import resource_request
from tests.support.oauth2_forms import token_request

REVOKE_URL = "/index.php?option=revoke&api=oauth2"
INTROSPECT_URL = "/index.php?option=introspect&api=oauth2"


@pytest.mark.parametrize("form", ["basic", "body", "json", "query"])
def test_token_requests_are_counted_by_credential_form(client, shop, usage_counts, form) -> None:
    for _ in range(3):
        assert token_request(client, form).status_code == 200
    assert usage_counts() == {(CLIENT_ID, "oauth2", "token", form, None): 3}


def test_the_secrets_place_names_the_form(client, shop, usage_counts) -> None:
    """client_id in the body, client_secret in the query (token_params_in_query): the
    secret travelled in the URL, and that is what the form says."""
    rv = send(client, {**CC, "client_id": CLIENT_ID}, query=f"client_secret={SECRET}")
    assert rv.status_code == 200, rv.data
    assert usage_counts() == {(CLIENT_ID, "oauth2", "token", "query", None): 1}


def test_refresh_grants_count_as_token_requests(client, shop, usage_counts) -> None:
    refresh_token = send(client, CC, headers=BASIC).get_json()["refresh_token"]
    rv = send(client, {"grant_type": "refresh_token", "refresh_token": refresh_token, **CREDS})
    assert rv.status_code == 200, rv.data
    assert usage_counts() == {
        (CLIENT_ID, "oauth2", "token", "basic", None): 1,
        (CLIENT_ID, "oauth2", "token", "body", None): 1,
    }


@pytest.mark.parametrize("form", ["header", "query", "body"])
def test_resource_requests_are_counted_by_token_form(client, shop, usage_counts, form) -> None:
    token = access_token(client)
    for _ in range(2):
        assert resource_request(client, form, token).status_code == 200
    assert usage_counts() == {
        (CLIENT_ID, "oauth2", "token", "basic", None): 1,
        (CLIENT_ID, "oauth2", "resource", None, form): 2,
    }


def test_revoke_and_introspect_count_both_forms(client, shop, usage_counts) -> None:
    token = access_token(client)
    rv = send(client, None, path=INTROSPECT_URL, headers=BASIC, query=f"token={token}")
    assert rv.get_json()["active"] is True
    rv = send(
        client, as_json({"token": token, **CREDS}), path=REVOKE_URL, content_type="application/json"
    )
    assert rv.data == b'{"revoked":true}'
    assert usage_counts() == {
        (CLIENT_ID, "oauth2", "token", "basic", None): 1,
        (CLIENT_ID, "oauth2", "introspect", "basic", "query"): 1,
        (CLIENT_ID, "oauth2", "revoke", "json", "json"): 1,
    }


def test_counts_stay_in_memory_until_a_flush(client, shop, usage_counts, app) -> None:
    token_request(client, "query")
    assert usage_counts(flush=False) == {}
    assert list(usage.counter_of(app).pending().values())[0][0] == 1
    assert usage_counts() == {(CLIENT_ID, "oauth2", "token", "query", None): 1}
    assert usage.counter_of(app).pending() == {}


def test_unidentified_and_refused_requests_are_counted_nowhere(
    client, shop, usage_counts, app, set_params
) -> None:
    """An unknown client id, a wrong secret, an unknown token, a refused scope, strict
    mode's unread query credentials: no key is made from what such a request presented."""
    refused = [
        send(client, {**CC, "client_id": "ghost-client", "client_secret": "x"}),
        send(client, {**CC, "client_id": CLIENT_ID, "client_secret": "wrong"}),
        send(client, {**CC, **CREDS, "scope": "admin.everything"}),
        resource_request(client, "header", "f" * 40),
        resource_request(client, "query", "ghost-token"),
    ]
    set_params(**STRICT)
    refused.append(token_request(client, "query"))
    assert all(rv.status_code in (400, 401) for rv in refused), [rv.data for rv in refused]
    assert usage.counter_of(app).pending() == {}
    assert usage_counts() == {}


def test_telemetry_off_counts_nothing(make_client, database_url, usage_counts) -> None:
    off = make_app(database_url, USAGE_TELEMETRY=False)
    make_client(CLIENT_ID, secret=SECRET)
    assert usage.counter_of(off) is None
    assert token_request(off.test_client(), "query").status_code == 200
    assert usage_counts() == {}
    with off.app_context():
        db.engine.dispose()
