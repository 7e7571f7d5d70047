"""Joomla's users carried over from a real database, each logging in with the old password.

The legacy database is a real MariaDB laid out as Joomla's when TEST_MYSQL_URL is set (else
SQLite), with a user per password format the old site stored (tests/support/legacy_site.py).
The import runs as an operator runs it, in a subprocess at the production argon2 cost; then
every user logs in with the password grant (through the app's whole request path, with an
imported client), and each hash of the old site's format is replaced by an argon2id one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from emulator.oauth import clients
from emulator.storage.database import db
from tests.live.server import emptied_env
from tests.live.server import run_cli
from tests.support.app import make_app
from tests.support.legacy_site import LOGINS
from tests.support.legacy_site import SECRETS
from tests.support.legacy_site import USERS
from tests.support.legacy_site import LegacySite
from tests.support.legacy_site import filled_site
from tests.support.users import stored_hashes

pytestmark = pytest.mark.slow

USERS_ROW = re.compile(r"^users\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$", re.M)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[LegacySite]:
    with filled_site(tmp_path) as site:
        yield site


def test_every_hash_format_logs_in_after_an_import(site, database_url, monkeypatch) -> None:
    env = emptied_env(database_url)
    args = ["legacy", "import", "--from", site.url, "--prefix", site.prefix]
    out = run_cli(env, *args, "--timezone", "Europe/Copenhagen")
    assert USERS_ROW.search(out).groups() == ("12", "0", "0", "2", "0")
    old_site = sorted(map(tuple, site.rows("SELECT id, username, password FROM {p}users")))

    # Logins in this process, at the production cost (the suite's cheap hasher set back).
    production = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
    monkeypatch.setattr(clients, "SECRET_HASHER", production)
    app = make_app(database_url)
    try:
        check_logins(app)
    finally:
        with app.app_context():
            db.engine.dispose()
    assert sorted(map(tuple, site.rows("SELECT id, username, password FROM {p}users"))) == (
        old_site
    )

    # Run again: everything is here already, and the new hashes stay.
    hashes = stored_hashes(app)
    again = run_cli(env, *args, "--timezone", "Europe/Copenhagen")
    assert USERS_ROW.search(again).groups() == ("0", "0", "12", "2", "0")
    assert stored_hashes(app) == hashes
    with app.app_context():
        db.engine.dispose()


def password_grant(app, username: str, password: str) -> int:
    """The status of a password grant for this user, by the imported conf-client."""
    data = {"grant_type": "password", "username": username, "password": password}
    data |= {"client_id": "conf-client", "client_secret": SECRETS["conf-client"]}
    return app.test_client().post("/index.php?option=token&api=oauth2", data=data).status_code


def check_logins(app) -> None:
    """Every user of the old site logs in with the old password, or fails as it must."""
    kinds = {user.username: user.kind for user in USERS}
    assert {kinds[name] for name in LOGINS} == {
        "bcrypt",
        "phpass",
        "phpass-H",
        "md5-salted",
        "md5",
        "sha256",
        "argon2i",
        "argon2id",
    }
    for username, password in LOGINS.items():
        assert password_grant(app, username, password + "!") == 401, username
        assert password_grant(app, username, password) == 200, f"{username} ({kinds[username]})"
    for username in ("blocked.user", "two.factor", "no.password"):
        password = next(user.password for user in USERS if user.username == username)
        # A user without a password fails whatever is typed (an empty one is "missing": 400).
        assert password_grant(app, username, password or "anything") == 401, username
    hashes = stored_hashes(app)
    assert all(hashes[name].startswith("$argon2id$v=19$m=19456,t=2,p=1$") for name in LOGINS)
