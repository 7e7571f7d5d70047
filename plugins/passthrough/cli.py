"""``flask --app app legacy shadow-report``: what shadow mode found, grouped by kind."""

from __future__ import annotations

from typing import Any

import click
from flask.cli import with_appcontext

from emulator.host import db

from . import store

DATETIME = "%Y-%m-%d %H:%M:%S"


@click.command("shadow-report", short_help="How our answers differed from the legacy site's.")
@with_appcontext
def shadow_report() -> None:
    """Print how our answers differed from the legacy site's (shadow mode), by kind."""
    with db.engine.connect() as conn:
        found = store.report(conn)
    counts = found.counts
    click.echo(
        f"Shadow mode: {counts['compared']} requests compared with the legacy site: "
        f"{counts['matched']} matched, {counts['differed']} differed "
        f"({len(found.kinds)} kinds kept); {counts['dropped']} dropped (queue full), "
        f"{counts['failed']} failed (no answer from the legacy site), {counts['skipped']} "
        f"skipped (not comparable)."
    )
    if counts["unkept"]:
        click.echo(
            f"{counts['unkept']} differences were of new kinds past shadow_max_kinds: "
            "counted, not kept."
        )
    if found.last_update is not None:
        click.echo(f"Last written {found.last_update:{DATETIME}} UTC.")
    if not counts["compared"] and not counts["failed"]:
        click.echo(
            "Nothing compared yet: is shadow on? "
            "(flask --app app plugins set passthrough shadow=true)"
        )
    for row in found.kinds:
        click.echo("")
        click.echo(f"{row.count} x {row.kind}")
        click.echo(
            f"    first seen {row.first_seen:{DATETIME}}, last seen {row.last_seen:{DATETIME}} UTC"
        )
        for line in example_lines(row.example):
            click.echo(f"    {line}")


def example_lines(example: dict[str, Any]) -> list[str]:
    """A stored (masked) example as a few readable lines."""
    asked = example["request"]
    query = "&".join(f"{name}={value}" for name, value in asked["query"])
    lines = [f"request: {asked['method']} {asked['path']}{'?' + query if query else ''}"]
    if asked.get("content_type"):
        lines.append(f"  Content-Type: {asked['content_type']}")
    if asked.get("body"):
        body = asked["body"]
        if isinstance(body, list):
            body = "&".join(f"{name}={value}" for name, value in body)
        lines.append(f"  body: {body}")
    for side in ("ours", "theirs"):
        answer = example[side]
        lines.append(f"{side}: {answer['status']}")
        for name, value in answer["headers"].items():
            if value is not None:
                lines.append(f"  {name}: {value}")
        if answer.get("body"):
            lines += _block("  body: ", answer["body"])
    return lines


def _block(label: str, text: str) -> list[str]:
    """``text`` after ``label``, its further lines indented under the first."""
    first, *rest = text.splitlines() or [""]
    return [label + first, *(" " * len(label) + line for line in rest)]
