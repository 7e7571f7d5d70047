"""/metrics (emulator/ops/metrics.py): what each metric counts, who may scrape, bounded labels.

In-process, one app per test, so each test's counts start at zero (without
PROMETHEUS_MULTIPROC_DIR a process counts in its own registry); the sum over worker
processes is tests/live/test_metrics.py's.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from collections.abc import Iterator

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from config import Config
from emulator.ops import metrics
from emulator.ops.metrics import LATENCY_BUCKETS
from emulator.storage.database import db
from emulator.web.errors import PluginDeclarationError
from emulator.web.plugin import Route
from tests.support.app import empty_database
from tests.support.app import make_app

TOKEN_URL = "/index.php?option=token&api=oauth2"
RESOURCE_URL = "/index.php?option=resource&api=oauth2"
APIGEE_TOKEN_URL = "/oauth/accesstoken?grant_type=client_credentials"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def built(database_url: str, **config: object) -> Iterator[Flask]:
    application = make_app(database_url, **config)
    empty_database(application)
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    """The app with metrics on (conftest's client, cli and make_client use this one)."""
    yield from built(database_url, METRICS_ENABLED=True)


def scrape(client: FlaskClient, **kwargs: object) -> Samples:
    """Every sample of /metrics, by (name, labels)."""
    rv = client.get("/metrics", **kwargs)
    assert rv.status_code == 200, rv.data
    assert rv.headers["Content-Type"].startswith("text/plain; version=")
    return parse(rv.get_data(as_text=True))


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value (0 when the series does not exist yet)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def series(samples: Samples, name: str) -> set[frozenset[tuple[str, str]]]:
    return {labels for (sample, labels) in samples if sample == name}


def basic(client_id: str, secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def get_token(client: FlaskClient, credentials: tuple[str, str | None], **data: str):
    assert credentials[1] is not None
    return client.post(
        TOKEN_URL,
        data={"grant_type": "client_credentials", **data},
        headers=basic(credentials[0], credentials[1]),
    )


def test_metrics_are_off_by_default_and_metrics_is_then_an_unknown_url(database_url) -> None:
    assert Config.METRICS_ENABLED is False
    for application in built(database_url):
        client = application.test_client()
        unknown = client.get("/no-such-page")
        rv = client.get("/metrics")
        assert (rv.status_code, rv.data) == (unknown.status_code, unknown.data)
        assert rv.status_code == 404
        assert application.extensions[metrics.EXTENSION] is None
        # Nothing of the metrics on the way in or out (the admin pages' CSRF hook is there,
        # a no-op outside them: WTF_CSRF_CHECK_DEFAULT is off).
        assert metrics._start not in application.before_request_funcs.get(None, [])
        assert metrics._record not in application.after_request_funcs.get(None, [])


def test_requests_are_counted_by_plugin_operation_and_status(client, make_client) -> None:
    credentials = make_client(secret="s3cret-value")
    tokens = [get_token(client, credentials).get_json()["access_token"] for _ in range(5)]
    for raw in tokens[:3]:
        assert (
            client.get(RESOURCE_URL, headers={"Authorization": f"Bearer {raw}"}).status_code == 200
        )
    refused = client.get(RESOURCE_URL, headers={"Authorization": "Bearer " + "0" * 40})
    samples = scrape(client)
    name = "emulator_requests_total"
    assert value(samples, name, plugin="oauth2", operation="token", status="200") == 5
    assert value(samples, name, plugin="oauth2", operation="resource", status="200") == 3
    assert (
        value(samples, name, plugin="oauth2", operation="resource", status=str(refused.status_code))
        == 1
    )
    assert sum(v for (n, _), v in samples.items() if n == name) == 9  # scrapes are not counted


def test_latency_is_a_histogram_by_plugin_and_operation(client, make_client) -> None:
    credentials = make_client(secret="s3cret-value")
    for _ in range(4):
        get_token(client, credentials)
    client.get("/healthz")
    samples = scrape(client)
    name = "emulator_request_duration_seconds"
    token = {"plugin": "oauth2", "operation": "token"}
    assert value(samples, f"{name}_count", **token) == 4
    assert 0 < value(samples, f"{name}_sum", **token) < 4 * 5.0
    bounds = [
        dict(labels)["le"]
        for labels in series(samples, f"{name}_bucket")
        if dict(labels)["plugin"] == "oauth2"
    ]
    assert sorted(bounds, key=float) == [*(str(float(b)) for b in LATENCY_BUCKETS), "+Inf"]
    assert value(samples, f"{name}_bucket", le="+Inf", **token) == 4
    assert value(samples, f"{name}_count", plugin="_host", operation="healthz") == 1


def test_tokens_issued_are_counted_by_plugin_and_grant_type(client, make_client) -> None:
    credentials = make_client(secret="s3cret-value", grant_types="client_credentials refresh_token")
    issued = get_token(client, credentials).get_json()
    assert "refresh_token" in issued  # the redCORE default gives one with client_credentials
    rv = client.post(
        TOKEN_URL,
        data={"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]},
        headers=basic(*credentials),
    )
    assert rv.status_code == 200, rv.data
    get_token(client, (credentials[0], "wrong-secret"))  # no token: not counted
    samples = scrape(client)
    name = "emulator_tokens_issued_total"
    assert value(samples, name, plugin="oauth2", grant_type="client_credentials") == 1
    assert value(samples, name, plugin="oauth2", grant_type="refresh_token") == 1
    assert sum(v for (n, _), v in samples.items() if n == name) == 2


def test_apigee_tokens_and_operations_are_counted(client, enable_apigee, make_app_client) -> None:
    enable_apigee()
    cid, secret = make_app_client()
    for _ in range(2):
        assert client.post(APIGEE_TOKEN_URL, headers=basic(cid, secret)).status_code == 200
    client.post(APIGEE_TOKEN_URL, headers=basic(cid, "wrong-secret"))
    client.get("/weather/today")  # a path no proxy serves
    samples = scrape(client)
    assert (
        value(
            samples,
            "emulator_tokens_issued_total",
            plugin="apigee",
            grant_type="client_credentials",
        )
        == 2
    )
    requests = "emulator_requests_total"
    generated = {"plugin": "apigee", "operation": "GenerateAccessToken"}
    assert value(samples, requests, status="200", **generated) == 2
    assert (
        value(
            samples, "emulator_client_auth_failures_total", plugin="apigee", reason="wrong_secret"
        )
        == 1
    )
    gateway = [
        dict(labels) for labels in series(samples, requests) if dict(labels)["plugin"] == "apigee"
    ]
    assert {labels["operation"] for labels in gateway} == {"GenerateAccessToken", "gateway"}


@pytest.mark.parametrize(
    ("send", "reason"),
    [
        (
            lambda client, cid: client.post(TOKEN_URL, data={"grant_type": "client_credentials"}),
            "missing",
        ),
        (lambda client, cid: get_token(client, ("nobody-here", "guess")), "unknown_client"),
        (lambda client, cid: get_token(client, (cid, "not-the-secret")), "wrong_secret"),
    ],
    ids=["no-credentials", "unknown-client", "wrong-secret"],
)
def test_client_authentication_failures_are_counted_by_reason(client, make_client, send, reason):
    cid, _secret = make_client(secret="s3cret-value")
    for _ in range(3):
        assert send(client, cid).status_code in (400, 401)
    rv = client.get("/metrics")
    samples = parse(rv.get_data(as_text=True))
    failures = "emulator_client_auth_failures_total"
    assert value(samples, failures, plugin="oauth2", reason=reason) == 3
    assert sum(v for (n, _), v in samples.items() if n == failures) == 3
    for secret_or_id in (b"nobody-here", b"not-the-secret", cid.encode(), b"guess"):
        assert secret_or_id not in rv.data  # never a label value


def test_lockouts_by_the_throttle_are_counted(database_url, make_client) -> None:
    for application in built(
        database_url,
        METRICS_ENABLED=True,
        CLIENT_AUTH_FAILURE_LIMIT="3/5minutes",
        CLIENT_AUTH_ADDRESS_FAILURE_LIMIT="",
    ):
        client = application.test_client()
        runner = application.test_cli_runner()
        assert runner.invoke(args=["clients", "create", "shop", "--secret", "right"]).exit_code == 0
        for attempt in range(3):
            assert get_token(client, ("shop", f"guess-{attempt}")).status_code == 400
        assert get_token(client, ("shop", "right")).status_code == 429  # locked
        samples = scrape(client)
        assert value(samples, "emulator_client_auth_lockouts_total", key="client") == 1
        assert value(samples, "emulator_client_auth_lockouts_total", key="address") == 0
        failures = "emulator_client_auth_failures_total"
        assert value(samples, failures, plugin="oauth2", reason="wrong_secret") == 3
        assert value(samples, failures, plugin="oauth2", reason="locked") == 1


def test_unknown_urls_add_no_label_value(client) -> None:
    client.get("/first-unknown")
    client.get("/index.php?api=nothing&option=token")
    unknown_option = client.get("/index.php?api=oauth2&option=nothing").status_code
    before = scrape(client)
    for index in range(25):
        client.get(f"/unknown-{index}/x?y={index}")
        client.get(f"/index.php?api=api{index}&option=token")
        client.get(f"/index.php?api=oauth2&option=op{index}")
        client.post(f"/index.php?api=oauth2&option=com_x{index}")
    after = scrape(client)
    for name in ("emulator_requests_total", "emulator_request_duration_seconds_bucket"):
        assert series(after, name) == series(before, name)
    requests = "emulator_requests_total"
    assert value(after, requests, plugin="_host", operation="unknown", status="404") == 2 + 50
    assert (
        value(after, requests, plugin="oauth2", operation="unknown", status=str(unknown_option))
        == 1 + 50
    )


@pytest.mark.parametrize(
    ("allowed", "address", "status"),
    [
        (None, "127.0.0.1", 200),
        (None, "::1", 200),
        (None, "::ffff:127.0.0.1", 200),
        (None, "10.0.0.5", 403),
        (None, "2001:db8::1", 403),
        ("10.0.0.0/8, 192.0.2.7", "10.200.1.2", 200),
        ("10.0.0.0/8, 192.0.2.7", "192.0.2.7", 200),
        ("10.0.0.0/8, 192.0.2.7", "192.0.2.8", 403),
        ("10.0.0.0/8, 192.0.2.7", "127.0.0.1", 403),
        (["2001:db8::/32"], "2001:db8::1", 200),
        ([], "127.0.0.1", 403),
    ],
    ids=[
        "default-loopback-v4",
        "default-loopback-v6",
        "default-mapped-v4",
        "default-other-v4",
        "default-other-v6",
        "string-network",
        "string-address",
        "string-outside",
        "string-not-loopback",
        "list-v6-network",
        "nobody",
    ],
)
def test_only_allowed_addresses_may_scrape(database_url, allowed, address, status) -> None:
    config: dict[str, object] = {"METRICS_ENABLED": True}
    if allowed is not None:
        config["METRICS_ALLOWED"] = allowed
    for application in built(database_url, **config):
        rv = application.test_client().get("/metrics", environ_base={"REMOTE_ADDR": address})
        assert rv.status_code == status
        assert rv.headers["Cache-Control"] == "no-store"
        if status == 403:
            assert b"emulator_" not in rv.data
            assert rv.get_json(force=True) == {
                "message": "Forbidden",
                "code": 403,
                "type": "RuntimeException",
            }


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        ("Bearer scrape-token-1", 200),
        ("bearer scrape-token-1", 200),
        ("Bearer scrape-token-2", 403),
        ("Basic c2NyYXBlLXRva2VuLTE=", 403),
        (None, 403),
    ],
    ids=["right-token", "scheme-any-case", "wrong-token", "other-scheme", "no-token"],
)
def test_a_token_hash_asks_scrapers_for_the_token(database_url, authorization, status) -> None:
    digest = hashlib.sha256(b"scrape-token-1").hexdigest()
    for application in built(database_url, METRICS_ENABLED=True, METRICS_TOKEN_SHA256=digest):
        headers = {"Authorization": authorization} if authorization else {}
        assert application.test_client().get("/metrics", headers=headers).status_code == status


def test_the_token_must_come_from_an_allowed_address_too(database_url) -> None:
    digest = hashlib.sha256(b"scrape-token-1").hexdigest()
    for application in built(database_url, METRICS_ENABLED=True, METRICS_TOKEN_SHA256=digest):
        rv = application.test_client().get(
            "/metrics",
            headers={"Authorization": "Bearer scrape-token-1"},
            environ_base={"REMOTE_ADDR": "203.0.113.9"},
        )
        assert rv.status_code == 403


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"METRICS_ALLOWED": "10.0.0.0/8, localhost"}, "METRICS_ALLOWED: 'localhost'"),
        ({"METRICS_TOKEN_SHA256": "not-a-hash"}, "METRICS_TOKEN_SHA256 must be 64 hex digits"),
    ],
    ids=["bad-network", "bad-token-hash"],
)
def test_bad_settings_stop_the_start_with_one_clear_line(database_url, setting, message) -> None:
    with pytest.raises(ValueError, match=message):
        make_app(database_url, METRICS_ENABLED=True, **setting)


