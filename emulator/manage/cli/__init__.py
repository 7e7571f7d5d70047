"""The CLI: ``flask --app app plugins|clients|scopes|tokens|users|admin|audit|usage|legacy ...``.

One module per command group; ``common`` holds what they share, ``plugin`` what a
plugin's own commands use (re-exported by ``emulator.host``). Commands are thin: parse
arguments, call one ``emulator.manage.actions`` function (which records the change in the
audit log, as ``cli:<OS user>``), commit, print one useful line; a user error exits
non-zero with the reason in one line (never a traceback), nothing stored.
"""

from __future__ import annotations

from flask import Flask
from flask.cli import AppGroup

from emulator.manage.cli.admins import admin
from emulator.manage.cli.audit import audit_group
from emulator.manage.cli.clients import clients
from emulator.manage.cli.plugins import plugins
from emulator.manage.cli.scopes import scopes
from emulator.manage.cli.tokens import tokens
from emulator.manage.cli.usage import legacy_usage
from emulator.manage.cli.usage import usage_group
from emulator.manage.cli.users import users
from emulator.web.errors import PluginDeclarationError
from emulator.web.registry import registry_of


def init_app(app: Flask) -> None:
    """Add the command groups, and each plugin's own group as `flask <plugin> ...`."""
    for group in (plugins, clients, scopes, tokens, users, admin, audit_group, usage_group):
        app.cli.add_command(group)
    legacy = AppGroup("legacy", help="Move off the legacy site: import, shadow report, usage.")
    legacy.add_command(legacy_usage)
    for plugin in registry_of(app).plugins.values():
        if plugin.cli is not None:
            app.cli.add_command(plugin.cli, name=plugin.name)
        for command in plugin.legacy_cli:
            if command.name in legacy.commands:
                raise PluginDeclarationError(
                    f"Plugin {plugin.name!r}: `legacy {command.name}` is already taken."
                )
            legacy.add_command(command)
    app.cli.add_command(legacy)
