"""The import rules of STYLE.md 7.1, enforced on every module, relative imports included."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.imports import PROJECT
from tests.support.imports import ROOT
from tests.support.imports import imported_modules
from tests.support.imports import sources

# The engine: the stdlib, SQLAlchemy, and the framework-free part of storage (not its
# Flask binding, emulator.storage.database); nothing of Flask.
ENGINE_PROJECT = (
    "emulator.oauth",
    "emulator.storage.schema",
    "emulator.storage.models",
    "emulator.storage.sqlite",
    "emulator.storage.prepared",
    "emulator.storage.purge",
    "emulator.storage.cache",
)
ENGINE_THIRD_PARTY = ("sqlalchemy", "marshmallow", "argon2")
# What a plugin may import of the project: the host's front door and the engine's public
# API. Never the app, another plugin, or the host's machinery (dispatch, registry, admin).
PLUGIN_HOST_API = ("emulator.host", "emulator.oauth")
# Words of one dialect that no other part of the tree may use.
APIGEE_WORDS = re.compile(r"apigee|\bproducts?\b|developer|app_id|application_name", re.I)


def plugin_packages() -> list[Path]:
    return sorted(p for p in (ROOT / "plugins").iterdir() if (p / "__init__.py").exists())


def is_within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_relative_imports_are_resolved() -> None:
    views = ROOT / "plugins" / "oauth2" / "views.py"
    init = ROOT / "plugins" / "oauth2" / "__init__.py"
    assert {"plugins.oauth2.render", "plugins.oauth2.wire"} <= imported_modules(views)
    assert "plugins.oauth2.params" in imported_modules(init)


@pytest.mark.parametrize("path", sources("emulator/oauth"), ids=lambda p: p.name)
def test_engine_is_framework_free_and_dialect_neutral(path: Path) -> None:
    for module in imported_modules(path):
        top = module.split(".")[0]
        if top in PROJECT:
            assert is_within(module, ENGINE_PROJECT), f"{path}: imports {module}"
        else:
            assert top in sys.stdlib_module_names or top in ENGINE_THIRD_PARTY, (
                f"{path}: imports {module}"
            )
    assert "current_app" not in path.read_text(), f"{path}: mentions current_app"


@pytest.mark.parametrize("path", sources("emulator"), ids=lambda p: str(p.relative_to(ROOT)))
def test_host_never_imports_a_plugin_or_the_app(path: Path) -> None:
    for module in imported_modules(path):
        # `import plugins` (the namespace the registry discovers in) is allowed.
        assert not module.startswith("plugins."), f"{path}: imports {module}"
        assert module != "app", f"{path}: imports app"


@pytest.mark.parametrize("package", plugin_packages(), ids=lambda p: p.name)
def test_plugins_use_only_the_hosts_public_modules(package: Path) -> None:
    """The host only through its front door (``emulator.host``), the engine only through
    its public API (``emulator.oauth``, not its submodules: STYLE.md 7.1, 7.9)."""
    own = f"plugins.{package.name}"
    for path in package.rglob("*.py"):
        for module in imported_modules(path):
            if module.split(".")[0] not in PROJECT or is_within(module, (own,)):
                continue
            assert module in PLUGIN_HOST_API, f"{path}: imports {module}"


def test_importing_the_engine_loads_no_flask() -> None:
    """The engine and the storage it stands on import in a fresh interpreter without Flask."""
    probe = (
        "import sys, emulator.oauth; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'flask_sqlalchemy')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_the_front_door_exports_what_it_imports() -> None:
    """Every name ``emulator.host`` imports is in its ``__all__``, and nothing more."""
    host = importlib.import_module("emulator.host")
    tree = ast.parse((ROOT / "emulator" / "host.py").read_text())
    imported = {
        alias.asname or alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module != "__future__"
        for alias in node.names
    }
    assert imported == set(host.__all__)
    assert all(hasattr(host, name) for name in host.__all__)


@pytest.mark.parametrize(
    "path",
    [ROOT / "app.py", ROOT / "config.py", *sources("emulator", "plugins/oauth2")],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_only_the_apigee_plugin_speaks_of_apps_products_and_developers(path: Path) -> None:
    found = APIGEE_WORDS.findall(path.read_text())
    assert not found, f"{path}: {sorted(set(found))}"


def host_assets() -> list[Path]:
    """The host's templates, scripts and styles (the admin pages)."""
    return sorted(p for ext in ("html", "js", "css") for p in (ROOT / "emulator").rglob(f"*.{ext}"))


def test_the_host_has_assets_to_check() -> None:
    assert any(p.suffix == ".html" for p in host_assets())


@pytest.mark.parametrize("path", host_assets(), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_host_pages_do_not_speak_of_apps_products_and_developers(path: Path) -> None:
    """What the admin pages say of a dialect comes from its plugin's hooks, not the host."""
    found = APIGEE_WORDS.findall(path.read_text())
    assert not found, f"{path}: {sorted(set(found))}"


@pytest.mark.parametrize(
    "path",
    [
        ROOT / "emulator" / "manage" / "actions.py",
        *sources("emulator/manage/admin"),
        *host_assets(),
    ],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_the_admin_knows_a_plugins_client_marks_by_their_labels_only(path: Path) -> None:
    """The oauth2 plugin's word for its mark ("imported") comes from its ClientMark."""
    assert "imported" not in path.read_text().lower(), path
