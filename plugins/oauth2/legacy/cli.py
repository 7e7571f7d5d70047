"""``flask --app app legacy import``: carry a redCORE site's OAuth2 server and users over.

The command is thin: check the options, open the source, run the import in one
transaction (``legacy_import``), commit it (or, in a dry run, roll it back), print the
summary. Bad input is one ``Error:`` line and exit status 1; a failure half-way rolls
everything back.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from emulator import oauth
from emulator.host import TEXT
from emulator.host import db
from emulator.host import describe_error
from emulator.host import record_change
from emulator.host import utcnow

from ..params import ABSENT
from ..params import ENABLED
from .run import TABLES
from .run import THREADS
from .run import ImportReport
from .run import UserChange
from .run import forget_expired
from .run import run_import
from .source import GAP
from .source import NOT_CARRIED
from .source import LegacyError
from .source import LegacySource
from .source import check_prefix
from .source import parse_zone

PROGRESS_MIN = 5000  # a token table this large gets a progress bar on stderr
COLUMNS = ("imported", "updated", "unchanged", "skipped", "removed")
NAMED_CLIENTS = 20  # imported clients named one by one; past this, a count
NAMED_USERS = 20  # users named one by one per kind of change; past this, a count
FIELD_WORDS = {
    "password_hash": "password",
    "last_visit_at": "last visit",
    "registered_at": "registered",
    "two_factor": "two-factor",
}


# The old site's table prefix and time zone, as `legacy import` and `legacy link set` take them.
PREFIX_OPTION = click.option(
    "--prefix", default="jos_", show_default=True, type=TEXT, help="Joomla's table prefix."
)


def timezone_option(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--timezone`` (into ``zone_name``): the PHP server's zone, which ``help_text`` explains."""
    return click.option(
        "--timezone", "zone_name", default="UTC", show_default=True, type=TEXT, help=help_text
    )


@click.command(
    "import", short_help="Import a redCORE site: clients, scopes, users, tokens, options."
)
@with_appcontext
@click.option(
    "--from",
    "source_url",
    required=True,
    metavar="URL",  # checked by LegacySource.open, which never echoes a password
    envvar="LEGACY_DATABASE_URL",
    show_envvar=True,
    help="The redCORE database: mysql+pymysql://user:password@host/db, "
    "postgresql+psycopg://user@host/db or sqlite:///path (from the environment, a password "
    "stays out of the process list).",
)
@PREFIX_OPTION
@timezone_option("The PHP server's time zone: token expiry times are its local time.")
@click.option("--dry-run", is_flag=True, help="Write nothing; print what a run would change.")
@click.option(
    "--prune",
    is_flag=True,
    help="Remove the clients and users (with their tokens) and scopes an import brought over "
    "that the old site no longer has (never ones made here).",
)
def import_command(
    source_url: str, prefix: str, zone_name: str, dry_run: bool, prune: bool
) -> None:
    """Import clients, scopes, the site's users, live tokens and OAuth2 options from a
    redCORE database.

    Run it again at any time: it updates what changed on the old site and reports the rest
    unchanged. A user's password, block or profile changed here stays as it is unless the
    old site's own value changed since the last import.
    """
    started = time.perf_counter()
    try:
        zone = parse_zone(zone_name)
        source = LegacySource.open(source_url, check_prefix(prefix))
    except LegacyError as error:
        raise click.ClickException(str(error)) from None
    now = utcnow()
    click.echo(
        f"Importing from {source.shown_url} (tables {prefix}redcore_oauth_* and "
        f"{prefix}users), "
        f"expiry times read as {zone.key}"
        + (
            " (the default: give --timezone if PHP ran in another zone)."
            if zone_name == "UTC"
            else "."
        )
    )
    click.echo(
        "Dry run: every change is computed and printed, none is written."
        if dry_run
        else "One transaction for the whole run: nothing is stored unless every table imports."
    )
    for note in source.notes:
        click.echo(note)
    try:
        report = run_import(
            db.session,
            source,
            zone=zone,
            write=not dry_run,
            prune=prune,
            now=now,
            progress=_progress,
        )
        if dry_run:
            report.forgotten = forget_expired(db.session, now=now, write=False)
            db.session.rollback()
        else:
            record_change(
                "legacy.import", source.shown_url, after=audited(report, prefix, zone.key, prune)
            )
            db.session.commit()
    except (SQLAlchemyError, LegacyError, ValueError) as error:
        db.session.rollback()
        raise click.ClickException(
            f"the import stopped and was rolled back, nothing was written: {describe_error(error)}"
        ) from None
    except BaseException:
        db.session.rollback()
        raise
    finally:
        source.close()
    if not dry_run:
        try:
            report.forgotten = forget_expired(db.session, now=now, write=True)
        except SQLAlchemyError as error:  # the import is committed; the next run retries
            db.session.rollback()
            report.forget_problem = describe_error(error)
    for line in summary_lines(report, zone_name=zone.key, prefix=prefix):
        click.echo(line)
    elapsed = time.perf_counter() - started
    click.echo(
        f"Dry run: nothing was written ({elapsed:.1f} s)."
        if dry_run
        else f"Committed, in one transaction ({elapsed:.1f} s)."
    )


