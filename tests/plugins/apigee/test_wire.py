"""The Apigee dialect's request reading, unit by unit (the HTTP tests cover the rest)."""

from __future__ import annotations

import pytest
from flask import Flask
from flask import request

from plugins.apigee import wire


@pytest.mark.parametrize(
    "query",
    [
        "grant_type=client_credentials",
        "a=1&grant_type=refresh_token&grant_type=client_credentials",
        "grant_type",
        "grant_type=&x=1",
        "&&grant_type=a=b&",
        "x=1",
        "",
        "grant%5Ftype=encoded",
        "grant_type=a+b",
        "grant_type=%C3%A9&grant_type=x",
        "grant_type=%ff",
    ],
    ids=[
        "plain",
        "first-wins",
        "no-value",
        "empty-value",
        "odd-separators",
        "absent",
        "empty",
        "encoded-name",
        "plus",
        "encoded-value",
        "invalid-utf8",
    ],
)
def test_query_param_is_what_werkzeug_parses(query: str) -> None:
    """Queries with nothing to decode are searched as text, the others parsed by werkzeug:
    both give request.args' first value."""
    with Flask(__name__).test_request_context(f"/oauth/accesstoken?{query}"):
        assert wire.query_param("grant_type") == request.args.get("grant_type")
