"""Helpers of the oauth2 plugin's page tests: the URLs, a logged-in browser, the forms."""

from __future__ import annotations

import base64
import re
from urllib.parse import parse_qsl
from urllib.parse import urlsplit

from flask.testing import FlaskClient

LOGIN_URL = "/index.php?option=com_users&view=login"
LOGOUT_URL = "/index.php?option=com_users&task=user.logout"
AUTHORIZE_URL = "/index.php?option=authorize&api=oauth2"
APPROVE = "Yes, I Authorize This Request"
PASSWORD = "correct horse battery staple"
CALLBACK = "https://app.test/callback"
_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def csrf_token(page: bytes | str) -> str:
    """The CSRF token of the (first) form on a page."""
    text = page.decode() if isinstance(page, bytes) else page
    found = _CSRF.search(text)
    assert found, "no CSRF token on the page"
    return found.group(1)


def b64(url: str) -> str:
    return base64.b64encode(url.encode()).decode()


def login(client: FlaskClient, username: str, password: str = PASSWORD, *, return_url: str = ""):
    """Log in through the login page (GET for the token, then POST); the POST's answer."""
    url = LOGIN_URL + (f"&return={b64(return_url)}" if return_url else "")
    token = csrf_token(client.get(url).data)
    return client.post(url, data={"username": username, "password": password, "csrf_token": token})


def query_of(location: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(location).query, keep_blank_values=True))


def fragment_of(location: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(location).fragment, keep_blank_values=True))
