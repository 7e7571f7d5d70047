"""The declaration API plugins use: Plugin, Operation, Route (validated on construction)."""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import click
from flask import Response
from marshmallow import Schema

from emulator.errors import PluginDeclarationError

NAME = re.compile(r"[a-z][a-z0-9_]*")
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})

# A handler gets the plugin's effective (validated, defaulted) params.
Handler = Callable[[Mapping[str, Any]], Response]
# render_error(error, operation, params): operation is the option name (None for a path
# route); params are the effective params (None when they could not be loaded).
ErrorRenderer = Callable[[Exception, "str | None", "Mapping[str, Any] | None"], Response]


@dataclass(frozen=True)
class Operation:
    """One ``option=`` value of a plugin's ``api``."""

    handler: Handler
    methods: frozenset[str] = frozenset({"GET", "POST"})

    def __post_init__(self) -> None:
        unknown = self.methods - HTTP_METHODS
        if unknown:
            raise PluginDeclarationError(
                f"Operation methods {sorted(unknown)} are not HTTP methods."
            )


@dataclass(frozen=True)
class Route:
    """A path route a plugin answers besides the legacy query URLs (e.g. /oauth/accesstoken)."""

    rule: str
    endpoint: str
    handler: Handler
    methods: frozenset[str] = frozenset({"GET"})

    def __post_init__(self) -> None:
        if not self.rule.startswith("/"):
            raise PluginDeclarationError(f"Route rule {self.rule!r} must start with '/'.")


@dataclass(frozen=True)
class Plugin:
    """A plugin's manifest: who it is, its admin options and what it answers."""

    name: str  # the ?api= value
    title: str
    version: str
    params: type[Schema]
    operations: Mapping[str, Operation] = field(default_factory=dict)
    routes: Sequence[Route] = ()
    cli: click.Group | None = None  # mounted as `flask <name> ...`
    enabled_on_install: bool = False
    render_error: ErrorRenderer | None = None  # None: the host's JSON errors

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.name):
            raise PluginDeclarationError(
                f"Plugin name {self.name!r} must match {NAME.pattern}; it is the ?api= value."
            )
        for option in self.operations:
            if not NAME.fullmatch(option):
                raise PluginDeclarationError(
                    f"Plugin {self.name!r}: operation {option!r} must match {NAME.pattern}; "
                    "it is the lower-cased ?option= value."
                )
        if not (isinstance(self.params, type) and issubclass(self.params, Schema)):
            raise PluginDeclarationError(
                f"Plugin {self.name!r}: params must be a marshmallow Schema class."
            )
