"""The dispatcher: legacy query URLs (``/`` and ``/index.php`` with ``?api=&option=``) and
the path routes plugins declare, resolved to a plugin operation and called.

This is the one place that catches protocol and host errors: it rolls the session back,
so nothing is written when something fails, and hands the error to the plugin's renderer
(or renders it itself when no plugin is resolved).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import request
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import NotFound

from emulator.db import connection
from emulator.db import rollback
from emulator.errors import HostError
from emulator.errors import MethodNotAllowed
from emulator.errors import OperationMissing
from emulator.errors import UnknownApi
from emulator.errors import UnknownOperation
from emulator.oauth import OAuthError
from emulator.php import json_encode
from emulator.php import php_input
from emulator.plugin import HTTP_METHODS
from emulator.plugin import Operation
from emulator.plugin import Plugin
from emulator.plugin import Route
from emulator.registry import PluginStatus
from emulator.registry import get_registry

log = logging.getLogger(__name__)

bp = Blueprint("legacy", __name__)
ALL_METHODS = sorted(HTTP_METHODS)


@bp.route("/", methods=ALL_METHODS, provide_automatic_options=False)
@bp.route("/index.php", methods=ALL_METHODS, provide_automatic_options=False)
def legacy_entry() -> Response:
    """Answer ``index.php?api=NAME&option=OP`` through plugin NAME's operation OP."""
    status = None
    operation_name = None
    try:
        status = enabled_status(php_input().request_value("api"))
        operation_name, operation = resolve_operation(
            status.plugin, php_input().query.get("option")
        )
        if request.method not in operation.methods:
            raise MethodNotAllowed(
                f"Method {request.method} is not allowed here", allowed=operation.methods
            )
        return operation.handler(status.params)
    except (OAuthError, HostError) as error:
        return _fail(status, error, operation_name)


@bp.route("/healthz", methods=["GET", "HEAD"])
def healthz() -> Response:
    """Liveness for load balancers: answers without touching the database."""
    return Response('{"status":"ok"}', content_type="application/json")


def enabled_status(api: Any) -> PluginStatus:
    """Return the status of the enabled plugin answering ``api`` (any case), or raise UnknownApi."""
    registry = get_registry()
    name = api.lower() if isinstance(api, str) else ""
    if name not in registry.plugins:
        raise UnknownApi(f'API "{api}" is not available' if name else "No API was requested")
    status = registry.current(connection(), name)
    if not status.enabled:
        raise UnknownApi(f'API "{api}" is not available')
    return status


def resolve_operation(plugin: Plugin, option: Any) -> tuple[str, Operation]:
    """Map ``option`` (``com_`` prefix stripped, any case) to one of the plugin's operations.

    ``option`` is read like every other parameter (emulator/php.py: the last of repeated
    keys wins); an array (``option[]=x``) names no operation.
    """
    name = option.lower() if isinstance(option, str) else ""
    if name.startswith("com_"):
        name = name[4:]
    if not name:
        raise OperationMissing("The operation name is empty")
    operation = plugin.operations.get(name)
    if operation is None:
        raise UnknownOperation(f'Operation "{name}" is not known')
    return name, operation


def _route_view(plugin: Plugin, route: Route) -> Callable[..., Response]:
    def view(**_kwargs: Any) -> Response:
        status = None
        try:
            status = enabled_status(plugin.name)
        except UnknownApi:
            # A disabled plugin's paths do not exist (a catch-all route would otherwise
            # name the plugin on every unknown path).
            return _http_error(NotFound())
        try:
            return route.handler(status.params)
        except (OAuthError, HostError) as error:
            return _fail(status, error, None)

    view.__name__ = f"{plugin.name}_{route.endpoint}"
    return view


def _fail(status: PluginStatus | None, error: Exception, operation: str | None) -> Response:
    """Roll back and render ``error`` in the resolved plugin's dialect (or the host's)."""
    rollback()
    if status is not None and status.plugin.render_error is not None:
        return status.plugin.render_error(error, operation, status.params)
    if isinstance(error, HostError):
        return exception_response(error.message, error.status)
    return exception_response(str(error), 400)


def exception_response(message: str, status: int, *, code: int | None = None) -> Response:
    """The legacy dispatcher's exception shape: ``{"message","code","type"}`` sent as text/html."""
    body = json_encode(
        {"message": message, "code": status if code is None else code, "type": "RuntimeException"}
    )
    return Response(body, status=status, content_type="text/html; charset=UTF-8")


def init_app(app: Flask) -> None:
    """Register the legacy entry points, every plugin's path routes and the error handlers."""
    app.register_blueprint(bp)
    for plugin in app.extensions["emulator.registry"].plugins.values():
        for route in plugin.routes:
            app.add_url_rule(
                route.rule,
                endpoint=f"{plugin.name}.{route.endpoint}",
                view_func=_route_view(plugin, route),
                methods=sorted(route.methods),
                provide_automatic_options=False,
            )
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)


def _http_error(error: HTTPException) -> Response:
    """Werkzeug's errors (unknown path, body too large) in the same JSON shape, no HTML page."""
    return exception_response(error.description or error.name, error.code or 500)


def _unexpected_error(error: Exception) -> Response:
    """A bug or an outage: log it with its traceback, answer without one."""
    log.exception("unhandled error on %s %s", request.method, request.path)
    rollback()
    return exception_response("Internal server error", 500)
