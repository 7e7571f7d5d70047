"""Bad input to `flask legacy import`: one `Error:` line, exit status 1, nothing written.

Real servers where the case needs one: an unreachable port is closed on every machine;
wrong credentials and an unknown database are asked of the TEST_MYSQL_URL server (and of
the TEST_DATABASE_URL PostgreSQL server) when they are set.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from plugins.oauth2.legacy import run as run_module
from tests.support.legacy_site import MYSQL_URL
from tests.support.legacy_site import POSTGRES_URL
from tests.support.legacy_site import fill

OURS = ("oauth_clients", "oauth_scopes", "oauth_access_tokens", "oauth_refresh_tokens")


def one_error_line(result) -> str:
    """The command failed with exactly one line, `Error: ...`; returns it."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def nothing_written(count_rows) -> None:
    assert [count_rows(table) for table in OURS] == [0, 0, 0, 0]
    assert count_rows("plugin_state") == 0


def server_url(base: str, **parts: str) -> str:
    return sa.make_url(base).set(**parts).render_as_string(hide_password=False)


URL_CASES = [
    pytest.param("not a url", "is not a database URL", id="malformed-url"),
    pytest.param(
        "mysql+pymysql://root:s3cret@127.0.0.1:notaport/x",
        "--from 'mysql+pymysql://root:***@127.0.0.1:notaport/x' is not a database URL",
        id="malformed-port-password-hidden",
    ),
    pytest.param(
        "oracle://scott@db/orcl", "'oracle' databases are not supported", id="unsupported"
    ),
    pytest.param(
        "sqlite:////nonexistent/legacy.sqlite",
        "no SQLite database file at '/nonexistent/legacy.sqlite'",
        id="sqlite-no-file",
    ),
    pytest.param(
        "mysql+pymysql://root@127.0.0.1:1/legacy",
        "--from mysql+pymysql://root@127.0.0.1:1/legacy: cannot reach the database server: "
        "Can't connect to MySQL server on '127.0.0.1'",
        id="mysql-unreachable",
    ),
    pytest.param(
        "mysql://root@127.0.0.1:1/legacy",  # no driver named: PyMySQL
        "--from mysql+pymysql://root@127.0.0.1:1/legacy: cannot reach the database server",
        id="mysql-unreachable-default-driver",
    ),
    pytest.param(
        "postgresql://postgres@127.0.0.1:1/legacy",
        "cannot reach the database server: connection failed",
        id="postgresql-unreachable",
    ),
]
if MYSQL_URL:
    URL_CASES += [
        pytest.param(
            server_url(MYSQL_URL, username="nobody", password="wrong-pw"),
            "the server refused the credentials: Access denied for user 'nobody'",
            id="mysql-wrong-credentials",
        ),
        pytest.param(
            server_url(MYSQL_URL, database="legacy_no_such_db"),
            "no such database: Unknown database 'legacy_no_such_db'",
            id="mysql-unknown-database",
        ),
    ]
if POSTGRES_URL:
    URL_CASES += [
        pytest.param(
            server_url(POSTGRES_URL, username="nobody_at_all"),
            "the server refused the credentials: connection failed: connection to server at",
            id="postgresql-wrong-credentials",
        ),
        pytest.param(
            server_url(POSTGRES_URL, database="legacy_no_such_db"),
            "no such database: connection failed: connection to server at",
            id="postgresql-unknown-database",
        ),
    ]


@pytest.mark.parametrize(("url", "expected"), URL_CASES)
def test_a_bad_source_is_one_line(legacy_import, count_rows, url, expected) -> None:
    line = one_error_line(legacy_import(url))
    assert expected in line, line
    assert "wrong-pw" not in line and "s3cret" not in line
    nothing_written(count_rows)


