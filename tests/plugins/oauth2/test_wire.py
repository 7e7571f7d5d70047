"""The redCORE dialect's request reading, unit by unit (the HTTP tests cover the rest)."""

from __future__ import annotations

import pytest

from plugins.oauth2 import wire


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Basic c2hvcDpzZWNyZXQ=", ("shop", "secret")),
        ("basic c2hvcDpzZWNyZXQ", ("shop", "secret")),  # no padding
        ("Basic c2hv cDpz\nZWNy ZXQ=", ("shop", "secret")),  # spaces and breaks dropped
        ("Basic =c2hvcDpzZWNyZXQ=", ("shop", "secret")),  # "=" is dropped wherever it is
        ("Basic c2hvcDpzZWNyZXQ=Zg", ("shop", "secret\x19")),  # and reading goes on past it
        ("Basic c2hvcDpzZWNyZXQxA", ("shop", "secret1")),  # a last lone character is cut
        ("Basic c2hvcDpzZWNyZXQAeHl6", ("shop", "secret")),  # the secret ends at a NUL
        ("Basic c2hvcA==", None),  # no colon: no credentials
        ("Basic !!!", None),
        ("Bearer c2hvcDpzZWNyZXQ=", None),
    ],
    ids=[
        "canonical",
        "unpadded",
        "whitespace",
        "leading-padding",
        "inner-padding",
        "lone-character",
        "nul",
        "no-colon",
        "no-base64",
        "other-scheme",
    ],
)
def test_basic_credentials_read_base64_as_php_did(header, expected) -> None:
    """PHP's lenient base64: well-formed headers and odd ones read alike."""
    found = wire.basic_credentials(header)
    assert (None if found is None else (found.client_id, found.client_secret)) == expected
