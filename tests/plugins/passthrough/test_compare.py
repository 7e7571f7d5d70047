"""Comparing two answers with compat's masks (pure functions: no app, no database)."""

from __future__ import annotations

import json

import pytest

from plugins.passthrough.compare import Asked
from plugins.passthrough.compare import Side
from plugins.passthrough.compare import compare
from plugins.passthrough.compare import mask_text

ASKED = Asked(
    method="POST",
    path="/index.php",
    query_string=b"option=token&api=oauth2&client_secret=s3cret",
    content_type="application/x-www-form-urlencoded",
    body=b"grant_type=client_credentials&client_id=shop&client_secret=s3cret",
)
JSON = (("Content-Type", "application/json"), ("Cache-Control", "no-store"))
A_HEX = "a" * 39 + "b"
B_HEX = "0123456789abcdef0123456789abcdef01234567"


def token_body(
    access: str, refresh: str, expires: str = '"3600"', when: str = "2026-01-01"
) -> bytes:
    return (
        f'{{"access_token":"{access}","expires_in":{expires},"token_type":"Bearer",'
        f'"scope":"read","refresh_token":"{refresh}","expireTimeFormatted":"{when} 10:00:00",'
        f'"created":"{when} 09:00:00"}}'
    ).encode()


def answer(body: bytes, status: int = 200, headers: tuple = JSON) -> Side:
    return Side(status=status, headers=headers, body=body)


def test_two_right_token_answers_match() -> None:
    """Other tokens, other times, an expires_in a second further down: the same answer."""
    ours = answer(token_body(A_HEX, B_HEX))
    theirs = answer(token_body(B_HEX, A_HEX, expires='"3599"', when="2025-06-30"))
    assert compare(ASKED, ours, theirs) is None


def test_apigee_tokens_and_epoch_milliseconds_are_masked() -> None:
    ours = b'{\n  "issued_at" : "1795335745733",\n  "access_token" : "' + b"A" * 28 + b'"\n}'
    theirs = b'{\n  "issued_at" : "1700000000000",\n  "access_token" : "' + b"z9" * 14 + b'"\n}'
    assert compare(ASKED, answer(ours), answer(theirs)) is None


@pytest.mark.parametrize(
    ("theirs", "aspect"),
    [
        (token_body(B_HEX, A_HEX, expires='"7200"'), "body $.expires_in"),
        (token_body(B_HEX, A_HEX, expires="3600"), "body $.expires_in"),
        (token_body(B_HEX, "Z" * 28), "body $.refresh_token"),
        (
            token_body(A_HEX, B_HEX).replace(b'"scope":"read",', b"") + b"",
            "body $.scope",
        ),
        (
            token_body(A_HEX, B_HEX).replace(b'"token_type":"Bearer",', b"")[:-1]
            + b',"token_type":"Bearer"}',
            "body bytes (same JSON: spacing, key order or escaping)",
        ),
        (token_body(A_HEX, B_HEX).replace(b'",', b'", '), "body bytes"),
    ],
    ids=[
        "other-lifetime",
        "number-not-string",
        "token-of-another-shape",
        "missing-field",
        "key-order",
        "spacing",
    ],
)
def test_body_differences_are_found(theirs: bytes, aspect: str) -> None:
    found = compare(ASKED, answer(token_body(A_HEX, B_HEX)), answer(theirs))
    assert found is not None
    assert found.kind.startswith("POST /index.php?api=oauth2&option=token: ")
    assert aspect in found.kind


def test_php_escaping_is_part_of_the_bytes() -> None:
    ours = answer(b'{"error_uri":"http:\\/\\/tools.ietf.org\\/html\\/rfc6749"}')
    theirs = answer(b'{"error_uri":"http://tools.ietf.org/html/rfc6749"}')
    found = compare(ASKED, ours, theirs)
    assert found is not None and "same JSON" in found.kind


@pytest.mark.parametrize(
    ("ours", "theirs", "differs"),
    [
        ((("Content-Type", "application/json"),), (("content-type", "Application/JSON"),), False),
        ((("Content-Type", "application/json"),), (("Content-Type", "text/html"),), True),
        ((), (("WWW-Authenticate", 'Bearer realm="Service"'),), True),
        ((("Allow", "POST"),), (("Allow", "POST"),), False),
        ((("Location", "/a?access_token=" + A_HEX),), (("Location", "/a?access_token=x"),), True),
        ((("Pragma", "no-cache"),), (), False),  # not a key header
    ],
    ids=[
        "content-type-any-case",
        "content-type-differs",
        "challenge-only-theirs",
        "allow-same",
        "location-token-shape",
        "other-headers-not-compared",
    ],
)
def test_key_headers(ours, theirs, differs) -> None:
    found = compare(ASKED, answer(b"{}", headers=ours), answer(b"{}", headers=theirs))
    assert (found is not None) == differs


