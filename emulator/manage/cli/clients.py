"""``flask --app app clients ...``: register, list, change, rotate, disable and delete clients."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import click
from flask.cli import AppGroup

from emulator import oauth
from emulator.manage import actions
from emulator.manage.cli.common import TEXT
from emulator.manage.cli.common import cli_actor
from emulator.manage.cli.common import commit_change
from emulator.manage.cli.common import echo_page
from emulator.manage.cli.common import refused_as_error
from emulator.oauth import MISSING
from emulator.oauth.clients import MIN_SECRET_LENGTH
from emulator.ops.clock import utcnow
from emulator.storage.database import db

clients = AppGroup("clients", help="Register, list, change, rotate, disable and delete clients.")


# --- clients ---------------------------------------------------------------------------


@clients.command("create", short_help="Register a client; print its secret once.")
@click.argument("client_id", type=TEXT)
@click.option("--secret", type=TEXT, help="The secret (default: a new random 40-hex secret).")
@click.option(
    "--scope", type=TEXT, help='Space-separated scopes the client may ask for, e.g. "a b".'
)
@click.option("--grant-types", type=TEXT, help="Space-separated grants allowed (default: all).")
@click.option("--redirect-uri", type=TEXT, default="", help="Kept for legacy clients.")
@click.option(
    "--user-id", type=TEXT, help="The user the client acts as (returned by option=resource)."
)
@click.option("--public", is_flag=True, help="A public client: no secret (refresh only).")
def clients_create(
    client_id: str,
    secret: str | None,
    scope: str | None,
    grant_types: str | None,
    redirect_uri: str,
    user_id: str | None,
    public: bool,
) -> None:
    """Register a client and print its secret once (only a hash is stored)."""
    if public and secret:
        raise click.ClickException("A public client has no secret: drop --secret or --public.")
    spec = oauth.ClientSpec(
        client_id=client_id,
        secret=None if public else secret if secret is not None else actions.new_secret(),
        scope=scope,
        grant_types=grant_types,
        redirect_uri=redirect_uri,
        user_id=user_id,
    )
    commit_change(lambda: actions.create_client(db.session, cli_actor(), spec, now=utcnow()))
    click.echo(f"client_id: {client_id}")
    if spec.secret is not None:
        _print_secret(spec.secret)
    warn_unknown_scopes(scope)


def warn_unknown_scopes(scope: str | None) -> None:
    """Warn (stderr) of a client scope that names scopes the scopes list does not hold:
    the client may ask for them (redCORE's rule), but a typo would go unnoticed."""
    known = set(oauth.known_scopes(db.session))
    unknown = [name for name in oauth.scope_names(scope) if name not in known]
    if unknown:
        names = " ".join(unknown)
        click.echo(
            f"Warning: {names} {'is' if len(unknown) == 1 else 'are'} not in the scopes list; "
            f"the client may still ask for {'it' if len(unknown) == 1 else 'them'}. If that was "
            f"not a typo, add {'it' if len(unknown) == 1 else 'them'}: scopes add NAME.",
            err=True,
        )


def _print_secret(secret: str) -> None:
    click.echo(f"client_secret: {secret}")
    click.echo("The secret is shown only now; only its hash is stored.", err=True)
    if len(secret) < MIN_SECRET_LENGTH:
        click.echo(
            f"Warning: a secret shorter than {MIN_SECRET_LENGTH} characters is easier to "
            "guess; keep it only to carry a legacy client over.",
            err=True,
        )


CLIENT_COLUMNS = ("CLIENT_ID", "KIND", "STATE", "SCOPE", "GRANT TYPES", "USER_ID", "CREATED")


@clients.command("list", short_help="List the registered clients (never their secrets).")
@click.option("--search", type=TEXT, default="", help="A part of the client id or user id.")
@click.option("--limit", type=click.IntRange(1, actions.MAX_PAGE), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
def clients_list(search: str, limit: int, offset: int, as_json: bool) -> None:
    """List the registered clients by client id (never their secrets)."""
    page = refused_as_error(
        lambda: actions.list_clients(db.session, search=search, offset=offset, limit=limit)
    )
    cells = [
        [
            row.client_id,
            "public" if row.public else "confidential",
            "disabled" if row.disabled else "enabled",
            row.scope or "-",
            row.grant_types if row.grant_types is not None else "(all)",
            row.user_id or "-",
            f"{row.created_at:%Y-%m-%d}",
        ]
        for row in page.rows
    ]
    items = [row.as_dict() for row in page.rows]
    echo_page(page, "clients", items, CLIENT_COLUMNS, cells, as_json=as_json, shrink=(3, 0, 4, 5))


@clients.command("show", short_help="Show one client: fields, state, live tokens, last use.")
@click.argument("client_id", type=TEXT)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
def clients_show(client_id: str, as_json: bool) -> None:
    """Show one client: its fields, state, live tokens and last use (never its secret)."""
    row = refused_as_error(lambda: actions.show_client(db.session, client_id))
    if as_json:
        click.echo(json.dumps(row.as_dict(), indent=2))
        return
    _print_client(row)


def _print_client(row: actions.ClientRow) -> None:
    grace = row.secret_grace_until
    for label, value in (
        ("client_id", row.client_id),
        ("kind", "public" if row.public else "confidential"),
        ("state", "disabled" if row.disabled else "enabled"),
        ("scope", row.scope or "-"),
        ("grant_types", row.grant_types if row.grant_types is not None else "(all)"),
        ("redirect_uri", row.redirect_uri or "-"),
        ("user_id", row.user_id or "-"),
        ("created", f"{row.created_at:%Y-%m-%d %H:%M:%S} UTC"),
        ("old secret works until", f"{grace:%Y-%m-%d %H:%M:%S} UTC" if grace else "-"),
        ("live access tokens", str(row.access_tokens)),
        ("live refresh tokens", str(row.refresh_tokens)),
        ("last used", f"{row.last_used:%Y-%m-%d %H:%M:%S} UTC" if row.last_used else "-"),
    ):
        click.echo(f"{label + ':':<24}{value}")


CLEARABLE = ("scope", "grant-types", "redirect-uri", "user-id")


@clients.command("update", short_help="Change a client's scope, grants, redirect URI or user.")
@click.argument("client_id", type=TEXT)
@click.option("--scope", type=TEXT, help='Space-separated scopes, e.g. "a b".')
@click.option("--grant-types", type=TEXT, help='Space-separated grants ("" = none).')
@click.option("--redirect-uri", type=TEXT)
@click.option("--user-id", type=TEXT)
@click.option(
    "--clear",
    "cleared",
    type=click.Choice(CLEARABLE),
    multiple=True,
    help="Clear a field (grant-types: every grant allowed again); may be repeated.",
)
def clients_update(
    client_id: str,
    scope: str | None,
    grant_types: str | None,
    redirect_uri: str | None,
    user_id: str | None,
    cleared: tuple[str, ...],
) -> None:
    """Change a client's scope, grant types, redirect URI or user id."""
    given = {
        "scope": scope,
        "grant-types": grant_types,
        "redirect-uri": redirect_uri,
        "user-id": user_id,
    }
    both = [name for name in cleared if given[name] is not None]
    if both:
        raise click.ClickException(f"--{both[0]} and --clear {both[0]}: give one of them.")
    if not cleared and all(value is None for value in given.values()):
        raise click.ClickException(
            "Nothing to change: give --scope, --grant-types, --redirect-uri, --user-id or --clear."
        )

    def value(name: str) -> object:
        if name in cleared:
            return None
        return MISSING if given[name] is None else given[name]

    row = commit_change(
        lambda: actions.update_client(
            db.session,
            cli_actor(),
            client_id,
            scope=value("scope"),
            grant_types=value("grant-types"),
            redirect_uri=value("redirect-uri"),
            user_id=value("user-id"),
            now=utcnow(),
        )
    )
    click.echo(f"Client {client_id} updated.")
    warn_unknown_scopes(scope)
    _print_client(row)


class Duration(click.ParamType):
    """A length of time: ``0``, or a number with ``s``, ``m``, ``h`` or ``d`` (``90s``, ``1h``)."""

    name = "duration"
    _FORM = re.compile(r"([0-9]{1,9})([smhd])")
    _UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> timedelta:
        """Return the timedelta, or exit with why (exit status 1)."""
        if isinstance(value, timedelta):
            return value
        text = str(value).strip().lower()
        if text == "0":
            return timedelta(0)
        match = self._FORM.fullmatch(text)
        if match is None:
            raise click.ClickException(
                f"{value!r} is not a duration: use 0 or a number of seconds, minutes, hours "
                "or days (90s, 30m, 1h, 2d); nothing was stored."
            )
        return timedelta(**{self._UNITS[match[2]]: int(match[1])})


@clients.command("rotate-secret", short_help="Give a client a new secret; print it once.")
@click.argument("client_id", type=TEXT)
@click.option(
    "--grace",
    type=Duration(),
    default="0",
    show_default=True,
    help="How long the old secret keeps working (30m, 1h, 2d; at most 30d); 0: it stops now.",
)
@click.option("--secret", type=TEXT, help="The new secret (default: a new random 40-hex one).")
def clients_rotate_secret(client_id: str, grace: timedelta, secret: str | None) -> None:
    """Give a client a new secret and print it once; the old one stops now or after --grace."""
    now = utcnow()
    made = commit_change(
        lambda: actions.rotate_secret(
            db.session, cli_actor(), client_id, secret=secret, grace=grace, now=now
        )
    )
    _print_secret(made)
    if grace:
        click.echo(f"The old secret works until {now + grace:%Y-%m-%d %H:%M:%S} UTC.", err=True)
    else:
        click.echo("The old secret stopped working.", err=True)


@clients.command("disable", short_help="Disable a client: its credentials and tokens are refused.")
@click.argument("client_id", type=TEXT)
def clients_disable(client_id: str) -> None:
    """Disable a client: its credentials and tokens are refused (as unknown) until enabled."""
    commit_change(
        lambda: actions.set_client_disabled(db.session, cli_actor(), client_id, True, now=utcnow())
    )
    click.echo(f"Client {client_id} disabled; every worker refuses it within CACHE_MAX_AGE.")


@clients.command("enable", short_help="Enable a disabled client again.")
@click.argument("client_id", type=TEXT)
def clients_enable(client_id: str) -> None:
    """Enable a disabled client again (its unexpired tokens work again)."""
    commit_change(
        lambda: actions.set_client_disabled(db.session, cli_actor(), client_id, False, now=utcnow())
    )
    click.echo(f"Client {client_id} enabled.")


@clients.command("delete")
@click.argument("client_id", type=TEXT)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def clients_delete(client_id: str, yes: bool) -> None:
    """Delete a client and all its tokens (asks first unless --yes)."""
    refused_as_error(lambda: actions.show_client(db.session, client_id))  # exists?
    db.session.rollback()
    if not yes:
        click.confirm(f"Delete client {client_id} and all its tokens?", abort=True)
    removed = commit_change(
        lambda: actions.delete_client(db.session, cli_actor(), client_id, now=utcnow())
    )
    click.echo(f"Client {client_id} deleted with {removed} token(s).")
