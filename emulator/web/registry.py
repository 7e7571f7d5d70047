"""Plugin discovery, enabled flags and validated params (one ``plugin_state`` row each).

Discovered is not enabled: a plugin without a row is as its manifest says on a new
installation (``enabled_on_install``) with its schema defaults.

Every worker re-reads a plugin's row when its copy is older than ``CACHE_MAX_AGE``
seconds (default 1), so a change made by the CLI or another worker is seen everywhere
within that time, without a restart and without a query on every request (the token
endpoint is hot). A change made through this registry is seen by this worker at once.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Callable
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import entry_points
from typing import Any

from flask import Flask
from marshmallow import RAISE
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

import plugins as plugins_package
from emulator.storage.cache import WorkerCache
from emulator.storage.models import PluginState
from emulator.storage.schema import DbHandle
from emulator.web.context import app_object as _app
from emulator.web.errors import ParamsError
from emulator.web.errors import PluginDeclarationError
from emulator.web.errors import PluginMisconfigured
from emulator.web.plugin import Plugin

ENTRY_POINT_GROUP = "emulator.plugins"
EXTENSION = "emulator.registry"
# Set while set_params validates what it is about to store (writing_params).
_WRITING: ContextVar[bool] = ContextVar("emulator_params_writing", default=False)


def writing_params() -> bool:
    """Whether params are being validated to be stored (``plugins set``, the admin pages, an
    import), not read: a validator may refuse on write what depends on where the service
    runs (the passthrough's legacy_url that is this service's own port), which a read must
    still take."""
    return _WRITING.get()


@dataclass(frozen=True)
class PluginStatus:
    """A plugin's current state: enabled flag and effective params."""

    plugin: Plugin
    enabled: bool
    params: Mapping[str, Any]
    stored: Mapping[str, Any]  # only what an admin set


class Registry:
    """The plugins this installation knows, and access to their state."""

    def __init__(self, found: Mapping[str, Plugin], *, max_age: float = 1.0) -> None:
        self.plugins = dict(found)
        self._fresh: WorkerCache[str, PluginStatus] = WorkerCache(max_age, max(len(found), 1))

    def current(self, name: str, connect: Callable[[], DbHandle]) -> PluginStatus:
        """The plugin's status as of at most ``max_age`` seconds ago (the request path).

        ``connect`` gives the database handle, asked for only when the copy is too old.
        """
        status = self._fresh.get(name)
        if status is None:
            status = self.status(connect(), name)
            self._fresh.put(name, status)
        return status

    def get(self, name: str) -> Plugin:
        """Return the plugin called ``name`` or raise KeyError with the known names."""
        try:
            return self.plugins[name]
        except KeyError:
            known = ", ".join(sorted(self.plugins)) or "none"
            raise KeyError(f"No plugin {name!r}; known plugins: {known}.") from None

    def status(self, db: DbHandle, name: str) -> PluginStatus:
        """Read the plugin's row (or its install defaults) and validate its params."""
        plugin = self.get(name)
        table = PluginState.__table__
        row = db.execute(
            select(table.c.enabled, table.c.params).where(table.c.name == name)
        ).first()
        if row is None:
            enabled, text = plugin.enabled_on_install, "{}"
        else:
            enabled, text = row.enabled, row.params
        stored = json.loads(text)
        try:
            params = plugin.params().load(stored, unknown=RAISE)
        except ValidationError as error:
            raise PluginMisconfigured(
                f"Stored params of plugin {name!r} do not validate: {error.messages}; "
                f"fix them with `flask --app app plugins set {name} KEY=VALUE`."
            ) from None
        return PluginStatus(plugin=plugin, enabled=enabled, params=params, stored=stored)

    def set_enabled(self, session: Session, name: str, enabled: bool, *, now: datetime) -> None:
        """Enable or disable a plugin."""
        row = self._row(session, name, now)
        row.enabled = enabled
        row.updated_at = now
        self._fresh.forget(name)

    def set_params(
        self, session: Session, name: str, updates: Mapping[str, str], *, now: datetime
    ) -> Mapping[str, Any]:
        """Validate ``updates`` with what is stored and store them; raise ParamsError on any fault.

        Nothing is written unless the whole result validates.
        """
        plugin = self.get(name)
        existing = session.get(PluginState, name)
        merged = {**json.loads(existing.params if existing is not None else "{}"), **updates}
        writing = _WRITING.set(True)
        try:
            loaded = plugin.params().load(merged, unknown=RAISE)
        except ValidationError as error:
            raise ParamsError(name, error.messages) from None
        finally:
            _WRITING.reset(writing)
        row = self._row(session, name, now)  # only now: a refused change adds no row
        row.params = json.dumps({key: loaded[key] for key in sorted(merged)})
        row.updated_at = now
        self._fresh.forget(name)
        return loaded

    def _row(self, session: Session, name: str, now: datetime) -> PluginState:
        plugin = self.get(name)
        row = session.get(PluginState, name)
        if row is None:
            row = PluginState(
                name=name, enabled=plugin.enabled_on_install, params="{}", updated_at=now
            )
            session.add(row)
        return row


def discover() -> dict[str, Plugin]:
    """Import every package under ``plugins/`` and every entry point; check their manifests."""
    found: dict[str, Plugin] = {}
    sources = [
        (f"plugins.{info.name}", lambda mod=f"plugins.{info.name}": importlib.import_module(mod))
        for info in pkgutil.iter_modules(plugins_package.__path__)
        if info.ispkg
    ]
    sources += [(ep.value, ep.load) for ep in entry_points(group=ENTRY_POINT_GROUP)]
    for origin, load in sources:
        try:
            loaded = load()
        except PluginDeclarationError as error:
            raise PluginDeclarationError(f"Plugin {origin}: {error}") from error
        plugin = getattr(loaded, "plugin", loaded)
        if not isinstance(plugin, Plugin):
            raise PluginDeclarationError(
                f"Plugin {origin} must expose `plugin = emulator.host.Plugin(...)`."
            )
        if plugin.name in found:
            raise PluginDeclarationError(f"Two plugins are called {plugin.name!r} ({origin}).")
        found[plugin.name] = plugin
    return found


def init_app(app: Flask) -> None:
    """Discover the plugins and attach the registry to the app."""
    app.extensions[EXTENSION] = Registry(discover(), max_age=float(app.config["CACHE_MAX_AGE"]))


def registry_of(app: Flask) -> Registry:
    """The app's registry (while the app is being built)."""
    return app.extensions[EXTENSION]


def get_registry() -> Registry:
    """The current app's registry (the app behind the proxy: the request path asks often)."""
    return registry_of(_app())
