"""Protected proxies: VerifyAccessToken (compat/apigee.md §3), then the target.

The target is faked in-process with ``responses`` (tests/live/test_apigee.py has a real one).
"""

from __future__ import annotations

import gzip
import io
import json

import pytest
import requests
import responses
import urllib3
from responses import matchers

from tests.support.apigee import PROFILES
from tests.support.apigee import TOKEN_URL
from tests.support.apigee import basic
from tests.support.apigee import bearer

from .wire_format import SEED_CLIENT_ID
from .wire_format import SEED_SECRET

TARGET = "http://weather.test"
OK_BASIC = basic(SEED_CLIENT_ID, SEED_SECRET)


@pytest.fixture
def weather(client, cli, enable_apigee, make_app_client):
    """Apigee's verify sample: /weather -> TARGET; returns a function minting tokens."""

    def setup(
        scope: str | None = None, products: dict[str, str | None] | None = None, **params: object
    ):
        enable_apigee(**params)
        cli(
            "apigee",
            "proxies",
            "add",
            "/weather",
            "--target",
            TARGET,
            *(["--scope", scope] if scope else []),
        )
        cid, secret = make_app_client(
            SEED_CLIENT_ID, secret=SEED_SECRET, products=products or {"Weather": "read write"}
        )

        def mint(scope_wanted: str | None = None) -> str:
            rv = client.post(
                "/oauth/client_credential/accesstoken?grant_type=client_credentials",
                headers=basic(cid, secret),
                data={"scope": scope_wanted} if scope_wanted else {},
            )
            assert rv.status_code == 200, rv.data
            return rv.get_json()["access_token"]

        return mint

    return setup


# --- forwarding -----------------------------------------------------------------------


def test_the_seeds_api_call_is_forwarded(client, weather) -> None:
    token = weather()()
    with responses.RequestsMock() as target:
        target.get(
            TARGET + "/forecastrss",
            body=b"<rss>sunny</rss>",
            content_type="application/rss+xml",
            match=[matchers.query_string_matcher("w=12797282")],
        )
        rv = client.get("/weather/forecastrss?w=12797282", headers=bearer(token))
    assert (rv.status_code, rv.data) == (200, b"<rss>sunny</rss>")
    assert rv.headers["Content-Type"] == "application/rss+xml"


def test_a_base_path_owns_only_paths_in_its_own_case(client, weather) -> None:
    """On every backend (a case-insensitive collation on MariaDB would forward /WEATHER)."""
    token = weather()()
    with responses.RequestsMock():  # nothing reaches the target
        rv = client.get("/WEATHER/forecastrss", headers=bearer(token))
    assert rv.status_code == 404
    assert rv.get_json()["fault"]["faultstring"] == (
        "Unable to identify proxy for host: secure and url: /WEATHER/forecastrss"
    )


@pytest.mark.parametrize(
    "method",
    ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
    ids=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
)
def test_method_path_query_body_and_headers_go_to_the_target(client, weather, method) -> None:
    token = weather()()
    with responses.RequestsMock() as target:
        target.add(
            method, TARGET + "/v2/items/7", status=201, body=b"made", headers={"X-Target": "yes"}
        )
        rv = client.open(
            "/weather/v2/items/7?a=1&b=%20x",
            method=method,
            data=b"payload bytes",
            headers={
                **bearer(token),
                "Content-Type": "text/plain",
                "X-Custom": "kept",
                "Connection": "keep-alive, X-Hop",
                "X-Hop": "dropped",
                "Keep-Alive": "5",
                "Proxy-Authorization": "Basic eHl6",
                "TE": "trailers",
                "Upgrade": "h2c",
            },
        )
        sent = target.calls[0].request
    assert (rv.status_code, rv.data, rv.headers["X-Target"]) == (201, b"made", "yes")
    assert sent.method == method
    assert sent.url == TARGET + "/v2/items/7?a=1&b=%20x"
    assert sent.body == b"payload bytes"
    assert sent.headers["X-Custom"] == "kept"
    assert sent.headers["Content-Type"] == "text/plain"
    assert sent.headers["X-Forwarded-For"] == "127.0.0.1"
    for name in (
        "Authorization",
        "Connection",
        "Keep-Alive",
        "X-Hop",
        "Proxy-Authorization",
        "TE",
        "Upgrade",
    ):
        assert name not in sent.headers, name


