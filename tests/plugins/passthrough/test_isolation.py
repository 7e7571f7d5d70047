"""Issue 20: what the old site sends never acts in the admin's origin nor on its cookie.
(The attack itself, in Chromium: tests/live/test_admin_isolation.py.)"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import responses
from flask import Flask

from emulator.manage import actions
from emulator.ops.clock import utcnow
from emulator.storage.database import db
from emulator.web import isolation
from tests.support.admin import CLI
from tests.support.admin import PASSWORD
from tests.support.admin import USERNAME
from tests.support.admin import log_in
from tests.support.app import empty_database
from tests.support.app import make_app
from tests.support.passthrough import LEGACY

PAGE = "/index.php?option=com_content&view=article&id=7"


@pytest.fixture
def app(database_url: str) -> Iterator[Flask]:
    """The app with metrics on (the refused cookies are counted)."""
    application = make_app(database_url, METRICS_ENABLED=True)
    empty_database(application)
    yield application
    with application.app_context():
        db.engine.dispose()


def legacy_page(legacy, *headers: tuple[str, str]) -> None:
    legacy.add(
        responses.Response(
            "GET",
            LEGACY + "/index.php",
            body=b"<html><script>fetch('/admin/clients/new')</script></html>",
            content_type=None,
            headers=[("Content-Type", "text/html"), *headers],
        )
    )


def test_a_forwarded_answer_is_sandboxed_by_default(client, legacy, enable_passthrough) -> None:
    enable_passthrough()
    legacy_page(legacy)
    rv = client.get(PAGE)
    assert rv.status_code == 200
    policy = rv.headers.getlist("Content-Security-Policy")
    assert policy == [isolation.SANDBOX]
    assert policy[0].startswith("sandbox ") and "allow-same-origin" not in policy[0]


def test_the_old_sites_own_policy_stays_beside_ours(client, legacy, enable_passthrough) -> None:
    enable_passthrough()
    legacy_page(legacy, ("Content-Security-Policy", "default-src 'self'"))
    rv = client.get(PAGE)
    assert rv.headers.getlist("Content-Security-Policy") == [
        "default-src 'self'",
        isolation.SANDBOX,
    ]


def test_the_sandbox_can_be_turned_off_with_a_warning(client, cli, legacy, enable_passthrough):
    enable_passthrough(sandbox=False)
    legacy_page(legacy)
    rv = client.get(PAGE)
    assert "Content-Security-Policy" not in rv.headers
    assert "sandbox is off" in cli("plugins", "show", "passthrough")


def test_a_cookie_on_the_admin_session_is_dropped_logged_and_counted(
    app, client, legacy, enable_passthrough, caplog
) -> None:
    enable_passthrough()
    legacy_page(
        legacy,
        ("Set-Cookie", "joomla_session=abc; path=/; HttpOnly"),
        ("Set-Cookie", "emulator_admin=forged-value; Path=/admin; HttpOnly"),
        ("Set-Cookie", "tracker=1; Path=/admin/clients"),
        ("Set-Cookie", "joomla_user_state=logged_in; path=/"),
    )
    with caplog.at_level(logging.WARNING):
        rv = client.get(PAGE)
    assert rv.status_code == 200
    assert rv.headers.getlist("Set-Cookie") == [
        "joomla_session=abc; path=/; HttpOnly",
        "joomla_user_state=logged_in; path=/",
    ]
    refused = [r.getMessage() for r in caplog.records if "not passed on" in r.getMessage()]
    assert len(refused) == 2
    assert "'emulator_admin' (path /admin)" in refused[0]
    assert "forged-value" not in caplog.text
    scraped = client.get("/metrics").get_data(as_text=True)
    assert 'emulator_upstream_cookies_refused_total{plugin="passthrough"} 2.0' in scraped


@pytest.mark.parametrize(
    "set_cookie",
    [
        "oauth2_site_session=fixed-by-the-old-site; path=/; HttpOnly",
        "OAuth2_Site_CSRF=known; path=/index.php",
        "oauth2_site_session=; expires=Thu, 01 Jan 1970 00:00:00 GMT",  # a logout
    ],
)
def test_a_cookie_of_the_site_users_pages_is_dropped(
    client, legacy, enable_passthrough, set_cookie
) -> None:
    """The login and consent pages' cookies are this service's (Plugin.cookies): an old
    site may not fix a user's session, know their CSRF anchor or log them out."""
    enable_passthrough()
    legacy_page(legacy, ("Set-Cookie", set_cookie), ("Set-Cookie", "joomla_session=abc; path=/"))
    rv = client.get(PAGE)
    assert rv.headers.getlist("Set-Cookie") == ["joomla_session=abc; path=/"]


def test_the_admin_session_survives_a_forwarded_cookie(
    app, client, legacy, enable_passthrough
) -> None:
    """The test client keeps cookies as a browser does: the admin stays logged in."""
    enable_passthrough()
    with app.app_context():
        actions.create_admin_user(db.session, CLI, USERNAME, PASSWORD, now=utcnow())
        db.session.commit()
    assert log_in(client).status_code == 302
    legacy_page(legacy, ("Set-Cookie", "emulator_admin=forged; Path=/admin; HttpOnly"))
    client.get(PAGE)
    rv = client.get("/admin/clients")
    assert rv.status_code == 200
