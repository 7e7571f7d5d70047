"""The plugins pages: options forms, reset, enable and disable."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

from emulator.web.registry import get_registry
from tests.support.admin import AdminSession
from tests.support.admin import stored_params

LEGACY = "https://legacy.example"
# --- plugins ---------------------------------------------------------------------------


def test_the_options_form_shows_every_field_with_type_default_and_description(
    admin: AdminSession,
) -> None:
    registry_names = ["oauth2", "apigee", "passthrough"]
    for name in registry_names:
        page = admin.get(f"/admin/plugins/{name}").get_data(as_text=True)
        with admin.client.application.app_context():
            schema = get_registry().get(name).params()
        for field_name, field in schema.fields.items():
            block = page[page.index(f'id="param-{field_name}"') :]
            block = block[: block.index("</div>")]
            assert str(escape(field.metadata["description"])) in block, field_name
            assert "Default:" in block


def test_a_bad_option_is_shown_beside_its_field_and_nothing_is_saved(
    admin: AdminSession, app: Flask
) -> None:
    rv = admin.post(
        "/admin/plugins/oauth2",
        {"access_lifetime": "-5", "www_realm": "Fine realm", "expires_in_as_string": "false"},
    )
    assert rv.status_code == 400
    page = rv.get_data(as_text=True)
    block = page[page.index('id="param-access_lifetime"') :]
    block = block[: block.index("</div>")]
    assert 'class="error"' in block and 'value="-5"' in block  # the admin's value, kept
    assert "Nothing was saved" in page
    assert stored_params(app, "oauth2") == {}


def test_save_and_reset_options(
    admin: AdminSession, app: Flask, audit_actions: Callable[[], list]
) -> None:
    form = admin.get("/admin/plugins/oauth2").get_data(as_text=True)
    assert 'value="3600"' in form
    rv = admin.post("/admin/plugins/oauth2", {"access_lifetime": "7200", "www_realm": "Service"})
    assert rv.status_code == 302
    assert stored_params(app, "oauth2") == {"access_lifetime": 7200}  # untouched: not stored
    assert admin.post("/admin/plugins/oauth2/reset").status_code == 200  # it asks first
    assert stored_params(app, "oauth2") == {"access_lifetime": 7200}
    assert admin.post("/admin/plugins/oauth2/reset", {"confirm": "1"}).status_code == 302
    assert stored_params(app, "oauth2") == {}
    assert [a[0] for a in audit_actions()[-2:]] == ["plugin.params", "plugin.reset"]


def test_enable_and_disable_a_plugin(admin: AdminSession, client: FlaskClient) -> None:
    assert admin.post("/admin/plugins/oauth2/enabled", {"enabled": "0"}).status_code == 200
    assert client.post("/index.php?option=token&api=oauth2").status_code != 404  # it asks
    confirmed = {"enabled": "0", "confirm": "1"}
    assert admin.post("/admin/plugins/oauth2/enabled", confirmed).status_code == 302
    rv = client.post("/index.php?option=token&api=oauth2")
    assert rv.status_code == 404
    assert rv.get_json() is None and b'API \\"oauth2\\" is not available' in rv.data
    assert admin.post("/admin/plugins/oauth2/enabled", {"enabled": "1"}).status_code == 302
    assert client.post("/index.php?option=token&api=oauth2").status_code != 404
    assert admin.post("/admin/plugins/nosuch/enabled", {"enabled": "1"}).status_code == 404


# --- settings a plugin needs before it is enabled ---------------------------------------------


def test_a_plugin_is_not_enabled_without_the_settings_it_requires(
    admin: AdminSession, client: FlaskClient, audit_actions: Callable[[], list]
) -> None:
    before = audit_actions()
    rv = admin.post("/admin/plugins/passthrough/enabled", {"enabled": "1"})
    page = rv.get_data(as_text=True)
    assert rv.status_code == 400
    assert (
        "The passthrough plugin cannot be enabled while legacy_url is not set: set it first. "
        'Nothing was changed: <a href="/admin/plugins/passthrough#param-legacy_url">'
        "set legacy_url</a> in the plugin's settings."
    ) in page
    assert audit_actions() == before
    row = page[page.index('id="plugin-passthrough"') :]
    assert row.index("disabled") < row.index("</tr>")
    # Its settings page says which field it needs.
    settings = admin.get("/admin/plugins/passthrough").get_data(as_text=True)
    assert "The plugin cannot be enabled until legacy_url is set below." in settings
    field = settings[settings.index('id="param-legacy_url"') :]
    assert field.index("required to enable") < field.index("</div>")
    # Set, it is enabled; enabled, the setting cannot be emptied, nor reset away.
    assert admin.post("/admin/plugins/passthrough", {"legacy_url": LEGACY}).status_code == 302
    assert admin.post("/admin/plugins/passthrough/enabled", {"enabled": "1"}).status_code == 302
    rv = admin.post("/admin/plugins/passthrough", {"legacy_url": ""})
    assert rv.status_code == 400
    field = rv.get_data(as_text=True)
    field = field[field.index('id="param-legacy_url"') :]
    assert field.index("Required while the plugin is enabled") < field.index("</div>")
    rv = admin.post("/admin/plugins/passthrough/reset", {"confirm": "1"}, follow_redirects=True)
    assert "disable the plugin first to reset its options" in rv.get_data(as_text=True)
    assert stored_params(admin.client.application, "passthrough") == {"legacy_url": LEGACY}
    assert [a[0] for a in audit_actions()[len(before) :]] == ["plugin.params", "plugin.enable"]


def test_a_legacy_url_that_is_this_page_s_own_server_is_refused(admin: AdminSession) -> None:
    """On the admin pages the server's port is known (the test client's is 80): a
    legacy_url of this machine on it would forward every request to itself (issue 20)."""
    rv = admin.post("/admin/plugins/passthrough", {"legacy_url": "http://localhost"})
    assert rv.status_code == 400
    page = rv.get_data(as_text=True)
    field = page[page.index('id="param-legacy_url"') :]
    assert field.index("is this service itself (this machine, port 80)") < field.index("</div>")
    assert stored_params(admin.client.application, "passthrough") == {}
    assert (
        admin.post(
            "/admin/plugins/passthrough", {"legacy_url": "http://localhost:8080"}
        ).status_code
        == 302
    )


def test_the_oauth2_page_shows_the_legacy_link_without_its_password(admin, cli) -> None:
    assert "<dt>Legacy link</dt><dd>off</dd>" in admin.get("/admin/plugins/oauth2").get_data(
        as_text=True
    )
    cli(
        "legacy",
        "link",
        "set",
        "--no-check",
        "--timezone",
        "Europe/Copenhagen",
        "--url",
        "mysql+pymysql://site:Pa55-w0rd@db.example/joomla",
    )
    page = admin.get("/admin/plugins/oauth2").get_data(as_text=True)
    assert "mysql+pymysql://site:***@db.example/joomla" in page
    assert "Europe/Copenhagen" in page and "<dt>Mirror backlog</dt><dd>none</dd>" in page
    assert "Pa55-w0rd" not in page
