"""Admin commands: ``flask --app app plugins|clients|scopes|tokens|admin|audit ...``.

Commands are thin: parse arguments, call one ``emulator.manage`` function (which records
the change in the audit log, as ``cli:<OS user>``), commit, print one useful line; a user
error exits non-zero with the reason in one line (never a traceback), nothing stored.
"""

from __future__ import annotations

import functools
import getpass
import json
import os
import re
import shutil
import sys
from collections.abc import Callable
from collections.abc import Mapping
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import TypeVar

import click
from flask import Flask
from flask import current_app
from flask.cli import AppGroup
from flask.cli import with_appcontext
from sqlalchemy import select

from emulator import audit
from emulator import manage
from emulator import oauth
from emulator import throttle
from emulator import usage
from emulator.audit import Actor
from emulator.clock import utcnow
from emulator.db import PurgePacing
from emulator.db import db
from emulator.errors import PluginDeclarationError
from emulator.models import Scope
from emulator.oauth import MISSING
from emulator.oauth.clients import MIN_SECRET_LENGTH
from emulator.registry import get_registry
from emulator.registry import registry_of

T = TypeVar("T")


class PlainText(click.ParamType):
    """A text argument without control characters (NUL, line breaks, ...; ``allowed`` may
    let some through): no id, secret, token, scope, name, path or URL holds one, and
    PostgreSQL refuses NUL in text. Refused before any work, with a one-line error."""

    name = "text"

    def __init__(self, allowed: str = "") -> None:
        self.allowed = dict.fromkeys(map(ord, allowed))

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> object:
        """Return ``value`` unchanged, or exit with why (exit status 1, no usage text)."""
        if isinstance(value, str) and oauth.has_control_characters(value.translate(self.allowed)):
            what = param.get_error_hint(ctx) if param is not None and ctx is not None else "A value"
            raise click.ClickException(
                f"{what} {value!r} holds a control character (such as NUL or a line break);"
                " nothing was stored."
            )
        return value


TEXT = PlainText()
# `plugins set` values may be pretty-printed JSON (base_paths): whitespace may break lines.
PARAM_TEXT = PlainText(allowed="\t\n\r")

plugins = AppGroup("plugins", help="List, enable, disable and configure plugins.")
clients = AppGroup("clients", help="Register, list, change, rotate, disable and delete clients.")
scopes = AppGroup("scopes", help="Manage the known scopes and the default ones.")
tokens = AppGroup("tokens", help="List, revoke and import tokens; purge expired ones.")
admin = AppGroup("admin", help="The admin users who may log in to the admin pages.")
audit_group = AppGroup("audit", help="The audit log of admin changes and security events.")
usage_group = AppGroup(
    "usage", help="The usage counts (reported by `legacy usage`): purge old days."
)
# The host's own `legacy` commands; init_app builds the group per app with the plugins'.
LEGACY_COMMANDS: list[click.Command] = []


def commit_change(change: Callable[[], T]) -> T:
    """Run one admin change and commit it; on a refused value roll back and exit with why."""
    try:
        result = change()
    except ValueError as error:  # ParamsError included
        db.session.rollback()
        raise click.ClickException(f"{error} (nothing was stored)") from None
    db.session.commit()
    return result


def plugin_state(name: str) -> tuple[bool, Mapping[str, Any]]:
    """A plugin's enabled flag and effective params, for a plugin's own admin commands."""
    status = get_registry().status(db.session, name)
    return status.enabled, status.params


def set_plugin_state(
    name: str,
    *,
    enabled: bool | None = None,
    params: Mapping[str, Any] | None = None,
    now: datetime,
) -> None:
    """Set a plugin's enabled flag and params (``emulator.manage``: audited as this CLI
    user), in the caller's transaction (not committed). Params are validated; a refused
    one raises ParamsError."""
    if params:
        manage.set_plugin_params(db.session, cli_actor(), name, params, now=now)
    if enabled is not None:
        manage.set_plugin_enabled(db.session, cli_actor(), name, enabled, now=now)


def _plugin_name(name: str) -> str:
    registry = get_registry()
    try:
        registry.get(name)
    except KeyError as error:
        raise click.ClickException(error.args[0]) from None
    return name


# --- plugins ---------------------------------------------------------------------------


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


