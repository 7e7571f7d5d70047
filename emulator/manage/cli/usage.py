"""``flask --app app legacy usage`` (the report) and ``usage purge``."""

from __future__ import annotations

import functools
import json
import shutil
from datetime import datetime
from datetime import timedelta

import click
from flask.cli import AppGroup
from flask.cli import with_appcontext

from emulator.manage.cli.common import DAYS_HELP
from emulator.manage.cli.common import TEXT
from emulator.manage.cli.common import Window
from emulator.manage.cli.common import aligned
from emulator.manage.cli.common import purge_pacing
from emulator.manage.cli.common import purge_progress
from emulator.manage.cli.common import retention_days
from emulator.ops import usage
from emulator.ops.clock import utcnow
from emulator.storage.database import db

usage_group = AppGroup(
    "usage", help="The usage counts (reported by `legacy usage`): purge old days."
)


# --- legacy usage ----------------------------------------------------------------------


@click.command("usage", short_help="Which client uses which URL form, how often, when last.")
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


@usage_group.command("purge", short_help="Delete the usage counts older than the retention.")
@click.option("--days", type=TEXT, help=DAYS_HELP.format("USAGE_RETENTION_DAYS", 400))
def usage_purge(days: str | None) -> None:
    """Delete the counts of days older than the retention, in small committed batches."""
    keep = retention_days(days, "USAGE_RETENTION_DAYS")
    before = utcnow().date() - timedelta(days=keep)
    removed = usage.purge_counts(
        db.session,
        before=before,
        pacing=purge_pacing(),
        on_batch=functools.partial(purge_progress, "usage_counts"),
    )
    click.echo(
        f"Purged {removed} usage counts of UTC days before {before:%Y-%m-%d} (kept {keep} days)."
    )
