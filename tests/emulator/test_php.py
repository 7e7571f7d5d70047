"""emulator/php.py: a request read the way the legacy PHP stack read it, JSON written its way.

Unit tests, no database: ``from_request`` gets a request from a bare Flask app's
``test_request_context`` (php.py needs nothing else). Where the code knowingly differs
from PHP, the case says so.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask import request

from emulator.php import PhpInput
from emulator.php import is_truthy
from emulator.php import json_encode
from emulator.php import parse_php_pairs
from emulator.php import parse_urlencoded
from emulator.php import post_content_type
from emulator.php import to_string

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


@pytest.fixture
def app() -> Flask:
    """A bare Flask app: PhpInput needs a request, not the emulator's database or plugins."""
    return Flask("php-tests")


def read(app: Flask, path: str = "/", **request_args: Any) -> PhpInput:
    """PhpInput of one request built by ``app.test_request_context(path, **request_args)``."""
    with app.test_request_context(path, **request_args):
        return PhpInput.from_request(request)


def nested(depth: int) -> list[Any]:
    """A list nested ``depth`` deep: [[[...]]]."""
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def multipart(fields: list[tuple[str, str]], boundary: str = "php-7e3f1b") -> tuple[bytes, str]:
    parts = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields
    )
    return f"{parts}--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


# --- parse_php_pairs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ([("a", "1"), ("b", "2")], {"a": "1", "b": "2"}),
        ([("a", "1"), ("a", "2")], {"a": "2"}),
        ([("k[]", "1"), ("k[]", "2")], {"k": ["1", "2"]}),
        ([("k[x]", "1"), ("k[y]", "2")], {"k": ["1", "2"]}),
        ([("k[x]", "1"), ("k[x]", "2")], {"k": ["1", "2"]}),
        ([("k[x][y]", "1")], {"k": ["1"]}),
        ([("k", "1"), ("k[]", "2")], {"k": ["2"]}),
        ([("k[]", "1"), ("k", "2")], {"k": "2"}),
        ([("k[", "1")], {"k[": "1"}),
        ([("k[x", "1")], {"k[x": "1"}),
        ([("k]x[", "1")], {"k]x[": "1"}),
        ([("[x]", "1")], {"[x]": "1"}),
        ([], {}),
    ],
    ids=[
        "plain-keys",
        "last-wins",
        "empty-brackets-make-a-list",
        "keyed-brackets-make-a-list",
        "same-index-twice-is-two-items",
        "nested-brackets-make-one-list",
        "scalar-then-brackets-is-a-list",
        "brackets-then-scalar-is-the-scalar",
        "open-bracket-only-is-a-plain-key",
        "bracket-without-close-is-a-plain-key",
        "close-before-open-is-a-plain-key",
        "leading-bracket-is-a-plain-key",
        "no-pairs",
    ],
)
def test_parse_php_pairs(pairs: list[tuple[str, str]], expected: dict[str, Any]) -> None:
    """Last wins; ``k[]`` and ``k[x]`` append to a list (PHP keeps ``x`` as the key: the
    values are all that matter here). PHP renames an unclosed ``k[x`` to ``k_x``; this
    keeps the key as sent, so it matches no parameter either way."""
    assert parse_php_pairs(pairs) == expected


def test_parse_php_pairs_keeps_first_seen_order() -> None:
    assert list(parse_php_pairs([("b", "1"), ("a", "2"), ("b", "3")])) == ["b", "a"]


