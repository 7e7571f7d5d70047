"""``flask --app app tokens ...``: list, revoke, import and purge tokens."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from datetime import timedelta

import click
from flask import current_app
from flask.cli import AppGroup

from emulator import oauth
from emulator.manage import actions
from emulator.manage.cli.common import TEXT
from emulator.manage.cli.common import aligned
from emulator.manage.cli.common import cli_actor
from emulator.manage.cli.common import commit_change
from emulator.manage.cli.common import purge_pacing
from emulator.manage.cli.common import purge_progress
from emulator.manage.cli.common import refused_as_error
from emulator.ops import throttle
from emulator.ops.clock import utcnow
from emulator.storage.database import db

tokens = AppGroup("tokens", help="List, revoke and import tokens; purge expired ones.")


# --- tokens ----------------------------------------------------------------------------


@tokens.command("import", short_help="Carry a live token or authorization code over.")
@click.option(
    "--type", "token_type", type=click.Choice(["access", "refresh", "code"]), required=True
)
@click.option("--token", type=TEXT, required=True, help="The legacy token (or code) value.")
@click.option("--client-id", required=True, type=TEXT)
@click.option("--scope", type=TEXT)
@click.option("--user-id", type=TEXT)
@click.option(
    "--redirect-uri",
    type=TEXT,
    help="--type code only: the redirect URI its authorization request named.",
)
@click.option("--expires", type=TEXT, required=True, help='UTC, "YYYY-MM-DD HH:MM:SS".')
def tokens_import(
    token_type: str,
    token: str,
    client_id: str,
    scope: str | None,
    user_id: str | None,
    redirect_uri: str | None,
    expires: str,
) -> None:
    """Carry a live token or authorization code over from the legacy site (stored by hash)."""
    try:
        expires_at = datetime.strptime(expires, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise click.ClickException(f'--expires {expires!r} is not "YYYY-MM-DD HH:MM:SS".') from None
    if redirect_uri is not None and token_type != "code":
        raise click.ClickException("--redirect-uri is for --type code only.")
    client = oauth.find_client(db.session, client_id)
    if client is None:
        raise click.ClickException(f"No client {client_id!r}; create it first.")
    if token_type == "code":
        code = oauth.CodeImport(
            raw=token,
            client_pk=client.id,
            user_id=user_id,
            redirect_uri=redirect_uri,
            scope=scope,
            expires_at=expires_at,
        )
        commit_change(
            lambda: actions.import_code(db.session, cli_actor(), code, client_id, now=utcnow())
        )
        click.echo(f"Imported authorization code for {client_id}, expires {expires_at} UTC.")
        return
    commit_change(
        lambda: actions.import_token(
            db.session,
            cli_actor(),
            token_type=token_type,
            raw=token,
            client_id=client_id,
            user_id=user_id,
            scope=scope,
            expires_at=expires_at,
            now=utcnow(),
        )
    )
    click.echo(f"Imported {token_type} token for {client_id}, expires {expires_at} UTC.")


@tokens.command("purge", short_help="Delete expired tokens in small batches (safe while serving).")
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
        db.session, before=before, pacing=purge_pacing(), on_batch=purge_progress
    )
    summary = ", ".join(f"{table}: {count}" for table, count in removed.items())
    click.echo(f"Purged tokens expired before {before:%Y-%m-%d %H:%M:%S} UTC ({summary}).")
    counters = throttle.purge_counters()
    if counters:
        click.echo(f"Purged {counters} ended failed-authentication windows.")


# --- tokens (admin) -------------------------------------------------------------------


@tokens.command("list", short_help="List a client's stored tokens, newest first.")
@click.option("--client", "client_id", required=True, type=TEXT, help="The client's id.")
@click.option("--limit", type=click.IntRange(1, actions.MAX_PAGE), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
def tokens_list(client_id: str, limit: int, as_json: bool) -> None:
    """List a client's stored tokens, newest first: the start of each hash, never a token."""
    rows = refused_as_error(lambda: actions.list_tokens(db.session, client_id, limit=limit))
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


@tokens.command("revoke", short_help="End every token of a client.")
@click.option("--client", "client_id", required=True, type=TEXT, help="The client's id.")
def tokens_revoke(client_id: str) -> None:
    """End every token of a client (every worker refuses them within CACHE_MAX_AGE)."""
    removed = commit_change(
        lambda: actions.revoke_client_tokens(db.session, cli_actor(), client_id, now=utcnow())
    )
    click.echo(f"Revoked {removed} token(s) of client {client_id}.")
