"""The per-worker stores' own rules (the request tests use them everywhere else)."""

from __future__ import annotations

from flask import Flask

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
