"""bshaffer's words belong to the redCORE dialect: the engine raises facts, render.py words them.

Read off the engine's source: every error it raises carries a reason and no words, each
(code, reason) it raises has its wording in ``render.ERRORS``, and no bshaffer phrase is
left anywhere in the engine.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from emulator.oauth import errors
from emulator.oauth.errors import OAuthError
from plugins.oauth2 import render
from tests.support.imports import ROOT
from tests.support.imports import sources

ENGINE = sources("emulator/oauth")
ERROR_CLASSES = {
    name: obj
    for name, obj in vars(errors).items()
    if isinstance(obj, type) and issubclass(obj, OAuthError)
}
# Facts the engine gives with the errors whose wording is made from them; each wording is
# tried with every combination below.
SAMPLE_FACTS = [
    {"grant_type": "\x00", "parameter": "\x00", "body_allowed": True, "public_allowed": True},
    {"grant_type": "\x00", "parameter": "\x00", "body_allowed": False, "public_allowed": False},
]


def raised_errors(path: Path) -> list[tuple[str, ast.Call]]:
    """(class name, the call) of every engine error made in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ERROR_CLASSES
        ):
            found.append((node.func.id, node))
    return found


def engine_errors() -> set[tuple[str | None, str]]:
    """Every (code, reason) the engine raises."""
    keys = set()
    for path in ENGINE:
        for name, call in raised_errors(path):
            reason = next(k.value for k in call.keywords if k.arg == "reason")
            assert isinstance(reason, ast.Constant), f"{path}: {name} with a computed reason"
            keys.add((ERROR_CLASSES[name].code, reason.value))
    return keys


def bshaffer_phrases() -> set[str]:
    """The fixed parts of every wording (a fact's value splits a made one)."""
    phrases = set()
    for wording in render.ERRORS.values():
        texts = (
            [wording.description]
            if isinstance(wording.description, str)
            else [wording.description(facts) for facts in SAMPLE_FACTS]
        )
        for text in texts:
            phrases.update(part for part in text.split("\x00") if len(part.strip()) > 10)
    return phrases


@pytest.mark.parametrize("path", ENGINE, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_engine_raises_facts_not_words(path: Path) -> None:
    for name, call in raised_errors(path):
        line = f"{path.name}:{call.lineno} {name}"
        assert not call.args, f"{line}: words given"
        assert "description" not in {k.arg for k in call.keywords}, f"{line}: words given"
        assert "reason" in {k.arg for k in call.keywords}, f"{line}: no reason"


def test_the_engine_raises_errors_to_find() -> None:
    """The reading above finds what it should (a rename would make it find nothing)."""
    keys = engine_errors()
    assert ("invalid_grant", "unknown_code") in keys
    assert ("invalid_client", "wrong_secret") in keys
    assert ("insufficient_scope", "scope_not_held") in keys


def test_every_engine_error_has_its_bshaffer_wording() -> None:
    # An error without a code (TokenMissing) has no words at all: RFC 6750 §3.1.
    worded = {key for key in engine_errors() if key[0] is not None}
    missing = sorted(worded - set(render.ERRORS), key=str)
    assert not missing, f"no wording in plugins/oauth2/render.py ERRORS for {missing}"


@pytest.mark.parametrize("path", ENGINE, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_bshaffer_phrase_is_left_in_the_engine(path: Path) -> None:
    text = path.read_text()
    found = sorted(phrase for phrase in bshaffer_phrases() if phrase in text)
    assert not found, f"{path}: {found}"


def test_the_phrases_are_there_to_look_for() -> None:
    phrases = bshaffer_phrases()
    assert "Authorization code doesn't exist or is invalid for the client" in phrases
    assert " doesn't exist or is invalid for the client" in phrases  # made from grant_type
    assert "Client credentials were not found in the headers or body" in phrases


@pytest.mark.parametrize(
    ("error", "wire"),
    [
        (
            errors.InvalidGrant(reason="other_client", grant_type="authorization_code"),
            ("invalid_grant", "authorization_code doesn't exist or is invalid for the client"),
        ),
        (
            errors.InvalidGrant(reason="redirect_uri_mismatch"),
            ("redirect_uri_mismatch", "The redirect URI is missing or do not match"),
        ),
        (
            errors.InvalidRequest(reason="missing", parameter="code"),
            ("invalid_request", 'Missing parameter: "code" is required'),
        ),
        (
            errors.InvalidClient(reason="secret_required", public_allowed=False),
            ("invalid_client", "client credentials are required"),
        ),
        (
            errors.InvalidClient(reason="missing", body_allowed=False),
            ("invalid_client", "Client credentials were not found in the headers"),
        ),
        (
            errors.UnsupportedGrantType(reason="unknown_grant", grant_type="x y"),
            ("unsupported_grant_type", 'Grant type "x y" not supported'),
        ),
        (  # a dialect's own words go out as they are
            errors.InvalidRequest('The parameter "code" must be a single value', reason="array"),
            ("invalid_request", 'The parameter "code" must be a single value'),
        ),
        (  # an error no wording knows is never a 500
            errors.InvalidGrant(reason="something_new"),
            ("invalid_grant", "invalid_grant"),
        ),
    ],
    ids=[
        "other-client",
        "redirect-mismatch",
        "missing-code",
        "secret-required",
        "headers-only",
        "unknown-grant",
        "own-words",
        "unknown-reason",
    ],
)
def test_wording(error: OAuthError, wire: tuple[str, str]) -> None:
    assert render.wording(error)[:2] == wire
