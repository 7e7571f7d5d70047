"""The redCORE requests in each form the usage counts and deprecation notices name.

The form words are the engine's: ``basic``, ``body``, ``json``, ``query`` for where the
client credentials are; ``header``, ``query``, ``body`` for where the access token is.
The client is the ``shop`` fixture's (tests/plugins/oauth2/conftest.py).
"""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from tests.support.oauth2 import RESOURCE_URL
from tests.support.oauth2 import SHOP
from tests.support.oauth2 import as_json
from tests.support.oauth2 import basic
from tests.support.oauth2 import bearer
from tests.support.oauth2 import send

CLIENT_ID = SHOP["client_id"]
SECRET = SHOP["client_secret"]
CC = {"grant_type": "client_credentials"}
CREDS = {"client_id": CLIENT_ID, "client_secret": SECRET}
BASIC = [("Authorization", basic(CLIENT_ID, SECRET))]


def token_request(client: FlaskClient, form: str) -> Any:
    """A client_credentials request with the credentials in ``form``."""
    if form == "basic":
        return send(client, CC, headers=BASIC)
    if form == "body":
        return send(client, {**CC, **CREDS})
    if form == "json":
        return send(client, as_json({**CC, **CREDS}), content_type="application/json")
    assert form == "query"
    return send(
        client,
        None,
        query=f"grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={SECRET}",
    )


def access_token(client: FlaskClient) -> str:
    rv = send(client, CC, headers=BASIC)
    assert rv.status_code == 200, rv.data
    return rv.get_json()["access_token"]


def resource_request(client: FlaskClient, form: str, token: str) -> Any:
    """An option=resource request with the token in ``form``."""
    if form == "header":
        return send(client, None, method="GET", path=RESOURCE_URL, headers=bearer(token))
    if form == "query":
        return send(client, None, method="GET", path=RESOURCE_URL, query=f"access_token={token}")
    assert form == "body"
    return send(client, {"access_token": token}, path=RESOURCE_URL)
