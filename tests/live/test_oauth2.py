"""Real clients against a real server: gunicorn (2 gthread workers) on 127.0.0.1 and the CLI.

Everything an operator and an API client would do, over HTTP and in subprocesses: clients
and scopes are registered with ``flask --app app ...``, the server is started as `make run`
starts it, and requests-oauthlib and Authlib talk to it as they would to redCORE. Plugin
changes made through the CLI must reach the running workers without a restart.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from authlib.integrations.requests_client import OAuth2Session as AuthlibSession
from authlib.integrations.requests_client import OAuthError
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from oauthlib.oauth2 import BackendApplicationClient
from oauthlib.oauth2.rfc6749.errors import InvalidClientError
from oauthlib.oauth2.rfc6749.errors import InvalidGrantError
from oauthlib.oauth2.rfc6749.errors import MissingTokenError
from requests_oauthlib import OAuth2Session as RequestsOAuthSession

from emulator.storage.database import db
from tests.live.server import REQUEST_TIMEOUT
from tests.live.server import LiveServer
from tests.live.server import database_dump
from tests.live.server import params_set
from tests.live.server import request
from tests.live.server import revocation_settles
from tests.live.server import run_cli
from tests.live.server import settle
from tests.live.server import subprocess_env
from tests.support.app import empty_database
from tests.support.app import make_app

pytestmark = pytest.mark.slow

RESOURCE_OK = {
    "success": True,
    "user_id": None,
    "message": "You have successfully accessed this API!",
}
INVALID_TOKEN = (
    '{"error":"invalid_token","error_description":"The access token provided is invalid"}'
)
METADATA_PATH = "/.well-known/oauth-authorization-server"
HEX40 = re.compile(r"[0-9a-f]{40}")
SCOPES = {"read": True, "write": False, "admin": False}  # name -> default
# client_id -> (scope, user_id); every client gets a fresh random secret.
CLIENTS = {
    "rol-app": ("read write", None),
    "authlib-app": ("read write", "7"),
    "revoke-app": ("read", None),
    "vault-app": ("read", None),
    "meta-app": (None, None),  # no scope of its own: gets the default scope
    "plugin-app": ("read", None),
}
FRESH_CONNECTIONS = 16  # requests on new connections, spread over both workers


@dataclass
class Live:
    """The running server, its database and the registered clients."""

    server: LiveServer
    env: dict[str, str]
    database_url: str
    client_secrets: dict[str, str] = field(default_factory=dict)

    def cli(self, *args: str, expect_ok: bool = True) -> str:
        return run_cli(self.env, *args, expect_ok=expect_ok)

    def url(self, option: str, **query: str) -> str:
        return self.server.url(option, **query)

    @property
    def token_url(self) -> str:
        return self.url("token")

    def creds(self, client_id: str) -> tuple[str, str]:
        return client_id, self.client_secrets[client_id]


@pytest.fixture(scope="module")
def live(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """An empty database with scopes and clients registered by the CLI, and gunicorn serving it."""
    app = make_app(database_url)
    empty_database(app)
    with app.app_context():
        db.engine.dispose()

    env = subprocess_env(database_url)
    server = LiveServer(env, tmp_path_factory.mktemp("live"))
    state = Live(server=server, env=env, database_url=database_url)
    for scope, is_default in SCOPES.items():
        state.cli("scopes", "add", scope, *(["--default"] if is_default else []))
    for client_id, (scope, user_id) in CLIENTS.items():
        secret = secrets.token_urlsafe(24)
        args = ["clients", "create", client_id, "--secret", secret]
        args += ["--scope", scope] if scope else []
        args += ["--user-id", user_id] if user_id else []
        assert f"client_secret: {secret}" in state.cli(*args)
        state.client_secrets[client_id] = secret

    server.start()
    try:
        yield state
    finally:
        server.stop()
        empty_database(app)
        with app.app_context():
            db.engine.dispose()


@pytest.fixture(autouse=True)
def server_log(live: Live, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Plain http on 127.0.0.1 is fine for the libraries; the server logs no error meanwhile.

    The server's stderr written during the test is printed (pytest shows it on failure).
    """
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    start = len(live.server.stderr())
    yield
    written = live.server.stderr()[start:]
    print(f"--- server stderr during the test ---\n{written}")
    assert "Traceback" not in written and "unhandled error" not in written, written


