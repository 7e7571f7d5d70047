"""Reading and checking the captured redCORE cases (``shared/compat/redcore-cases.json``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO.parent / "shared" / "compat"
LOCAL = REPO / "tests" / "data"
CASE_FILES = ("redcore-cases.json", "redcore-user-cases.json")
# Kept for the names tests and tools import.
SHARED_CASES = SHARED / CASE_FILES[0]
LOCAL_CASES = LOCAL / CASE_FILES[0]

PLACEHOLDERS = {
    re.escape("<hex40>"): "[0-9a-f]{40}",
    re.escape("<datetime>"): r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d",
    re.escape("<int>"): "-?[0-9]+",
}
CAPTURED = re.compile(r"<([A-Za-z_][A-Za-z0-9_]*)(\|upper)?>")


def load_cases(name: str = CASE_FILES[0]) -> dict[str, Any]:
    """A case file: shared/ when it is beside the repo, else the copy in tests/data."""
    path = SHARED / name if (SHARED / name).exists() else LOCAL / name
    return json.loads(path.read_text())


def load_all_cases() -> dict[str, Any]:
    """Both case files as one: the token cases' seed and modes, and every case of both in
    the order the original was captured in (``seq``): they share state (compat/README.md)."""
    files = [load_cases(name) for name in CASE_FILES]
    for name, loaded in zip(CASE_FILES, files, strict=True):
        for case in loaded["cases"]:
            case["file"] = name
    merged = dict(files[0])
    merged["seed"] = {**files[0]["seed"], **files[1]["seed"]}
    merged["cases"] = sorted((c for f in files for c in f["cases"]), key=lambda c: c["seq"])
    return merged


def substitute(text: str, captures: dict[str, str]) -> str:
    """Replace ``<NAME>`` / ``<NAME|upper>`` with values captured by earlier cases."""

    def value(match: re.Match[str]) -> str:
        name, upper = match.group(1), match.group(2)
        if name in ("hex40", "datetime", "int"):
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