def test_a_file_that_is_no_database(tmp_path: Path, legacy_import, count_rows) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_text("not a database, just notes\n" * 100)
    line = one_error_line(legacy_import(f"sqlite:///{path}"))
    assert line.endswith(": file is not a database")
    nothing_written(count_rows)


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        (
            "--timezone",
            "Mars/Olympus_Mons",
            "--timezone 'Mars/Olympus_Mons' is not an IANA time zone",
        ),
        ("--timezone", "../../etc/passwd", "is not an IANA time zone"),
        ("--prefix", "jos_; DROP TABLE x", "is not a table prefix"),
    ],
    ids=["unknown-zone", "zone-path", "prefix"],
)
def test_bad_options_are_one_line(make_legacy, runner, count_rows, option, value, expected) -> None:
    site = make_legacy()
    fill(site)
    args = ["legacy", "import", "--from", site.url, option, value]
    line = one_error_line(runner.invoke(args=args))
    assert expected in line, line
    nothing_written(count_rows)


@pytest.fixture(params=["sqlite"] + (["mysql"] if MYSQL_URL else []))
def legacy_backend(request) -> str:
    return request.param


def test_a_missing_table_names_the_prefix_tried_and_those_found(
    make_legacy, legacy_backend, legacy_import, count_rows
) -> None:
    site = make_legacy(legacy_backend, "abc12_")
    if legacy_backend == "mysql":  # one database, two sites' tables
        make_legacy(legacy_backend, "old2_")
    line = one_error_line(legacy_import(site.url))  # --prefix jos_
    found = "'abc12_' (abc12_redcore_oauth_clients)"
    if legacy_backend == "mysql":
        found = "'abc12_' (abc12_redcore_oauth_clients), 'old2_' (old2_redcore_oauth_clients)"
    assert line.endswith(
        f"no table 'jos_redcore_oauth_clients' (prefix 'jos_'); prefixes with a "
        f"redcore_oauth_clients table there: {found}."
    ), line
    nothing_written(count_rows)


def test_a_missing_token_table_is_named(make_legacy, legacy_import, count_rows) -> None:
    site = make_legacy()
    site.run("DROP TABLE {p}redcore_oauth_refresh_tokens")
    line = one_error_line(legacy_import(site))
    assert "no table 'jos_redcore_oauth_refresh_tokens' (prefix 'jos_')" in line
    nothing_written(count_rows)


def test_a_table_without_the_documented_columns_is_named(
    make_legacy, legacy_import, count_rows
) -> None:
    site = make_legacy()
    site.run("DROP TABLE {p}redcore_oauth_clients")
    site.run("CREATE TABLE {p}redcore_oauth_clients (client_id varchar(80), secret varchar(80))")
    line = one_error_line(legacy_import(site))
    assert line.endswith(
        "table 'jos_redcore_oauth_clients' has no column client_secret, redirect_uri, "
        "grant_types, scope, user_id; is it redCORE's layout?"
    ), line
    nothing_written(count_rows)


def test_a_failure_half_way_leaves_nothing_half_imported(
    make_legacy, legacy_import, count_rows, monkeypatch
) -> None:
    """The source connection drops while the refresh tokens stream (after clients, scopes,
    options and access tokens were written in the transaction): everything rolls back."""
    site = make_legacy()
    fill(site)
    real = run_module.LegacySource.token_batches

    def drop_on_refresh(self, kind, size):
        if kind == "refresh":
            raise sa.exc.OperationalError(
                "SELECT", {}, Exception(2013, "Lost connection to MySQL server during query")
            )
        return real(self, kind, size)

    monkeypatch.setattr(run_module.LegacySource, "token_batches", drop_on_refresh)
    result = legacy_import(site)
    assert result.exit_code == 1, result.output
    last = result.output.splitlines()[-1]
    assert last == (
        "Error: the import stopped and was rolled back, nothing was written: cannot reach the "
        "database server: Lost connection to MySQL server during query"
    )
    assert "Traceback" not in result.output
    nothing_written(count_rows)
