"""``flask --app app audit ...``: the audit log of admin changes and security events."""

from __future__ import annotations

import functools
import json
import shutil
from datetime import timedelta

import click
from flask.cli import AppGroup

from emulator.manage.cli.common import DAYS_HELP
from emulator.manage.cli.common import TEXT
from emulator.manage.cli.common import Window
from emulator.manage.cli.common import aligned
from emulator.manage.cli.common import cli_actor
from emulator.manage.cli.common import purge_pacing
from emulator.manage.cli.common import purge_progress
from emulator.manage.cli.common import retention_days
from emulator.ops import audit
from emulator.ops.clock import utcnow
from emulator.storage.database import db

audit_group = AppGroup("audit", help="The audit log of admin changes and security events.")


# --- audit -----------------------------------------------------------------------------


@audit_group.command("list", short_help="The audit log, newest first.")
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


@audit_group.command("purge", short_help="Delete events older than the retention.")
@click.option("--days", type=TEXT, help=DAYS_HELP.format("AUDIT_RETENTION_DAYS", 365))
def audit_purge(days: str | None) -> None:
    """Delete events older than the retention, in small committed batches (safe while serving)."""
    keep = retention_days(days, "AUDIT_RETENTION_DAYS")
    before = utcnow() - timedelta(days=keep)
    removed = audit.purge_events(
        db.session,
        before=before,
        pacing=purge_pacing(),
        on_batch=functools.partial(purge_progress, "audit_events"),
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
