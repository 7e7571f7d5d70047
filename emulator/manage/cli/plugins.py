"""``flask --app app plugins ...``: list, show, enable, disable and configure plugins."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from emulator.manage import actions
from emulator.manage.cli.common import PARAM_TEXT
from emulator.manage.cli.common import TEXT
from emulator.manage.cli.common import cli_actor
from emulator.manage.cli.common import commit_change
from emulator.ops.clock import utcnow
from emulator.storage.database import db
from emulator.web.registry import get_registry

plugins = AppGroup("plugins", help="List, enable, disable and configure plugins.")


# --- plugins ---------------------------------------------------------------------------


def _plugin_name(name: str) -> str:
    registry = get_registry()
    try:
        registry.get(name)
    except KeyError as error:
        raise click.ClickException(error.args[0]) from None
    return name


@plugins.command("list")
def plugins_list() -> None:
    """List every plugin found, with its state."""
    registry = get_registry()
    for name in sorted(registry.plugins):
        status = registry.status(db.session, name)
        flag = "enabled " if status.enabled else "disabled"
        click.echo(f"{name:<16} {flag}  {status.plugin.version:<8} {status.plugin.title}")


@plugins.command("show")
@click.argument("name", type=TEXT)
def plugins_show(name: str) -> None:
    """Show a plugin's state and effective params (* = set by an admin)."""
    status = get_registry().status(db.session, _plugin_name(name))
    state = "enabled" if status.enabled else "disabled"
    click.echo(f"{name}: {state} ({status.plugin.title} {status.plugin.version})")
    for key in sorted(status.params):
        mark = "*" if key in status.stored else " "
        click.echo(f"  {mark} {key} = {json.dumps(status.params[key])}")
    _advise(name)


def _advise(name: str) -> None:
    """Say what a plugin's current params risk (its manifest's ``advise``), on stderr."""
    status = get_registry().status(db.session, name)
    if status.plugin.advise is not None:
        for advice in status.plugin.advise(status.params):
            click.echo(f"Warning: {advice}", err=True)


@plugins.command("enable", short_help="Enable a plugin (and say what its params risk).")
@click.argument("name", type=TEXT)
def plugins_enable(name: str) -> None:
    """Enable a plugin (and say what its current params risk, as `plugins show` does)."""
    plugin = _plugin_name(name)
    commit_change(
        lambda: actions.set_plugin_enabled(db.session, cli_actor(), plugin, True, now=utcnow())
    )
    click.echo(f"Plugin {name} enabled.")
    _advise(name)


@plugins.command("disable")
@click.argument("name", type=TEXT)
def plugins_disable(name: str) -> None:
    """Disable a plugin."""
    plugin = _plugin_name(name)
    commit_change(
        lambda: actions.set_plugin_enabled(db.session, cli_actor(), plugin, False, now=utcnow())
    )
    click.echo(f"Plugin {name} disabled.")


@plugins.command("set", short_help="Set plugin params (all validated first).")
@click.argument("name", type=TEXT)
@click.argument("assignments", nargs=-1, required=True, metavar="KEY=VALUE...", type=PARAM_TEXT)
def plugins_set(name: str, assignments: tuple[str, ...]) -> None:
    """Set plugin params; all are validated first and nothing is stored if one is bad."""
    updates = {}
    for item in assignments:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise click.ClickException(f"{item!r} is not KEY=VALUE.")
        updates[key] = value
    plugin = _plugin_name(name)
    loaded = commit_change(
        lambda: actions.set_plugin_params(db.session, cli_actor(), plugin, updates, now=utcnow())
    )
    click.echo(", ".join(f"{k}={json.dumps(loaded[k])}" for k in updates) + f" stored for {name}.")


@plugins.command("reset", short_help="Put a plugin's params back to their defaults.")
@click.argument("name", type=TEXT)
def plugins_reset(name: str) -> None:
    """Put a plugin's params back to their defaults (enabled or not, it stays so)."""
    plugin = _plugin_name(name)
    commit_change(lambda: actions.reset_plugin(db.session, cli_actor(), plugin, now=utcnow()))
    click.echo(f"Params of {name} reset to their defaults.")
    _advise(name)
