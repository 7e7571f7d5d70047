"""What is checked before the service starts, and what it says then.

- The database URL, in the factory, for every use: one line when it cannot be used
  (``check_database_url``); under the ``flask`` command the database is also connected to
  before any command runs (``init_app``), so a wrong database, user or password is one
  ``Error:`` line rather than a traceback.
- ``flask preflight``, which bin/serve runs once before the workers start: the database
  answers, HOST:PORT is free (granian binds with SO_REUSEPORT, so a second server on a
  taken port would silently share it), and where the admin pages are.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask
from flask import appcontext_pushed
from flask import current_app
from flask.cli import FlaskGroup
from flask.cli import with_appcontext
from sqlalchemy.engine import URL

from emulator.storage import dburl
from emulator.storage.database import db
from emulator.storage.models import AdminUser

ENV_DATABASE_URI = "FLASK_SQLALCHEMY_DATABASE_URI"
CREATE_ADMIN = ".venv/bin/flask --app app admin create-user NAME"
MIGRATE = ".venv/bin/flask --app app db upgrade"
CLI_EPILOG = (
    "These are the commands of the legacy OAuth2 service (the old sites' token URLs, "
    "without PHP): plugins, clients, scopes, tokens, admin, audit, usage and legacy, "
    "with the plugins' own groups. Each group lists its commands: flask --app app GROUP "
    "--help. The docs: docs/administer/cli.md (make docs builds the site into site/)."
)
PORTS_TRIED = 20  # how far past a taken port a free one is looked for, to suggest it


class StartupError(click.ClickException):
    """The server cannot start here: one line saying why and what to do instead."""


def check_database_url(app: Flask) -> None:
    """Check the configured database URL and give it an installed driver (UnusableDatabase).

    Cheap (no connection): the factory runs it on every start. A URL typed without a
    driver (postgres://, mysql://) is stored with the installed one.
    """
    value = app.config["SQLALCHEMY_DATABASE_URI"]
    text = value.render_as_string(hide_password=False) if isinstance(value, URL) else value
    # The environment overrides instance/config.py: say which one to fix.
    from_env = os.environ.get(ENV_DATABASE_URI) == text
    label = ENV_DATABASE_URI if from_env else "SQLALCHEMY_DATABASE_URI"
    url = dburl.parse_database_url(text, label)
    dburl.check_sqlite_folder(url, label, Path(app.instance_path))
    if url.drivername != sa.make_url(text).drivername:
        app.config["SQLALCHEMY_DATABASE_URI"] = url.render_as_string(hide_password=False)


def init_app(app: Flask) -> None:
    """Add ``flask preflight``; under the ``flask`` command, connect before any command runs.

    Flask's CLI pushes an app context before it runs any of the app's commands (and
    Flask-Migrate's ``db``, and ``flask --help`` to describe them): the first push
    connects once. A failure is an UnusableDatabase, which click prints as one ``Error:``
    line with exit status 1.
    """
    app.cli.add_command(preflight)
    if not is_loaded_by_flask_cli():
        return
    # Flask's own text heads `flask --help`; what follows the command list is ours (click
    # writes the epilog after the commands, which are listed by loading this app).
    click.get_current_context().find_root().command.epilog = CLI_EPILOG

    def check_once(sender: Flask, **_extra: object) -> None:
        appcontext_pushed.disconnect(check_once, sender=app)
        if not asks_for_help():
            check_connection()

    appcontext_pushed.connect(check_once, sender=app, weak=False)


def check_connection() -> None:
    """Connect to the app's database once, or raise UnusableDatabase (in an app context)."""
    dburl.check_connection(db.engine, sa.make_url(current_app.config["SQLALCHEMY_DATABASE_URI"]))


def asks_for_help() -> bool:
    """Whether this ``flask`` command only asks for help: it needs no database, and help
    must show even while the database is down."""
    return "--help" in sys.argv[1:]


def is_loaded_by_flask_cli() -> bool:
    """Whether the ``flask`` command is loading the app (not a server, not a test)."""
    ctx = click.get_current_context(silent=True)
    return ctx is not None and isinstance(ctx.find_root().command, FlaskGroup)


@click.command("preflight", short_help="Check the server can start; say where the admin pages are.")
@with_appcontext
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to serve on.")
@click.option("--port", default="8000", show_default=True, help="The port to serve on.")
def preflight(host: str, port: str) -> None:
    """Check that the server can start (database, HOST:PORT) and say where the admin pages are.

    bin/serve runs it once before the workers start; it exits with one Error: line when
    the server cannot start.
    """
    check_port(host, port)
    check_connection()
    for line in start_lines(host, int(port), admin_user_count()):
        click.echo(line)


def check_port(host: str, port: str) -> None:
    """Raise StartupError unless a server can listen on ``host``:``port`` now.

    The bind is tried without SO_REUSEPORT, which is what granian's own bind would add: a
    port that another server holds, granian or not, is then refused instead of shared.
    SO_REUSEADDR, as every server sets it: connections a stopped server left in TIME_WAIT
    do not count.
    """
    if not port.isascii() or not port.isdigit() or not 0 < int(port) < 65536:
        raise StartupError(f"PORT {port!r} is not a port number (1-65535): run make run PORT=8000")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, int(port), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError):
        raise StartupError(
            f"HOST {host!r} is not an address or a name this machine can resolve: "
            "run make run HOST=127.0.0.1"
        ) from None
    try:
        bind(family, kind, proto, address)
    except OSError as error:
        raise StartupError(_bind_failure(host, int(port), error, family, address)) from None


def bind(family: int, kind: int, proto: int, address: tuple) -> None:
    """Bind a socket to ``address`` and let it go (OSError when the address is taken)."""
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)


