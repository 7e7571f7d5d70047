"""The import rules of STYLE.md 7.1, enforced."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_engine_is_framework_free_and_dialect_neutral() -> None:
    allowed_project = ("emulator.oauth", "emulator.db", "emulator.models")
    for path in (ROOT / "emulator" / "oauth").rglob("*.py"):
        for module in imported_modules(path):
            top = module.split(".")[0]
            assert top not in ("flask", "plugins", "app"), f"{path}: imports {module}"
            if top == "emulator":
                assert module.startswith(allowed_project), f"{path}: imports {module}"


def test_host_never_imports_a_specific_plugin() -> None:
    for path in (ROOT / "emulator").rglob("*.py"):
        for module in imported_modules(path):
            assert not module.startswith("plugins."), f"{path}: imports {module}"
            assert module != "app", f"{path}: imports app"


def test_plugins_do_not_import_each_other_or_the_app() -> None:
    for plugin_dir in (
        p for p in (ROOT / "plugins").iterdir() if p.is_dir() and p.name != "__pycache__"
    ):
        for path in plugin_dir.rglob("*.py"):
            for module in imported_modules(path):
                assert module != "app", f"{path}: imports app"
                if module.startswith("plugins."):
                    assert module.startswith(f"plugins.{plugin_dir.name}"), (
                        f"{path}: imports {module}"
                    )
