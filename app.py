"""The application factories: ``flask --app app ...`` and ``gunicorn 'app:create_app()'``;
``create_server`` is what bin/serve's granian runs (the app behind emulator/web/front.py)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: config layers, database, plugin registry, dispatcher, CLI."""
    app = Flask(__name__, instance_relative_config=True, static_folder=None)
    app.config.from_object("config.Config")
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)  # instance/config.py
        app.config.from_prefixed_env()  # FLASK_*
    else:
        app.config.from_mapping(test_config)

    instance = Path(app.instance_path)
    instance.mkdir(parents=True, exist_ok=True)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{instance / 'emulator.sqlite'}"
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret_key(instance / "secret_key")

    # Imported here so that importing app.py has no side effects beyond the factory.
    from emulator.manage import admin
    from emulator.manage import cli
    from emulator.manage import startup
    from emulator.ops import metrics
    from emulator.ops import throttle
    from emulator.ops import usage
    from emulator.storage import database
    from emulator.web import dispatch
    from emulator.web import proxywarning
    from emulator.web import registry
    from emulator.web import stores

    hops = int(app.config["TRUSTED_PROXIES"])
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    startup.check_database_url(app)  # one line when the URL cannot be used
    database.init_app(app)
    registry.init_app(app)
    stores.init_app(app, registry.registry_of(app).plugins.values())
    metrics.init_app(app)  # before the throttle, which counts its lockouts there
    throttle.init_app(app)
    usage.init_app(app)
    dispatch.init_app(app)
    proxywarning.init_app(app)
    admin.init_app(app)
    cli.init_app(app)
    startup.init_app(app)  # `flask preflight`; the flask command's database check
    return app


def create_server() -> Any:
    """The app behind its front (emulator/web/front.py), for granian's ASGI interface.

    THREADS (bin/serve's setting, default 4) threads per worker run the app; a request's
    body is read before one of them is taken, within REQUEST_BODY_TIMEOUT seconds.
    """
    from emulator.web.front import Front

    app = create_app()
    return Front(
        app,
        threads=int(os.environ.get("THREADS") or 4),
        body_timeout=float(app.config["REQUEST_BODY_TIMEOUT"]),
        max_body=app.config["MAX_CONTENT_LENGTH"],
    )


def _instance_secret_key(path: Path) -> str:
    """Read the instance's secret key, generating it on first start.

    Several workers may start at once: the key is written to a private temporary file
    and linked into place, so a reader never sees a half-written key and all agree.
    """
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # private from the start
        with os.fdopen(fd, "w") as key_file:
            key_file.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another worker won the race; use its key
        finally:
            tmp.unlink()
    return path.read_text().strip()