@pytest.mark.parametrize(
    ("path", "forwarded"),
    [
        ("/weather", TARGET + "/api"),
        ("/weather/", TARGET + "/api/"),
        ("/weather/a%3Bb/c%20d", TARGET + "/api/a%3Bb/c%20d"),
    ],
    ids=["base-path-itself", "trailing-slash", "encoding-kept"],
)
def test_the_path_suffix_is_appended_to_the_target_as_sent(
    client, cli, weather, path, forwarded
) -> None:
    token = weather()()
    cli("apigee", "proxies", "add", "/weather", "--target", TARGET + "/api")
    with responses.RequestsMock() as target:
        target.get(forwarded, body=b"ok")
        rv = client.get(path, headers=bearer(token))
    assert (rv.status_code, rv.data) == (200, b"ok")


def test_the_targets_answer_comes_back_untouched(client, weather) -> None:
    token = weather()()
    zipped = gzip.compress(b'{"temp": 21}')
    with responses.RequestsMock() as target:
        target.add(
            responses.Response(
                "GET",
                TARGET + "/now",
                status=418,
                body=zipped,
                auto_calculate_content_length=True,
                content_type=None,  # only the headers below (responses adds text/plain otherwise)
                headers=[
                    ("Content-Type", "application/json"),
                    ("Content-Encoding", "gzip"),
                    ("Set-Cookie", "a=1"),
                    ("Set-Cookie", "b=2"),
                    ("Connection", "close"),
                ],
            )
        )
        rv = client.get("/weather/now", headers={**bearer(token), "Accept-Encoding": "gzip"})
    assert rv.status_code == 418
    assert rv.data == zipped
    assert rv.headers["Content-Encoding"] == "gzip"
    assert rv.headers["Content-Type"] == "application/json"
    assert rv.headers.getlist("Set-Cookie") == ["a=1", "b=2"]
    assert rv.headers["Content-Length"] == str(len(zipped))
    assert "Connection" not in rv.headers


def test_the_longest_base_path_wins_and_segments_are_whole(client, cli, weather) -> None:
    token = weather()()
    cli("apigee", "proxies", "add", "/weather/v2", "--target", "http://v2.test")
    with responses.RequestsMock() as target:
        target.get("http://v2.test/x", body=b"v2")
        target.get(TARGET + "/v1/x", body=b"v1")
        assert client.get("/weather/v2/x", headers=bearer(token)).data == b"v2"
        assert client.get("/weather/v1/x", headers=bearer(token)).data == b"v1"
    assert client.get("/weatherman/x", headers=bearer(token)).status_code == 404


def test_a_removed_proxy_is_unknown(client, cli, weather) -> None:
    token = weather()()
    cli("apigee", "proxies", "remove", "/weather")
    rv = client.get("/weather/forecastrss", headers=bearer(token))
    assert rv.status_code == 404 and b"Unable to identify proxy" in rv.data


# --- verification (§3.2), both profiles -----------------------------------------------


def fault(faultstring: str, errorcode: str) -> bytes:
    body = {"fault": {"faultstring": faultstring, "detail": {"errorcode": errorcode}}}
    return json.dumps(body, separators=(",", ":")).encode()


def challenge(faultstring: str, errorcode: str) -> str:
    return (
        f'Bearer realm="null",error="invalid_token",error_description="{errorcode}: {faultstring}"'
    )


MISSING = ("Invalid access token", "oauth.v2.InvalidAccessToken")
INVALID = ("Invalid Access Token", "keymanagement.service.invalid_access_token")
EXPIRED = ("Access Token expired", "keymanagement.service.access_token_expired")

