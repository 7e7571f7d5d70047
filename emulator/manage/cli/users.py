"""``flask --app app users ...``: the site's users, who log in with a password."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup

from emulator import oauth
from emulator.manage import actions
from emulator.manage.cli.common import TEXT
from emulator.manage.cli.common import cli_actor
from emulator.manage.cli.common import commit_change
from emulator.manage.cli.common import echo_page
from emulator.manage.cli.common import refused_as_error
from emulator.oauth.users import MAX_PASSWORD_LENGTH
from emulator.oauth.users import MAX_USER_ID
from emulator.ops.clock import utcnow
from emulator.storage.database import db

users = AppGroup("users", help="The site's users, who log in with a password.")


def _new_password(password_stdin: bool) -> str:
    """The password from one line of stdin, or asked twice without echo."""
    if password_stdin:
        line = sys.stdin.readline(MAX_PASSWORD_LENGTH + 2)  # bounded
        password = line.removesuffix("\n").removesuffix("\r")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        raise click.ClickException("A password cannot be empty; nothing was stored.")
    return password


def _warn_if_short(password: str) -> None:
    warning = actions.short_password_warning(password)
    if warning:
        click.echo(warning, err=True)


@users.command("create", short_help="Add a site user who logs in with a password.")
@click.argument("username", type=TEXT)
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin (one line).")
@click.option(
    "--id",
    "user_id",
    type=click.IntRange(1, MAX_USER_ID),
    help="The user id tokens will carry (default: the next free one).",
)
@click.option("--name", type=TEXT, help="The user's full name (default: the username).")
@click.option("--email", type=TEXT, default="", help="The user's email address.")
@click.option(
    "--group", "groups", type=TEXT, multiple=True, help="A group title (repeat for more)."
)
def users_create(
    username: str,
    password_stdin: bool,
    user_id: int | None,
    name: str | None,
    email: str,
    groups: tuple[str, ...],
) -> None:
    """Add a site user (the password is stored as an argon2id hash; usernames ignore case)."""
    password = _new_password(password_stdin)
    spec = oauth.UserSpec(
        username=username, password=password, id=user_id, name=name, email=email, groups=groups
    )
    user = commit_change(lambda: actions.create_user(db.session, cli_actor(), spec, now=utcnow()))
    click.echo(f"User {user.username} created (id {user.id}).")
    _warn_if_short(password)


USER_COLUMNS = ("ID", "USERNAME", "NAME", "EMAIL", "STATE", "GROUPS", "LAST VISIT")


@users.command("list", short_help="List the site users (never their passwords).")
@click.option("--search", type=TEXT, default="", help="A part of a username, name or email.")
@click.option("--limit", type=click.IntRange(1, actions.MAX_PAGE), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
def users_list(search: str, limit: int, offset: int, as_json: bool) -> None:
    """List the site users by username (never their password hashes)."""
    page = refused_as_error(
        lambda: actions.list_users(db.session, search=search, offset=offset, limit=limit)
    )
    cells = [
        [
            str(user.id),
            user.username,
            user.name or "-",
            user.email or "-",
            _state(user),
            ", ".join(user.groups) or "-",
            "never" if user.last_visit_at is None else f"{user.last_visit_at:%Y-%m-%d}",
        ]
        for user in page.rows
    ]
    items = [user.as_dict() for user in page.rows]
    echo_page(
        page, "users", items, USER_COLUMNS, cells, as_json=as_json, shrink=(5, 3, 2, 1), right=(0,)
    )


@users.command("show", short_help="Show one site user: profile, state, groups, password.")
@click.argument("username", type=TEXT)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
def users_show(username: str, as_json: bool) -> None:
    """Show one site user (any case of the username); never the password or its hash."""
    user = refused_as_error(lambda: actions.show_user(db.session, username))
    if as_json:
        click.echo(json.dumps(user.as_dict(), indent=2))
        return
    for label, value in (
        ("id", str(user.id)),
        ("username", user.username),
        ("name", user.name or "-"),
        ("email", user.email or "-"),
        ("state", _state(user)),
        ("two-factor", "on (password logins refused)" if user.two_factor else "off"),
        ("groups", ", ".join(user.groups) or "-"),
        ("registered", _time(user.registered_at)),
        ("last visit", _time(user.last_visit_at, "never")),
        ("password", actions.PASSWORD_KINDS[user.password_format]),
        ("password set", _time(user.password_changed_at)),
    ):
        click.echo(f"{label + ':':<14}{value}")


@users.command("set-password", short_help="Give a site user a new password.")
@click.argument("username", type=TEXT)
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin (one line).")
def users_set_password(username: str, password_stdin: bool) -> None:
    """Give a site user a new password (argon2id); the old one stops working."""
    refused_as_error(lambda: actions.show_user(db.session, username))  # before the prompt
    password = _new_password(password_stdin)
    user = commit_change(
        lambda: actions.set_user_password(db.session, cli_actor(), username, password, now=utcnow())
    )
    click.echo(f"Password of {user.username} changed.")
    _warn_if_short(password)


@users.command("block", short_help="Block a site user: logins refused, tokens revoked.")
@click.argument("username", type=TEXT)
def users_block(username: str) -> None:
    """Block a site user: their logins fail as with a wrong password; their tokens end."""
    removed = commit_change(
        lambda: actions.set_user_blocked(db.session, cli_actor(), username, True, now=utcnow())
    )
    name = actions.show_user(db.session, username).username
    if removed is None:
        click.echo(f"User {name} was already blocked; nothing changed.")
    else:
        click.echo(f"User {name} blocked; {_tokens(removed)} revoked.")


@users.command("unblock", short_help="Let a blocked site user log in again.")
@click.argument("username", type=TEXT)
def users_unblock(username: str) -> None:
    """Let a blocked site user log in again (tokens revoked by the block stay revoked)."""
    changed = commit_change(
        lambda: actions.set_user_blocked(db.session, cli_actor(), username, False, now=utcnow())
    )
    name = actions.show_user(db.session, username).username
    click.echo(
        f"User {name} was not blocked; nothing changed."
        if changed is None
        else f"User {name} unblocked."
    )


@users.command("delete", short_help="Delete a site user and their tokens.")
@click.argument("username", type=TEXT)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def users_delete(username: str, yes: bool) -> None:
    """Delete a site user with their groups and tokens (asks first unless --yes)."""
    user = refused_as_error(lambda: actions.show_user(db.session, username))
    if not yes:
        click.confirm(f"Delete user {user.username} (id {user.id})?", abort=True)
    removed = commit_change(
        lambda: actions.delete_user(db.session, cli_actor(), username, now=utcnow())
    )
    click.echo(f"User {user.username} deleted; {_tokens(removed)} revoked.")


def _state(user: oauth.UserRecord) -> str:
    return "blocked" if user.blocked else "enabled"


def _time(moment: object, empty: str = "-") -> str:
    return empty if moment is None else f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _tokens(count: int) -> str:
    return "1 token" if count == 1 else f"{count} tokens"
