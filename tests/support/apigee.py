"""The Apigee dialect's tests: its token URLs, the profiles they run under, auth headers,
and a call through a proxy.

The seed's wire format (what Edge answered, field by field) is in
tests/plugins/apigee/wire_format.py; the fixtures are in tests/plugins/apigee/.
"""

from __future__ import annotations

import base64
from typing import Any

import responses
from flask.testing import FlaskClient

PROFILES = ["edge-2014", "modern"]
TOKEN_URL = "/oauth/accesstoken"  # the sample's
CC_TOKEN_URL = "/oauth/client_credential/accesstoken"  # Edge's default proxy
REFRESH_URL = "/oauth/client_credential/refresh_accesstoken"
GRANT = "?grant_type=client_credentials"
TARGET = "http://weather.test"  # a proxy's target, faked by call_proxy


def basic(client_id: str, secret: str) -> dict[str, str]:
    """An ``Authorization: Basic`` header, as the sample's invoke.sh builds it."""
    token = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def call_proxy(client: FlaskClient, token: str) -> Any:
    """Call the /weather proxy with ``token``; its target (TARGET) answers with ``responses``."""
    with responses.RequestsMock() as target:
        target.get(TARGET + "/forecastrss", body=b"<rss>sunny</rss>")
        return client.get("/weather/forecastrss", headers=bearer(token))
