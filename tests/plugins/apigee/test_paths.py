"""A proxy cannot be steered (issue 8.5): paths that could name another place are refused.

A token for /weather must never reach anything but /weather's target, below its path:
dot segments, encoded separators, backslashes and empty segments get Apigee's
``protocol.http.InvalidPath`` before any proxy is matched, and the target gets exactly
the path that was matched. The target is a real server that records what reaches it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from plugins.apigee.proxies import RequestPath
from plugins.apigee.proxies import is_plain_path
from tests.live.server import Target
from tests.live.server import target_server
from tests.support.apigee import bearer


@pytest.fixture
def target() -> Iterator[Target]:
    with target_server() as real:
        yield real


def invalid_path(sent: str) -> bytes:
    """The fault body, as json_encode writes it (``/`` escaped)."""
    body = {
        "fault": {
            "faultstring": f"Invalid path GET {sent} HTTP/1.1",
            "detail": {"errorcode": "protocol.http.InvalidPath"},
        }
    }
    return json.dumps(body, separators=(",", ":")).replace("/", "\\/").encode()


def test_the_issues_reproduction_is_refused(client, cli, proxy_to, target) -> None:
    token = proxy_to(target.base_url + "/read", base_path="/read")
    cli("apigee", "proxies", "add", "/admin", "--target", target.base_url + "/admin")
    rv = client.get("/read/../admin/secret", headers=bearer(token))
    assert (rv.status_code, rv.data) == (
        400,
        b'{"fault":{"faultstring":"Invalid path GET \\/read\\/..\\/admin\\/secret HTTP\\/1.1",'
        b'"detail":{"errorcode":"protocol.http.InvalidPath"}}}',
    )
    assert rv.headers["Content-Type"] == "application/json"
    assert target.received == []


STEERING = [
    ("dot-dot", "/weather/../admin/secret"),
    ("dot-dot-at-the-end", "/weather/x/.."),
    ("dot", "/weather/./x"),
    ("encoded-dot-dot", "/weather/%2e%2e/admin/secret"),
    ("encoded-dot-dot-mixed-case", "/weather/%2E%2e/admin/secret"),
    ("half-encoded-dot-dot", "/weather/.%2E/admin"),
    ("dot-dot-with-parameter", "/weather/..;/admin"),
    ("encoded-slash", "/weather/a%2fb"),
    ("encoded-slash-upper-case", "/weather/a%2Fb"),
    ("encoded-slash-around-dot-dot", "/weather%2F..%2Fadmin"),
    ("encoded-backslash", "/weather/..%5cadmin"),
    ("encoded-backslash-upper-case", "/weather/a%5Cb"),
    ("backslash", "/weather/a\\b"),
    ("double-slash", "/weather//admin"),
    ("double-slash-at-the-end", "/weather/x//"),
    ("double-encoded-dot-dot", "/weather/%252e%252e/admin"),
    ("double-encoded-slash", "/weather/a%252fb"),
]


@pytest.mark.parametrize("path", [r[1] for r in STEERING], ids=[r[0] for r in STEERING])
def test_steering_paths_are_refused_before_a_proxy_is_matched(
    client, proxy_to, target, path
) -> None:
    token = proxy_to(target.base_url + "/api")
    rv = client.get(path + "?w=1", headers=bearer(token))
    assert (rv.status_code, rv.data) == (400, invalid_path(path))
    assert target.received == []


def test_a_steering_path_without_a_token_is_refused_all_the_same(client, proxy_to, target) -> None:
    proxy_to(target.base_url)
    rv = client.get("/weather/%2e%2e/admin")
    assert (rv.status_code, rv.data) == (400, invalid_path("/weather/%2e%2e/admin"))
    assert "WWW-Authenticate" not in rv.headers


ALLOWED = [
    ("plain", "/weather/forecastrss?w=1", "/api/forecastrss?w=1"),
    ("base-path-itself", "/weather", "/api"),
    ("trailing-slash", "/weather/", "/api/"),
    ("encoding-kept", "/weather/a%3Bb/c%20d", "/api/a%3Bb/c%20d"),
    ("utf-8-kept", "/weather/caf%C3%A9", "/api/caf%C3%A9"),
    ("dots-inside-names", "/weather/v1.2/..x/x..", "/api/v1.2/..x/x.."),
    # requests sends unreserved characters unescaped (RFC 3986 §6.2.2.2: the same URI)
    ("encoded-dot-in-a-name", "/weather/file%2Ejson", "/api/file.json"),
]


@pytest.mark.parametrize(("path", "reached"), [r[1:] for r in ALLOWED], ids=[r[0] for r in ALLOWED])
def test_the_target_gets_exactly_the_matched_path(client, proxy_to, target, path, reached) -> None:
    token = proxy_to(target.base_url + "/api")
    rv = client.get(path, headers=bearer(token))
    assert rv.status_code == 200, rv.data
    assert [seen["path"] for seen in target.received] == [reached]


def test_without_the_raw_path_the_decoded_one_is_matched_and_sent(client, proxy_to, target) -> None:
    """granian gives only PATH_INFO: %2F arrives as '/', and the target gets what matched."""
    token = proxy_to(target.base_url + "/api")
    no_raw = {"RAW_URI": "", "REQUEST_URI": ""}
    rv = client.get("/weather/a%2Fb/c%20d", headers=bearer(token), environ_overrides=no_raw)
    assert rv.status_code == 200, rv.data
    refused = client.get("/weather/%2e%2e/x", headers=bearer(token), environ_overrides=no_raw)
    assert (refused.status_code, refused.data) == (400, invalid_path("/weather/../x"))
    assert [seen["path"] for seen in target.received] == ["/api/a/b/c%20d"]


RULES = [
    ("plain", RequestPath("/weather/x", "/weather/x"), True),
    ("trailing-slash", RequestPath("/weather/"), True),
    ("granian-decoded-slash", RequestPath("/weather/a/b"), True),
    ("dot-dot", RequestPath("/weather/../x"), False),
    ("dot-dot-raw-encoded", RequestPath("/weather/../x", "/weather/%2e%2E/x"), False),
    ("encoded-slash-in-raw-only", RequestPath("/weather/a/b", "/weather/a%2Fb"), False),
    ("tomcat-parameter", RequestPath("/weather/..;jsessionid=1/x"), False),
    ("leading-double-slash", RequestPath("//weather/x"), False),
    ("backslash", RequestPath("/weather\\..\\x"), False),
    ("decodes-to-dot-dot-twice", RequestPath("/weather/%2e%2e/x"), False),
    ("not-absolute", RequestPath("weather/x"), False),
]


@pytest.mark.parametrize(("path", "plain"), [r[1:] for r in RULES], ids=[r[0] for r in RULES])
def test_is_plain_path(path, plain) -> None:
    assert is_plain_path(path) is plain


SUFFIXES = [
    ("raw-kept", RequestPath("/weather/a;b/c d", "/weather/a%3Bb/c%20d"), "/a%3Bb/c%20d"),
    ("decoded-quoted-without-raw", RequestPath("/weather/a;b/c d"), "/a;b/c%20d"),
    ("raw-of-another-path-ignored", RequestPath("/weather/x", "/prefix/weather/x"), "/x"),
    ("base-path-itself", RequestPath("/weather", "/weather"), ""),
    ("two-segment-base", RequestPath("/weather/v2/x", "/weather/v2/x"), "/x"),
]


@pytest.mark.parametrize(
    ("path", "suffix"), [r[1:] for r in SUFFIXES], ids=[r[0] for r in SUFFIXES]
)
def test_the_suffix_is_cut_from_the_matched_path(path, suffix) -> None:
    base = "/weather/v2" if path.decoded.startswith("/weather/v2") else "/weather"
    assert path.suffix(base) == suffix