def _bind_failure(host: str, port: int, error: OSError, family: int, address: tuple) -> str:
    if error.errno == errno.EADDRINUSE:
        return (
            f"Port {port} on {host} is in use (another server?): stop it or run "
            f"make run PORT={_free_port_after(port, family, address)}"
        )
    if error.errno == errno.EACCES:
        return (
            f"Port {port} on {host} needs more privileges than this user has (ports below "
            "1024 need root): run make run PORT=8000"
        )
    if error.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine: run make run HOST=127.0.0.1"
    return f"cannot listen on {host} port {port}: {error.strerror or error}"


def _free_port_after(port: int, family: int, address: tuple) -> int:
    """The first port past ``port`` that is free now (``port + 1`` if none is)."""
    for candidate in range(port + 1, min(port + 1 + PORTS_TRIED, 65536)):
        try:
            bind(family, socket.SOCK_STREAM, 0, (address[0], candidate, *address[2:]))
        except OSError:
            continue
        return candidate
    return port + 1


def admin_user_count() -> int | None:
    """How many admin users there are; None when the database has no tables yet."""
    if not sa.inspect(db.engine).has_table(AdminUser.__tablename__):
        return None
    return db.session.execute(sa.select(sa.func.count()).select_from(AdminUser)).scalar_one()


def start_lines(host: str, port: int, admin_users: int | None) -> list[str]:
    """What the server says once as it starts: the admin pages' URL, and the next step."""
    lines = [f"Admin pages: {admin_url(host, port)}"]
    if admin_users is None:
        lines.append(f"The database has no tables yet: run {MIGRATE} (make run does it first).")
    elif admin_users == 0:
        lines.append(
            f"No admin user yet: create the first with {CREATE_ADMIN} (it asks for the password)."
        )
    return lines


def admin_url(host: str, port: int) -> str:
    """The admin pages' URL on this machine for a server listening on ``host``."""
    if host in ("", "0.0.0.0"):  # every IPv4 address: this machine's own is one of them
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/admin/"
