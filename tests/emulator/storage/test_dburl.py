"""Database URLs as people type them: completed with an installed driver, or one line why not."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from emulator.storage.dburl import UnusableDatabase
from emulator.storage.dburl import check_connection
from emulator.storage.dburl import check_sqlite_folder
from emulator.storage.dburl import hide_password
from emulator.storage.dburl import parse_database_url


@pytest.mark.parametrize(
    ("typed", "used"),
    [
        ("postgres://u:p@db.example/emulator", "postgresql+psycopg://u:p@db.example/emulator"),
        ("postgresql://u@db.example:5433/e", "postgresql+psycopg://u@db.example:5433/e"),
        ("postgres+psycopg://u@h/e", "postgresql+psycopg://u@h/e"),
        ("pgsql://u@h/e", "postgresql+psycopg://u@h/e"),
        ("mysql://root:pw@127.0.0.1/site?ssl=1", "mysql+pymysql://root:pw@127.0.0.1/site?ssl=1"),
        ("mysqli://root@h/site", "mysql+pymysql://root@h/site"),
        ("mariadb://root@h/site", "mariadb+pymysql://root@h/site"),
        ("mysql+pymysql://root@h/site", "mysql+pymysql://root@h/site"),
        ("sqlite:////srv/emulator.sqlite", "sqlite:////srv/emulator.sqlite"),
        ("sqlite://", "sqlite://"),
    ],
    ids=[
        "postgres",
        "postgresql",
        "postgres-with-driver",
        "pgsql",
        "mysql",
        "mysqli",
        "mariadb",
        "driver-kept",
        "sqlite",
        "sqlite-memory",
    ],
)
def test_urls_as_typed_get_the_installed_driver(typed: str, used: str) -> None:
    url = parse_database_url(typed, "X")
    assert url.render_as_string(hide_password=False) == used


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        (
            "not a url",
            "X 'not a url' is not a database URL (e.g. mysql+pymysql://user:password@host/"
            "database, postgresql+psycopg://..., sqlite:///path).",
        ),
        (
            "mysql://root:p@ss@127.0.0.1:notaport/x",
            "X 'mysql://root:***@127.0.0.1:notaport/x' is not a database URL (e.g. ",
        ),
        ("root:s3cret@localhost/db", "X 'root:***@localhost/db' is not a database URL"),
        ("oracle://scott@db/orcl", "X: 'oracle' databases are not supported; use MySQL/MariaDB"),
        (
            "postgresql+psycopg2://u:s3cret@h/e",
            "X: no installed driver for 'postgresql+psycopg2'; write postgresql+psycopg://u:***@h/e",
        ),
        (
            "mysql+mysqldb://root@h/site",
            "X: no installed driver for 'mysql+mysqldb'; write mysql+pymysql://root@h/site",
        ),
        ("postgresql+nosuch://h/e", "X: no installed driver for 'postgresql+nosuch'; write "),
        ("sqlite:///a\nb", "X holds a control character (such as a line break)."),
    ],
    ids=[
        "unparsable",
        "unparsable-password-hidden",
        "no-scheme-password-hidden",
        "unsupported",
        "driver-not-installed",
        "mysqlclient-not-installed",
        "unknown-driver",
        "control-character",
    ],
)
def test_a_bad_url_is_one_line_saying_what_to_write(typed: str, message: str) -> None:
    with pytest.raises(UnusableDatabase) as raised:
        parse_database_url(typed, "X")
    line = raised.value.message
    assert line.startswith(message), line
    assert "\n" not in line
    assert "s3cret" not in line and "p@ss" not in line


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ("mysql://root:s3cret@h/db", "mysql://root:***@h/db"),
        ("mysql://root:p@ss@h/db", "mysql://root:***@h/db"),
        ("root:s3cret@h/db", "root:***@h/db"),
        ("mysql://root@h:notaport/db", "mysql://root@h:notaport/db"),
        ("not a url", "not a url"),
    ],
)
def test_a_typed_url_is_shown_without_its_password(typed: str, shown: str) -> None:
    assert hide_password(typed) == shown


def test_a_sqlite_file_needs_an_existing_folder(tmp_path: Path) -> None:
    check_sqlite_folder(sa.make_url(f"sqlite:///{tmp_path / 'e.sqlite'}"), "X", tmp_path)
    check_sqlite_folder(sa.make_url("sqlite:///relative.sqlite"), "X", tmp_path)  # instance/
    check_sqlite_folder(sa.make_url("sqlite://"), "X", tmp_path)
    missing = tmp_path / "no" / "such"
    with pytest.raises(UnusableDatabase) as raised:
        check_sqlite_folder(sa.make_url(f"sqlite:///{missing / 'e.sqlite'}"), "X", tmp_path)
    assert raised.value.message == (
        f"X sqlite:///{missing / 'e.sqlite'}: there is no folder {missing} for the SQLite "
        "file (create it, or name a file in a folder that exists)."
    )
    with pytest.raises(UnusableDatabase, match="there is no folder"):
        check_sqlite_folder(sa.make_url("sqlite:///sub/e.sqlite"), "X", tmp_path)


def test_a_refused_connection_is_one_line_without_the_password() -> None:
    url = sa.make_url("mysql+pymysql://root:s3cret@127.0.0.1:1/site")  # port 1: refused
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    with pytest.raises(UnusableDatabase) as raised:
        check_connection(engine)
    assert raised.value.message.startswith(
        "cannot connect to the database mysql+pymysql://root:***@127.0.0.1:1/site: "
        "cannot reach the database server: Can't connect to MySQL server on '127.0.0.1'"
    )
    assert raised.value.exit_code == 1
