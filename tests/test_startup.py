"""Clear failures at start, in real processes: a taken port and a bad database URL are one
``Error:`` line and exit status 1 (no traceback, no password); the server says once where
the admin pages are and how to make the first admin user.

``bin/serve`` and ``flask --app app`` run as subprocesses, against real sockets and the
real database servers (TEST_DATABASE_URL, TEST_MYSQL_URL) when they are set.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from app import create_app
from emulator.manage import startup
from tests.live.server import BIN
from tests.live.server import ROOT
from tests.live.server import GranianServer
from tests.live.server import free_port
from tests.live.server import subprocess_env
from tests.live.server import wait_until
from tests.support.app import make_app
from tests.support.app import scratch_database

PASSWORD = "s3cret-pw"  # in every URL that can hold one: it must never be printed
TIMEOUT = 60.0
TAKEN = re.compile(
    r"Error: Port (\d+) on 127\.0\.0\.1 is in use \(another server\?\): "
    r"stop it or run make run PORT=(\d+)"
)
CREATE_ADMIN = ".venv/bin/flask --app app admin create-user NAME (it asks for the password)."
POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")
MYSQL_URL = os.environ.get("TEST_MYSQL_URL")


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``command`` to its end; a server that starts instead is stopped and fails the test."""
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: a server's workers are stopped too
    )
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail(f"{command} did not stop within {TIMEOUT:.0f} s:\n{stdout}\n{stderr}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def serve_env(tmp_path: Path, database_url: str, port: int) -> dict[str, str]:
    env = subprocess_env(database_url)
    env.update(
        HOST="127.0.0.1",
        PORT=str(port),
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
        WEB_CONCURRENCY="2",
        THREADS="2",
    )
    return env


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The process failed with exactly one line, ``Error: ...``, on stderr; returns it."""
    assert result.returncode == 1, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    return lines[0]


def server_url(base: str, **parts: str) -> str:
    return sa.make_url(base).set(**parts).render_as_string(hide_password=False)


# --- the port -------------------------------------------------------------------------------


@pytest.mark.parametrize("reuse_port", [True, False], ids=["another-granian", "another-program"])
def test_a_taken_port_is_one_line(tmp_path: Path, reuse_port: bool) -> None:
    """Another granian (SO_REUSEPORT) would have shared the port; another program gave a
    traceback."""
    with socket.socket() as other:
        if reuse_port:
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        database = f"sqlite:///{tmp_path / 'emulator.sqlite'}"
        result = run([str(ROOT / "bin" / "serve")], serve_env(tmp_path, database, port))
    match = TAKEN.fullmatch(one_error_line(result))
    assert match and int(match[1]) == port, result.stderr
    assert result.stdout == ""
    suggested = int(match[2])
    assert suggested > port
    with socket.create_server(("127.0.0.1", suggested)):
        pass  # the port it suggests was free


@pytest.mark.parametrize(
    ("host", "port", "message"),
    [
        ("127.0.0.1", "80x", "Error: PORT '80x' is not a port number (1-65535): run make run "),
        ("127.0.0.1", "70000", "Error: PORT '70000' is not a port number (1-65535)"),
        ("192.0.2.1", "8000", "Error: 192.0.2.1 is not an address of this machine: run make run "),
    ],
    ids=["not-a-number", "too-large", "not-this-machine"],
)
def test_a_port_or_host_that_cannot_serve_is_one_line(runner, host, port, message) -> None:
    result = runner.invoke(args=["preflight", "--host", host, "--port", port])
    assert result.exit_code == 1
    assert result.output.startswith(message) and result.output.count("\n") == 1, result.output


# --- the database ---------------------------------------------------------------------------

URL_CASES = [
    pytest.param(
        "not a url",
        "Error: FLASK_SQLALCHEMY_DATABASE_URI 'not a url' is not a database URL (e.g. ",
        id="unparsable",
    ),
    pytest.param(
        "sqlite:///{tmp}/no/such/folder/emulator.sqlite",
        "Error: FLASK_SQLALCHEMY_DATABASE_URI sqlite:///{tmp}/no/such/folder/emulator.sqlite: "
        "there is no folder {tmp}/no/such/folder for the SQLite file",
        id="sqlite-missing-folder",
    ),
    pytest.param(
        f"postgres://postgres:{PASSWORD}@127.0.0.1:1/emulator",  # port 1: nobody listens
        "Error: cannot connect to the database postgresql+psycopg://postgres:***@127.0.0.1:1/"
        "emulator: cannot reach the database server: connection failed",
        id="postgres-scheme",
    ),
    pytest.param(
        f"mysql://root:{PASSWORD}@127.0.0.1:1/emulator",
        "Error: cannot connect to the database mysql+pymysql://root:***@127.0.0.1:1/emulator: "
        "cannot reach the database server: Can't connect to MySQL server on '127.0.0.1'",
        id="mysql-scheme",
    ),
    pytest.param(
        "oracle://scott@127.0.0.1/orcl",
        "Error: FLASK_SQLALCHEMY_DATABASE_URI: 'oracle' databases are not supported; use ",
        id="unsupported",
    ),
    pytest.param(
        f"postgresql+psycopg2://postgres:{PASSWORD}@127.0.0.1/emulator",
        "Error: FLASK_SQLALCHEMY_DATABASE_URI: no installed driver for 'postgresql+psycopg2'; "
        "write postgresql+psycopg://postgres:***@127.0.0.1/emulator",
        id="driver-not-installed",
    ),
]
if POSTGRES_URL:
    URL_CASES += [
        pytest.param(
            server_url(POSTGRES_URL, database="start_check_no_such_db"),
            "no such database: connection failed: connection to server at",
            id="postgresql-unknown-database",
        ),
        pytest.param(
            server_url(POSTGRES_URL, username="start_check_nobody", password=PASSWORD),
            "the server refused the credentials: connection failed: connection to server at",
            id="postgresql-unknown-role",
        ),
    ]
if MYSQL_URL:
    URL_CASES += [
        pytest.param(
            server_url(MYSQL_URL, database="start_check_no_such_db"),
            "no such database: Unknown database 'start_check_no_such_db'",
            id="mysql-unknown-database",
        ),
        pytest.param(
            server_url(MYSQL_URL, username="start_check_nobody", password=PASSWORD),
            "the server refused the credentials: Access denied for user 'start_check_nobody'",
            id="mysql-wrong-user",
        ),
    ]


@pytest.mark.parametrize(("url", "expected"), URL_CASES)
def test_a_bad_database_url_is_one_line_in_any_command(
    tmp_path: Path, url: str, expected: str
) -> None:
    env = subprocess_env(url.format(tmp=tmp_path))
    line = one_error_line(run([str(BIN / "flask"), "--app", "app", "clients", "list"], env))
    assert expected.format(tmp=tmp_path) in line, line


def test_help_shows_while_the_database_is_down() -> None:
    """Help needs no database: a group's help shows even when the database is unreachable,
    and the same command without --help still stops in one line."""
    env = subprocess_env(f"postgres://postgres:{PASSWORD}@127.0.0.1:1/emulator")
    helped = run([str(BIN / "flask"), "--app", "app", "clients", "--help"], env)
    assert helped.returncode == 0, helped.stderr
    assert "Register, list, change, rotate, disable and delete clients." in helped.stdout
    assert "cannot reach the database" in one_error_line(
        run([str(BIN / "flask"), "--app", "app", "clients", "list"], env)
    )


@pytest.mark.parametrize(
    "url",
    ["not a url", f"postgres://postgres:{PASSWORD}@127.0.0.1:1/emulator"],
    ids=["unparsable", "unreachable"],
)
@pytest.mark.parametrize(
    "command",
    [["flask", "--app", "app", "db", "upgrade"], ["bin/serve"], ["make", "run"]],
    ids=["db-upgrade", "bin-serve", "make-run"],
)
def test_a_bad_database_url_stops_the_start_in_one_line(
    tmp_path: Path, url: str, command: list[str]
) -> None:
    """What `make run` runs: `flask db upgrade` (Flask-Migrate's command, which loads the
    app itself), then bin/serve; make adds its own line naming the step that failed."""
    env = serve_env(tmp_path, url, free_port())
    program = {"flask": str(BIN / "flask"), "bin/serve": str(ROOT / "bin" / "serve")}
    result = run([program.get(command[0], command[0]), *command[1:]], env)
    if command[0] == "make":
        assert result.returncode == 2
        error, made = result.stderr.splitlines()
        assert made.startswith("make: *** [Makefile:") and made.endswith("migrate] Error 1")
        assert error.startswith("Error: ") and PASSWORD not in result.stderr + result.stdout
    else:
        one_error_line(result)


def test_urls_as_typed_work(tmp_path: Path) -> None:
    """postgres:// and mysql:// reach the server through the installed drivers."""
    backends = [b for b, url in (("postgresql", POSTGRES_URL), ("mysql", MYSQL_URL)) if url]
    if not backends:
        pytest.skip("no database server (TEST_DATABASE_URL, TEST_MYSQL_URL)")
    for backend in backends:
        with scratch_database(backend, tmp_path) as url:
            typed = url.replace("postgresql+psycopg://", "postgres://").replace(
                "mysql+pymysql://", "mysql://"
            )
            env = subprocess_env(typed)
            for args in (["db", "upgrade"], ["clients", "list"]):
                result = run([str(BIN / "flask"), "--app", "app", *args], env)
                assert result.returncode == 0, result.stderr


def test_the_factory_stores_the_installed_driver(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FLASK_SQLALCHEMY_DATABASE_URI", "postgres://u:pw@127.0.0.1:1/emulator")
    monkeypatch.setenv("FLASK_SECRET_KEY", "test")
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:pw@127.0.0.1:1/emulator"


# --- what the server says as it starts ------------------------------------------------------


@pytest.mark.slow
def test_the_server_says_where_the_admin_pages_are_once(tmp_path: Path) -> None:
    """bin/serve with two workers: the lines come once, before the workers start."""
    env = subprocess_env(f"sqlite:///{tmp_path / 'emulator.sqlite'}")
    assert run([str(BIN / "flask"), "--app", "app", "db", "upgrade"], env).returncode == 0
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "prometheus")
    server = GranianServer(env, tmp_path)
    server.start()
    try:  # until both workers have loaded the app (granian logs to stdout or stderr)
        wait_until(lambda: server_output(server).count("Started worker-") == 2, "both workers")
    finally:
        server.stop()
    said = server_output(server).splitlines()
    assert said.count(f"Admin pages: http://127.0.0.1:{server.port}/admin/") == 1
    assert said.count(f"No admin user yet: create the first with {CREATE_ADMIN}") == 1


def server_output(server: GranianServer) -> str:
    return server.stdout_path.read_text() + server.stderr()


def test_preflight_says_how_to_make_the_first_admin_until_there_is_one(runner, cli) -> None:
    port = free_port()
    admin_pages = f"Admin pages: http://127.0.0.1:{port}/admin/"
    first = runner.invoke(args=["preflight", "--port", str(port)])
    assert first.exit_code == 0, first.output
    assert first.output.splitlines() == [
        admin_pages,
        f"No admin user yet: create the first with {CREATE_ADMIN}",
    ]
    # The command it names works as written: it asks for the password, twice.
    made = runner.invoke(args=["admin", "create-user", "NAME"], input="a long password\n" * 2)
    assert made.exit_code == 0, made.output
    assert cli("preflight", "--port", str(port)).splitlines() == [admin_pages]


def test_preflight_says_when_the_database_has_no_tables(tmp_path: Path) -> None:
    app = make_app(f"sqlite:///{tmp_path / 'empty.sqlite'}")
    result = app.test_cli_runner().invoke(args=["preflight", "--port", str(free_port())])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[1] == (
        "The database has no tables yet: run .venv/bin/flask --app app db upgrade "
        "(make run does it first)."
    )


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8000/admin/"),
        ("0.0.0.0", "http://127.0.0.1:8000/admin/"),
        ("::", "http://[::1]:8000/admin/"),
        ("::1", "http://[::1]:8000/admin/"),
        ("emulator.example", "http://emulator.example:8000/admin/"),
    ],
)
def test_the_admin_url_is_one_this_machine_can_open(host: str, url: str) -> None:
    assert startup.admin_url(host, 8000) == url
