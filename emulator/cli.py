"""Admin commands: ``flask --app app plugins|clients|scopes|tokens ...``.

Commands are thin: parse arguments, call one engine or registry function, commit, print
one useful line; a user error exits non-zero with the reason (never a traceback).
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
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

from emulator import oauth
from emulator import throttle
from emulator import usage
from emulator.clock import utcnow
from emulator.db import db
from emulator.errors import PluginDeclarationError
from emulator.models import Client
from emulator.models import Scope
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
clients = AppGroup("clients", help="Register and list OAuth2 clients.")
scopes = AppGroup("scopes", help="Manage the known scopes and the default ones.")
tokens = AppGroup("tokens", help="Import legacy tokens and purge expired ones.")
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
    """Set a plugin's enabled flag and params through the registry, in the caller's
    transaction (not committed). Params are validated; a refused one raises ParamsError."""
    registry = get_registry()
    if params:
        registry.set_params(db.session, name, params, now=now)
    if enabled is not None:
        registry.set_enabled(db.session, name, enabled, now=now)


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
    if status.plugin.advise is not None:
        for advice in status.plugin.advise(status.params):
            click.echo(f"Warning: {advice}", err=True)


@plugins.command("enable")
@click.argument("name", type=TEXT)
def plugins_enable(name: str) -> None:
    """Enable a plugin (and say what its current params risk, as `plugins show` does)."""
    registry = get_registry()
    registry.set_enabled(db.session, _plugin_name(name), True, now=utcnow())
    db.session.commit()
    click.echo(f"Plugin {name} enabled.")
    status = registry.status(db.session, name)
    if status.plugin.advise is not None:
        for advice in status.plugin.advise(status.params):
            click.echo(f"Warning: {advice}", err=True)


@plugins.command("disable")
@click.argument("name", type=TEXT)
def plugins_disable(name: str) -> None:
    """Disable a plugin."""
    get_registry().set_enabled(db.session, _plugin_name(name), False, now=utcnow())
    db.session.commit()
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
        lambda: get_registry().set_params(db.session, plugin, updates, now=utcnow())
    )
    click.echo(", ".join(f"{k}={json.dumps(loaded[k])}" for k in updates) + f" stored for {name}.")


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
    if not public and secret is None:
        secret = secrets.token_hex(20)
    commit_change(
        lambda: oauth.register_client(
            db.session,
            client_id,
            secret=None if public else secret,
            scope=scope,
            grant_types=grant_types,
            redirect_uri=redirect_uri,
            user_id=user_id,
            now=utcnow(),
        )
    )
    click.echo(f"client_id: {client_id}")
    if not public:
        click.echo(f"client_secret: {secret}")
        click.echo("The secret is shown only now; only its hash is stored.", err=True)
        if len(secret) < MIN_SECRET_LENGTH:
            click.echo(
                f"Warning: a secret shorter than {MIN_SECRET_LENGTH} characters is easier to "
                "guess; keep it only to carry a legacy client over.",
                err=True,
            )


@clients.command("list")
def clients_list() -> None:
    """List the registered clients (never their secrets)."""
    for client in db.session.scalars(select(Client).order_by(Client.client_id)):
        kind = "public" if client.is_public else "confidential"
        click.echo(
            f"{client.client_id}  {kind}  scope={client.scope or '-'}  "
            f"grant_types={client.grant_types if client.grant_types is not None else '(all)'}  "
            f"user_id={client.user_id or '-'}"
        )


# --- scopes ----------------------------------------------------------------------------


@scopes.command("add")
@click.argument("scope", type=TEXT)
@click.option("--default", "is_default", is_flag=True, help="Grant it to clients without a scope.")
def scopes_add(scope: str, is_default: bool) -> None:
    """Add a scope (or set whether it is a default one)."""
    commit_change(lambda: oauth.add_scope(db.session, scope, is_default=is_default))
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
    commit_change(lambda: oauth.set_default_scopes(db.session, list(names)))
    click.echo(f"Default scopes: {' '.join(names) or '(none)'}.")


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
        db.session,
        before=before,
        batch_size=current_app.config["TOKEN_PURGE_BATCH_SIZE"],
        pause=current_app.config["TOKEN_PURGE_PAUSE_SECONDS"],
        writer_share=current_app.config["TOKEN_PURGE_WRITER_SHARE"],
        on_batch=_purge_progress,
    )
    summary = ", ".join(f"{table}: {count}" for table, count in removed.items())
    click.echo(f"Purged tokens expired before {before:%Y-%m-%d %H:%M:%S} UTC ({summary}).")
    counters = throttle.purge_counters()
    if counters:
        click.echo(f"Purged {counters} ended failed-authentication windows.")


def _purge_progress(table: str, total: int) -> None:
    """Progress every 10,000 rows (and the first batch), on stderr."""
    batch = current_app.config["TOKEN_PURGE_BATCH_SIZE"]
    if total <= batch or total % 10_000 < batch:
        click.echo(f"  {table}: {total} removed so far", err=True)


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
    widths = [max(len(row[i]) for row in [list(USAGE_COLUMNS), *cells]) for i in range(7)]
    over = sum(widths) + 2 * (len(widths) - 1) - width if width > 0 else 0
    for column in (0, 2):  # the client id, then the operation
        if over <= 0:
            break
        room = min(over, widths[column] - max(_MIN_SHRUNK, len(USAGE_COLUMNS[column])))
        if room > 0:
            widths[column] -= room
            over -= room
    out = []
    for row in [list(USAGE_COLUMNS), *cells]:
        shown = [_fit(text, widths[i]) for i, text in enumerate(row)]
        shown[5] = shown[5].rjust(widths[5])  # counts right-aligned
        out.append("  ".join(s.ljust(w) for s, w in zip(shown, widths, strict=True)).rstrip())
    return out


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


def init_app(app: Flask) -> None:
    """Add the command groups, and each plugin's own group as `flask <plugin> ...`."""
    for group in (plugins, clients, scopes, tokens):
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