@plugins.command("enable")
@click.argument("name", type=TEXT)
def plugins_enable(name: str) -> None:
    """Enable a plugin (and say what its current params risk, as `plugins show` does)."""
    plugin = _plugin_name(name)
    commit_change(
        lambda: manage.set_plugin_enabled(db.session, cli_actor(), plugin, True, now=utcnow())
    )
    click.echo(f"Plugin {name} enabled.")
    _advise(name)


@plugins.command("disable")
@click.argument("name", type=TEXT)
def plugins_disable(name: str) -> None:
    """Disable a plugin."""
    plugin = _plugin_name(name)
    commit_change(
        lambda: manage.set_plugin_enabled(db.session, cli_actor(), plugin, False, now=utcnow())
    )
    click.echo(f"Plugin {name} disabled.")


@plugins.command("set")
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
        lambda: manage.set_plugin_params(db.session, cli_actor(), plugin, updates, now=utcnow())
    )
    click.echo(", ".join(f"{k}={json.dumps(loaded[k])}" for k in updates) + f" stored for {name}.")


@plugins.command("reset")
@click.argument("name", type=TEXT)
def plugins_reset(name: str) -> None:
    """Put a plugin's params back to their defaults (enabled or not, it stays so)."""
    plugin = _plugin_name(name)
    commit_change(lambda: manage.reset_plugin(db.session, cli_actor(), plugin, now=utcnow()))
    click.echo(f"Params of {name} reset to their defaults.")
    _advise(name)


# --- clients ---------------------------------------------------------------------------


@clients.command("create")
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
    made = commit_change(
        lambda: manage.create_client(
            db.session,
            cli_actor(),
            client_id=client_id,
            secret=secret,
            public=public,
            scope=scope,
            grant_types=grant_types,
            redirect_uri=redirect_uri,
            user_id=user_id,
            now=utcnow(),
        )
    )
    click.echo(f"client_id: {client_id}")
    if made is not None:
        _print_secret(made)


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


@clients.command("list")
@click.option("--search", type=TEXT, default="", help="A part of the client id or user id.")
@click.option("--limit", type=click.IntRange(1, manage.MAX_PAGE), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
def clients_list(search: str, limit: int, offset: int, as_json: bool) -> None:
    """List the registered clients by client id (never their secrets)."""
    page = _refused_as_error(
        lambda: manage.list_clients(db.session, search=search, offset=offset, limit=limit)
    )
    if as_json:
        body = {
            "total": page.total,
            "offset": page.offset,
            "limit": page.limit,
            "clients": [row.as_dict() for row in page.rows],
        }
        click.echo(json.dumps(body, indent=2))
        return
    if not page.rows:
        click.echo("No clients." if not page.total else f"No clients past {offset}.", err=True)
        return
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
    width = shutil.get_terminal_size((0, 0)).columns
    for text in aligned(CLIENT_COLUMNS, cells, width, shrink=(3, 0, 4, 5)):
        click.echo(text)
    last = offset + len(page.rows)
    more = f"; --offset {last} for more" if last < page.total else ""
    click.echo(f"{offset + 1}-{last} of {page.total}{more}", err=True)


@clients.command("show")
@click.argument("client_id", type=TEXT)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
def clients_show(client_id: str, as_json: bool) -> None:
    """Show one client: its fields, state, live tokens and last use (never its secret)."""
    row = _refused_as_error(lambda: manage.show_client(db.session, client_id))
    if as_json:
        click.echo(json.dumps(row.as_dict(), indent=2))
        return
    _print_client(row)


def _print_client(row: manage.ClientRow) -> None:
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


@clients.command("update")
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
        lambda: manage.update_client(
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


@clients.command("rotate-secret")
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
        lambda: manage.rotate_secret(
            db.session, cli_actor(), client_id, secret=secret, grace=grace, now=now
        )
    )
    _print_secret(made)
    if grace:
        click.echo(f"The old secret works until {now + grace:%Y-%m-%d %H:%M:%S} UTC.", err=True)
    else:
        click.echo("The old secret stopped working.", err=True)


@clients.command("disable")
@click.argument("client_id", type=TEXT)
def clients_disable(client_id: str) -> None:
    """Disable a client: its credentials and tokens are refused (as unknown) until enabled."""
    commit_change(
        lambda: manage.set_client_disabled(db.session, cli_actor(), client_id, True, now=utcnow())
    )
    click.echo(f"Client {client_id} disabled; every worker refuses it within CACHE_MAX_AGE.")


@clients.command("enable")
@click.argument("client_id", type=TEXT)
def clients_enable(client_id: str) -> None:
    """Enable a disabled client again (its unexpired tokens work again)."""
    commit_change(
        lambda: manage.set_client_disabled(db.session, cli_actor(), client_id, False, now=utcnow())
    )
    click.echo(f"Client {client_id} enabled.")


@clients.command("delete")
@click.argument("client_id", type=TEXT)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def clients_delete(client_id: str, yes: bool) -> None:
    """Delete a client and all its tokens (asks first unless --yes)."""
    _refused_as_error(lambda: manage.show_client(db.session, client_id))  # exists?
    db.session.rollback()
    if not yes:
        click.confirm(f"Delete client {client_id} and all its tokens?", abort=True)
    removed = commit_change(
        lambda: manage.delete_client(db.session, cli_actor(), client_id, now=utcnow())
    )
    click.echo(f"Client {client_id} deleted with {removed} token(s).")


# --- scopes ----------------------------------------------------------------------------


@scopes.command("add")
@click.argument("scope", type=TEXT)
@click.option("--default", "is_default", is_flag=True, help="Grant it to clients without a scope.")
def scopes_add(scope: str, is_default: bool) -> None:
    """Add a scope (or set whether it is a default one)."""
    commit_change(
        lambda: manage.add_scope(
            db.session, cli_actor(), scope, is_default=is_default, now=utcnow()
        )
    )
    click.echo(f"Scope {scope} added{' (default)' if is_default else ''}.")


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
        lambda: manage.set_default_scopes(db.session, cli_actor(), list(names), now=utcnow())
    )
    click.echo(f"Default scopes: {' '.join(names) or '(none)'}.")