# --- helpers -------------------------------------------------------------------------------


def requests_oauthlib_session(client_id: str, **kwargs: Any) -> RequestsOAuthSession:
    session = RequestsOAuthSession(client=BackendApplicationClient(client_id=client_id), **kwargs)
    session.trust_env = False
    return session


def authlib_session(client_id: str, secret: str, **kwargs: Any) -> AuthlibSession:
    session = AuthlibSession(client_id, secret, default_timeout=REQUEST_TIMEOUT, **kwargs)
    session.trust_env = False
    return session


def capture_raw(session: RequestsOAuthSession | AuthlibSession, *hooks: str) -> list[str]:
    """Record the raw body of every token response the library parses."""
    seen: list[str] = []

    def hook(response: requests.Response) -> requests.Response:
        seen.append(response.text)
        return response

    for name in hooks:
        session.register_compliance_hook(name, hook)
    return seen


def resource(live: Live, access_token: str, scope: str | None = None) -> requests.Response:
    """option=resource with a Bearer header (optionally with ?scope=), on a fresh connection."""
    url = live.url("resource", scope=scope) if scope else live.url("resource")
    return request("GET", url, headers={"Authorization": f"Bearer {access_token}"})


def get_json(session: requests.Session, url: str, **kwargs: Any) -> tuple[int, Any, Any]:
    """GET through a library session: status, JSON body, headers (response closed)."""
    with session.get(url, timeout=REQUEST_TIMEOUT, **kwargs) as response:
        return response.status_code, response.json(), response.headers


def post_json(session: Any, method: str, *args: Any, **kwargs: Any) -> tuple[int, Any]:
    """Call an Authlib revoke_token/introspect_token and read its (closed) response."""
    with getattr(session, method)(*args, **kwargs) as response:
        return response.status_code, response.json()


def token_request(live: Live, client_id: str, **data: str) -> requests.Response:
    """A client_credentials request with HTTP Basic, on a fresh connection."""
    return request(
        "POST",
        live.token_url,
        data={"grant_type": "client_credentials", **data},
        auth=live.creds(client_id),
    )