def test_metrics_is_the_hosts_even_beside_a_catch_all_route(client, enable_apigee) -> None:
    enable_apigee()  # its route is /<path:_path>
    assert client.get("/metrics").status_code == 200
    for method in ("POST", "PUT", "OPTIONS"):  # GET only, and no plugin answers the others
        rv = client.open("/metrics", method=method)
        assert (rv.status_code, rv.headers["Allow"]) == (405, "GET, HEAD"), method
    assert client.head("/metrics").status_code == 200


def test_no_plugin_may_declare_metrics() -> None:
    with pytest.raises(PluginDeclarationError, match="host's own path"):
        Route("/metrics", "stats", lambda params: None)  # type: ignore[arg-type,return-value]


def test_a_failing_count_never_changes_the_answer(app: Flask, client, make_client, caplog) -> None:
    credentials = make_client(secret="s3cret-value")
    counts = app.extensions[metrics.EXTENSION]

    class Broken:
        def labels(self, *_args: str) -> None:
            raise RuntimeError("broken")

    counts.requests = Broken()
    assert get_token(client, credentials).status_code == 200
    assert "metrics: could not count" in caplog.text


def test_operations_with_a_named_label_set(client: FlaskClient, make_client: Callable) -> None:
    """Each plugin operation counts under its own declared name (revoke, introspect...)."""
    credentials = make_client(secret="s3cret-value")
    raw = get_token(client, credentials).get_json()["access_token"]
    client.post(
        "/index.php?option=revoke&api=oauth2", data={"token": raw}, headers=basic(*credentials)
    )
    samples = scrape(client)
    labels = {dict(s)["operation"] for s in series(samples, "emulator_requests_total")}
    assert labels == {"token", "revoke"}


