"""The dispatcher reads ``option`` like every other parameter: PHP's rules."""

from __future__ import annotations

import json


def test_repeated_option_takes_the_last_value(client) -> None:
    rv = client.get("/index.php?api=oauth2&option=resource&option=nosuch")
    assert (rv.status_code, rv.data) == (200, b"")  # the unknown operation, not resource
    rv = client.get("/index.php?api=oauth2&option=nosuch&option=resource")
    assert (rv.status_code, rv.data) == (401, b"[]")  # resource without a token


def test_an_array_option_names_no_operation(client) -> None:
    rv = client.get("/index.php?api=oauth2&option[]=token")
    assert rv.status_code == 500
    assert json.loads(rv.data)["message"].startswith("OAuth2 operation name is empty")
