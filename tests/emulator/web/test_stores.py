"""The per-worker stores' own rules (the request tests use them everywhere else)."""

from __future__ import annotations

from flask import Flask
from marshmallow import Schema

from emulator.web import stores
from emulator.web.plugin import Plugin
from emulator.web.stores import derived


def test_derived_is_made_once_per_source_object_and_app() -> None:
    made: list[dict[str, int]] = []

    def derive(params: dict[str, int]) -> int:
        made.append(params)
        return params["a"] * 2

    first = {"a": 1}
    with Flask("one").app_context():
        assert (derived("p", derive, first), derived("p", derive, first)) == (2, 2)
        equal = {"a": 1}  # the registry read the params again: another object, made again
        assert derived("p", derive, equal) == 2
        assert derived("p", derive, {"a": 5}) == 10
    with Flask("two").app_context():  # another app keeps its own
        assert derived("p", derive, first) == 2
    assert made == [first, equal, {"a": 5}, first]


def test_password_verifiers_are_every_installed_plugins_by_name() -> None:
    def first(password_hash: str, password: str) -> bool | None:
        return None

    def second(password_hash: str, password: str) -> bool | None:
        return None

    def made(name: str, verifier=None) -> Plugin:
        return Plugin(name=name, title=name, version="1", params=Schema, password_verifier=verifier)

    app = Flask("verifiers")
    app.config["CACHE_MAX_AGE"] = 0
    stores.init_app(app, [made("zeta", second), made("none"), made("alpha", first)])
    with app.app_context():
        assert stores.password_verifiers() == (first, second)