VERIFY_ROWS = [
    ("no-authorization-header", lambda t: {}, MISSING),
    ("empty-bearer", lambda t: {"Authorization": "Bearer "}, MISSING),
    ("wrong-scheme", lambda t: {"Authorization": f"OAuth {t}"}, MISSING),
    ("lowercase-bearer", lambda t: {"Authorization": f"bearer {t}"}, MISSING),
    ("basic-credentials", lambda t: OK_BASIC, MISSING),
    ("token-in-query-only", lambda t: {"X-Ignored": t}, MISSING),
    ("unknown-token", lambda t: bearer("NoSuchToken0000000000000000A"), INVALID),
    ("malformed-token", lambda t: bearer("x" * 500), INVALID),
]


@pytest.mark.parametrize(
    ("headers", "expected"), [r[1:] for r in VERIFY_ROWS], ids=[r[0] for r in VERIFY_ROWS]
)
@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_verification_failures(client, weather, profile, headers, expected) -> None:
    token = weather(response_profile=profile)()
    with responses.RequestsMock():  # any call to the target would fail this test
        rv = client.get("/weather/forecastrss?w=1&access_token=" + token, headers=headers(token))
    assert (rv.status_code, rv.data) == (401, fault(*expected))
    assert rv.headers["WWW-Authenticate"] == challenge(*expected)
    assert rv.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_expired_token(client, weather, run_sql, profile) -> None:
    token = weather(response_profile=profile)()
    run_sql("UPDATE oauth_access_tokens SET expires_at = '2000-01-01 00:00:00'")
    with responses.RequestsMock():
        rv = client.get("/weather/forecastrss", headers=bearer(token))
    assert (rv.status_code, rv.data) == (401, fault(*EXPIRED))
    assert rv.headers["WWW-Authenticate"] == challenge(*EXPIRED)


@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_revoked_token_is_an_invalid_token(client, weather, profile) -> None:
    """Revocation (redCORE dialect's option=revoke) deletes the row: Apigee says invalid."""
    token = weather(response_profile=profile)()
    revoked = client.post(
        "/index.php?option=revoke&api=oauth2", data={"token": token}, headers=OK_BASIC
    )
    assert revoked.status_code == 200
    rv = client.get("/weather/forecastrss", headers=bearer(token))
    assert (rv.status_code, rv.data) == (401, fault(*INVALID))


@pytest.mark.parametrize(
    ("profile", "listed"),
    [("edge-2014", "VerifyAccessToken.OAuth-v20-1.scopeSet"), ("modern", "[write, admin]")],
    ids=PROFILES,
)
def test_insufficient_scope_is_a_403(client, weather, profile, listed) -> None:
    mint = weather(scope="write admin", response_profile=profile)
    token = mint("read")
    with responses.RequestsMock():
        rv = client.post("/weather/forecastrss", headers=bearer(token))
    faultstring = f"Required scope(s): {listed}"
    assert (rv.status_code, rv.data) == (
        403,
        fault(faultstring, "steps.oauth.v2.InsufficientScope"),
    )
    assert rv.headers["WWW-Authenticate"] == challenge(
        faultstring, "steps.oauth.v2.InsufficientScope"
    )


@pytest.mark.parametrize(
    ("required", "token_scope", "passes"),
    [
        ("read write", "read", True),
        ("read write", "write", True),
        ("write", "read", False),
        (None, None, True),
        ("read", None, False),
    ],
    ids=["any-of-first", "any-of-second", "none-held", "no-scope-required", "token-without-scope"],
)
def test_required_scopes_are_any_of(client, weather, required, token_scope, passes) -> None:
    products = {"Weather": "read write"} if token_scope else {"Weather": None}
    token = weather(scope=required, products=products)(token_scope)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as target:
        target.get(TARGET + "/forecastrss", body=b"ok")
        rv = client.get("/weather/forecastrss", headers=bearer(token))
    assert rv.status_code == (200 if passes else 403)