def test_a_process_counting_alone_says_so_at_its_first_scrape(client, caplog) -> None:
    """Without PROMETHEUS_MULTIPROC_DIR a worker's scrape holds its own counts only."""
    client.get("/metrics")
    client.get("/metrics")
    warned = [r for r in caplog.records if "PROMETHEUS_MULTIPROC_DIR is not set" in r.getMessage()]
    assert len(warned) == 1


def test_a_proxy_call_counts_as_proxy_whatever_its_path(
    client, cli, enable_apigee, make_app_client
):
    enable_apigee()
    cli("apigee", "proxies", "add", "/weather", "--target", "http://weather.test")
    cid, secret = make_app_client(products={"Weather": "read"})
    rv = client.post(APIGEE_TOKEN_URL, headers=basic(cid, secret))
    raw = rv.get_json()["access_token"]
    with responses.RequestsMock() as target:
        for day in ("today", "tomorrow"):
            target.get(f"http://weather.test/{day}", body=b"sunny")
            rv = client.get(f"/weather/{day}", headers={"Authorization": f"Bearer {raw}"})
            assert rv.data == b"sunny"
    samples = scrape(client)
    requests = "emulator_requests_total"
    assert value(samples, requests, plugin="apigee", operation="proxy", status="200") == 2
    assert not any("weather" in str(labels) for labels in series(samples, requests))


def test_what_a_fallback_forwards_counts_as_fallback(client, cli, set_params) -> None:
    set_params("passthrough", legacy_url="http://legacy.test")
    cli("plugins", "enable", "passthrough")
    with responses.RequestsMock() as legacy:
        for page in ("a", "b", "c"):
            legacy.get(f"http://legacy.test/old/{page}", body=b"old site")
            assert client.get(f"/old/{page}").data == b"old site"
    samples = scrape(client)
    requests = "emulator_requests_total"
    assert value(samples, requests, plugin="passthrough", operation="fallback", status="200") == 3
    assert series(samples, requests) == {
        frozenset({("plugin", "passthrough"), ("operation", "fallback"), ("status", "200")})
    }


def test_a_bug_counts_as_a_500_of_the_plugin(client, make_client, monkeypatch) -> None:
    credentials = make_client(secret="s3cret-value")

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("emulator.oauth.issue_token", broken)
    assert get_token(client, credentials).status_code == 500
    samples = scrape(client)
    requests = "emulator_requests_total"
    assert value(samples, requests, plugin="oauth2", operation="token", status="500") == 1
