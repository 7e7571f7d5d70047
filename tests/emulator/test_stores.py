"""The per-worker stores' own rules (the request tests use them everywhere else)."""

from __future__ import annotations

from emulator.stores import Derived


def test_derived_is_made_once_per_source_object() -> None:
    made: list[dict[str, int]] = []

    def derive(params: dict[str, int]) -> int:
        made.append(params)
        return params["a"] * 2

    policy = Derived(derive)
    first = {"a": 1}
    assert (policy(first), policy(first)) == (2, 2)
    equal = {"a": 1}  # the registry read the params again: another object, made again
    assert policy(equal) == 2
    assert policy({"a": 5}) == 10
    assert made == [first, equal, {"a": 5}]