# --- parse_urlencoded --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"a=b+c", {"a": "b c"}),
        (b"a+b=1", {"a b": "1"}),
        (b"a=%2B", {"a": "+"}),
        (b"a=%41%62%2F%26%3D%25", {"a": "Ab/&=%"}),
        (b"%61%5B%5D=1&a%5B%5D=2", {"a": ["1", "2"]}),
        (b"a=caf%C3%A9", {"a": "caf\u00e9"}),
        (b"a=%F0%9F%94%91", {"a": "\U0001f511"}),
        (b"a=%FF", {"a": "\ufffd"}),
        (b"a=%C3%28", {"a": "\ufffd("}),
        (b"a=\xff", {"a": "\ufffd"}),
        (b"%FF=1", {"\ufffd": "1"}),
        (b"a=%zz%4", {"a": "%zz%4"}),
        (b"=1&&a=2&=&=3", {"a": "2"}),
        (b"a", {"a": ""}),
        (b"a=", {"a": ""}),
        (b"a=1=2", {"a": "1=2"}),
        (b"a=1&a=2", {"a": "2"}),
        (b"a=1;b=2", {"a": "1;b=2"}),
        (b"a.b=1&a+c=2", {"a.b": "1", "a c": "2"}),
        (b"", {}),
    ],
    ids=[
        "plus-is-a-space",
        "plus-in-a-key-is-a-space",
        "encoded-plus-is-a-plus",
        "percent-decoding",
        "encoded-brackets-make-a-list",
        "utf8",
        "utf8-astral",
        "invalid-utf8-becomes-replacement-char",
        "broken-sequence-becomes-replacement-char",
        "raw-non-utf8-byte",
        "invalid-utf8-in-a-key",
        "bad-escape-kept-as-sent",
        "empty-keys-skipped",
        "key-without-equals-is-empty",
        "empty-value",
        "value-may-hold-equals",
        "repeated-key-last-wins",
        "semicolon-is-no-separator",
        "dot-and-space-in-name-kept",
        "empty-input",
    ],
)
def test_parse_urlencoded(raw: bytes, expected: dict[str, Any]) -> None:
    """PHP's parse_str. One known difference: PHP turns ``.`` and `` `` in a name into
    ``_`` (``a.b`` -> ``a_b``); this keeps the name as sent."""
    assert parse_urlencoded(raw) == expected


# --- post_content_type -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (FORM, FORM),
        (FORM + "; charset=UTF-8", FORM),
        (FORM + ";charset=UTF-8", FORM),
        ("Application/X-WWW-Form-Urlencoded", FORM),
        ("multipart/form-data,boundary=x", "multipart/form-data"),
        ("Multipart/Form-Data boundary=x", "multipart/form-data"),
        (FORM + "-x", FORM + "-x"),
        (" " + FORM, ""),
        ("", ""),
    ],
    ids=[
        "form",
        "form-with-charset",
        "form-with-charset-no-space",
        "mixed-case-lowered",
        "cut-at-comma",
        "cut-at-space",
        "longer-type-kept",
        "leading-space-is-empty",
        "empty",
    ],
)
def test_post_content_type(header: str, expected: str) -> None:
    assert post_content_type(header) == expected


# --- PhpInput.from_request ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "content_type", "data", "post", "body"),
    [
        ("POST", FORM, "a=1&a=2&k[]=x", {"a": "2", "k": ["x"]}, {"a": "2", "k": ["x"]}),
        ("POST", FORM + "; charset=ISO-8859-1", "a=1", {"a": "1"}, {"a": "1"}),
        ("POST", "APPLICATION/X-WWW-FORM-URLENCODED", "a=1", {"a": "1"}, {"a": "1"}),
        ("POST", JSON, '{"a":"1","n":2}', {}, {"a": "1", "n": 2}),
        ("PUT", JSON, '{"a":"1"}', {}, {"a": "1"}),
        ("DELETE", JSON + "; charset=utf-8", '{"a":"1"}', {}, {"a": "1"}),
        ("POST", "application/json-patch+json", '{"a":"1"}', {}, {"a": "1"}),
        ("PATCH", JSON, '{"a":"1"}', {}, {}),
        ("POST", "Application/JSON", '{"a":"1"}', {}, {}),
        ("PUT", FORM, "a=1&b=2", {}, {"a": "1", "b": "2"}),
        ("DELETE", FORM, "a=1", {}, {"a": "1"}),
        ("PUT", "APPLICATION/X-WWW-FORM-URLENCODED", "a=1", {}, {}),
        ("PATCH", FORM, "a=1", {}, {}),
        ("POST", "text/plain", "a=1", {}, {}),
        ("POST", None, "a=1", {}, {}),
    ],
    ids=[
        "post-form",
        "post-form-with-charset",
        "post-form-upper-case",
        "post-json",
        "put-json",
        "delete-json-with-charset",
        "post-json-prefix",
        "patch-json-not-read",
        "post-json-upper-case-not-read",
        "put-form-is-body-only",
        "delete-form-is-body-only",
        "put-form-upper-case-not-read",
        "patch-form-not-read",
        "post-text-not-read",
        "post-without-content-type",
    ],
)
def test_from_request_post_and_body(
    app: Flask,
    method: str,
    content_type: str | None,
    data: str,
    post: dict[str, Any],
    body: dict[str, Any],
) -> None:
    """``post`` is $_POST (POST form or multipart, type compared as PHP lower-cased it);
    ``body`` is bshaffer's request parameters (its type prefixes compare case-sensitively)."""
    headers = {} if content_type is None else {"Content-Type": content_type}
    inp = read(app, "/?a=from-query", method=method, headers=headers, data=data.encode())
    assert inp.query == {"a": "from-query"}
    assert (inp.post, inp.body) == (post, body)
    assert inp.content_type == content_type


