"""Real clients against a real server: the seed's curl flow, requests-oauthlib, simple-oauth2.

gunicorn serves the app on a free port of 127.0.0.1 with the test database; the tests
configure it through the CLI (the same database), as an operator would. Protected proxies
forward to a real http.server on 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import urllib3
from oauthlib.oauth2 import BackendApplicationClient
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

from tests.live.server import LiveServer
from tests.live.server import Target
from tests.live.server import free_port
from tests.live.server import scripted_target
from tests.live.server import subprocess_env
from tests.live.server import target_server
from tests.plugins.apigee.wire_format import SEED_CLIENT_ID
from tests.plugins.apigee.wire_format import SEED_SECRET
from tests.plugins.apigee.wire_format import SEED_TEMPLATE
from tests.plugins.apigee.wire_format import match_template

pytestmark = pytest.mark.slow

NODE_DIR = Path(__file__).resolve().parent / "node"
CC_PATH = "/oauth/client_credential/accesstoken"
TIMEOUT = 30


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # Every cache off: the tests change things through the CLI and want the server to see
    # them at once.
    env = subprocess_env(database_url, caches=False)
    live = LiveServer(env, tmp_path_factory.mktemp("apigee-live"))
    live.start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def target() -> Iterator[Target]:
    with target_server() as real:
        yield real


@pytest.fixture
def weather_app(seed_app, cli, target):
    """The seed's app, and Apigee's sample API /weather on the real target."""

    def setup(**params: object) -> tuple[str, str]:
        credentials = seed_app(**params)
        cli("apigee", "proxies", "add", "/weather", "--target", target.base_url)
        return credentials

    return setup


def curl(*args: str) -> tuple[int, str]:
    """Run the real curl; return (HTTP status, body)."""
    result = subprocess.run(
        [
            "curl",
            "--silent",
            "--show-error",
            "--noproxy",
            "*",
            "--max-time",
            str(TIMEOUT),
            "--write-out",
            "\n%{http_code}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT + 5,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    body, _, status = result.stdout.rpartition("\n")
    return int(status), body


def test_the_seeds_invoke_flow_with_curl(server, weather_app, app_id_of, target) -> None:
    """invoke.sh: a token with Basic auth at /oauth/accesstoken, then the API with the token."""
    weather_app()
    key_secret = base64.b64encode(f"{SEED_CLIENT_ID}:{SEED_SECRET}".encode()).decode()

    # The seed's command, against our host instead of example-test.apigee.net.
    status, body = curl(
        "-H",
        f"Authorization: Basic {key_secret}",
        f"{server.base_url}/oauth/accesstoken?grant_type=client_credentials",
    )
    assert status == 200, body
    # "AccessToken Response:" exactly as the README prints it, our values in the varying places.
    values = match_template(SEED_TEMPLATE, body)
    assert values["app_id"] == app_id_of(SEED_CLIENT_ID)
    token = json.loads(body)["access_token"]

    # The sample's API call: GET /weather/forecastrss?w=12797282 with the bearer token.
    status, body = curl(
        "-H", f"Authorization: Bearer {token}", f"{server.base_url}/weather/forecastrss?w=12797282"
    )
    assert (status, json.loads(body)) == (
        200,
        {"weather": "sunny", "path": "/forecastrss?w=12797282"},
    )
    seen = target.received[-1]
    assert (seen["method"], seen["path"]) == ("GET", "/forecastrss?w=12797282")
    assert "Authorization" not in seen["headers"]
    assert seen["headers"]["X-Forwarded-For"] == "127.0.0.1"

    # The tutorial's "fail!" step: no token.
    status, body = curl(f"{server.base_url}/weather/forecastrss?w=12797282")
    assert (status, body) == (
        401,
        '{"fault":{"faultstring":"Invalid access token",'
        '"detail":{"errorcode":"oauth.v2.InvalidAccessToken"}}}',
    )
    assert len(target.received) == 1


def test_a_target_that_is_down_is_a_503_not_a_traceback(server, seed_app, cli) -> None:
    seed_app()
    cli("apigee", "proxies", "add", "/down", "--target", f"http://127.0.0.1:{free_port()}")
    token = requests.get(
        f"{server.base_url}/oauth/accesstoken?grant_type=client_credentials",
        auth=(SEED_CLIENT_ID, SEED_SECRET),
        timeout=TIMEOUT,
    ).json()["access_token"]
    status, body = curl(
        "-X",
        "POST",
        "-d",
        "x=1",
        "-H",
        f"Authorization: Bearer {token}",
        f"{server.base_url}/down/anything",
    )
    assert (status, body) == (
        503,
        '{"fault":{"faultstring":"The Service is temporarily unavailable",'
        '"detail":{"errorcode":"messaging.adaptors.http.flow.ServiceUnavailable"}}}',
    )
    assert "Traceback" not in server.stderr()


@pytest.mark.parametrize(
    "path",
    [
        "/weather/../admin/secret",
        "/weather/%2e%2e/admin/secret",
        "/weather/%2E%2e/admin/secret",
        "/weather%2F..%2Fadmin",
        "/weather/a%2Fb",
        "/weather/..%5cadmin",
        "//weather/x",
        "/weather//x",
    ],
    ids=[
        "dot-dot",
        "encoded-dot-dot",
        "encoded-dot-dot-mixed-case",
        "encoded-slashes",
        "encoded-slash",
        "encoded-backslash",
        "leading-double-slash",
        "double-slash",
    ],
)
def test_steering_paths_are_refused_by_the_real_server(server, weather_app, target, path) -> None:
    """gunicorn passes the raw path; curl --path-as-is sends it exactly as written."""
    weather_app()
    token = requests.get(
        f"{server.base_url}/oauth/accesstoken?grant_type=client_credentials",
        auth=(SEED_CLIENT_ID, SEED_SECRET),
        timeout=TIMEOUT,
    ).json()["access_token"]
    status, body = curl(
        "--path-as-is", "-H", f"Authorization: Bearer {token}", server.base_url + path
    )
    assert status == 400, body
    assert json.loads(body) == {
        "fault": {
            "faultstring": f"Invalid path GET {path} HTTP/1.1",
            "detail": {"errorcode": "protocol.http.InvalidPath"},
        }
    }
    assert target.received == []


def test_a_streamed_answer_cut_by_the_deadline_is_no_traceback(server, seed_app, cli) -> None:
    """The first bytes reach the client at once; at the deadline the stream just ends.

    The gateway closes the target's connection then; gunicorn closes the client's at its
    keep-alive timeout (granian at once), and the client can tell the answer is short.
    """
    gave_up = []

    def script(conn) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst")
        conn.recv(1)  # until the gateway gives up (the socket's timeout bounds it)
        gave_up.append(time.monotonic())

    seed_app(proxy_deadline_ms=1000)
    with scripted_target(script) as slow:
        cli("apigee", "proxies", "add", "/slow", "--target", slow.base_url)
        token = requests.get(
            f"{server.base_url}/oauth/accesstoken?grant_type=client_credentials",
            auth=(SEED_CLIENT_ID, SEED_SECRET),
            timeout=TIMEOUT,
        ).json()["access_token"]
        start = time.monotonic()
        with requests.get(
            f"{server.base_url}/slow/x",
            headers={"Authorization": f"Bearer {token}"},
            stream=True,
            timeout=TIMEOUT,
        ) as rv:
            first = next(rv.raw.stream(5))
            first_at = time.monotonic() - start
            with pytest.raises(urllib3.exceptions.ProtocolError, match="95 more expected"):
                rv.raw.read()
    assert (rv.status_code, first) == (200, b"first")
    assert first_at < 0.9
    assert [round(at - start) for at in gave_up] == [1]
    assert "Traceback" not in server.stderr()


# --- requests-oauthlib ------------------------------------------------------------------


@pytest.fixture
def oauthlib_session(monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # http on 127.0.0.1

    def open_session(client_id: str, scope: list[str] | None = None) -> OAuth2Session:
        # The scope goes on the oauthlib client: OAuth2Session(scope=...) is not sent by
        # fetch_token, only compared with the answer.
        session = OAuth2Session(client=BackendApplicationClient(client_id=client_id, scope=scope))
        session.trust_env = False
        return session

    return open_session


def test_requests_oauthlib_gets_a_token_but_refuses_to_send_a_BearerToken(
    server, weather_app, oauthlib_session, target
) -> None:
    weather_app()
    with oauthlib_session(SEED_CLIENT_ID) as session:
        token = session.fetch_token(
            token_url=server.base_url + CC_PATH,
            auth=HTTPBasicAuth(SEED_CLIENT_ID, SEED_SECRET),
            timeout=TIMEOUT,
        )
        assert len(token["access_token"]) == 28
        # oauthlib turns the string "3599" into a number itself: no trouble there.
        assert token["expires_in"] == 3599
        assert token["expires_at"] == pytest.approx(time.time() + 3599, abs=5)
        assert token["token_type"] == "BearerToken"
        assert token["scope"] == [""]  # oauthlib's split of the empty scope string
        # Using it: oauthlib knows only "Bearer" (and MAC) as token types.
        with pytest.raises(ValueError, match="Unsupported token type: BearerToken"):
            session.get(server.base_url + "/weather/forecastrss?w=12797282", timeout=TIMEOUT)
    assert target.received == []


def test_requests_oauthlib_works_end_to_end_with_token_type_bearer(
    server, weather_app, oauthlib_session, target
) -> None:
    weather_app(token_type="Bearer")
    with oauthlib_session(SEED_CLIENT_ID) as session:
        token = session.fetch_token(
            token_url=server.base_url + CC_PATH,
            auth=HTTPBasicAuth(SEED_CLIENT_ID, SEED_SECRET),
            timeout=TIMEOUT,
        )
        assert token["token_type"] == "Bearer"
        rv = session.get(server.base_url + "/weather/forecastrss?w=12797282", timeout=TIMEOUT)
        assert (rv.status_code, rv.json()["path"]) == (200, "/forecastrss?w=12797282")
        rv.close()
    assert target.received[-1]["path"] == "/forecastrss?w=12797282"


def test_requests_oauthlib_treats_a_narrowed_scope_as_an_error(
    server, enable_apigee, make_app_client, oauthlib_session
) -> None:
    """Apigee narrows a request to the products' scopes; oauthlib raises unless relaxed."""
    enable_apigee()
    cid, secret = make_app_client(products={"Weather": "read write"})
    with oauthlib_session(cid, scope=["read"]) as session:
        token = session.fetch_token(
            token_url=server.base_url + CC_PATH, auth=HTTPBasicAuth(cid, secret), timeout=TIMEOUT
        )
        assert token["scope"] == ["read"]
    with oauthlib_session(cid, scope=["read", "admin"]) as session:
        # oauthlib keeps the scopes in a set: the old ones print in either order.
        changed = 'Scope has changed from "(read admin|admin read)" to "read"'
        with pytest.raises(Warning, match=changed):
            session.fetch_token(
                token_url=server.base_url + CC_PATH,
                auth=HTTPBasicAuth(cid, secret),
                timeout=TIMEOUT,
            )