def test_tokens_of_the_redcore_dialect_open_apigee_proxies(client, weather) -> None:
    """One client registry, one token store (decision 8)."""
    weather()
    legacy = client.post(
        "/index.php?option=token&api=oauth2",
        data={"grant_type": "client_credentials"},
        headers=OK_BASIC,
    ).get_json()
    with responses.RequestsMock() as target:
        target.get(TARGET + "/forecastrss", body=b"ok")
        rv = client.get("/weather/forecastrss", headers=bearer(legacy["access_token"]))
    assert (rv.status_code, rv.data) == (200, b"ok")


def test_apigee_tokens_open_the_redcore_resource(client, weather) -> None:
    token = weather()()
    rv = client.get("/index.php?option=resource&api=oauth2", headers=bearer(token))
    assert rv.status_code == 200 and rv.get_json()["success"] is True


# --- the target down (Apigee's runtime faults, never a traceback) ---------------------

TARGET_ERRORS = [
    (
        "connection-refused",
        requests.exceptions.ConnectionError("refused"),
        503,
        "The Service is temporarily unavailable",
        "messaging.adaptors.http.flow.ServiceUnavailable",
    ),
    (
        "connect-timeout",
        requests.exceptions.ConnectTimeout("slow accept"),
        503,
        "The Service is temporarily unavailable",
        "messaging.adaptors.http.flow.ServiceUnavailable",
    ),
    (
        "read-timeout",
        requests.exceptions.ReadTimeout("no answer"),
        504,
        "Gateway Timeout",
        "messaging.adaptors.http.flow.GatewayTimeout",
    ),
    (
        "cut-off",
        requests.exceptions.ConnectionError(urllib3.exceptions.ProtocolError("aborted")),
        502,
        "Unexpected EOF at target",
        "messaging.adaptors.http.flow.UnexpectedEOFAtTarget",
    ),
    (
        "not-http",
        requests.exceptions.ChunkedEncodingError("garbage"),
        502,
        "Unexpected EOF at target",
        "messaging.adaptors.http.flow.UnexpectedEOFAtTarget",
    ),
]


@pytest.mark.parametrize(
    ("exc", "status", "faultstring", "errorcode"),
    [r[1:] for r in TARGET_ERRORS],
    ids=[r[0] for r in TARGET_ERRORS],
)
@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_target_trouble_is_a_gateway_fault(
    client, weather, caplog, profile, exc, status, faultstring, errorcode
) -> None:
    token = weather(response_profile=profile)()
    with responses.RequestsMock() as target:
        target.get(TARGET + "/forecastrss", body=exc)
        rv = client.get("/weather/forecastrss?key=secret", headers=bearer(token))
    assert (rv.status_code, rv.data) == (status, fault(faultstring, errorcode))
    assert rv.headers["Content-Type"] == "application/json"
    assert "WWW-Authenticate" not in rv.headers
    assert "Traceback" not in caplog.text and "secret" not in caplog.text


def test_target_timeout_param_reaches_requests(client, weather, set_params, monkeypatch) -> None:
    token = weather()()
    set_params("apigee", target_timeout_ms=1500)
    seen = {}
    real = requests.Session.request

    def spy(self, method, url, **kwargs):
        seen["timeout"] = kwargs["timeout"]
        return real(self, method, url, **kwargs)

    monkeypatch.setattr(requests.Session, "request", spy)
    with responses.RequestsMock() as target:
        target.get(TARGET + "/forecastrss", body=b"ok")
        client.get("/weather/forecastrss", headers=bearer(token))
    assert seen["timeout"] == (3.0, 1.5)


def test_unknown_paths_when_enabled(client, enable_apigee) -> None:
    enable_apigee()
    rv = client.get("/weather/forecastrss")
    assert rv.status_code == 404
    assert rv.data == (
        b'{"fault":{"faultstring":"Unable to identify proxy for host: secure and url: '
        b'\\/weather\\/forecastrss","detail":{"errorcode":'
        b'"messaging.adaptors.http.flow.ApplicationNotFound"}}}'
    )


def test_a_proxy_may_not_hide_the_token_flows(client, cli, weather) -> None:
    """A proxy at /oauth gets /oauth/* but the token endpoints stay token endpoints."""
    weather()
    cli("apigee", "proxies", "add", "/oauth", "--target", "http://oauth.test")
    rv = client.get(TOKEN_URL + "?grant_type=client_credentials", headers=OK_BASIC)
    assert rv.status_code == 200 and rv.get_json()["token_type"] == "BearerToken"


