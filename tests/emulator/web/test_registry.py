"""Plugin discovery, manifests, enabled flags and validated params."""

from __future__ import annotations

import json

import pytest
from marshmallow import Schema
from marshmallow import fields

from emulator.storage.database import db
from emulator.storage.models import PluginState
from emulator.web.errors import ParamsError
from emulator.web.errors import PluginDeclarationError
from emulator.web.plugin import ClientMark
from emulator.web.plugin import Operation
from emulator.web.plugin import Plugin
from emulator.web.registry import discover
from emulator.web.registry import get_registry

TOKEN_URL = "/index.php?option=token&api=oauth2"


class EmptyParams(Schema):
    pass


def handler(params):  # pragma: no cover - never called
    raise AssertionError


def test_discovery_finds_the_oauth2_plugin() -> None:
    found = discover()
    assert found["oauth2"].title == "redCORE OAuth2 server"
    assert set(found["oauth2"].operations) == {
        "token",
        "resource",
        "profile",
        "revoke",
        "introspect",
        "authorize",
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "OAuth2"}, "must match"),
        ({"name": "9lives"}, "must match"),
        ({"operations": {"Token": Operation(handler)}}, "operation 'Token'"),
        ({"params": dict}, "marshmallow Schema"),
    ],
    ids=["uppercase-name", "leading-digit", "bad-operation-name", "params-not-a-schema"],
)
def test_bad_manifest_is_refused_with_a_reason(kwargs, message) -> None:
    base = {"name": "demo", "title": "Demo", "version": "1", "params": EmptyParams}
    with pytest.raises(PluginDeclarationError, match=message):
        Plugin(**{**base, **kwargs})


class UrlParams(Schema):
    url = fields.String(load_default="")


def members():  # pragma: no cover - never called
    raise AssertionError


MARK = ClientMark(name="seen", label="seen", members=members)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"client_marks": ("seen",)}, "client_marks must be ClientMarks"),
        ({"client_marks": (MARK, MARK)}, "with distinct names"),
        ({"required_to_enable": ("nope",)}, r"names params its schema does not have: \['nope'\]"),
        ({"required_to_enable": "url"}, "is a tuple of param names"),
        ({"password_verifier": "md5"}, r"password_verifier must be callable"),
    ],
    ids=[
        "mark-not-a-mark",
        "marks-twice",
        "required-unknown",
        "required-a-string",
        "verifier-not-callable",
    ],
)
def test_admin_declarations_are_checked_with_the_manifest(kwargs, message) -> None:
    base = {"name": "demo", "title": "Demo", "version": "1", "params": UrlParams}
    with pytest.raises(PluginDeclarationError, match=message):
        Plugin(**{**base, **kwargs})
    assert Plugin(**base, client_marks=(MARK,), required_to_enable=("url",)).client_marks


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "Seen"}, "must match"),
        ({"label": ""}, "the label is 1 to 24 printable characters"),
        ({"label": "x" * 25}, "the label is 1 to 24"),
        ({"label": "a\nb"}, "printable"),
        ({"members": "select"}, "members must be callable"),
    ],
    ids=["name", "empty-label", "long-label", "control-label", "members"],
)
def test_a_client_mark_is_checked_when_it_is_made(kwargs, message) -> None:
    with pytest.raises(PluginDeclarationError, match=message):
        ClientMark(**{"name": "seen", "label": "seen", "members": members, **kwargs})


def test_operation_methods_must_be_http_methods() -> None:
    with pytest.raises(PluginDeclarationError, match="not HTTP methods"):
        Operation(handler, methods=frozenset({"FETCH"}))


def test_new_installation_has_oauth2_enabled_with_defaults(app, count_rows) -> None:
    assert count_rows("plugin_state") == 0
    with app.app_context():
        status = get_registry().status(db.session, "oauth2")
    assert status.enabled is True
    assert status.params["access_lifetime"] == 3600
    assert status.stored == {}


