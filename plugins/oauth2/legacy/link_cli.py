"""``flask legacy link set|status|drain|off``: the legacy link while a site moves.

The link is the oauth2 plugin's (``legacy.link``): the old redCORE site's database, its
table prefix and time zone. Its URL's password is never printed, nor audited.
"""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from emulator.host import db
from emulator.host import describe_error
from emulator.host import record_change
from emulator.host import utcnow

from . import link as legacy_link
from .cli import PREFIX_OPTION
from .cli import timezone_option
from .source import LegacyError
from .source import LegacySource


@click.group("link", short_help="Keep the old site's token tables and ours in step.")
def link_group() -> None:
    """The legacy link: while it is set, every token issued here is also written to the old
    redCORE site's token tables (revocations too), and a token unknown here is looked up
    there. Switch it off once the old site's last web service has moved."""


def _read() -> legacy_link.Link | None:
    try:
        return legacy_link.read_link(db.session)
    except LegacyError as error:
        raise click.ClickException(str(error)) from None


@link_group.command("set")
@with_appcontext
@click.option(
    "--url",
    "url_text",
    required=True,
    metavar="URL",
    envvar="LEGACY_DATABASE_URL",
    show_envvar=True,
    help="The old site's database, with the right to write its token tables: "
    "mysql+pymysql://user:password@host/db (from the environment, the password stays out "
    "of the process list).",
)
@PREFIX_OPTION
@timezone_option("The PHP server's time zone: the old site's `expires` is its local time.")
@click.option("--no-check", is_flag=True, help="Store the link without connecting to it.")
def set_command(url_text: str, prefix: str, zone_name: str, no_check: bool) -> None:
    """Set (or replace) the link. The database and its tables are checked first."""
    try:
        link = legacy_link.parse_link(url_text, prefix, zone_name)
        if not no_check:
            LegacySource.open(url_text, link.prefix).close()
    except LegacyError as error:
        raise click.ClickException(str(error).replace("--from", "--url", 1)) from None
    before = _describe(_read_quietly())
    legacy_link.save_link(db.session, link, now=utcnow())
    record_change("oauth2.link.set", link.shown, before=before, after=_describe(link))
    db.session.commit()
    legacy_link.forget_here()
    click.echo(
        f"Legacy link set: {link.shown}, tables {link.prefix}redcore_oauth_*_tokens, "
        f"expires in {link.zone.key}. Every worker uses it within CACHE_MAX_AGE."
    )


@link_group.command("status")
@with_appcontext
@click.option("--check", is_flag=True, help="Also connect to the old database.")
def status_command(check: bool) -> None:
    """Show the link (never its password) and the mirror writes waiting to land."""
    link = _read()
    if link is None:
        click.echo("Legacy link: off.")
        return
    waiting, since, error = legacy_link.backlog(db.session)
    click.echo(f"Legacy link: on, {link.shown}")
    click.echo(f"Tables: {link.prefix}redcore_oauth_access_tokens, ..._refresh_tokens")
    click.echo(f"Time zone: {link.zone.key}")
    if waiting:
        click.echo(f"Backlog: {waiting} mirror writes waiting since {since:%Y-%m-%d %H:%M:%S} UTC")
        click.echo(f"Last error: {error}")
    else:
        click.echo("Backlog: none")
    if check:
        engine = legacy_link.create_engine(link.url)
        try:
            with engine.connect():
                pass
        except SQLAlchemyError as failure:
            raise click.ClickException(f"{link.shown}: {describe_error(failure)}") from None
        finally:
            engine.dispose()  # closed now, not found open by the garbage collector later
        click.echo("Connection: ok")


@link_group.command("drain")
@with_appcontext
def drain_command() -> None:
    """Write the queued mirror writes to the old site, in order (for cron)."""
    if _read() is None:
        click.echo("Legacy link: off; nothing to drain.")
        return
    result = legacy_link.drain(db.engine)
    click.echo(f"Landed {result.landed} mirror writes; {result.left} waiting.")
    if result.error:
        raise click.ClickException(f"The old database refused a write: {result.error}")


@link_group.command("off")
@with_appcontext
@click.option("--yes", is_flag=True, help="Delete the mirrored rows without asking.")
@click.option("--keep-rows", is_flag=True, help="Leave the mirrored rows on the old site.")
def off_command(yes: bool, keep_rows: bool) -> None:
    """Switch the link off; offer to delete the rows the mirror wrote on the old site.

    Queued writes that did not land are dropped (the old site is being retired).
    """
    link = _read()
    if link is None:
        click.echo("Legacy link: off already.")
        return
    delete = not keep_rows and (
        yes
        or click.confirm(
            "Delete the token rows the mirror wrote to the old site's tables "
            "(tokens issued here; not the old site's own)?",
            default=True,
        )
    )
    removed = None
    if delete:
        try:
            removed = legacy_link.delete_mirrored(db.session, link)
        except SQLAlchemyError as error:
            raise click.ClickException(
                f"{link.shown}: {describe_error(error)} (the link stays on; try again, or "
                "--keep-rows)"
            ) from None
    waiting = legacy_link.backlog(db.session)[0]
    legacy_link.remove_link(db.session)
    after = {"mirrored_rows_deleted": removed, "queued_writes_dropped": waiting}
    record_change("oauth2.link.off", link.shown, before=_describe(link), after=after)
    db.session.commit()
    legacy_link.forget_here()
    click.echo(
        "Legacy link off."
        + (f" Deleted {removed} mirrored rows on the old site." if removed is not None else "")
        + (f" Dropped {waiting} queued writes." if waiting else "")
    )


def _read_quietly() -> legacy_link.Link | None:
    try:
        return legacy_link.read_link(db.session)
    except LegacyError:
        return None


def _describe(link: legacy_link.Link | None) -> dict[str, str] | None:
    """The link for the audit log: never the password."""
    if link is None:
        return None
    return {"url": link.shown, "prefix": link.prefix, "timezone": link.zone.key}