def test_from_request_query(app: Flask) -> None:
    inp = read(app, "/?a=1&a=2&k[]=x&k[]=y&s=b+c&u=%FF&=skipped", method="GET")
    assert inp.query == {"a": "2", "k": ["x", "y"], "s": "b c", "u": "\ufffd"}
    assert (inp.post, inp.body, inp.content_type) == ({}, {}, None)


def test_from_request_multipart(app: Flask) -> None:
    data, content_type = multipart([("a", "1"), ("a", "2"), ("k[]", "x"), ("k[]", "y")])
    inp = read(app, method="POST", data=data, headers={"Content-Type": content_type})
    assert inp.post == {"a": "2", "k": ["x", "y"]}
    assert inp.body == inp.post


def test_from_request_leaves_the_body_readable(app: Flask) -> None:
    with app.test_request_context("/", method="POST", data=b"a=1", content_type=FORM):
        assert PhpInput.from_request(request).post == {"a": "1"}
        assert request.get_data() == b"a=1"


@pytest.mark.parametrize(
    "data",
    [b'["a"]', b'"a"', b"1", b"null", b"true", b'{"a":', b"", b"{'a': 1}"],
    ids=["list", "string", "number", "null", "true", "unparseable", "empty", "single-quotes"],
)
def test_json_body_that_is_not_an_object_carries_no_parameters(app: Flask, data: bytes) -> None:
    inp = read(app, method="POST", data=data, headers={"Content-Type": JSON})
    assert inp.body == {}


@pytest.mark.parametrize(
    ("data", "body"),
    [
        (b'\xef\xbb\xbf{"a":"1"}', {}),
        (b'{"a":"\\ud800"}', {}),
        (b'{"\\udc00":"1"}', {}),
        (b'{"a":"\\ud83d\\udd11"}', {"a": "\U0001f511"}),
        (b'{"a":"caf\xc3\xa9"}', {"a": "caf\u00e9"}),
        (b'{"a":"\xff"}', {}),
        (b'{"a":"1","a":"2"}', {"a": "2"}),
    ],
    ids=[
        "byte-order-mark",
        "lone-high-surrogate",
        "lone-low-surrogate-in-key",
        "surrogate-pair",
        "utf8",
        "invalid-utf8",
        "repeated-key-last-wins",
    ],
)
def test_json_body_is_decoded_like_php(app: Flask, data: bytes, body: dict[str, Any]) -> None:
    """PHP's json_decode refuses a byte order mark and an escaped lone surrogate."""
    assert read(app, method="POST", data=data, headers={"Content-Type": JSON}).body == body


@pytest.mark.parametrize(
    ("data", "body"),
    [
        (b'{"a":NaN}', {"a": float("nan")}),
        (b'{"a":-Infinity}', {"a": float("-inf")}),
        ('{"a":"1"}'.encode("utf-16"), {"a": "1"}),
        ('{"a":"1"}'.encode("utf-32-le"), {"a": "1"}),
        (b'{"a":"1","x":' + b"[" * 600 + b"]" * 600 + b"}", {"a": "1", "x": nested(600)}),
    ],
    ids=["nan", "infinity", "utf16-with-bom", "utf32", "nested-past-php-depth-512"],
)
def test_json_body_python_takes_what_php_refused(
    app: Flask, data: bytes, body: dict[str, Any]
) -> None:
    """Known differences, as the code behaves today (reported): Python's json takes these,
    PHP's json_decode returned null for each (no parameters at all; compat/redcore.md,
    "Input limits", for the depth)."""
    got = read(app, method="POST", data=data, headers={"Content-Type": JSON}).body
    assert json.dumps(got) == json.dumps(body)  # NaN is not equal to itself; its text is


def test_json_body_nested_past_the_recursion_limit_raises(app: Flask) -> None:
    """As the code behaves today (reported): the RecursionError is not caught, so such a
    body is a 500 at the token endpoint; PHP's json_decode returned null (depth 512)."""
    with pytest.raises(RecursionError):
        read(app, method="POST", data=b"[" * 100_000, headers={"Content-Type": JSON})


