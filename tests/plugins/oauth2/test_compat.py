"""The captured redCORE cases, both files, replayed in capture order against both modes.

State carries over from case to case (a refresh token used once is gone), so the cases
share one app and database per backend, seeded once (scopes, clients and site users,
through the CLI), as compat/README.md prescribes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from emulator.ops.clock import utcnow
from emulator.storage.database import db
from tests.support.app import empty_database
from tests.support.app import make_app

from .compat import CASE_FILES
from .compat import LOCAL
from .compat import SHARED
from .compat import check_response
from .compat import load_all_cases
from .compat import substitute

CASES = load_all_cases()


class Replay:
    """The shared app of one replay, with what earlier cases captured."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client = app.test_client()
        self.runner: FlaskCliRunner = app.test_cli_runner()
        self.captures: dict[str, str] = {}

    def cli(self, *args: str, stdin: str | None = None) -> None:
        result = self.runner.invoke(args=list(args), input=stdin)
        assert result.exit_code == 0, f"{args}: {result.output}"

    def seed(self, seed: dict[str, Any]) -> None:
        for scope in seed["scopes"]:
            self.cli("scopes", "add", scope["scope"], *(["--default"] if scope["default"] else []))
        for c in seed["clients"]:
            args = ["clients", "create", c["client_id"], "--redirect-uri", c["redirect_uri"]]
            args += ["--public"] if c.get("public") else ["--secret", c["secret"]]
            for flag, key in (
                ("--scope", "scope"),
                ("--grant-types", "grant_types"),
                ("--user-id", "user_id"),
            ):
                if c[key] is not None:
                    args += [flag, c[key]]
            self.cli(*args)
        for u in seed["users"]:
            args = ["users", "create", u["username"], "--password-stdin", "--id", str(u["id"])]
            args += ["--name", u["name"], "--email", u["email"]]
            for title in u["groups"]:
                args += ["--group", title]
            self.cli(*args, stdin=u["password"] + "\n")

    def set_mode(self, mode: str) -> None:
        params = CASES["modes"][mode]
        self.cli("plugins", "set", "oauth2", *(f"{k}={str(v).lower()}" for k, v in params.items()))

    def apply_setup(self, step: dict[str, Any]) -> None:
        if "set_default_scopes" in step:
            self.cli("scopes", "default", *step["set_default_scopes"])
        elif "import_token" in step:
            t = step["import_token"]
            expires = utcnow() + timedelta(seconds=t["expires_in"])
            args = [
                "tokens",
                "import",
                "--type",
                t["type"],
                "--token",
                t["token"],
                "--client-id",
                t["client_id"],
                "--expires",
                f"{expires:%Y-%m-%d %H:%M:%S}",
            ]
            if t["scope"] is not None:
                args += ["--scope", t["scope"]]
            if t["user_id"] is not None:
                args += ["--user-id", t["user_id"]]
            self.cli(*args)
        elif "import_code" in step:
            c = step["import_code"]
            expires = utcnow() + timedelta(seconds=c["expires_in"])
            args = ["tokens", "import", "--type", "code", "--token", c["code"]]
            args += ["--client-id", c["client_id"], "--expires", f"{expires:%Y-%m-%d %H:%M:%S}"]
            for flag, key in (
                ("--scope", "scope"),
                ("--user-id", "user_id"),
                ("--redirect-uri", "redirect_uri"),
            ):
                if c[key] is not None:
                    args += [flag, c[key]]
            self.cli(*args)
        else:
            raise AssertionError(f"unknown setup step {step}")

    def restore_default_scopes(self) -> None:
        self.cli(
            "scopes", "default", *(s["scope"] for s in CASES["seed"]["scopes"] if s["default"])
        )

    def send(self, request: dict[str, Any]) -> Any:
        headers = [(name, substitute(value, self.captures)) for name, value in request["headers"]]
        body = request["body"]
        return self.client.open(
            substitute(request["path"], self.captures),
            method=request["method"],
            headers=headers,
            data=None if body is None else substitute(body, self.captures).encode("utf-8"),
        )


@pytest.fixture(scope="module")
def replay(database_url: str) -> Iterator[Replay]:
    app = make_app(database_url)
    empty_database(app)
    state = Replay(app)
    state.seed(CASES["seed"])
    yield state
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(
    "case", CASES["cases"], ids=[f"{c['mode']}-{c['id']}" for c in CASES["cases"]]
)
def test_case(replay: Replay, case: dict[str, Any]) -> None:
    replay.set_mode(case["mode"])
    setup = case.get("setup", [])
    for step in setup:
        replay.apply_setup(step)
    try:
        response = replay.send(case["request"])
    finally:
        if any("set_default_scopes" in step for step in setup):
            replay.restore_default_scopes()
    for name, field in case.get("capture", {}).items():
        replay.captures[name] = response.get_json()[field]
    problems = check_response(case, response)
    assert not problems, f"{case['title']}: " + "; ".join(problems)


@pytest.mark.parametrize("name", CASE_FILES)
def test_local_copy_matches_shared(name: str) -> None:
    """tests/data keeps a copy for a clone without shared/; it must not drift."""
    if not (SHARED / name).exists():
        pytest.skip("shared/ is not beside this clone; the local copy is what runs")
    assert json.loads((LOCAL / name).read_text()) == json.loads((SHARED / name).read_text())
