"""Fuzzing both dialects' URLs: no 5xx beyond the legacy ones, never a traceback.

hypothesis builds requests from the parts the legacy clients and an attacker use: the
legacy entry points and the apigee plugin's paths, every method, PHP's array syntax in
names (``k[]``, ``k[x][y]``), control bytes, NUL, non-UTF-8 escapes, JSON of any shape and
depth, form and multipart bodies, Basic and Bearer headers of any make. Every answer must
be a status the legacy systems gave: no 5xx but the ones ``../shared/compat/`` documents
(an empty ``option`` answers 500, as redCORE did), and nothing logged as unhandled.
"""

from __future__ import annotations

import base64
import json
import logging
from collections import Counter
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

EXAMPLES = 1500
PATHS = [
    "/index.php",
    "/",
    "/oauth/accesstoken",
    "/oauth/client_credential/accesstoken",
    "/oauth/client_credential/refresh_accesstoken",
    "/oauth/other",
    "/weather/forecast",
    "/.well-known/oauth-authorization-server",
    "/healthz",
]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
NAMES = [
    "api",
    "option",
    "grant_type",
    "client_id",
    "client_secret",
    "scope",
    "refresh_token",
    "access_token",
    "token",
    "token_type_hint",
]
VALUES = ["oauth2", "apigee", "token", "resource", "revoke", "introspect", "com_token"]
VALUES += ["client_credentials", "refresh_token", "fuzz-client", "fuzz-secret", "read"]
CONTENT_TYPES = [
    None,
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=UTF-8",
    "application/json",
    "multipart/form-data; boundary=fuzz",
    "text/plain",
    "application/json; charset=utf-16",
]
UNEXPECTED = "unhandled error"
seen: Counter[str] = Counter()

text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40
) | st.sampled_from(VALUES)
# Names as PHP reads them: plain, k[], k[x], k[x][y]..., unbalanced brackets, dots.
name = st.one_of(
    st.sampled_from(NAMES),
    st.builds(
        lambda base, parts: base + "".join(f"[{p}]" for p in parts),
        st.sampled_from(NAMES),
        st.lists(st.sampled_from(["", "x", "0", "a b"]), min_size=1, max_size=70),
    ),
    st.builds(
        lambda base, tail: base + tail,
        st.sampled_from(NAMES),
        st.sampled_from(["[", "[x", ".", " x"]),
    ),
    text,
)
# What an HTTP server hands the app as a header value: no line breaks (they end a header).
header_text = text.map(lambda value: value.replace("\r", "").replace("\n", ""))
raw_value = st.one_of(text, st.sampled_from(["%00", "%ff%fe", "%", "%zz", "a%00b", "%0d%0a"]))
pairs = st.lists(st.tuples(name, raw_value), max_size=12)
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=20,
)
deep_json = st.integers(min_value=1, max_value=100_000).map(lambda n: "[" * n + "]" * n)


def encode(pairs_: list[tuple[str, str]]) -> str:
    """A query string or form body; values that look like escapes are sent as they are."""
    out = []
    for key, value in pairs_:
        encoded = value if value.startswith("%") or "%0" in value else quote(value, safe="")
        out.append(f"{quote(key, safe='[]')}={encoded}")
    return "&".join(out)


@st.composite
def requests(draw: st.DrawFn) -> dict:
    path = draw(st.sampled_from(PATHS))
    query = draw(pairs)
    if path in ("/index.php", "/") and draw(st.booleans()):
        query = [("api", draw(st.sampled_from(["oauth2", "OAuth2", "apigee", "x"]))), *query]
        query = [("option", draw(st.sampled_from(VALUES + [""]))), *query]
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    kind = draw(st.sampled_from(["none", "form", "json", "deep-json", "bytes"]))
    body: bytes | None
    if kind == "form":
        body = encode(draw(pairs)).encode()
    elif kind == "json":
        body = json.dumps(draw(json_value)).encode()
    elif kind == "deep-json":
        body = draw(deep_json).encode()
    elif kind == "bytes":
        body = draw(st.binary(max_size=200))
    else:
        body = None
    headers = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    auth = draw(st.sampled_from(["none", "basic", "bearer", "junk"]))
    if auth == "basic":
        user, password = draw(st.sampled_from(["fuzz-client", "x", ""])), draw(header_text)
        raw = f"{user}:{password}".encode("utf-8", "surrogatepass")
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
    elif auth == "bearer":
        headers["Authorization"] = "Bearer " + draw(header_text)
    elif auth == "junk":
        headers["Authorization"] = draw(header_text)
    return {
        "method": draw(st.sampled_from(METHODS)),
        "path": path,
        "query": encode(query),
        "headers": headers,
        "body": body,
    }


@pytest.fixture(scope="module", autouse=True)
def fuzz_summary():
    """Print what the fuzzer sent, once its runs are over (-s shows it)."""
    yield
    print(f"\nfuzz: {seen['requests']} requests, {seen['5xx']} legacy 5xx answers")


@pytest.fixture
def fuzz_app(app, cli, make_client):
    """Both plugins on; a client the fuzzer knows; proxies none (no outbound calls)."""
    cli("plugins", "enable", "apigee")
    cli("scopes", "add", "read")
    make_client("fuzz-client", secret="fuzz-secret", scope="read")
    return app


def is_legacy_5xx(status: int, body: bytes) -> bool:
    """The one 5xx the originals gave for client input: redCORE's empty operation."""
    return status == 500 and b"OAuth2 operation name is empty" in body


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=requests())
def test_no_input_gets_a_5xx_or_a_traceback(fuzz_app, caplog, request) -> None:
    caplog.set_level(logging.ERROR)
    rv = fuzz_app.test_client().open(
        request["path"] + ("?" + request["query"] if request["query"] else ""),
        method=request["method"],
        headers=request["headers"],
        data=request["body"],
    )
    seen["requests"] += 1
    body = rv.data
    if rv.status_code >= 500:
        seen["5xx"] += 1
        if request["method"] == "HEAD":  # no body to tell which 500: the same as a GET
            body = (
                fuzz_app.test_client()
                .open(
                    request["path"] + ("?" + request["query"] if request["query"] else ""),
                    method="GET",
                    headers=request["headers"],
                )
                .data
            )
    assert rv.status_code < 500 or is_legacy_5xx(rv.status_code, body), (
        rv.status_code,
        rv.data[:300],
    )
    assert not [r for r in caplog.records if UNEXPECTED in r.getMessage()]
    caplog.clear()
