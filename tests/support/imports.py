"""Reading the tree's imports: the import rules' tests (tests/emulator/test_boundaries.py)
and the tests' own layout (tests/test_layout.py)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ("app", "config", "emulator", "plugins", "tests", "bench")


def module_name(path: Path) -> str:
    """The dotted name of a source file under ROOT."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, relative imports resolved to absolute names."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                parent = ".".join(base)
                if node.module:
                    names.add(f"{parent}.{node.module}")
                else:  # from . import a, b: each is a module of the package
                    names.update(f"{parent}.{alias.name}" for alias in node.names)
            else:
                assert node.module is not None
                package_dir = ROOT.joinpath(*node.module.split("."))
                if node.module.split(".")[0] in PROJECT and package_dir.is_dir():
                    # from emulator import oauth: a module of the package; from
                    # emulator.oauth import ClientStore: a name of the package itself
                    for alias in node.names:
                        is_module = (package_dir / f"{alias.name}.py").exists() or (
                            package_dir / alias.name
                        ).is_dir()
                        names.add(f"{node.module}.{alias.name}" if is_module else node.module)
                else:
                    names.add(node.module)
    return names


def sources(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))