def many(count: int, call: Any) -> list[Any]:
    """``call()`` ``count`` times from 8 threads: fresh connections land on both workers."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda _: call(), range(count)))


def assert_invalid_token(response: requests.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_token", response.text
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


# --- requests-oauthlib -------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["basic", "body"], ids=["basic", "body"])
def test_requests_oauthlib_fetch_use_and_refresh(live: Live, style: str) -> None:
    client_id, secret = live.creds("rol-app")
    with requests_oauthlib_session(client_id) as session:
        raw = capture_raw(session, "access_token_response", "refresh_token_response")
        before = time.time()
        if style == "basic":  # the default when a secret is given: HTTP Basic, nothing in the body
            token = session.fetch_token(
                token_url=live.token_url,
                client_id=client_id,
                client_secret=secret,
                timeout=REQUEST_TIMEOUT,
            )
        else:
            token = session.fetch_token(
                token_url=live.token_url,
                client_id=client_id,
                client_secret=secret,
                include_client_id=True,
                timeout=REQUEST_TIMEOUT,
            )

        # The server sends redCORE's string; oauthlib turns it into an int and adds expires_at.
        assert '"expires_in":"3600"' in raw[0]
        assert token["expires_in"] == 3600
        assert before + 3600 - 2 <= token["expires_at"] <= time.time() + 3600 + 2
        assert token["token_type"] == "Bearer"
        assert token["scope"] == ["read", "write"]  # oauthlib splits the scope string
        assert HEX40.fullmatch(token["access_token"]) and HEX40.fullmatch(token["refresh_token"])
        assert {"expireTimeFormatted", "created"} <= token.keys()

        # The session adds the Bearer header.
        status, body, _ = get_json(session, live.url("resource"))
        assert (status, body) == (200, RESOURCE_OK)
        status, body, _ = get_json(session, live.url("resource"), params={"scope": "write read"})
        assert (status, body) == (200, RESOURCE_OK)
        status, body, headers = get_json(session, live.url("resource", scope="read admin"))
        assert status == 401 and body["error"] == "insufficient_scope"
        assert 'scope="read admin"' in headers["WWW-Authenticate"]

        first_access, first_refresh = token["access_token"], token["refresh_token"]
        if style == "basic":
            new = session.refresh_token(
                live.token_url,
                refresh_token=first_refresh,
                auth=(client_id, secret),
                timeout=REQUEST_TIMEOUT,
            )
        else:
            new = session.refresh_token(
                live.token_url,
                refresh_token=first_refresh,
                client_id=client_id,
                client_secret=secret,
                timeout=REQUEST_TIMEOUT,
            )
        assert '"expires_in":"3600"' in raw[1] and '"refresh_token"' not in raw[1]
        assert new["expires_in"] == 3600 and new["access_token"] != first_access
        # No new refresh token in the answer: requests-oauthlib keeps the old one, which the
        # server has consumed (unset_refresh_token_after_use).
        assert new["refresh_token"] == first_refresh
        assert session.token["access_token"] == new["access_token"]

        status, body, _ = get_json(session, live.url("resource"), params={"scope": "read"})
        assert (status, body) == (200, RESOURCE_OK)
        with pytest.raises(InvalidGrantError):
            session.refresh_token(live.token_url, auth=(client_id, secret), timeout=REQUEST_TIMEOUT)


def test_requests_oauthlib_refreshes_an_expired_token_by_itself(live: Live) -> None:
    client_id, secret = live.creds("rol-app")
    updates: list[dict[str, Any]] = []
    with requests_oauthlib_session(
        client_id,
        auto_refresh_url=live.token_url,
        token_updater=updates.append,
        auto_refresh_kwargs={"client_id": client_id, "client_secret": secret},
    ) as session:
        token = session.fetch_token(
            token_url=live.token_url,
            client_id=client_id,
            client_secret=secret,
            timeout=REQUEST_TIMEOUT,
        )
        session.token = {**token, "expires_at": time.time() - 60}  # as if an hour had passed
        status, body, _ = get_json(session, live.url("resource"))
        assert (status, body) == (200, RESOURCE_OK)
        assert len(updates) == 1
        assert updates[0]["access_token"] != token["access_token"]
        assert session.token["access_token"] == updates[0]["access_token"]
        assert resource(live, updates[0]["access_token"]).status_code == 200


def test_requests_oauthlib_wrong_secret(live: Live) -> None:
    with requests_oauthlib_session("rol-app") as session, pytest.raises(InvalidClientError):
        session.fetch_token(
            token_url=live.token_url,
            client_id="rol-app",
            client_secret="nope",
            timeout=REQUEST_TIMEOUT,
        )


# --- Authlib -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method",
    ["client_secret_basic", "client_secret_post"],
    ids=["client-secret-basic", "client-secret-post"],
)
def test_authlib_fetch_use_scope_check_and_refresh(live: Live, method: str) -> None:
    client_id, secret = live.creds("authlib-app")
    with authlib_session(
        client_id, secret, scope="read", token_endpoint_auth_method=method
    ) as session:
        raw = capture_raw(session, "access_token_response", "refresh_token_response")
        before = int(time.time())
        token = session.fetch_token(live.token_url, grant_type="client_credentials")

        # Authlib keeps redCORE's string as it came and computes expires_at from it.
        assert '"expires_in":"3600"' in raw[0]
        assert token["expires_in"] == "3600"
        assert before + 3600 <= token["expires_at"] <= int(time.time()) + 3600
        assert not token.is_expired()
        assert token["scope"] == "read" and token["token_type"] == "Bearer"
        assert HEX40.fullmatch(token["access_token"]) and HEX40.fullmatch(token["refresh_token"])

        mine = {**RESOURCE_OK, "user_id": "7"}
        assert get_json(session, live.url("resource", scope="read"))[:2] == (200, mine)
        for wanted in ("write", "read write"):
            status, body, headers = get_json(session, live.url("resource", scope=wanted))
            assert status == 401 and body["error"] == "insufficient_scope", body
            assert 'error="insufficient_scope"' in headers["WWW-Authenticate"]

        first_access, first_refresh = token["access_token"], token["refresh_token"]
        new = session.refresh_token(live.token_url, refresh_token=first_refresh)
        assert '"refresh_token"' not in raw[1]
        assert new["access_token"] != first_access and new["scope"] == "read"
        assert new["expires_in"] == "3600" and isinstance(new["expires_at"], int)
        assert new["refresh_token"] == first_refresh  # kept by Authlib; consumed on the server
        assert session.token["access_token"] == new["access_token"]
        assert get_json(session, live.url("resource", scope="read"))[:2] == (200, mine)

        with pytest.raises(OAuthError) as caught:
            session.refresh_token(live.token_url, refresh_token=first_refresh)
        assert caught.value.error == "invalid_grant"


@pytest.mark.parametrize(
    "method",
    ["client_secret_basic", "client_secret_post"],
    ids=["client-secret-basic", "client-secret-post"],
)
def test_authlib_wrong_secret(live: Live, method: str) -> None:
    with authlib_session("authlib-app", "nope", token_endpoint_auth_method=method) as session:
        with pytest.raises(OAuthError) as caught:
            session.fetch_token(live.token_url, grant_type="client_credentials")
    assert caught.value.error == "invalid_client"


# --- revoke and introspect ---------------------------------------------------------------------


def test_revoking_the_refresh_token_ends_its_access_token(live: Live) -> None:
    client_id, secret = live.creds("revoke-app")
    revoke_url, introspect_url = live.url("revoke"), live.url("introspect")
    with authlib_session(client_id, secret) as session:
        token = session.fetch_token(live.token_url, grant_type="client_credentials")
        access, refresh = token["access_token"], token["refresh_token"]
        assert resource(live, access).status_code == 200

        status, claims = post_json(session, "introspect_token", introspect_url, token=access)
        assert status == 200
        assert claims["active"] is True and claims["client_id"] == client_id
        assert (claims["token_type"], claims["scope"]) == ("Bearer", "read")
        assert claims["exp"] - claims["iat"] == 3600
        status, claims = post_json(
            session,
            "introspect_token",
            introspect_url,
            token=refresh,
            token_type_hint="refresh_token",
        )
        assert (status, claims["active"], claims["token_type"]) == (200, True, "refresh_token")

        status, body = post_json(
            session, "revoke_token", revoke_url, token=refresh, token_type_hint="refresh_token"
        )
        assert (status, body) == (200, {"revoked": True})
        revocation_settles()

        assert_invalid_token(resource(live, access))
        for raw in (access, refresh):
            answer = post_json(session, "introspect_token", introspect_url, token=raw)
            assert answer == (200, {"active": False})
        with pytest.raises(OAuthError) as caught:
            session.refresh_token(live.token_url, refresh_token=refresh)
        assert caught.value.error == "invalid_grant"


def test_revoking_an_access_token_keeps_its_refresh_token(live: Live) -> None:
    client_id, secret = live.creds("revoke-app")
    with authlib_session(
        client_id,
        secret,
        token_endpoint_auth_method="client_secret_post",
        revocation_endpoint_auth_method="client_secret_post",
    ) as session:
        token = session.fetch_token(live.token_url, grant_type="client_credentials")
        assert post_json(
            session,
            "revoke_token",
            live.url("revoke"),
            token=token["access_token"],
            token_type_hint="access_token",
        ) == (200, {"revoked": True})
        revocation_settles()
        assert_invalid_token(resource(live, token["access_token"]))
        status, claims = post_json(
            session, "introspect_token", live.url("introspect"), token=token["refresh_token"]
        )
        assert (status, claims["active"]) == (200, True)
        new = session.refresh_token(live.token_url, refresh_token=token["refresh_token"])
        assert resource(live, new["access_token"]).status_code == 200


def test_revoking_the_refresh_token_a_library_kept_ends_the_tokens_of_it(live: Live) -> None:
    """Default mode: the refresh answer has no refresh token, so the library keeps the used one.

    A client logging out revokes the refresh token it holds; the README promises that this
    also ends the access tokens "issued with it (or obtained with it)".
    """
    client_id, secret = live.creds("revoke-app")
    with authlib_session(client_id, secret) as session:
        first = session.fetch_token(live.token_url, grant_type="client_credentials")
        refreshed = session.refresh_token(live.token_url, refresh_token=first["refresh_token"])
        held = session.token["refresh_token"]
        assert held == first["refresh_token"]
        assert post_json(
            session, "revoke_token", live.url("revoke"), token=held, token_type_hint="refresh_token"
        ) == (200, {"revoked": True})
        revocation_settles()
        after = {
            name: resource(live, token["access_token"])
            for name, token in (("issued with it", first), ("obtained with it", refreshed))
        }
        assert {name: (r.status_code, r.text) for name, r in after.items()} == {
            name: (401, INVALID_TOKEN) for name in after
        }


def test_revoking_a_kept_refresh_token_ends_every_token_obtained_with_it(live: Live) -> None:
    client_id, secret = live.creds("revoke-app")
    with (
        params_set(live.env, unset_refresh_token_after_use=False),
        authlib_session(client_id, secret) as session,
    ):
        first = session.fetch_token(live.token_url, grant_type="client_credentials")
        refresh = first["refresh_token"]
        second = session.refresh_token(live.token_url, refresh_token=refresh)
        third = session.refresh_token(live.token_url, refresh_token=refresh)  # still usable
        accesses = [first["access_token"], second["access_token"], third["access_token"]]
        assert len(set(accesses)) == 3
        assert all(resource(live, a).status_code == 200 for a in accesses)
        answer = post_json(session, "revoke_token", live.url("revoke"), token=refresh)
        assert answer == (200, {"revoked": True})
        revocation_settles()
        for access in accesses:
            assert_invalid_token(resource(live, access))
        with pytest.raises(OAuthError):
            session.refresh_token(live.token_url, refresh_token=refresh)


# --- the plugin registry, end to end -----------------------------------------------------------


def test_disabling_the_plugin_takes_effect_on_the_running_server(live: Live) -> None:
    client_id, secret = live.creds("plugin-app")
    before = token_request(live, client_id)
    assert before.status_code == 200
    access = before.json()["access_token"]

    live.cli("plugins", "disable", "oauth2")
    settle()  # workers re-read the plugin state at most CACHE_MAX_AGE seconds later
    try:
        expected = {
            "message": 'API "oauth2" is not available',
            "code": 404,
            "type": "RuntimeException",
        }
        answers = many(FRESH_CONNECTIONS, lambda: token_request(live, client_id))
        answers += many(4, lambda: resource(live, access))
        for answer in answers:
            assert answer.status_code == 404, answer.text
            assert answer.json() == expected
            assert answer.headers["Content-Type"] == "text/html; charset=UTF-8"
        # The plugin's own path (the metadata document) does not exist while it is off.
        for answer in many(4, lambda: request("GET", live.server.base_url + METADATA_PATH)):
            assert (answer.status_code, answer.json()["code"]) == (404, 404), answer.text

        # What the libraries make of it: requests-oauthlib raises; Authlib, seeing a JSON
        # object without "error", hands the 404 body back as if it were a token.
        with requests_oauthlib_session(client_id) as session, pytest.raises(MissingTokenError):
            session.fetch_token(
                token_url=live.token_url,
                client_id=client_id,
                client_secret=secret,
                timeout=REQUEST_TIMEOUT,
            )
        with authlib_session(client_id, secret) as session:
            token = session.fetch_token(live.token_url, grant_type="client_credentials")
            assert "access_token" not in token and token["code"] == 404
    finally:
        live.cli("plugins", "enable", "oauth2")
        settle()

    answers = many(FRESH_CONNECTIONS, lambda: token_request(live, client_id))
    assert [a.status_code for a in answers] == [200] * FRESH_CONNECTIONS
    assert resource(live, access).status_code == 200  # tokens survive a disable/enable


def test_params_set_by_the_cli_reach_every_worker_without_restart(live: Live) -> None:
    client_id, secret = live.creds("plugin-app")

    def expires_in_values() -> set[Any]:
        answers = many(FRESH_CONNECTIONS, lambda: token_request(live, client_id))
        assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
        return {a.json()["expires_in"] for a in answers}

    assert expires_in_values() == {"3600"}  # both workers have read the defaults
    with params_set(live.env, expires_in_as_string=False):
        assert expires_in_values() == {3600}
        answer = token_request(live, client_id)
        assert '"expires_in":3600,' in answer.text

        with params_set(live.env, access_lifetime=120):
            assert expires_in_values() == {120}
            body = token_request(live, client_id).json()
            assert body["expires_in"] == 120
            created = datetime.strptime(body["created"], "%Y-%m-%d %H:%M:%S")
            ends = datetime.strptime(body["expireTimeFormatted"], "%Y-%m-%d %H:%M:%S")
            assert (ends - created).total_seconds() == 120
            claims = request(
                "POST",
                live.url("introspect"),
                data={"token": body["access_token"]},
                auth=(client_id, secret),
            ).json()
            assert claims["active"] is True and claims["exp"] - claims["iat"] == 120
            with requests_oauthlib_session(client_id) as session:
                token = session.fetch_token(
                    token_url=live.token_url,
                    client_id=client_id,
                    client_secret=secret,
                    timeout=REQUEST_TIMEOUT,
                )
                assert token["expires_in"] == 120
                assert token["expires_at"] <= time.time() + 120 + 2

        assert expires_in_values() == {3600}
    assert expires_in_values() == {"3600"}  # the CLI put the defaults back


# --- nothing stored in plain text ---------------------------------------------------------------


def sqlite_files(database_url: str) -> dict[str, bytes]:
    """The SQLite database file and its companions (-wal, -shm, -journal), as bytes.

    Read by another process (``cat``), never opened here: closing a file descriptor drops
    every POSIX lock this process holds on the file, so a read here would take away the
    locks of this process's own SQLite connections behind their back. Another process
    could then reset the WAL under them: stale reads, then a corrupt database (SQLite's
    "How To Corrupt", 2.2; it happened in CI).
    """
    path = Path(sa.make_url(database_url).database)
    return {
        p.name: subprocess.run(["cat", str(p)], capture_output=True, check=True).stdout
        for p in sorted(path.parent.glob(path.name + "*"))
    }


def test_no_token_or_secret_is_stored_or_logged_in_plain_text(live: Live) -> None:
    client_id, secret = live.creds("vault-app")
    issued: list[str] = []
    with requests_oauthlib_session(client_id) as session:
        first = session.fetch_token(
            token_url=live.token_url,
            client_id=client_id,
            client_secret=secret,
            timeout=REQUEST_TIMEOUT,
        )
        second = session.refresh_token(
            live.token_url,
            refresh_token=first["refresh_token"],
            auth=(client_id, secret),
            timeout=REQUEST_TIMEOUT,
        )
        issued += [first["access_token"], first["refresh_token"], second["access_token"]]
    with authlib_session(
        client_id, secret, token_endpoint_auth_method="client_secret_post"
    ) as session:
        third = session.fetch_token(live.token_url, grant_type="client_credentials")
        issued += [third["access_token"], third["refresh_token"]]
        assert (
            post_json(
                session, "introspect_token", live.url("introspect"), token=third["access_token"]
            )[1]["active"]
            is True
        )
    assert len(set(issued)) == 5 and all(HEX40.fullmatch(t) for t in issued)
    needles = {f"token {t}": t for t in issued}
    needles |= {f"token {t} upper-cased": t.upper() for t in issued}
    needles["client secret"] = secret

    if live.database_url.startswith("sqlite"):
        files = sqlite_files(live.database_url)
        assert files, "no database file found"
        everything = b"".join(files.values())
        # The files do hold the tokens' rows: their SHA-256 keys are there.
        assert hashlib.sha256(first["access_token"].encode()).hexdigest().encode() in everything
        for name, data in files.items():
            for what, needle in needles.items():
                assert needle.encode() not in data, f"{what} found in {name}"

    dump = database_dump(live.database_url)  # both backends: every value of every row
    for token in (first["access_token"], third["refresh_token"]):
        assert hashlib.sha256(token.encode()).hexdigest() in dump
    for what, needle in needles.items():
        assert needle not in dump, f"{what} found in the database"

    logs = live.server.stderr() + live.server.stdout_path.read_text(errors="replace")
    for what, needle in needles.items():
        assert needle not in logs, f"{what} found in the server's output"


# --- RFC 8414 metadata ---------------------------------------------------------------------------


def test_metadata_document_names_a_working_token_endpoint(live: Live) -> None:
    base = live.server.base_url
    client_id, secret = live.creds("meta-app")
    with authlib_session(client_id, secret) as session:
        status, meta, headers = get_json(session, base + METADATA_PATH, withhold_token=True)
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert meta["issuer"] == base
    assert meta["token_endpoint"] == f"{base}/index.php?api=oauth2&option=token"
    assert meta["revocation_endpoint"] == f"{base}/index.php?api=oauth2&option=revoke"
    assert meta["introspection_endpoint"] == f"{base}/index.php?api=oauth2&option=introspect"
    assert meta["authorization_endpoint"] == f"{base}/index.php?api=oauth2&option=authorize"
    assert meta["grant_types_supported"] == [
        "authorization_code",
        "client_credentials",
        "password",
        "refresh_token",
    ]
    assert meta["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
    ]
    assert set(meta["scopes_supported"]) == set(SCOPES)

    # Authlib's RFC 8414 checks (https waived for 127.0.0.1).
    document = AuthorizationServerMetadata(meta)
    for name in (
        "issuer",
        "authorization_endpoint",
        "token_endpoint",
        "scopes_supported",
        "grant_types_supported",
        "token_endpoint_auth_methods_supported",
        "revocation_endpoint",
        "revocation_endpoint_auth_methods_supported",
        "introspection_endpoint",
        "introspection_endpoint_auth_methods_supported",
    ):
        getattr(document, f"validate_{name}")()
    document.validate_response_types_supported()
    assert meta["response_types_supported"] == ["code"]

    # A client configured from the document alone.
    post = meta["token_endpoint_auth_methods_supported"][-1]
    with authlib_session(
        client_id, secret, token_endpoint=meta["token_endpoint"], token_endpoint_auth_method=post
    ) as session:
        token = session.fetch_token(grant_type="client_credentials")  # no URL: the metadata's
        assert token["scope"] == "read"  # the default scope: meta-app has none of its own
        assert get_json(session, live.url("resource", scope="read"))[:2] == (200, RESOURCE_OK)
        status, claims = post_json(
            session, "introspect_token", meta["introspection_endpoint"], token=token["access_token"]
        )
        assert (status, claims["active"]) == (200, True)
        assert post_json(
            session, "revoke_token", meta["revocation_endpoint"], token=token["refresh_token"]
        ) == (200, {"revoked": True})
        assert_invalid_token(resource(live, token["access_token"]))

    with requests_oauthlib_session(client_id) as session:
        token = session.fetch_token(
            token_url=meta["token_endpoint"],
            client_id=client_id,
            client_secret=secret,
            timeout=REQUEST_TIMEOUT,
        )
        assert resource(live, token["access_token"]).status_code == 200