def test_params_are_validated_and_nothing_is_stored_on_error(app) -> None:
    with app.app_context():
        registry = get_registry()
        from emulator.ops.clock import utcnow

        with pytest.raises(ParamsError) as caught:
            registry.set_params(
                db.session,
                "oauth2",
                {"access_lifetime": "600", "expires_in_as_string": "maybe"},
                now=utcnow(),
            )
        assert "expires_in_as_string" in caught.value.messages
        db.session.rollback()
        assert registry.status(db.session, "oauth2").params["access_lifetime"] == 3600
        with pytest.raises(ParamsError, match="no_such_option"):
            registry.set_params(db.session, "oauth2", {"no_such_option": "1"}, now=utcnow())


def test_disabled_plugin_answers_as_an_unknown_api(client, cli) -> None:
    cli("plugins", "disable", "oauth2")
    rv = client.post(TOKEN_URL, data={"grant_type": "client_credentials"})
    assert rv.status_code == 404
    assert rv.content_type == "text/html; charset=UTF-8"
    assert json.loads(rv.data) == {
        "message": 'API "oauth2" is not available',
        "code": 404,
        "type": "RuntimeException",
    }
    assert client.get("/.well-known/oauth-authorization-server").status_code == 404
    cli("plugins", "enable", "oauth2")
    assert client.post(TOKEN_URL, data={"grant_type": "client_credentials"}).status_code == 400


@pytest.mark.parametrize(
    "url",
    ["/index.php", "/", "/index.php?option=token", "/index.php?option=token&api=nope"],
    ids=["bare-index", "bare-root", "no-api", "unknown-api"],
)
def test_missing_or_unknown_api_is_a_json_404(client, url) -> None:
    rv = client.get(url)
    assert rv.status_code == 404
    assert json.loads(rv.data)["code"] == 404


def test_a_param_change_is_seen_by_another_app_instance_without_restart(
    app, database_url, cli, make_client
) -> None:
    from tests.support.app import make_app

    other = make_app(database_url)  # a second worker: its own process state, same database
    client_id, secret = make_client(scope="s")
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    assert other.test_client().post(TOKEN_URL, data=data).get_json()["expires_in"] == "3600"
    cli("plugins", "set", "oauth2", "access_lifetime=60", "expires_in_as_string=false")
    assert other.test_client().post(TOKEN_URL, data=data).get_json()["expires_in"] == 60
    with other.app_context():
        db.engine.dispose()


def test_stored_params_that_no_longer_validate_answer_a_clear_500(app, client) -> None:
    from emulator.ops.clock import utcnow

    with app.app_context():
        db.session.add(
            PluginState(
                name="oauth2", enabled=True, params='{"access_lifetime": -5}', updated_at=utcnow()
            )
        )
        db.session.commit()
    rv = client.post(TOKEN_URL, data={"grant_type": "client_credentials"})
    assert rv.status_code == 500
    assert "plugins set oauth2" in json.loads(rv.data)["message"]


def test_workers_cache_plugin_state_for_at_most_max_age(
    app, database_url, cli, monkeypatch
) -> None:
    import emulator.storage.cache as cache_module
    from tests.support.app import make_app

    clock = [1000.0]
    monkeypatch.setattr(cache_module, "_monotonic", lambda: clock[0])  # caches made from now on
    worker = make_app(database_url, CACHE_MAX_AGE=1.0)
    client = worker.test_client()
    assert client.post(TOKEN_URL, data={}).status_code == 400  # enabled; state now cached
    cli("plugins", "disable", "oauth2")  # another process (the CLI) changes it
    clock[0] += 0.5
    assert client.post(TOKEN_URL, data={}).status_code == 400  # still the cached state
    clock[0] += 0.6
    assert client.post(TOKEN_URL, data={}).status_code == 404  # re-read after 1 s
    with worker.app_context():
        db.engine.dispose()
