"""The ``deprecations`` param both dialects share (emulator/web/deprecation.py): what an admin
may set, what is refused and why, and the header values a notice makes.

The headers on the wire: tests/plugins/oauth2/test_usage.py, tests/plugins/apigee/test_usage.py.
"""

from __future__ import annotations

import json

import pytest

from emulator.web.deprecation import DeprecationNotices
from emulator.web.deprecation import Deprecations

PLUGINS = ["oauth2", "apigee"]


@pytest.mark.parametrize("plugin", PLUGINS)
def test_empty_by_default(cli, plugin) -> None:
    assert "    deprecations = {}" in cli("plugins", "show", plugin).splitlines()


@pytest.mark.parametrize("plugin", PLUGINS)
def test_a_notice_is_stored_normalised(cli, plugin) -> None:
    value = {
        "query": {"deprecation": "2026-01-01", "sunset": "2026-07-01T12:00:00+02:00"},
        "*": {"sunset": " 2030-01-01 ", "link": "https://example.com/a?b=c&d=%20#e"},
    }
    out = cli("plugins", "set", plugin, f"deprecations={json.dumps(value)}")
    assert "stored for" in out
    shown = {
        "query": {"deprecation": "2026-01-01T00:00:00Z", "sunset": "2026-07-01T10:00:00Z"},
        "*": {"sunset": "2030-01-01T00:00:00Z", "link": "https://example.com/a?b=c&d=%20#e"},
    }
    assert f"  * deprecations = {json.dumps(shown)}" in cli("plugins", "show", plugin)


@pytest.mark.parametrize("plugin", PLUGINS)
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("not json", "Give a JSON object"),
        ('["query"]', "Give a JSON object"),
        ('{"cookie": {"deprecation": "2026-01-01"}}', "'cookie': not a form; use one of basic"),
        ('{"query": "2026-01-01"}', "'query': give an object"),
        ('{"query": {}}', "'query': give a deprecation date, a sunset date or both"),
        ('{"query": {"link": "https://x.test"}}', "give a deprecation date, a sunset date"),
        ('{"query": {"deprecation": "2026-13-01"}}', "deprecation '2026-13-01' is not a date"),
        ('{"query": {"deprecation": 20260101}}', "deprecation 20260101 is not a date"),
        ('{"query": {"sunset": "soon"}}', "sunset 'soon' is not a date"),
        ('{"query": {"sunset": "1969-12-31"}}', "sunset '1969-12-31' is before 1970"),
        (
            '{"query": {"deprecation": "2026-07-01", "sunset": "2026-01-01"}}',
            "'query': sunset 2026-01-01T00:00:00Z is before deprecation 2026-07-01T00:00:00Z",
        ),
        ('{"query": {"deprecation": "2026-01-01", "until": "x"}}', "unknown keys ['until']"),
        (
            '{"query": {"deprecation": "2026-01-01", "link": "ftp://x.test"}}',
            "link 'ftp://x.test' is not an http(s) URL",
        ),
        (
            '{"query": {"deprecation": "2026-01-01", "link": "https://x.test/>; rel=x"}}',
            "is not an http(s) URL",
        ),
        (
            '{"query": {"deprecation": "2026-01-01", "link": "https://x.test/\\u00e9"}}',
            "is not an http(s) URL",
        ),
    ],
    ids=[
        "not-json",
        "not-an-object",
        "unknown-form",
        "notice-not-an-object",
        "no-date",
        "link-only",
        "bad-month",
        "a-number",
        "not-a-date",
        "before-1970",
        "sunset-before-deprecation",
        "unknown-key",
        "not-http",
        "header-injection",
        "not-ascii",
    ],
)
def test_a_bad_notice_is_refused_and_nothing_is_stored(cli, plugin, value, reason) -> None:
    out = cli("plugins", "set", plugin, f"deprecations={value}", expect_ok=False)
    assert out.startswith(f"Error: Invalid params for plugin '{plugin}': deprecations: "), out
    assert reason in out and "nothing was stored" in out, out
    assert len(out.splitlines()) == 1
    assert "    deprecations = {}" in cli("plugins", "show", plugin).splitlines()


def test_the_header_values() -> None:
    notices = Deprecations().deserialize(
        {
            "query": {
                "deprecation": "2026-01-01T00:00:00",
                "sunset": "2026-07-01",
                "link": "https://example.com/move",
            },
            "json": {"deprecation": "2026-03-01T08:00:00-05:00"},
            "header": {"sunset": "2026-07-01", "link": "https://example.com/s"},
        }
    )
    assert isinstance(notices, DeprecationNotices)
    assert notices.headers_for("query", None) == (
        ("Deprecation", "@1767225600"),  # RFC 9745: @ and epoch seconds
        ("Sunset", "Wed, 01 Jul 2026 00:00:00 GMT"),  # RFC 8594: an HTTP-date
        (
            "Link",
            '<https://example.com/move>; rel="deprecation", '
            '<https://example.com/move>; rel="sunset"',
        ),
    )
    assert notices.headers_for("json", None) == (("Deprecation", "@1772370000"),)
    assert notices.headers_for(None, "header") == (
        ("Sunset", "Wed, 01 Jul 2026 00:00:00 GMT"),
        ("Link", '<https://example.com/s>; rel="sunset"'),
    )
    assert notices.headers_for("basic", "body") == ()  # no notice for those, and no *
    assert notices.headers_for("json", "header") == (("Deprecation", "@1772370000"),)
