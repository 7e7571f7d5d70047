"""The tests' own layout: helpers in tests/support/, fixtures in conftest files, short files.

A conftest (or a fixture module ``pytest_plugins`` names) holds fixtures and hooks only;
what tests share besides fixtures is a plain module of tests/support/ that they import.
Nothing imports from a conftest, a fixture module or another test module: pytest loads
those itself, and a test module that is also a library is hard to find one's way in.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.imports import ROOT
from tests.support.imports import imported_modules
from tests.support.imports import module_name
from tests.support.imports import sources

MAX_LINES = 900


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def checked(*folders: str) -> list[Path]:
    return sources(*folders)


def is_loaded_by_pytest(module: str) -> bool:
    """A conftest, a fixture module or a test module: pytest imports it, nobody else does."""
    last = module.rpartition(".")[2]
    return last == "conftest" or last.startswith("test_") or last.endswith("fixtures")


def is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)


def is_fixture_or_hook(node: ast.stmt) -> bool:
    if isinstance(node, ast.FunctionDef):
        return node.name.startswith("pytest_") or any(
            "pytest.fixture" in ast.unparse(decorator) for decorator in node.decorator_list
        )
    return False


def test_the_rules_see_what_they_check() -> None:
    """The checks below would pass on nothing: make sure they read the real files."""
    files = [relative(p) for p in checked("tests", "bench")]
    assert "tests/plugins/oauth2/conftest.py" in files
    assert "bench/legacy_import.py" in files
    assert "tests/emulator/manage/admin/conftest.py" in files
    assert is_loaded_by_pytest("tests.plugins.oauth2.conftest")
    assert is_loaded_by_pytest("tests.plugins.oauth2.test_usage")
    assert is_loaded_by_pytest("tests.emulator.usage_fixtures")
    assert not is_loaded_by_pytest("tests.support.oauth2")
    assert not is_loaded_by_pytest("tests.live.server")


@pytest.mark.parametrize("path", checked("tests", "bench"), ids=relative)
def test_nothing_imports_a_conftest_or_a_test_module(path: Path) -> None:
    own = module_name(path)
    wrong = sorted(
        module
        for module in imported_modules(path)
        if module.split(".")[0] == "tests" and is_loaded_by_pytest(module) and module != own
    )
    assert not wrong, f"{relative(path)} imports {wrong}: move what it needs to tests/support/"


@pytest.mark.parametrize(
    "path",
    [p for p in checked("tests") if p.name == "conftest.py" or p.stem.endswith("fixtures")],
    ids=relative,
)
def test_conftest_files_hold_fixtures_and_hooks_only(path: Path) -> None:
    tree = ast.parse(path.read_text())
    other = [
        f"line {node.lineno}: {ast.unparse(node).splitlines()[0]}"
        for node in tree.body
        if not isinstance(node, (ast.Import, ast.ImportFrom))
        and not is_docstring(node)
        and not is_fixture_or_hook(node)
        and not (isinstance(node, ast.Assign) and ast.unparse(node).startswith("pytest_plugins"))
    ]
    assert not other, f"{relative(path)}: not a fixture, move it to tests/support/: {other}"


@pytest.mark.parametrize("path", checked("tests"), ids=relative)
def test_no_file_is_over_900_lines(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{relative(path)} has {lines} lines: split it by topic"
