"""``flask --app app admin ...``: the admin users who may log in to the admin pages."""

from __future__ import annotations

import json
import shutil
import sys

import click
from flask.cli import AppGroup

from emulator.manage import actions
from emulator.manage.cli.common import TEXT
from emulator.manage.cli.common import aligned
from emulator.manage.cli.common import cli_actor
from emulator.manage.cli.common import commit_change
from emulator.ops.clock import utcnow
from emulator.storage.database import db

admin = AppGroup("admin", help="The admin users who may log in to the admin pages.")


# --- admin users -----------------------------------------------------------------------


def _new_password(password_stdin: bool) -> str:
    """The password from one line of stdin, or asked twice without echo."""
    if password_stdin:
        line = sys.stdin.readline(actions.MAX_PASSWORD_LENGTH + 2)  # bounded
        password = line.removesuffix("\n").removesuffix("\r")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < actions.MIN_PASSWORD_LENGTH:
        raise click.ClickException(
            f"A password must be at least {actions.MIN_PASSWORD_LENGTH} characters; "
            "nothing was stored."
        )
    return password


@admin.command("create-user", short_help="Add an admin user for the admin pages.")
@click.argument("username", type=TEXT)
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin (one line).")
def admin_create_user(username: str, password_stdin: bool) -> None:
    """Add an admin user for the admin pages (the password is stored as an argon2id hash)."""
    password = _new_password(password_stdin)
    commit_change(
        lambda: actions.create_admin_user(db.session, cli_actor(), username, password, now=utcnow())
    )
    click.echo(f"Admin user {username} created.")


@admin.command("set-password")
@click.argument("username", type=TEXT)
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin (one line).")
def admin_set_password(username: str, password_stdin: bool) -> None:
    """Give an admin user a new password."""
    password = _new_password(password_stdin)
    commit_change(
        lambda: actions.set_admin_password(
            db.session, cli_actor(), username, password, now=utcnow()
        )
    )
    click.echo(f"Password of {username} changed.")


@admin.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
def admin_list(as_json: bool) -> None:
    """List the admin users (never their password hashes)."""
    users = [actions.admin_user_dict(user) for user in actions.list_admin_users(db.session)]
    if as_json:
        click.echo(json.dumps(users, indent=2))
        return
    if not users:
        click.echo("No admin users; add one with `admin create-user NAME`.", err=True)
        return
    cells = [
        [
            user["username"],
            _shown_time(user["created_at"]),
            _shown_time(user["password_changed_at"]),
            _shown_time(user["last_login_at"]),
        ]
        for user in users
    ]
    headers = ("USERNAME", "CREATED (UTC)", "PASSWORD CHANGED", "LAST LOGIN")
    for text in aligned(headers, cells, shutil.get_terminal_size((0, 0)).columns, shrink=(0,)):
        click.echo(text)


@admin.command("delete")
@click.argument("username", type=TEXT)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def admin_delete(username: str, yes: bool) -> None:
    """Remove an admin user (asks first unless --yes)."""
    if not any(user.username == username for user in actions.list_admin_users(db.session)):
        raise click.ClickException(f"No admin user {username!r}.")
    if not yes:
        click.confirm(f"Delete admin user {username}?", abort=True)
    commit_change(
        lambda: actions.delete_admin_user(db.session, cli_actor(), username, now=utcnow())
    )
    click.echo(f"Admin user {username} deleted.")


def _shown_time(iso: str | None) -> str:
    return "-" if iso is None else iso.replace("T", " ").removesuffix("Z")