# --- simple-oauth2 (Node) ---------------------------------------------------------------


@pytest.fixture(scope="session")
def node_client() -> Path:
    """client.mjs with simple-oauth2 installed from package-lock.json (npm ci on first use)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are needed for the simple-oauth2 client")
    if not (NODE_DIR / "node_modules" / "simple-oauth2").exists():
        result = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert result.returncode == 0, f"npm ci failed:\n{result.stdout}\n{result.stderr}"
    return NODE_DIR / "client.mjs"


def run_node(node_client: Path, server: LiveServer, **config: object) -> dict:
    settings = {
        "tokenHost": server.base_url,
        "tokenPath": CC_PATH,
        "clientId": SEED_CLIENT_ID,
        "clientSecret": SEED_SECRET,
        **config,
    }
    result = subprocess.run(
        ["node", str(node_client), json.dumps(settings)],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_simple_oauth2_gets_a_token_and_reads_the_string_expires_in(
    server, weather_app, node_client, target
) -> None:
    weather_app()
    out = run_node(node_client, server, apiUrl=server.base_url + "/weather/forecastrss?w=12797282")
    assert "error" not in out, out
    token = out["token"]
    assert token["expires_in"] == "3599" and token["token_type"] == "BearerToken"
    assert len(token["access_token"]) == 28
    # simple-oauth2 parseInt()s expires_in, so a string is fine: expires_at is an hour ahead.
    assert out["expiresAtMs"] - out["nowMs"] == pytest.approx(3599 * 1000, abs=5000)
    assert out["expired"] is False
    # simple-oauth2 never uses token_type, but a client that builds its header from it
    # ("BearerToken <token>") is refused by VerifyAccessToken, as on Apigee.
    assert out["api"]["status"] == 401
    assert (
        json.loads(out["api"]["body"])["fault"]["detail"]["errorcode"]
        == "oauth.v2.InvalidAccessToken"
    )
    assert target.received == []


def test_simple_oauth2_with_token_type_bearer_calls_the_api(
    server, weather_app, node_client, target
) -> None:
    weather_app(token_type="Bearer")
    out = run_node(node_client, server, apiUrl=server.base_url + "/weather/forecastrss?w=12797282")
    assert out["api"]["status"] == 200, out
    assert json.loads(out["api"]["body"]) == {"weather": "sunny", "path": "/forecastrss?w=12797282"}


def test_simple_oauth2_with_credentials_in_the_body(server, seed_app, node_client) -> None:
    seed_app()
    out = run_node(node_client, server, authorizationMethod="body")
    assert "error" not in out, out
    assert out["token"]["client_id"] == SEED_CLIENT_ID


def test_simple_oauth2_posts_grant_type_in_the_body(server, seed_app, node_client) -> None:
    """With grant_type_in_body off (the sample exactly) the library fails; a query fixes it."""
    seed_app(grant_type_in_body=False)
    out = run_node(node_client, server)
    assert out["error"]["status"] == 400
    assert out["error"]["payload"] == {
        "ErrorCode": "invalid_request",
        "Error": "Required param : grant_type",
    }
    fixed = run_node(node_client, server, tokenPath=CC_PATH + "?grant_type=client_credentials")
    assert "error" not in fixed, fixed


def test_simple_oauth2_refreshes(server, seed_app, node_client) -> None:
    seed_app(client_credentials_refresh_token=True)
    out = run_node(
        node_client,
        server,
        refresh=True,
        refreshPath="/oauth/client_credential/refresh_accesstoken",
    )
    assert "error" not in out, out
    assert out["refreshed"]["access_token"] != out["token"]["access_token"]
    assert out["refreshed"]["refresh_token"] != out["token"]["refresh_token"]
    assert out["refreshed"]["refresh_token_status"] == "approved"
