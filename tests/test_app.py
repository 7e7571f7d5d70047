"""The factory: configuration layers, instance secret key, JSON errors instead of pages."""

from __future__ import annotations

import stat
from pathlib import Path

from app import _instance_secret_key
from app import create_app


def test_test_config_overrides_defaults(database_url: str) -> None:
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SITE_TIMEZONE": "Europe/Paris",
            "SECRET_KEY": "x",
        }
    )
    assert app.config["SITE_TIMEZONE"] == "Europe/Paris"
    assert app.config["TOKEN_PURGE_GRACE_SECONDS"] == 14 * 24 * 3600  # from config.Config


def test_environment_overrides_defaults(monkeypatch, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'env.sqlite'}"
    monkeypatch.setenv("FLASK_SQLALCHEMY_DATABASE_URI", url)
    monkeypatch.setenv("FLASK_SITE_TIMEZONE", "Asia/Tokyo")
    monkeypatch.setenv("FLASK_SECRET_KEY", "from-env")
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == url
    assert app.config["SITE_TIMEZONE"] == "Asia/Tokyo"
    with app.app_context():
        from emulator.storage.database import db

        db.engine.dispose()


def test_secret_key_is_generated_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    first = _instance_secret_key(path)
    assert len(first) == 64
    assert _instance_secret_key(path) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]  # no temporary file left


def test_unknown_path_is_a_json_404_not_a_page(client) -> None:
    rv = client.get("/no/such/page")
    assert rv.status_code == 404
    assert rv.get_json(force=True)["code"] == 404
    assert b"<html" not in rv.data.lower()


def test_unexpected_error_answers_500_without_traceback(app, client, monkeypatch) -> None:
    import plugins.oauth2.views as views

    def boom(*_args, **_kwargs):
        raise RuntimeError("secret detail that must not leak")

    monkeypatch.setattr(views.oauth, "issue_token", boom)
    rv = client.post(
        "/index.php?option=token&api=oauth2",
        data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"},
    )
    assert rv.status_code == 500
    assert rv.get_json(force=True) == {
        "message": "Internal server error",
        "code": 500,
        "type": "RuntimeException",
    }
    assert b"Traceback" not in rv.data and b"secret detail" not in rv.data
