"""Pages a plugin declares (emulator/web/plugin.py ``Page``): legacy URLs without ``api``
that the dispatcher gives to the first enabled plugin declaring them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask import Response
from marshmallow import Schema

from emulator.web.errors import PluginDeclarationError
from emulator.web.plugin import Page
from emulator.web.plugin import Plugin
from emulator.web.registry import registry_of


class NoParams(Schema):
    pass


def page_answer(text: str) -> Callable[..., Response]:
    return lambda _params: Response(text)


@pytest.fixture
def add_plugin(app: Flask) -> Callable[..., Plugin]:
    def add(name: str, **fields: object) -> Plugin:
        plugin = Plugin(
            name=name, title=name, version="1", params=NoParams, enabled_on_install=True, **fields
        )
        registry_of(app).plugins[name] = plugin
        return plugin

    return add


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ({"view": "login"}, "names an option"),
        ({"option": "com_x", "api": "y"}, "names an option and no api"),
        ({"option": ""}, "non-empty"),
    ],
    ids=["no-option", "with-api", "empty-value"],
)
def test_a_bad_page_is_refused_at_declaration(query, why) -> None:
    with pytest.raises(PluginDeclarationError, match=why):
        Page("p", query, page_answer("x"))


def test_a_plugin_may_not_declare_a_page_twice() -> None:
    page = Page("p", {"option": "com_x"}, page_answer("x"))
    with pytest.raises(PluginDeclarationError, match="distinct names"):
        Plugin(name="a", title="a", version="1", params=NoParams, pages=(page, page))


def test_a_page_matches_its_values_in_any_case() -> None:
    page = Page("p", {"option": "com_x", "view": "v"}, page_answer("x"))
    assert page.matches({"option": "COM_X", "view": "V", "other": "1"})
    assert not page.matches({"option": "com_x"})
    assert not page.matches({"option": ["com_x"], "view": "v"})


def test_the_first_enabled_plugin_declaring_a_page_answers_it(client, cli, add_plugin) -> None:
    query = {"option": "com_things", "view": "list"}
    add_plugin("zz_late", pages=(Page("things", query, page_answer("late")),))
    add_plugin("aa_early", pages=(Page("things", query, page_answer("early")),))
    assert client.get("/index.php?option=com_things&view=list").data == b"early"
    assert client.get("/?OPTION=com_things&view=LIST").status_code == 404  # keys are exact
    cli("plugins", "disable", "aa_early")
    assert client.get("/index.php?option=Com_Things&view=List").data == b"late"
    cli("plugins", "disable", "zz_late")
    rv = client.get("/index.php?option=com_things&view=list")
    assert rv.status_code == 404  # as before: no API was requested
    # With api= the URL is an operation's, never a page's.
    cli("plugins", "enable", "zz_late")
    assert client.get("/index.php?option=com_things&view=list&api=zz_late").status_code == 404


def test_a_page_checks_its_methods(client, add_plugin) -> None:
    page = Page("p", {"option": "com_x"}, page_answer("x"), methods=frozenset({"POST"}))
    add_plugin("aa", pages=(page,))
    assert client.post("/index.php?option=com_x").data == b"x"
    assert client.get("/index.php?option=com_x").status_code == 405


def test_observers_are_not_told_of_pages(client, add_plugin) -> None:
    """A page (a login form, its password) is no API answer for shadow mode to compare."""
    seen: list[str] = []
    add_plugin("aa", pages=(Page("p", {"option": "com_x"}, page_answer("x")),))
    add_plugin("zz", observe=lambda exchange, _params: seen.append(exchange.plugin))
    assert client.post("/index.php?option=com_x", data={"password": "p"}).data == b"x"
    assert seen == []
    client.post("/index.php?option=token&api=oauth2", data={})
    assert seen == ["oauth2"]
