"""The Apigee dialect's tests: its token URLs, the profiles they run under, auth headers.

The seed's wire format (what Edge answered, field by field) is in
tests/plugins/apigee/wire_format.py; the fixtures are in tests/plugins/apigee/.
"""

from __future__ import annotations

import base64

PROFILES = ["edge-2014", "modern"]
TOKEN_URL = "/oauth/accesstoken"  # the sample's
CC_TOKEN_URL = "/oauth/client_credential/accesstoken"  # Edge's default proxy
REFRESH_URL = "/oauth/client_credential/refresh_accesstoken"


def basic(client_id: str, secret: str) -> dict[str, str]:
    """An ``Authorization: Basic`` header, as the sample's invoke.sh builds it."""
    token = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
