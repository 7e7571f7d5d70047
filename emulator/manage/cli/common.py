"""Helpers every command module shares: argument types, committing a change, the
CLI actor, tables, purge pacing and retention."""

from __future__ import annotations

import getpass
import json
import os
import re
import shutil
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from typing import TypeVar

import click
from flask import current_app

from emulator import oauth
from emulator.ops.audit import Actor
from emulator.storage.database import db
from emulator.storage.purge import PurgePacing

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


def commit_change(change: Callable[[], T]) -> T:
    """Run one admin change and commit it; on a refused value roll back and exit with why."""
    try:
        result = change()
    except ValueError as error:  # ParamsError included
        db.session.rollback()
        raise click.ClickException(f"{error} (nothing was stored)") from None
    db.session.commit()
    return result


def purge_pacing() -> PurgePacing:
    """How every purge batches and pauses (the TOKEN_PURGE_* settings)."""
    config = current_app.config
    return PurgePacing(
        batch_size=config["TOKEN_PURGE_BATCH_SIZE"],
        pause=config["TOKEN_PURGE_PAUSE_SECONDS"],
        writer_share=config["TOKEN_PURGE_WRITER_SHARE"],
    )


def purge_progress(table: str, total: int) -> None:
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


MIN_SHRUNK = 8  # the narrowest a client id or operation column becomes


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


DAYS_HELP = "Keep this many days (a whole number, 1 or more; default: the {} setting, {})."


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
        room = min(over, widths[column] - max(MIN_SHRUNK, len(headers[column])))
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


def refused_as_error(read: Callable[[], T]) -> T:
    """Run a read; a refused value (ValueError) exits with why, nothing changed."""
    try:
        return read()
    except ValueError as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from None


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


def echo_page(
    page: Any,
    noun: str,
    items: list[dict[str, Any]],
    headers: tuple[str, ...],
    cells: list[list[str]],
    *,
    as_json: bool,
    shrink: tuple[int, ...],
    right: tuple[int, ...] = (),
) -> None:
    """Print one page of a paged list (``page`` has total, offset, limit and rows): JSON
    with ``items`` under ``noun``, or aligned columns to the terminal's width and, on
    stderr, where the page stands and how to get the next one."""
    if as_json:
        body = {"total": page.total, "offset": page.offset, "limit": page.limit, noun: items}
        click.echo(json.dumps(body, indent=2))
        return
    if not page.rows:
        what = f"No {noun}." if not page.total else f"No {noun} past {page.offset}."
        click.echo(what, err=True)
        return
    width = shutil.get_terminal_size((0, 0)).columns
    for text in aligned(headers, cells, width, shrink=shrink, right=right):
        click.echo(text)
    last = page.offset + len(page.rows)
    more = f"; --offset {last} for more" if last < page.total else ""
    click.echo(f"{page.offset + 1}-{last} of {page.total}{more}", err=True)
