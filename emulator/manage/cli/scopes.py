"""``flask --app app scopes ...``: the known scopes and the default ones."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from emulator.manage import actions
from emulator.manage.cli.common import TEXT
from emulator.manage.cli.common import cli_actor
from emulator.manage.cli.common import commit_change
from emulator.ops.clock import utcnow
from emulator.storage.database import db
from emulator.storage.models import Scope

scopes = AppGroup("scopes", help="Manage the known scopes and the default ones.")


# --- scopes ----------------------------------------------------------------------------


@scopes.command("add")
@click.argument("scope", type=TEXT)
@click.option("--default", "is_default", is_flag=True, help="Grant it to clients without a scope.")
def scopes_add(scope: str, is_default: bool) -> None:
    """Add a scope, or set whether it is a default one.

    Without --default an existing scope is no longer a default one; the line printed says
    what changed.
    """
    was_default = commit_change(
        lambda: actions.add_scope(
            db.session, cli_actor(), scope, is_default=is_default, now=utcnow()
        )
    )
    click.echo(scope_added_text(scope, was_default, is_default))


def scope_added_text(scope: str, was_default: bool | None, is_default: bool) -> str:
    """What ``scopes add`` changed, in one line."""
    if was_default is None:
        return f"Scope {scope} added{' (default)' if is_default else ''}."
    if was_default == is_default:
        kind = "a default one" if is_default else "not a default one"
        return f"Scope {scope} already exists ({kind}); nothing changed."
    if is_default:
        return f"Scope {scope} already existed; it is now a default one."
    return (
        f"Scope {scope} already existed as a default one; it is no longer one "
        f"(scopes add {scope} --default makes it one again)."
    )


@scopes.command("list")
def scopes_list() -> None:
    """List the scopes; default ones are marked."""
    for row in db.session.scalars(select(Scope).order_by(Scope.id)):
        click.echo(f"{row.scope}{'  (default)' if row.is_default else ''}")


@scopes.command("default")
@click.argument("names", nargs=-1, type=TEXT)
def scopes_default(names: tuple[str, ...]) -> None:
    """Make exactly these scopes the default ones (none when empty)."""
    commit_change(
        lambda: actions.set_default_scopes(db.session, cli_actor(), list(names), now=utcnow())
    )
    click.echo(f"Default scopes: {' '.join(names) or '(none)'}.")


@scopes.command("remove")
@click.argument("name", type=TEXT)
def scopes_remove(name: str) -> None:
    """Remove a scope; refused while a client's own scope names it."""
    commit_change(lambda: actions.remove_scope(db.session, cli_actor(), name, now=utcnow()))
    click.echo(f"Scope {name} removed.")