def test_a_status_difference_and_its_masked_example() -> None:
    ours = answer(token_body(A_HEX, B_HEX))
    theirs = answer(
        b'{"error":"invalid_client","error_description":"The client credentials are invalid"}',
        status=400,
    )
    found = compare(ASKED, ours, theirs)
    assert found is not None
    assert found.kind == (
        "POST /index.php?api=oauth2&option=token: status 200 vs 400; "
        "body $.access_token, $.created, $.error, $.error_description, $.expireTimeFormatted, ..."
    )
    kept = json.dumps(found.example)
    assert "s3cret" not in kept and A_HEX not in kept and B_HEX not in kept
    assert found.example["request"]["query"] == [
        ["option", "token"],
        ["api", "oauth2"],
        ["client_secret", "<masked>"],
    ]
    assert ["client_secret", "<masked>"] in found.example["request"]["body"]
    assert found.example["ours"]["body"].startswith('{"access_token":"<hex40>","expires_in"')
    assert found.example["theirs"]["status"] == 400


FORM = "application/x-www-form-urlencoded"
# A secret under a name PHP reads as client_secret (issue 20): each one authenticates.
PHP_NAMED = [
    ("dot", FORM, b"client.secret=s3cret"),
    ("leading-space", FORM, b"%20client_secret=s3cret"),
    ("leading-plus", FORM, b"+client_secret=s3cret"),
    ("space", FORM, b"client%20secret=s3cret"),
    ("plus", FORM, b"client+secret=s3cret"),
    ("encoded-dot", FORM, b"client%2Esecret=s3cret"),
    ("array", FORM, b"client_secret[]=s3cret"),
    ("nul", FORM, b"client_secret%00x=s3cret"),
    ("unclosed-bracket", FORM, b"client[secret=s3cret"),
    ("upper-case", FORM, b"Client_Secret=s3cret"),
    ("json-escaped-key", "application/json", b'{"client\\u005fsecret":"s3cret"}'),
    ("json-escaped-nested", "application/json", b'{"a":{"\\u0070assword":["s3cret"]}}'),
    ("json-number", "application/json", b'{"client_secret":20101042}'),
    ("json-duplicate", "application/json", b'{"client_secret":"s3cret","client_secret":"x"}'),
    ("not-json", "application/json", b'{"client\\u005fsecret":"s3cret",'),
]


@pytest.mark.parametrize(
    ("content_type", "body"), [c[1:] for c in PHP_NAMED], ids=[c[0] for c in PHP_NAMED]
)
def test_a_secret_under_a_name_php_rewrites_is_masked(content_type, body) -> None:
    for asked in (
        Asked("POST", "/index.php", b"option=token&api=oauth2", content_type, body),
        Asked("GET", "/index.php", body, None, b""),  # the same names in the query
    ):
        if content_type != FORM and not asked.body:
            continue
        found = compare(asked, answer(b"{}"), answer(b"{}", status=400))
        assert found is not None
        kept = json.dumps(found.example)
        assert "s3cret" not in kept and "20101042" not in kept, kept


def test_a_json_body_is_kept_decoded_and_masked() -> None:
    asked = Asked(
        "POST",
        "/index.php",
        b"",
        "application/json",
        b'{"client_id":"shop","client\\u005fsecret":"s3cret","n":[1,"a"]}',
    )
    found = compare(asked, answer(b"{}"), answer(b"{}", status=400))
    assert found is not None
    assert found.example["request"]["body"] == (
        '{"client_id":"shop","client_secret":"<masked>","n":[1,"a"]}'
    )


def test_a_streamed_answer_of_ours_is_compared_without_its_body() -> None:
    ours = Side(status=200, headers=JSON, body=None)
    assert compare(ASKED, ours, answer(b"anything")) is None


def test_their_body_not_read_whole_differs() -> None:
    found = compare(ASKED, answer(b"{}"), Side(status=200, headers=JSON, body=None))
    assert found is not None and found.kind.endswith(": body")


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("refresh_token=" + A_HEX + "&x=1", "refresh_token=<hex40>&x=1"),
        ('{"client_secret" : "201010425"}', '{"client_secret" : "<masked>"}'),
        ('{"Access_Token":"' + "q" * 32 + '"}', '{"Access_Token":"<token32>"}'),
        ("password=hunter2 code=abc", "password=<masked> code=<masked>"),
        ("at 2026-11-22 08:49:42 UTC", "at <datetime> UTC"),
        ('"issued_at":1795335745733', '"issued_at":<epoch-ms>'),
        ('"token_type":"Bearer"', '"token_type":"Bearer"'),
        ("Location: /cb?client.secret=abc&x=1", "Location: /cb?client.secret=<masked>&x=1"),
        ("a=1&%20client%2Esecret=abc", "a=1&%20client%2Esecret=<masked>"),
        ("+client+secret=abc", "+client+secret=<masked>"),
        ("errorcode=abc", "errorcode=abc"),
    ],
    ids=[
        "query-token",
        "json-secret",
        "json-token-any-case",
        "text-secrets",
        "time",
        "epoch",
        "kept",
        "php-name-dot",
        "php-name-encoded",
        "php-name-plus",
        "not-a-name",
    ],
)
def test_mask_text(text, masked) -> None:
    assert mask_text(text) == masked