# --- request_value -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("post", "query", "expected"),
    [
        ({"api": "from-post"}, {"api": "from-query"}, "from-post"),
        ({"api": ""}, {"api": "from-query"}, ""),
        ({"other": "x"}, {"api": "from-query"}, "from-query"),
        ({}, {}, None),
    ],
    ids=["post-wins", "empty-post-still-wins", "query-when-not-posted", "neither"],
)
def test_request_value(post: dict[str, Any], query: dict[str, Any], expected: str | None) -> None:
    inp = PhpInput(query=query, post=post, body=post, content_type=None)
    assert inp.request_value("api") == expected


@pytest.mark.parametrize(
    ("content_type", "data", "expected"),
    [
        (FORM, b"api=from-post", "from-post"),
        (JSON, b'{"api":"from-json"}', "from-query"),
    ],
    ids=["post-form-wins", "json-body-is-not-post"],
)
def test_request_value_through_a_request(
    app: Flask, content_type: str, data: bytes, expected: str
) -> None:
    inp = read(app, "/?api=from-query", method="POST", data=data, content_type=content_type)
    assert inp.request_value("api") == expected


# --- is_truthy, to_string ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False),
        (False, False),
        ("", False),
        ("0", False),
        (0, False),
        (0.0, False),
        (-0.0, False),
        ([], False),
        ({}, False),
        (True, True),
        ("a", True),
        ("0.0", True),
        ("00", True),
        (" ", True),
        ("false", True),
        (1, True),
        (-1, True),
        (0.5, True),
        (float("nan"), True),
        (["0"], True),
        ({"a": 0}, True),
    ],
    ids=[
        "null",
        "false",
        "empty-string",
        "string-zero",
        "zero",
        "float-zero",
        "negative-zero",
        "empty-list",
        "empty-object",
        "true",
        "string",
        "string-float-zero",
        "string-double-zero",
        "space",
        "string-false",
        "one",
        "minus-one",
        "half",
        "nan",
        "list-of-zero",
        "object",
    ],
)
def test_is_truthy(value: Any, expected: bool) -> None:
    assert is_truthy(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("abc", "abc"),
        ("", ""),
        (True, "1"),
        (False, ""),
        (0, "0"),
        (-3, "-3"),
        (1.0, "1"),
        (-2.0, "-2"),
        (1.5, "1.5"),
        (0.1, "0.1"),
        (1 / 3, "0.3333333333333333"),
        (1e20, "100000000000000000000"),
    ],
    ids=[
        "null-stays-null",
        "string",
        "empty-string",
        "true-is-one",
        "false-is-empty",
        "zero",
        "negative",
        "integral-float",
        "negative-integral-float",
        "float",
        "short-float",
        "long-float",
        "big-integral-float",
    ],
)
def test_to_string(value: Any, expected: str | None) -> None:
    """PHP's (string). Two known differences (reported): PHP printed floats with 14
    significant digits, so 1/3 was "0.33333333333333" and 1e20 was "1.0E+20"."""
    assert to_string(value) == expected


@pytest.mark.parametrize(
    "value", [[], ["a"], {}, {"a": "1"}], ids=["empty-list", "list", "empty-object", "object"]
)
def test_to_string_of_an_array_raises(value: Any) -> None:
    with pytest.raises(TypeError, match="an array has no string value"):
        to_string(value)


# --- json_encode -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"a": 1, "b": [1, 2], "c": {"d": None}}, '{"a":1,"b":[1,2],"c":{"d":null}}'),
        ({"b": 1, "a": 2}, '{"b":1,"a":2}'),
        ({"uri": "http://tools.ietf.org/html"}, r'{"uri":"http:\/\/tools.ietf.org\/html"}'),
        ({"caf\u00e9": "\u00fc"}, r'{"caf\u00e9":"\u00fc"}'),
        ("\U0001f511", r'"\ud83d\udd11"'),
        ('quote"back\\slash', r'"quote\"back\\slash"'),
        ("line\nbreak\ttab", r'"line\nbreak\ttab"'),
        ("<a href='x'>&</a>", "\"<a href='x'>&<\\/a>\""),
        ([True, False, None, 1.5, 1.0], "[true,false,null,1.5,1.0]"),
        ({}, "{}"),
        ([], "[]"),
    ],
    ids=[
        "no-spaces",
        "key-order-kept",
        "slash-escaped",
        "non-ascii-escaped",
        "astral-as-surrogate-pair",
        "quote-and-backslash",
        "control-characters",
        "html-not-escaped",
        "scalars",
        "empty-object",
        "empty-list",
    ],
)
def test_json_encode(value: Any, expected: str) -> None:
    encoded = json_encode(value)
    assert encoded == expected
    encoded.encode("ascii")
    assert json.loads(encoded) == value
