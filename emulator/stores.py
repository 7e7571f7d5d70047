"""The engine's per-worker stores, created once per app and reached through typed accessors.

- ``clients()``: the client registry as this worker reads it (records for at most
  ``CACHE_MAX_AGE`` seconds, verified secrets, the plugins' client-scope hooks);
- ``access_tokens()``: access tokens this worker verified, for at most ``CACHE_MAX_AGE``;
- ``plugin_cache(name)``: a plugin's own copies of what it reads, for at most ``CACHE_MAX_AGE``.

The registry keeps the plugin state cache itself (``emulator.registry``). All three are
``emulator.cache.WorkerCache`` underneath: one type, one setting.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask
from flask import current_app

from emulator.cache import WorkerCache
from emulator.oauth import AccessTokenCache
from emulator.oauth import ClientStore
from emulator.plugin import Plugin

CLIENTS = "emulator.clients"
ACCESS_TOKENS = "emulator.access_tokens"
MAX_ACCESS_TOKENS = 100_000
PLUGIN_CACHES = "emulator.plugin_caches"


def init_app(app: Flask, plugins: Iterable[Plugin]) -> None:
    """Create this app's stores, with every installed plugin's client-scope hook."""
    max_age = float(app.config["CACHE_MAX_AGE"])
    hooks = [plugin.client_scope for plugin in plugins if plugin.client_scope is not None]
    app.extensions[CLIENTS] = ClientStore(max_age=max_age, scope_hooks=hooks)
    app.extensions[ACCESS_TOKENS] = AccessTokenCache(max_age, MAX_ACCESS_TOKENS)


def clients() -> ClientStore:
    """The current app's client store."""
    return current_app.extensions[CLIENTS]


def access_tokens() -> AccessTokenCache:
    """The current app's cache of verified access tokens."""
    return current_app.extensions[ACCESS_TOKENS]


def plugin_cache(name: str, max_size: int = 10_000) -> WorkerCache:
    """A plugin's own per-worker cache called ``name`` (one per app, made on first use).

    Values are kept for at most ``CACHE_MAX_AGE`` seconds, like the host's own, so an
    admin's change reaches every worker within that time; 0 keeps nothing.
    """
    extensions = current_app.extensions
    cache = extensions.get(f"{PLUGIN_CACHES}.{name}")
    if cache is None:
        max_age = float(current_app.config["CACHE_MAX_AGE"])
        cache = extensions.setdefault(f"{PLUGIN_CACHES}.{name}", WorkerCache(max_age, max_size))
    return cache