# --- a body over MAX_CONTENT_LENGTH ---------------------------------------------------

TOO_BIG_BODY = (
    b'{"fault":{"faultstring":"Body buffer overflow",'
    b'"detail":{"errorcode":"protocol.http.TooBigBody"}}}'
)


def test_a_body_over_the_limit_is_too_big_body_and_not_forwarded(client, weather) -> None:
    token = weather()()
    with responses.RequestsMock() as target:  # nothing registered: no call may go out
        rv = client.post(
            "/weather/upload",
            data=b"x" * (1024 * 1024 + 1),
            headers={**bearer(token), "Content-Type": "application/octet-stream"},
        )
        assert len(target.calls) == 0
    assert (rv.status_code, rv.data) == (413, TOO_BIG_BODY)
    assert rv.headers["Content-Type"] == "application/json"


def test_a_body_at_the_limit_is_forwarded(client, weather) -> None:
    token = weather()()
    with responses.RequestsMock() as target:
        target.post(TARGET + "/upload", body=b"stored")
        rv = client.post("/weather/upload", data=b"x" * (1024 * 1024), headers=bearer(token))
        assert len(target.calls[0].request.body) == 1024 * 1024
    assert (rv.status_code, rv.data) == (200, b"stored")


def test_the_token_is_verified_before_the_body_is_read(client, weather) -> None:
    """A request without a valid token gets its 401 whatever its body (never read)."""
    weather()
    rv = client.post(
        "/weather/upload",
        input_stream=UnreadableBody(b"x"),
        headers={"Content-Type": "application/octet-stream"},
        environ_overrides={"CONTENT_LENGTH": str(50 * 1024 * 1024)},
    )
    assert rv.status_code == 401
    assert rv.get_json()["fault"]["detail"]["errorcode"] == "oauth.v2.InvalidAccessToken"


class UnreadableBody(io.BytesIO):
    """A request body that fails the test if anything reads it."""

    def read(self, size: int | None = -1) -> bytes:
        raise AssertionError("the body was read")

    readinto = readline = read  # type: ignore[assignment]


# --- NUL and control characters: the normal clean error, on every database ------------


@pytest.mark.parametrize(
    ("raw", "shown"), [("%00", "\\u0000"), ("%01", "\\u0001")], ids=["nul", "soh"]
)
def test_a_path_with_a_control_character_names_no_proxy(client, weather, raw, shown) -> None:
    """A base path never holds one: ``/weather%00`` is an unknown proxy (PostgreSQL would
    refuse the NUL in the lookup), while ``/weather/x%00`` stays under ``/weather``."""
    token = weather()()
    for path in (f"/weather{raw}", f"/wea{raw}ther/forecastrss"):
        rv = client.get(path, headers=bearer(token))
        decoded = path.replace(raw, shown).replace("/", "\\/")
        assert (rv.status_code, rv.data) == (
            404,
            b'{"fault":{"faultstring":"Unable to identify proxy for host: secure and url: '
            + decoded.encode()
            + b'","detail":{"errorcode":"messaging.adaptors.http.flow.ApplicationNotFound"}}}',
        )
    with responses.RequestsMock() as target:
        target.get(TARGET + f"/x{raw}y", body=b"ok")
        rv = client.get(f"/weather/x{raw}y", headers=bearer(token))
    assert (rv.status_code, rv.data) == (200, b"ok")


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x7f"], ids=["nul", "soh", "del"])
def test_a_bearer_token_with_a_control_character_is_invalid(client, weather, char) -> None:
    token = weather()()
    rv = client.get("/weather/forecastrss", headers=bearer(token + char))
    assert rv.status_code == 401
    assert rv.data == (
        b'{"fault":{"faultstring":"Invalid Access Token",'
        b'"detail":{"errorcode":"keymanagement.service.invalid_access_token"}}}'
    )
