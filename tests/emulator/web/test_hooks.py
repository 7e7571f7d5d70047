"""The dispatcher's request hooks (emulator/web/plugin.py): fallback and observe.

Seen through small plugins added to the app's registry for the test (enabled on install, so
they need no row): which requests a fallback gets, in which order, how its answers and
errors go out, and what an observer is told and cannot change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from flask import Flask
from flask import Response
from flask import request
from marshmallow import Schema

from emulator.web.errors import HostError
from emulator.web.plugin import Exchange
from emulator.web.plugin import Plugin
from emulator.web.registry import registry_of

TOKEN_URL = "/index.php?option=token&api=oauth2"


class NoParams(Schema):
    pass


class Refused(HostError):
    status = 502


@pytest.fixture
def add_plugin(app: Flask) -> Callable[..., Plugin]:
    """Put a plugin into this app's registry (enabled, no params)."""

    def add(name: str, **hooks: object) -> Plugin:
        plugin = Plugin(
            name=name, title=name, version="1", params=NoParams, enabled_on_install=True, **hooks
        )
        registry_of(app).plugins[name] = plugin
        return plugin

    return add


def answer(text: str) -> Callable[..., Response]:
    return lambda _params: Response(f"{text} {request.method} {request.full_path}")


def test_the_first_enabled_fallback_by_name_takes_what_no_plugin_answers(
    client, cli, add_plugin
) -> None:
    add_plugin("zz_second", fallback=answer("second"))
    add_plugin("aa_first", fallback=answer("first"))
    cases = {
        "/index.php?option=com_content": "first GET /index.php?option=com_content",
        "/index.php?option=authorise&api=oauth2": (
            "first GET /index.php?option=authorise&api=oauth2"
        ),
        "/images/x.png": "first GET /images/x.png?",
    }
    for url, expected in cases.items():
        rv = client.get(url)
        assert (rv.status_code, rv.get_data(as_text=True)) == (200, expected)
        assert "Content-Security-Policy" not in rv.headers  # another site's answer, as is
    cli("plugins", "disable", "aa_first")
    assert client.get("/images/x.png").get_data(as_text=True) == "second GET /images/x.png?"


def test_a_fallbacks_error_is_rendered_by_it_with_our_headers(client, add_plugin) -> None:
    def refuse(_params):
        raise Refused("no")

    add_plugin(
        "aa_refusing",
        fallback=refuse,
        render_error=lambda err, op, params: Response(f"refused: {err}", status=err.status),
    )
    rv = client.get("/images/x.png")
    assert (rv.status_code, rv.data) == (502, b"refused: no")
    assert rv.headers["X-Content-Type-Options"] == "nosniff"


def test_an_observer_is_told_of_answers_not_of_forwards(client, add_plugin, make_client) -> None:
    seen: list[Exchange] = []
    add_plugin("aa_watch", observe=lambda exchange, params: seen.append(exchange))
    add_plugin("aa_fallback", fallback=answer("forwarded"))
    cid, secret = make_client("watched", secret="w-secret")
    rv = client.post(
        TOKEN_URL,
        data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret},
        headers={"X-Custom": "1"},
    )
    client.get("/index.php?option=com_content")  # forwarded: not a plugin's answer
    [exchange] = seen
    assert exchange.plugin == "oauth2"
    assert (exchange.method, exchange.path, exchange.query_string) == (
        "POST",
        "/index.php",
        b"option=token&api=oauth2",
    )
    assert (
        exchange.body
        == f"grant_type=client_credentials&client_id={cid}&client_secret={secret}".encode()
    )
    assert ("X-Custom", "1") in exchange.headers
    assert (exchange.client, exchange.host, exchange.scheme) == ("127.0.0.1", "localhost", "http")
    assert exchange.status == 200 and exchange.response_body == rv.data
    assert ("Cache-Control", "no-store") in exchange.response_headers


def test_an_observer_sees_a_plugins_error_answer_too(client, add_plugin) -> None:
    seen: list[Exchange] = []
    add_plugin("aa_watch", observe=lambda exchange, params: seen.append(exchange))
    rv = client.get(TOKEN_URL)  # oauth2's 405 in its dialect
    assert [(e.status, e.response_body) for e in seen] == [(405, rv.data)]


def test_an_observer_that_fails_never_changes_the_answer(client, add_plugin, caplog) -> None:
    before = client.get("/index.php?option=resource&api=oauth2")

    def boom(exchange, params):
        raise RuntimeError("observer bug")

    add_plugin("aa_broken", observe=boom)
    with caplog.at_level(logging.ERROR, logger="emulator.web.dispatch"):
        after = client.get("/index.php?option=resource&api=oauth2")
    assert (after.status_code, after.headers, after.data) == (
        before.status_code,
        before.headers,
        before.data,
    )
    assert "an observer failed on GET /index.php" in caplog.text


def test_a_body_longer_than_the_snapshot_limit_is_not_in_the_exchange(client, add_plugin) -> None:
    seen: list[Exchange] = []
    add_plugin("aa_watch", observe=lambda exchange, params: seen.append(exchange))
    client.post(TOKEN_URL, data={"pad": "x" * 70_000})
    client.get(TOKEN_URL)
    assert [e.body for e in seen] == [None, b""]