@scopes.command("remove")
@click.argument("name", type=TEXT)
def scopes_remove(name: str) -> None:
    """Remove a scope; refused while a client's own scope names it."""
    commit_change(lambda: manage.remove_scope(db.session, cli_actor(), name, now=utcnow()))
    click.echo(f"Scope {name} removed.")


# --- tokens ----------------------------------------------------------------------------


@tokens.command("import")
@click.option("--type", "token_type", type=click.Choice(["access", "refresh"]), required=True)
@click.option("--token", type=TEXT, required=True, help="The legacy token value.")
@click.option("--client-id", required=True, type=TEXT)
@click.option("--scope", type=TEXT)
@click.option("--user-id", type=TEXT)
@click.option("--expires", type=TEXT, required=True, help='UTC, "YYYY-MM-DD HH:MM:SS".')
def tokens_import(
    token_type: str,
    token: str,
    client_id: str,
    scope: str | None,
    user_id: str | None,
    expires: str,
) -> None:
    """Carry a live token over from the legacy site (stored by hash)."""
    try:
        expires_at = datetime.strptime(expires, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise click.ClickException(f'--expires {expires!r} is not "YYYY-MM-DD HH:MM:SS".') from None
    client = oauth.find_client(db.session, client_id)
    if client is None:
        raise click.ClickException(f"No client {client_id!r}; create it first.")
    commit_change(
        lambda: oauth.import_token(
            db.session,
            token_type=token_type,
            raw=token,
            client_pk=client.id,
            user_id=user_id,
            scope=scope,
            expires_at=expires_at,
            now=utcnow(),
        )
    )
    click.echo(f"Imported {token_type} token for {client_id}, expires {expires_at} UTC.")


@tokens.command("purge")
@click.option(
    "--grace-days",
    type=click.FloatRange(min=0),
    default=None,
    help="Keep tokens this long past expiry "
    "(default: the TOKEN_PURGE_GRACE_SECONDS setting, 14 days).",
)
def tokens_purge(grace_days: float | None) -> None:
    """Delete expired tokens in small committed batches (safe while serving)."""
    grace = (
        timedelta(days=grace_days)
        if grace_days is not None
        else timedelta(seconds=current_app.config["TOKEN_PURGE_GRACE_SECONDS"])
    )
    before = utcnow() - grace
    removed = oauth.purge_expired(
        db.session, before=before, pacing=purge_pacing(), on_batch=_purge_progress
    )
    summary = ", ".join(f"{table}: {count}" for table, count in removed.items())
    click.echo(f"Purged tokens expired before {before:%Y-%m-%d %H:%M:%S} UTC ({summary}).")
    counters = throttle.purge_counters()
    if counters:
        click.echo(f"Purged {counters} ended failed-authentication windows.")


def purge_pacing() -> PurgePacing:
    """How every purge batches and pauses (the TOKEN_PURGE_* settings)."""
    config = current_app.config
    return PurgePacing(
        batch_size=config["TOKEN_PURGE_BATCH_SIZE"],
        pause=config["TOKEN_PURGE_PAUSE_SECONDS"],
        writer_share=config["TOKEN_PURGE_WRITER_SHARE"],
    )


def _purge_progress(table: str, total: int) -> None:
    """Progress every 10,000 rows (and the first batch), on stderr."""
    batch = current_app.config["TOKEN_PURGE_BATCH_SIZE"]
    if total <= batch or total % 10_000 < batch:
        click.echo(f"  {table}: {total} removed so far", err=True)


# The longest retention taken (a hundred years); a longer one is a typo.
MAX_RETENTION_DAYS = 36_525


def retention_days(option: str | None, setting: str) -> int:
    """The days a purge keeps: ``--days`` when given, else the setting; exit with why
    unless it is a whole number of days from 1 to MAX_RETENTION_DAYS."""
    source, value = (
        ("--days", option) if option is not None else (setting, current_app.config[setting])
    )
    # ASCII digits only, and few: int() refuses "²" and a 5,000-digit string with a traceback
    digits = isinstance(value, str) and re.fullmatch(r"[0-9]{1,9}", value.strip())
    days = int(value.strip()) if digits else value
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_RETENTION_DAYS:
        raise click.ClickException(
            f"{source} must be a whole number of days from 1 to {MAX_RETENTION_DAYS}, "
            f"not {value!r}; nothing was purged."
        )
    return days


# --- legacy usage ----------------------------------------------------------------------

_WINDOW = re.compile(r"([0-9]{1,9})([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
MAX_WINDOW = timedelta(days=10 * 366)


class Window(click.ParamType):
    """How far back a report looks: ``30m``, ``12h``, ``7d`` (minutes, hours, days) or ``all``."""

    name = "window"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> timedelta | None:
        """Return the window (None for ``all``), or exit with why (exit status 1)."""
        if value is None or isinstance(value, timedelta):
            return value
        text = str(value).strip().lower()
        if text == "all":
            return None
        match = _WINDOW.fullmatch(text)
        if match is None or int(match[1]) == 0:
            raise click.ClickException(
                f"--since {value!r} is not a window: use a number of minutes, hours or days "
                "(30m, 12h, 7d) or all."
            )
        window = timedelta(**{_UNITS[match[2]]: int(match[1])})
        if window > MAX_WINDOW:
            raise click.ClickException(f"--since {value!r} is longer than 10 years; use all.")
        return window


@click.command("usage")
@click.option(
    "--since",
    "window",
    type=Window(),
    default="7d",
    show_default=True,
    help="How far back: 30m, 12h, 7d (minutes, hours, days) or all.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
@with_appcontext
def legacy_usage(window: timedelta | None, as_json: bool) -> None:
    """Which client uses which URL form: count and last time seen, per client and form.

    A form is a plugin's operation (an option=, a token flow, a proxy's base path) with
    where the request carried its credentials (basic, body, json, query) and its token
    (header, query, body, json). Only identified clients are counted. Counts are kept per
    UTC day, so a window counts the whole days it touches, for the forms seen within it.

    Each worker adds its counts to the table every USAGE_FLUSH_SECONDS (5 s by default)
    and when it stops; this command reads the table and flushes nothing, so requests of
    the last USAGE_FLUSH_SECONDS may not show yet.
    """
    since = None if window is None else utcnow() - window
    lines = usage.report(db.session, since=since)
    if as_json:
        click.echo(json.dumps(_usage_json(lines, since), indent=2))
        return
    since_text = "(all kept)" if since is None else f"since {since:%Y-%m-%d %H:%M} UTC"
    if not lines:
        click.echo(f"No usage recorded {since_text}.")
        return
    click.echo(f"Usage {since_text}{'' if since is None else ' (counted per UTC day)'}:")
    # The terminal's width (or COLUMNS); 0 when the output is not a terminal: no cutting.
    for text in usage_table(lines, shutil.get_terminal_size((0, 0)).columns):
        click.echo(text)


USAGE_COLUMNS = (
    "CLIENT",
    "PLUGIN",
    "OPERATION",
    "CREDENTIALS",
    "TOKEN",
    "COUNT",
    "LAST SEEN (UTC)",
)
_MIN_SHRUNK = 8  # the narrowest a client id or operation column becomes


def usage_table(lines: list[usage.UsageLine], width: int) -> list[str]:
    """The report as aligned columns within ``width`` (0: as wide as they are): the client
    id and operation columns give up room first (cut with "..."), never below 8 characters."""
    cells = [
        [
            line.client_id,
            line.plugin,
            line.operation,
            line.credentials or "-",
            line.token or "-",
            f"{line.count:,}",
            f"{line.last_seen:%Y-%m-%d %H:%M:%S}",
        ]
        for line in lines
    ]
    return aligned(USAGE_COLUMNS, cells, width, shrink=(0, 2), right=(5,))


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _usage_json(lines: list[usage.UsageLine], since: datetime | None) -> dict[str, object]:
    return {
        "since": None if since is None else f"{since:%Y-%m-%dT%H:%M:%S}Z",
        "rows": [
            {
                "client_id": line.client_id,
                "plugin": line.plugin,
                "operation": line.operation,
                "credentials": line.credentials,
                "token": line.token,
                "count": line.count,
                "last_seen": f"{line.last_seen:%Y-%m-%dT%H:%M:%S}Z",
            }
            for line in lines
        ],
    }


LEGACY_COMMANDS.append(legacy_usage)


# --- tokens (admin) -------------------------------------------------------------------


@tokens.command("list")
@click.option("--client", "client_id", required=True, type=TEXT, help="The client's id.")
@click.option("--limit", type=click.IntRange(1, manage.MAX_PAGE), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
def tokens_list(client_id: str, limit: int, as_json: bool) -> None:
    """List a client's stored tokens, newest first: the start of each hash, never a token."""
    rows = _refused_as_error(lambda: manage.list_tokens(db.session, client_id, limit=limit))
    now = utcnow()
    if as_json:
        body = [
            {
                "kind": row.kind,
                "hash_prefix": row.hash_prefix,
                "scope": row.scope,
                "user_id": row.user_id,
                "issued_at": f"{row.issued_at:%Y-%m-%dT%H:%M:%S}Z",
                "expires_at": f"{row.expires_at:%Y-%m-%dT%H:%M:%S}Z",
                "expired": oauth.is_expired(row.expires_at, now),
            }
            for row in rows
        ]
        click.echo(json.dumps(body, indent=2))
        return
    if not rows:
        click.echo(f"Client {client_id} holds no tokens.", err=True)
        return
    cells = [
        [
            row.kind,
            row.hash_prefix,
            row.scope or "-",
            row.user_id or "-",
            f"{row.issued_at:%Y-%m-%d %H:%M:%S}",
            f"{row.expires_at:%Y-%m-%d %H:%M:%S}"
            + (" (expired)" if oauth.is_expired(row.expires_at, now) else ""),
        ]
        for row in rows
    ]
    headers = ("KIND", "SHA-256 PREFIX", "SCOPE", "USER_ID", "ISSUED (UTC)", "EXPIRES (UTC)")
    for text in aligned(headers, cells, shutil.get_terminal_size((0, 0)).columns, shrink=(2,)):
        click.echo(text)


@tokens.command("revoke")
@click.option("--client", "client_id", required=True, type=TEXT, help="The client's id.")
def tokens_revoke(client_id: str) -> None:
    """End every token of a client (every worker refuses them within CACHE_MAX_AGE)."""
    removed = commit_change(
        lambda: manage.revoke_client_tokens(db.session, cli_actor(), client_id, now=utcnow())
    )
    click.echo(f"Revoked {removed} token(s) of client {client_id}.")


# --- admin users -----------------------------------------------------------------------


def _new_password(password_stdin: bool) -> str:
    """The password from one line of stdin, or asked twice without echo."""
    if password_stdin:
        line = sys.stdin.readline(manage.MAX_PASSWORD_LENGTH + 2)  # bounded
        password = line.removesuffix("\n").removesuffix("\r")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < manage.MIN_PASSWORD_LENGTH:
        raise click.ClickException(
            f"A password must be at least {manage.MIN_PASSWORD_LENGTH} characters; "
            "nothing was stored."
        )
    return password


@admin.command("create-user")
@click.argument("username", type=TEXT)
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin (one line).")
def admin_create_user(username: str, password_stdin: bool) -> None:
    """Add an admin user for the admin pages (the password is stored as an argon2id hash)."""
    password = _new_password(password_stdin)
    commit_change(
        lambda: manage.create_admin_user(db.session, cli_actor(), username, password, now=utcnow())
    )
    click.echo(f"Admin user {username} created.")


@admin.command("set-password")
@click.argument("username", type=TEXT)
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin (one line).")
def admin_set_password(username: str, password_stdin: bool) -> None:
    """Give an admin user a new password."""
    password = _new_password(password_stdin)
    commit_change(
        lambda: manage.set_admin_password(db.session, cli_actor(), username, password, now=utcnow())
    )
    click.echo(f"Password of {username} changed.")


@admin.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
def admin_list(as_json: bool) -> None:
    """List the admin users (never their password hashes)."""
    users = [manage.admin_user_dict(user) for user in manage.list_admin_users(db.session)]
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
    if not any(user.username == username for user in manage.list_admin_users(db.session)):
        raise click.ClickException(f"No admin user {username!r}.")
    if not yes:
        click.confirm(f"Delete admin user {username}?", abort=True)
    commit_change(lambda: manage.delete_admin_user(db.session, cli_actor(), username, now=utcnow()))
    click.echo(f"Admin user {username} deleted.")


def _shown_time(iso: str | None) -> str:
    return "-" if iso is None else iso.replace("T", " ").removesuffix("Z")


# --- audit -----------------------------------------------------------------------------


@audit_group.command("list")
@click.option(
    "--since",
    "window",
    type=Window(),
    default="all",
    show_default=True,
    help="How far back: 30m, 12h, 7d (minutes, hours, days) or all.",
)
@click.option("--action", "action_prefix", type=TEXT, help='An action or its start ("client.").')
@click.option("--limit", type=click.IntRange(1, audit.MAX_LIMIT), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
def audit_list(
    window: timedelta | None, action_prefix: str | None, limit: int, as_json: bool
) -> None:
    """The audit log, newest first: admin changes and security events (never a secret)."""
    since = None if window is None else utcnow() - window
    found = audit.events(db.session, since=since, limit=limit, action_prefix=action_prefix)
    if as_json:
        click.echo(json.dumps([audit.event_dict(event) for event in found], indent=2))
        return
    if not found:
        click.echo("No audit events.", err=True)
        return
    cells = []
    for event in found:
        data = audit.event_dict(event)
        change = _change_text(data["before"], data["after"])
        cells.append(
            [
                f"{event.occurred_at:%Y-%m-%d %H:%M:%S}",
                event.actor,
                event.address or "-",
                event.action,
                event.target,
                change,
            ]
        )
    headers = ("WHEN (UTC)", "ACTOR", "ADDRESS", "ACTION", "TARGET", "CHANGE")
    width = shutil.get_terminal_size((0, 0)).columns
    for text in aligned(headers, cells, width, shrink=(5, 4, 1)):
        click.echo(text)


_DAYS_HELP = "Keep this many days (a whole number, 1 or more; default: the {} setting, {})."


@audit_group.command("purge")
@click.option("--days", type=TEXT, help=_DAYS_HELP.format("AUDIT_RETENTION_DAYS", 365))
def audit_purge(days: str | None) -> None:
    """Delete events older than the retention, in small committed batches (safe while serving)."""
    keep = retention_days(days, "AUDIT_RETENTION_DAYS")
    before = utcnow() - timedelta(days=keep)
    removed = audit.purge_events(
        db.session,
        before=before,
        pacing=purge_pacing(),
        on_batch=functools.partial(_purge_progress, "audit_events"),
    )
    if removed:  # the log says it was cut, and by whom (this event is newer than the cut)
        audit.record(
            db.session,
            actor=cli_actor(),
            action="audit.purge",
            target="audit_events",
            after={"before": before, "removed": removed, "days": keep},
            now=utcnow(),
        )
        db.session.commit()
    click.echo(
        f"Purged {removed} audit events from before {before:%Y-%m-%d %H:%M:%S} UTC "
        f"(kept {keep} days)."
    )


@usage_group.command("purge")
@click.option("--days", type=TEXT, help=_DAYS_HELP.format("USAGE_RETENTION_DAYS", 400))
def usage_purge(days: str | None) -> None:
    """Delete the counts of days older than the retention, in small committed batches."""
    keep = retention_days(days, "USAGE_RETENTION_DAYS")
    before = utcnow().date() - timedelta(days=keep)
    removed = usage.purge_counts(
        db.session,
        before=before,
        pacing=purge_pacing(),
        on_batch=functools.partial(_purge_progress, "usage_counts"),
    )
    click.echo(
        f"Purged {removed} usage counts of UTC days before {before:%Y-%m-%d} (kept {keep} days)."
    )


def _change_text(before: dict | None, after: dict | None) -> str:
    """``field: old -> new`` for each field an event names."""
    before, after = before or {}, after or {}
    parts = []
    for key in dict.fromkeys([*before, *after]):
        old = json.dumps(before[key]) if key in before else None
        new = json.dumps(after[key]) if key in after else None
        if old is not None and new is not None:
            parts.append(f"{key}: {old} -> {new}")
        else:
            parts.append(f"{key}: {old if old is not None else new}")
    return "; ".join(parts) or "-"


# --- output ----------------------------------------------------------------------------


def aligned(
    headers: tuple[str, ...],
    cells: list[list[str]],
    width: int,
    *,
    shrink: tuple[int, ...],
    right: tuple[int, ...] = (),
) -> list[str]:
    """Rows as aligned columns within ``width`` (0: as wide as they are): the ``shrink``
    columns give up room in that order (cut with "..."), never below 8 characters or their
    header; ``right`` columns are right-aligned."""
    table = [list(headers), *cells]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    over = sum(widths) + 2 * (len(widths) - 1) - width if width > 0 else 0
    for column in shrink:
        if over <= 0:
            break
        room = min(over, widths[column] - max(_MIN_SHRUNK, len(headers[column])))
        if room > 0:
            widths[column] -= room
            over -= room
    out = []
    for row in table:
        shown = [_fit(text, widths[i]) for i, text in enumerate(row)]
        for i in right:
            shown[i] = shown[i].rjust(widths[i])
        out.append("  ".join(s.ljust(w) for s, w in zip(shown, widths, strict=True)).rstrip())
    return out


def cli_actor() -> Actor:
    """Who runs this command: ``cli:<OS user name>``, with no address."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        user = f"uid{os.getuid()}"
    return Actor(f"cli:{user}", None)


def record_change(
    action: str,
    target: str,
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    """Audit a plugin command's change as this CLI user, in the command's transaction
    (``commit_change`` commits the two together). ``action`` is the plugin's own, e.g.
    ``<plugin>.<thing>.add``; never a secret in ``before``/``after`` (``audit.record``)."""
    audit.record(
        db.session,
        actor=cli_actor(),
        action=action,
        target=target,
        before=before,
        after=after,
        now=utcnow(),
    )


def record_client_fields(
    plugin: str, client_id: str, changes: Mapping[str, tuple[Any, Any]]
) -> None:
    """Audit a plugin command's change of its fields of a client as the admin pages'
    panel does (``audit.record_plugin_fields``), as this CLI user."""
    audit.record_plugin_fields(
        db.session,
        actor=cli_actor(),
        plugin=plugin,
        client_id=client_id,
        changes=changes,
        now=utcnow(),
    )


def _refused_as_error(read: Callable[[], T]) -> T:
    """Run a read; a refused value (ValueError) exits with why, nothing changed."""
    try:
        return read()
    except ValueError as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from None


def init_app(app: Flask) -> None:
    """Add the command groups, and each plugin's own group as `flask <plugin> ...`."""
    for group in (plugins, clients, scopes, tokens, admin, audit_group, usage_group):
        app.cli.add_command(group)
    legacy = AppGroup("legacy", help="Move off the legacy site: import, shadow report, usage.")
    for command in LEGACY_COMMANDS:
        legacy.add_command(command)
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