def audited(report: ImportReport, prefix: str, zone_name: str, prune: bool) -> dict[str, Any]:
    """What the audit event of a run holds: its options and each table's counts (the target
    is the source URL, its password masked); never a secret or a token."""
    return {
        "prefix": prefix,
        "timezone": zone_name,
        "prune": prune,
        **{name: dict(report.tallies[name].counts) for name in TABLES},
    }


@contextmanager
def _progress(label: str, total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr for a large table (click hides it when stderr is no terminal)."""
    if total < PROGRESS_MIN:
        yield lambda _n: None
        return
    with click.progressbar(length=total, label=f"{label:<15}", file=sys.stderr) as bar:
        yield bar.update


# --- the summary ------------------------------------------------------------------------


def summary_lines(report: ImportReport, *, zone_name: str, prefix: str) -> list[str]:
    """The summary of a run: the table of outcomes, each skip reason, changes, times, options."""
    would = "" if report.write else "would be "
    lines = ["", f"{'':<16}" + "".join(f"{column:>11}" for column in COLUMNS)]
    for name in TABLES:
        counts = report.tallies[name].counts
        lines.append(f"{name:<16}" + "".join(f"{counts[column]:>11}" for column in COLUMNS))
    reasons = [
        (name, reason, count, report.tallies[name].examples.get(reason, []))
        for name in TABLES
        for reason, count in sorted(report.tallies[name].reasons.items())
    ]
    if reasons:
        lines += ["", "Skipped, by reason:"]
        for name, reason, count, named in reasons:
            more = ", ..." if count > len(named) and named else ""
            rows = f" ({', '.join(named)}{more})" if named else ""
            lines.append(f"  {name:<15} {count:>7}  {reason}{rows}")
    lines += _client_lines(report, would)
    if report.scope_changes:
        lines += ["", "Scopes:"] + [
            f"  {would}{change}" if would else f"  {change}" for change in report.scope_changes
        ]
    lines += _user_lines(report, would)
    lines += _time_lines(report, zone_name)
    lines += _option_lines(report, would)
    if report.forgotten:
        lines.append(
            f"Records of imported tokens past their expiry: {report.forgotten} {would}removed."
        )
    if report.forget_problem:
        lines.append(
            "Records of imported tokens past their expiry: not removed "
            f"({report.forget_problem}); the next import removes them."
        )
    for name, count in report.not_carried.items():
        rows = "1 row" if count == 1 else f"{count} rows"
        lines.append(f"Not carried over: {rows} of {prefix}{name} ({NOT_CARRIED[name]}).")
    sync = report.client_sync
    if sync is not None and (sync.secrets_checked or sync.secrets_hashed):
        lines.append("")
        if sync.secrets_checked:
            each = sync.check_seconds / sync.secrets_checked * 1000
            lines.append(
                f"Secrets: {sync.secrets_checked} checked against their stored hash in "
                f"{sync.check_seconds:.2f} s ({each:.0f} ms a client, {THREADS} threads)."
            )
        if sync.secrets_hashed:
            each = sync.hash_seconds / sync.secrets_hashed * 1000
            lines.append(
                f"Secrets: {sync.secrets_hashed} hashed (argon2id) in {sync.hash_seconds:.2f} s "
                f"({each:.0f} ms a client, {THREADS} threads)."
            )
    return lines


def _client_lines(report: ImportReport, would: str) -> list[str]:
    sync = report.client_sync
    if sync is None:
        return []
    by_action: dict[str, list[oauth.ClientChange]] = {}
    for change in sync.changes:
        by_action.setdefault(change.action, []).append(change)
    lines: list[str] = []
    imported = [change.client_id for change in by_action.get(oauth.IMPORTED, [])]
    if imported:
        shown = ", ".join(imported[:NAMED_CLIENTS])
        more = f" and {len(imported) - NAMED_CLIENTS} more" if len(imported) > NAMED_CLIENTS else ""
        lines.append(f"  {would}imported: {shown}{more}")
    for change in by_action.get(oauth.UPDATED, []):
        lines.append(f"  {would}updated {change.client_id}: {', '.join(change.fields)}")
    for change in by_action.get(oauth.REMOVED, []):
        lines.append(
            f"  {would}removed {change.client_id} and its {_tokens(change.tokens)} "
            "(not on the old site)"
        )
    for change in by_action.get(oauth.MISSING, []):
        lines.append(
            f"  not on the old site, kept: {change.client_id} ({_tokens(change.tokens)}; "
            "--prune removes it)"
        )
    return ["", "Clients:", *lines] if lines else []


def _user_lines(report: ImportReport, would: str) -> list[str]:
    if report.users_problem:
        return ["", f"Users: not imported ({report.users_problem})."]
    by_action: dict[str, list[UserChange]] = {}
    for change in report.user_changes:
        by_action.setdefault(change.action, []).append(change)
    lines: list[str] = []
    imported = [change.username for change in by_action.get(oauth.IMPORTED, [])]
    if imported:
        shown = ", ".join(imported[:NAMED_USERS])
        more = f" and {len(imported) - NAMED_USERS} more" if len(imported) > NAMED_USERS else ""
        lines.append(f"  {would}imported: {shown}{more}")
    for action, words in (
        (oauth.UPDATED, "updated"),
        (oauth.REMOVED, "removed"),
        (oauth.MISSING, "not on the old site, kept"),
    ):
        changes = by_action.get(action, [])
        for change in changes[:NAMED_USERS]:
            if action == oauth.UPDATED:
                fields = ", ".join(FIELD_WORDS.get(name, name) for name in change.fields)
                what = f"{fields}" + (
                    f"; blocked: {_tokens(change.tokens)} revoked" if change.tokens else ""
                )
                lines.append(f"  {would}updated {change.username} (id {change.user_id}): {what}")
            elif action == oauth.REMOVED:
                lines.append(
                    f"  {would}removed {change.username} (id {change.user_id}) and its "
                    f"{_tokens(change.tokens)} (not on the old site)"
                )
            else:
                lines.append(
                    f"  {words}: {change.username} (id {change.user_id}; --prune removes it)"
                )
        if len(changes) > NAMED_USERS:
            lines.append(f"  ... and {len(changes) - NAMED_USERS} more {words}")
    return ["", "Users:", *lines] if lines else []


def _time_lines(report: ImportReport, zone_name: str) -> list[str]:
    lines = ["", f"Expiry times: read as {zone_name} wall-clock time, stored as UTC."]
    for kind, note in report.times.items():
        if not note.count or note.example is None:
            continue
        local, utc, client_id = note.example
        if kind == GAP:
            what = "in a DST gap (a local time that never happened: clocks went forward)"
            why = (
                "read with the offset before the change, as PHP's strtotime read it: the same "
                "instant as that wall-clock time after the change (02:30 is 03:30 summer time)"
            )
        else:
            what = "in a DST overlap (a local time that happened twice: clocks went back)"
            why = (
                "read as the first occurrence (the offset before the change), as PHP's "
                "strtotime read it: the token ends no later than it did on the old site"
            )
        lines.append(
            f"  {note.count} {what}, e.g. {local:%Y-%m-%d %H:%M:%S} -> "
            f"{utc:%Y-%m-%d %H:%M:%S} UTC (a token of {client_id}):"
        )
        lines.append(f"    {why}.")
    if len(lines) == 2:
        lines.append("  None fell in a DST gap or overlap.")
    return lines


def _option_lines(report: ImportReport, would: str) -> list[str]:
    if report.options_problem:
        return [
            "",
            f"Options: not imported ({report.options_problem}); the plugin's stay as they are.",
        ]
    if not report.options:
        return []
    lines = ["", "Options (com_redcore params -> the oauth2 plugin):"]
    for outcome in report.options:
        mapped = outcome.mapped
        if mapped.note == "fixed":
            origin = "(fixed in redCORE)"
        elif mapped.param == "expires_in_as_string":
            origin = f"{mapped.key} ({mapped.note})"
        elif mapped.stored is ABSENT:
            origin = f"{mapped.key} (absent: redCORE's default)"
        else:
            origin = f"{mapped.key} = {_json(mapped.stored)}"
        param = "plugin enabled" if mapped.param == ENABLED else mapped.param
        if outcome.status == "default":
            continue
        if outcome.status == "not reproduced":
            lines.append(f"  {origin}: no counterpart here ({mapped.note}); not reproduced")
        elif outcome.status == "refused":
            lines.append(
                f"  {origin} -> {param}: refused ({mapped.refused}); stays {_json(outcome.before)}"
            )
        elif outcome.status == "unchanged":
            lines.append(f"  {origin} -> {param} = {_json(mapped.value)} (unchanged)")
        else:
            lines.append(
                f"  {origin} -> {param} = {_json(mapped.value)} "
                f"({would}set; was {_json(outcome.before)})"
            )
    return lines


def _tokens(count: int) -> str:
    return "1 token" if count == 1 else f"{count} tokens"


def _json(value: object) -> str:
    """A value as JSON text (how redCORE stored it, how `plugins show` prints it)."""
    try:
        return json.dumps(value)
    except TypeError:
        return repr(value)
