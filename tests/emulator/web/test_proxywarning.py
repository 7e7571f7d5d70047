"""Issue 20: a reverse proxy on this machine that TRUSTED_PROXIES does not trust is said
once per worker (a WARNING), in /healthz and on the admin pages, naming what to set."""

from __future__ import annotations

import logging

import pytest

from emulator.manage import actions
from emulator.ops.clock import utcnow
from emulator.storage.database import db
from tests.support.admin import CLI
from tests.support.admin import PASSWORD
from tests.support.admin import USERNAME
from tests.support.admin import log_in
from tests.support.app import empty_database
from tests.support.app import make_app

HEALTHY = {"status": "ok"}


def warnings_of(client) -> list[str]:
    rv = client.get("/healthz")
    assert rv.status_code == 200
    return rv.get_json().get("warnings", [])


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-Forwarded-For", "203.0.113.7"),
        ("Forwarded", "for=203.0.113.7;proto=https"),
        ("X-Real-IP", "203.0.113.7"),
    ],
)
def test_a_proxy_on_this_machine_is_warned_about_once(client, caplog, header, value) -> None:
    assert client.get("/healthz").get_json() == HEALTHY
    with caplog.at_level(logging.WARNING, logger="emulator.web.proxywarning"):
        for _ in range(3):
            client.get("/index.php?option=token&api=oauth2", headers={header: value})
    lines = [r.getMessage() for r in caplog.records if r.name == "emulator.web.proxywarning"]
    assert len(lines) == 1
    assert f"({header} from 127.0.0.1)" in lines[0]
    assert "TRUSTED_PROXIES=0" in lines[0] and "FLASK_TRUSTED_PROXIES=1" in lines[0]
    assert value not in lines[0]  # what the client claimed is never logged
    assert warnings_of(client) == [lines[0]]


@pytest.mark.parametrize("address", ["::1", "127.0.0.2", "::ffff:127.0.0.1"])
def test_every_loopback_address_counts(client, address) -> None:
    client.get(
        "/healthz", headers={"X-Forwarded-For": "1.2.3.4"}, environ_base={"REMOTE_ADDR": address}
    )
    assert len(warnings_of(client)) == 1


def test_a_header_from_another_address_is_not_a_proxy_here(client) -> None:
    """A client anywhere may send one (ignored with TRUSTED_PROXIES=0)."""
    client.get(
        "/healthz",
        headers={"X-Forwarded-For": "1.2.3.4"},
        environ_base={"REMOTE_ADDR": "198.51.100.4"},
    )
    assert client.get("/healthz").get_json() == HEALTHY


def test_a_trusted_proxy_is_not_warned_about(database_url, caplog) -> None:
    app = make_app(database_url, TRUSTED_PROXIES=1)
    empty_database(app)
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="emulator.web.proxywarning"):
        client.get("/healthz", headers={"X-Forwarded-For": "203.0.113.7"})
    assert client.get("/healthz").get_json() == HEALTHY
    assert not [r for r in caplog.records if r.name == "emulator.web.proxywarning"]
    with app.app_context():
        db.engine.dispose()


def test_the_admin_pages_show_it(app, client) -> None:
    with app.app_context():
        actions.create_admin_user(db.session, CLI, USERNAME, PASSWORD, now=utcnow())
        db.session.commit()
    log_in(client)
    page = client.get("/admin/clients").get_data(as_text=True)
    assert 'id="proxy-warning"' not in page
    client.get("/healthz", headers={"X-Forwarded-For": "203.0.113.7"})
    page = client.get("/admin/clients").get_data(as_text=True)
    assert 'id="proxy-warning"' in page
    assert "set TRUSTED_PROXIES to the number of proxies in front" in page
