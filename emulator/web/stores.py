"""The engine's per-worker stores, created once per app and reached through typed accessors.

- ``clients()``: the client registry as this worker reads it (records for at most
  ``CACHE_MAX_AGE`` seconds, verified secrets, the plugins' client-scope hooks);
- ``password_verifiers()``: the plugins' checks of site users' passwords in their formats;
- ``verified_passwords()``: site users' passwords this worker verified (``emulator.oauth.memo``);
- ``access_tokens()``: access tokens this worker verified, for at most ``CACHE_MAX_AGE``;
- ``plugin_cache(name)``: a plugin's own copies of what it reads, for at most ``CACHE_MAX_AGE``;
- ``derived(name, ...)``: what a plugin makes of its params (a policy), once per params object.

The registry keeps the plugin state cache itself (``emulator.web.registry``). All three are
``emulator.storage.cache.WorkerCache`` underneath: one type, one setting.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from typing import TypeVar

from flask import Flask

from emulator.oauth import AccessTokenCache
from emulator.oauth import ClientStore
from emulator.oauth import PasswordVerifier
from emulator.oauth import VerifiedSecrets
from emulator.storage.cache import WorkerCache
from emulator.web.context import app_object as _app
from emulator.web.plugin import Plugin

CLIENTS = "emulator.clients"
ACCESS_TOKENS = "emulator.access_tokens"
PASSWORD_VERIFIERS = "emulator.password_verifiers"
VERIFIED_PASSWORDS = "emulator.verified_passwords"
MAX_ACCESS_TOKENS = 100_000
PLUGIN_CACHES = "emulator.plugin_caches"
DERIVED = "emulator.derived"
S = TypeVar("S")
V = TypeVar("V")


def init_app(app: Flask, plugins: Iterable[Plugin]) -> None:
    """Create this app's stores, with every installed plugin's client-scope hook and
    password verifier (enabled or not: the users an import brought belong to the site)."""
    max_age = float(app.config["CACHE_MAX_AGE"])
    installed = list(plugins)
    hooks = [plugin.client_scope for plugin in installed if plugin.client_scope is not None]
    app.extensions[CLIENTS] = ClientStore(max_age=max_age, scope_hooks=hooks)
    app.extensions[ACCESS_TOKENS] = AccessTokenCache(max_age, MAX_ACCESS_TOKENS)
    app.extensions[PASSWORD_VERIFIERS] = tuple(
        plugin.password_verifier
        for plugin in sorted(installed, key=lambda plugin: plugin.name)
        if plugin.password_verifier is not None
    )
    app.extensions[VERIFIED_PASSWORDS] = VerifiedSecrets()


def clients() -> ClientStore:
    """The current app's client store."""
    return _app().extensions[CLIENTS]


def password_verifiers() -> tuple[PasswordVerifier, ...]:
    """The installed plugins' password verifiers, by plugin name (``Plugin.password_verifier``)."""
    return _app().extensions[PASSWORD_VERIFIERS]


def verified_passwords() -> VerifiedSecrets:
    """Site users' passwords this worker verified: a repeated good password is not hashed again."""
    return _app().extensions[VERIFIED_PASSWORDS]


def access_tokens() -> AccessTokenCache:
    """The current app's cache of verified access tokens."""
    return _app().extensions[ACCESS_TOKENS]


def plugin_cache(name: str, max_size: int = 10_000) -> WorkerCache:
    """A plugin's own per-worker cache called ``name`` (one per app, made on first use).

    Values are kept for at most ``CACHE_MAX_AGE`` seconds, like the host's own, so an
    admin's change reaches every worker within that time; 0 keeps nothing.
    """
    app = _app()
    extensions = app.extensions
    cache = extensions.get(f"{PLUGIN_CACHES}.{name}")
    if cache is None:
        max_age = float(app.config["CACHE_MAX_AGE"])
        cache = extensions.setdefault(f"{PLUGIN_CACHES}.{name}", WorkerCache(max_age, max_size))
    return cache


def derived(name: str, derive: Callable[[S], V], source: S) -> V:
    """``derive(source)``, made again only when asked about another source object (per app).

    For what a handler makes of its plugin's params on every request (the engine's token
    policy): the registry hands out one params object until it re-reads them (at most
    every ``CACHE_MAX_AGE``), so the value is made about once a second, not per request.
    Sources are compared by identity, and the last one is kept with its value (in the
    app's extensions, like the other stores), so it cannot be another object at the same
    address.
    """
    extensions = _app().extensions
    key = f"{DERIVED}.{name}"
    last = extensions.get(key)  # one read: another thread may replace it meanwhile
    if last is not None and last[0] is source:
        return last[1]
    value = derive(source)
    extensions[key] = (source, value)
    return value
