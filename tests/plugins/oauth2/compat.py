"""Reading and checking the captured redCORE cases (``shared/compat/redcore-cases.json``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
SHARED_CASES = REPO.parent / "shared" / "compat" / "redcore-cases.json"
LOCAL_CASES = REPO / "tests" / "data" / "redcore-cases.json"

PLACEHOLDERS = {
    re.escape("<hex40>"): "[0-9a-f]{40}",
    re.escape("<datetime>"): r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d",
}
CAPTURED = re.compile(r"<([A-Za-z_][A-Za-z0-9_]*)(\|upper)?>")


def load_cases() -> dict[str, Any]:
    """The case file: shared/ when it is beside the repo, else the copy in tests/data."""
    path = SHARED_CASES if SHARED_CASES.exists() else LOCAL_CASES
    return json.loads(path.read_text())


def substitute(text: str, captures: dict[str, str]) -> str:
    """Replace ``<NAME>`` / ``<NAME|upper>`` with values captured by earlier cases."""

    def value(match: re.Match[str]) -> str:
        name, upper = match.group(1), match.group(2)
        if name in ("hex40", "datetime"):
            return match.group(0)
        captured = captures[name]
        return captured.upper() if upper else captured

    return CAPTURED.sub(value, text)


def body_pattern(expected: str) -> re.Pattern[str]:
    """The expected body as a regex: exact bytes except the placeholders."""
    pattern = re.escape(expected)
    for placeholder, regex in PLACEHOLDERS.items():
        pattern = pattern.replace(placeholder, regex)
    return re.compile(pattern)


def check_response(case: dict[str, Any], response: Any) -> list[str]:
    """Every way ``response`` differs from the case's expectation (empty when it matches)."""
    expect = case["expect"]
    problems = []
    if response.status_code != expect["status"]:
        problems.append(f"status {response.status_code} != {expect['status']}")
    listed = {name.lower(): value for name, value in expect["headers"].items()}
    for name, value in listed.items():
        got = response.headers.get(name)
        same = got is not None and (
            got.lower() == value.lower() if name == "content-type" else got == value
        )
        if not same:
            problems.append(f"header {name}: {got!r} != {value!r}")
    # ... nor one the original never sent (a session read adds `Vary: Cookie`).
    for name in ("www-authenticate", "allow", "pragma", "vary", "set-cookie"):
        if name not in listed and name in response.headers:
            problems.append(f"unexpected header {name}: {response.headers[name]!r}")
    body = response.get_data(as_text=True)
    if not body_pattern(expect["body"]).fullmatch(body):
        problems.append(f"body {body!r} != {expect['body']!r}")
    return problems
