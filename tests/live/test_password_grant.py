"""The password grant against a real server with real client libraries.

gunicorn serves an empty database in which the CLI registered scopes, a client and a site
user; requests-oauthlib's LegacyApplicationClient and Authlib's OAuth2Session log the user
in as they would at redCORE, use the token at option=resource and option=profile, and
refresh it. Both libraries send the client by HTTP Basic; redCORE's scope quirk then gives
the default scopes unless the client_id is in the body too.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from authlib.integrations.requests_client import OAuthError
from oauthlib.oauth2 import LegacyApplicationClient
from oauthlib.oauth2.rfc6749.errors import InvalidGrantError
from requests_oauthlib import OAuth2Session as RequestsOAuthSession

from tests.live.server import REQUEST_TIMEOUT
from tests.live.server import LiveServer
from tests.live.server import database_dump
from tests.live.server import emptied_env
from tests.live.server import run_cli

pytestmark = pytest.mark.slow

CLIENT_ID = "desk-app"
CLIENT_SCOPE = "read write"
USERNAME, PASSWORD = "Agnes.B", "Linde und Ahorn 12"


class Live:
    def __init__(self, server: LiveServer, secret: str, database_url: str) -> None:
        self.server = server
        self.secret = secret
        self.database_url = database_url

    def url(self, option: str) -> str:
        return self.server.url(option)


@pytest.fixture(scope="module")
def live(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    env = emptied_env(database_url)
    run_cli(env, "scopes", "add", "read", "--default")
    run_cli(env, "scopes", "add", "write")
    secret = secrets.token_urlsafe(24)
    run_cli(env, "clients", "create", CLIENT_ID, "--secret", secret, "--scope", CLIENT_SCOPE)
    run_cli(
        env, "users", "create", USERNAME, "--password-stdin", "--id", "4242",
        "--name", "Agnes B.", "--email", "agnes@example.test", "--group", "Registered",
        "--group", "Authors", stdin=PASSWORD + "\n",
    )  # fmt: skip
    server = LiveServer(env, tmp_path_factory.mktemp("live-password"))
    server.start()
    try:
        yield Live(server, secret, database_url)
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def insecure_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


def get(session: Any, url: str) -> tuple[int, Any]:
    with session.get(url, timeout=REQUEST_TIMEOUT) as response:
        return response.status_code, response.json()


def assert_user_token(session: Any, live: Live) -> None:
    """The session's token is the user's at option=resource and option=profile."""
    status, body = get(session, live.url("resource"))
    assert (status, body["user_id"]) == (200, "4242")
    status, profile = get(session, live.url("profile"))
    assert status == 200
    assert profile["client_id"] == CLIENT_ID and profile["user_id"] == "4242"
    assert isinstance(profile["expires"], int)
    assert profile["profile"] | {"registerDate": None, "lastVisitDate": None} == {
        "id": 4242,
        "name": "Agnes B.",
        "username": USERNAME,
        "email": "agnes@example.test",
        "registerDate": None,
        "lastVisitDate": None,
        "authorisedGroups": ["Registered", "Authors"],
    }
    assert profile["profile"]["lastVisitDate"] is not None


@pytest.mark.parametrize("client_id_in_body", [False, True], ids=["basic", "basic+client_id"])
def test_requests_oauthlib_logs_a_user_in(live: Live, client_id_in_body: bool) -> None:
    with RequestsOAuthSession(client=LegacyApplicationClient(client_id=CLIENT_ID)) as session:
        session.trust_env = False
        token = session.fetch_token(
            live.url("token"),
            username=USERNAME.upper(),  # usernames match in any case
            password=PASSWORD,
            auth=(CLIENT_ID, live.secret),
            include_client_id=client_id_in_body,
            timeout=REQUEST_TIMEOUT,
        )
        # redCORE's quirk: the client scope comes from the client_id parameter.
        assert token["scope"] == (["read", "write"] if client_id_in_body else ["read"])
        assert token["token_type"] == "Bearer" and token["refresh_token"]
        assert_user_token(session, live)
        first = token["access_token"]
        new = session.refresh_token(
            live.url("token"), auth=(CLIENT_ID, live.secret), timeout=REQUEST_TIMEOUT
        )
        assert new["access_token"] != first
        assert_user_token(session, live)


def test_requests_oauthlib_wrong_password(live: Live) -> None:
    with RequestsOAuthSession(client=LegacyApplicationClient(client_id=CLIENT_ID)) as session:
        session.trust_env = False
        with pytest.raises(InvalidGrantError, match="Invalid username and password combination"):
            session.fetch_token(
                live.url("token"),
                username=USERNAME,
                password=PASSWORD + "!",
                auth=(CLIENT_ID, live.secret),
                timeout=REQUEST_TIMEOUT,
            )


def test_authlib_logs_a_user_in_and_refreshes(live: Live) -> None:
    with AuthlibSession(
        CLIENT_ID, live.secret, scope="read write", default_timeout=REQUEST_TIMEOUT
    ) as session:
        session.trust_env = False
        token = session.fetch_token(live.url("token"), username=USERNAME, password=PASSWORD)
        assert token["scope"] == "read write" and token["refresh_token"]
        assert_user_token(session, live)
        first = token["access_token"]
        new = session.refresh_token(live.url("token"))
        assert new["access_token"] != first
        assert_user_token(session, live)
        with pytest.raises(OAuthError, match="invalid_grant"):
            session.fetch_token(live.url("token"), username="nobody", password=PASSWORD)


def test_no_password_or_token_is_stored_or_logged_in_plain_text(live: Live) -> None:
    typed = [PASSWORD, "Wrong horse 4", "Agnes.B-password-in-the-username-box"]
    with RequestsOAuthSession(client=LegacyApplicationClient(client_id=CLIENT_ID)) as session:
        session.trust_env = False
        token = session.fetch_token(
            live.url("token"),
            username=USERNAME,
            password=PASSWORD,
            auth=(CLIENT_ID, live.secret),
            timeout=REQUEST_TIMEOUT,
        )
        for username, password in ((USERNAME, typed[1]), (typed[2], PASSWORD)):
            with pytest.raises(InvalidGrantError):
                session.fetch_token(
                    live.url("token"),
                    username=username,
                    password=password,
                    auth=(CLIENT_ID, live.secret),
                    timeout=REQUEST_TIMEOUT,
                )
    needles = [*typed, token["access_token"], token["refresh_token"]]
    dump = database_dump(live.database_url)
    logs = live.server.stderr() + live.server.stdout_path.read_text(errors="replace")
    for needle in needles:
        assert needle not in dump, f"{needle!r} found in the database"
        assert needle not in logs, f"{needle!r} found in the server's output"
