"""The dispatcher: legacy query URLs (``/`` and ``/index.php`` with ``?api=&option=``) and
the path routes plugins declare, resolved to a plugin's handler and called.

Both kinds of URL go through ``call``, the one ``try`` on the request path: resolution
(which plugin, which operation, which method) raises host errors, the handler raises
engine and host errors, and either way the request's writes are rolled back (unless the
error says they are a security measure that must stand) and the error is rendered once:
by the resolved plugin's ``render_error``, or in the host's shape when no plugin was
resolved (or the plugin has no renderer).

An error marked ``unanswered`` (no enabled plugin answers the request: an unknown api,
option or path) first goes to the first enabled plugin with a ``fallback`` hook, through
``call`` again; only without one is it rendered as above. Werkzeug's 404 for a path no
rule matches takes the same way. After a plugin answered (not a fallback), the enabled
plugins' ``observe`` hooks are told (emulator/web/plugin.py, "Request hooks").
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask import Response
from flask import g
from flask import request
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import NotFound
from werkzeug.exceptions import RequestEntityTooLarge

from emulator.oauth import OAuthError
from emulator.ops import metrics
from emulator.ops import usage
from emulator.storage.database import commit
from emulator.storage.database import connection
from emulator.storage.database import rollback
from emulator.web import proxywarning
from emulator.web.context import g_object as _g
from emulator.web.context import request_object as _request
from emulator.web.errors import BodyTooLarge
from emulator.web.errors import HostError
from emulator.web.errors import MethodNotAllowed
from emulator.web.errors import NotServedHere
from emulator.web.errors import OperationMissing
from emulator.web.errors import PathNotFound
from emulator.web.errors import UnknownApi
from emulator.web.errors import UnknownOperation
from emulator.web.errors import exception_response
from emulator.web.errors import host_error_response
from emulator.web.outbound import request_path
from emulator.web.php import php_input
from emulator.web.plugin import HEALTH_PATH
from emulator.web.plugin import HTTP_METHODS
from emulator.web.plugin import LEGACY_PATHS
from emulator.web.plugin import OBSERVED_BODY_LIMIT
from emulator.web.plugin import Answer
from emulator.web.plugin import Exchange
from emulator.web.plugin import Handler
from emulator.web.plugin import Operation
from emulator.web.plugin import Plugin
from emulator.web.plugin import Route
from emulator.web.registry import PluginStatus
from emulator.web.registry import get_registry
from emulator.web.registry import registry_of
from emulator.web.resolution import Resolution

log = logging.getLogger(__name__)


Resolver = Callable[[Resolution], Handler]


def call(resolve: Resolver) -> Response:
    """Resolve the request to a handler and run it: the request path's one ``try``."""
    globals_ = _g()
    found = globals_._resolution = Resolution()  # a fallback's call replaces it (``resolution``)
    try:
        handler = resolve(found)
        assert found.status is not None  # a resolver that returns a handler found its plugin
        rv = handler(found.status.params)
        if isinstance(rv, Answer):
            rv = finish(found, rv)
    except (OAuthError, HostError) as error:
        found.error = error
        if getattr(error, "commit_writes", False):
            commit()  # a security measure the failure took (e.g. a revoked token chain)
        else:
            rollback()
        if isinstance(error, HostError) and error.unanswered and found.unanswered is None:
            return call(fallback_resolver(found, error))
        rv = render_error(found, error)
    else:
        if found.forwarded:
            globals_._forwarded = True  # another site's answer, sent as it is (_security_headers)
    # A page (a login form) is a browser's exchange with this service, not an API answer
    # to compare: observers (shadow mode) never see one, nor the password it may carry.
    if found.status is not None and not found.forwarded and not found.page:
        _observe(found.status.plugin.name, rv)
    return rv


def finish(found: Resolution, answer: Answer) -> Response:
    """Finish a plugin's answer to an identified client, the same way for every plugin:
    commit what it wrote, count the token it issued and the use, add the notices."""
    assert found.status is not None
    if answer.wrote or answer.issued:
        commit()
    plugin, params = found.status.plugin.name, found.status.params
    if answer.issued:
        metrics.token_issued(plugin, answer.issued)
    operation = answer.operation or found.operation
    assert operation is not None, "a path route's handler names its operation"
    return usage.finish(
        answer.response,
        params,
        plugin,
        operation,
        answer.client_pk,
        credentials=answer.credentials,
        token=answer.token,
    )


def fallback_resolver(unanswered: Resolution, error: HostError) -> Resolver:
    """The resolver of a request no plugin answered: the first enabled plugin's fallback.

    Without one, ``error`` is raised again, with what was resolved before, so it is
    rendered exactly as it was before fallbacks existed.
    """

    def resolve(found: Resolution) -> Handler:
        found.unanswered = error
        status = fallback_status()
        if status is None:
            found.status, found.operation = unanswered.status, unanswered.operation
            raise error.instead if isinstance(error, NotServedHere) else error
        assert status.plugin.fallback is not None
        found.status, found.forwarded = status, True
        return status.plugin.fallback

    return resolve


def fallback_status() -> PluginStatus | None:
    """The status of the first enabled plugin (by name) that has a fallback, if any."""
    registry = get_registry()
    for name in sorted(registry.plugins):
        if registry.plugins[name].fallback is not None:
            status = registry.current(name, connection)
            if status.enabled:
                return status
    return None


def _observe(plugin: str, rv: Response) -> None:
    """Tell the enabled plugins' ``observe`` hooks of the answer ``plugin`` gave.

    An observer never changes the answer: one that fails is logged, and the answer goes out.
    """
    registry = get_registry()
    try:
        observers = [
            status
            for name in sorted(registry.plugins)
            if registry.plugins[name].observe is not None
            and (status := registry.current(name, connection)).enabled
        ]
        if not observers:
            return
        exchange = exchange_of(plugin, rv)
        for status in observers:
            assert status.plugin.observe is not None
            status.plugin.observe(exchange, status.params)
    except Exception:
        log.exception("an observer failed on %s %s", request.method, request.path)


def exchange_of(plugin: str, rv: Response) -> Exchange:
    """The snapshot of the current request and ``plugin``'s answer ``rv``."""
    path = request_path()
    return Exchange(
        plugin=plugin,
        method=request.method,
        path=path.decoded,
        raw_path=path.raw,
        query_string=request.query_string,
        headers=tuple(request.headers.items()),
        body=_observed_body(),
        client=request.remote_addr or "",
        host=request.host,
        scheme=request.scheme,
        status=rv.status_code,
        response_headers=tuple(rv.headers.items()),
        response_body=None if rv.is_streamed else rv.get_data(),
    )


def _observed_body() -> bytes | None:
    """The request body for an Exchange, when it is within OBSERVED_BODY_LIMIT.

    Read now only when its declared length says it is (the plugin has mostly read it
    already: then it is cached); a chunked body not read yet is not waited for.
    """
    declared = request.content_length
    if declared is None:
        return None if "chunked" in request.headers.get("Transfer-Encoding", "").lower() else b""
    limit = min(OBSERVED_BODY_LIMIT, request.max_content_length or OBSERVED_BODY_LIMIT)
    return request.get_data(cache=True) if declared <= limit else None


def render_error(found: Resolution, error: OAuthError | HostError) -> Response:
    """Render ``error`` in the resolved plugin's dialect, else in the host's shape."""
    if found.status is not None and found.status.plugin.render_error is not None:
        return found.status.plugin.render_error(error, found.operation, found.status.params)
    if isinstance(error, HostError):
        return host_error_response(error)
    return exception_response(str(error), 400)


def legacy_entry() -> Response:
    """Answer ``index.php?api=NAME&option=OP`` through plugin NAME's operation OP."""
    return call(resolve_legacy)


def resolve_legacy(found: Resolution) -> Handler:
    """``api`` (query or form body, any case) -> enabled plugin; ``option`` -> operation.

    A body over MAX_CONTENT_LENGTH is not read, so ``api`` comes from the query alone (as
    PHP saw no ``$_POST`` past post_max_size); once the plugin is known, it answers 413.
    """
    inp = php_input()
    api = inp.request_value("api")
    if api is None or api == "":
        page = find_page(inp.query)
        if page is not None:  # a page a plugin declares (e.g. a login form)
            found.status, found.operation = page
            found.page = True
            declared = found.status.plugin.page(found.operation)
            method = _request().method
            if inp.body_too_large:
                raise BodyTooLarge(_request().max_content_length)
            if method not in declared.methods:
                raise MethodNotAllowed(
                    f"Method {method} is not allowed here", allowed=declared.methods
                )
            return declared.handler
    status = enabled_status(api)
    if not status.plugin.operations:  # a plugin of path routes only answers no ?api=
        raise UnknownApi(f'API "{api}" is not available')
    found.status = status
    req = _request()
    if inp.body_too_large:
        raise BodyTooLarge(req.max_content_length)
    found.operation, operation = resolve_operation(found.status.plugin, inp.query.get("option"))
    if req.method not in operation.methods:
        raise MethodNotAllowed(
            f"Method {req.method} is not allowed here", allowed=operation.methods
        )
    return operation.handler


def find_page(query: Any) -> tuple[PluginStatus, str] | None:
    """The enabled plugin (first by name) declaring a page this query selects, and the
    page's name; None when none does (the request goes on as one without ``api``).

    The declarations are matched first (no I/O): only a page's URL costs a status read.
    """
    registry = get_registry()
    for name in sorted(registry.plugins):
        for page in registry.plugins[name].pages:
            if page.matches(query):
                status = registry.current(name, connection)
                if status.enabled:
                    return status, page.name
                break
    return None


def enabled_status(api: Any) -> PluginStatus:
    """Return the status of the enabled plugin answering ``api`` (any case), or raise UnknownApi."""
    registry = get_registry()
    name = api.lower() if isinstance(api, str) else ""
    if name not in registry.plugins:
        raise UnknownApi(f'API "{api}" is not available' if name else "No API was requested")
    status = registry.current(name, connection)
    if not status.enabled:
        raise UnknownApi(f'API "{api}" is not available')
    return status


def resolve_operation(plugin: Plugin, option: Any) -> tuple[str, Operation]:
    """Map ``option`` (``com_`` prefix stripped, any case) to one of the plugin's operations.

    ``option`` is read like every other parameter (emulator/web/php.py: the last of repeated
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


def route_resolver(plugin: Plugin, route: Route) -> Resolver:
    """The resolver of one of a plugin's path routes (Flask has matched the path).

    A disabled plugin's paths do not exist (a catch-all route would otherwise name the
    plugin on every unknown path): the host answers them. The method is checked here, like
    an operation's, so the plugin words a wrong one.
    """

    def resolve(found: Resolution) -> Handler:
        status = get_registry().current(plugin.name, connection)
        if not status.enabled:
            raise PathNotFound()
        found.status = status
        method = _request().method
        if method not in route.methods:
            raise MethodNotAllowed(f"Method {method} is not allowed here", allowed=route.methods)
        return route.handler

    return resolve


def healthz() -> Response:
    """Liveness for load balancers: answers without touching the database. A worker that
    has seen a reverse proxy it does not trust says so in ``warnings`` (still 200)."""
    warning = proxywarning.current_warning()
    if warning is None:
        return Response('{"status":"ok"}', content_type="application/json")
    body = json.dumps({"status": "ok", "warnings": [warning]}, separators=(",", ":"))
    return Response(body, content_type="application/json")


def init_app(app: Flask) -> None:
    """Register the legacy entry points, every plugin's path routes and the error handlers."""
    for path in LEGACY_PATHS:
        app.add_url_rule(
            path,
            endpoint="legacy",
            view_func=legacy_entry,
            methods=sorted(HTTP_METHODS),
            provide_automatic_options=False,
        )
    app.add_url_rule(HEALTH_PATH, endpoint="healthz", view_func=healthz, methods=["GET", "HEAD"])
    for plugin in registry_of(app).plugins.values():
        for route in plugin.routes:
            app.add_url_rule(
                route.rule,
                endpoint=f"{plugin.name}.{route.endpoint}",
                view_func=_route_view(route_resolver(plugin, route)),
                methods=sorted(HTTP_METHODS),  # the resolver checks route.methods
                provide_automatic_options=False,
            )
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    app.after_request(_security_headers)


# Sent with every response: legacy error pages echo what the request said (as text/html,
# the bytes clients expect), so no browser may sniff them into HTML or run anything.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


def _security_headers(response: Response) -> Response:
    """Add the security headers (a proxied target's own values are kept).

    Not to a fallback's answer: it is another site's, passed on unchanged (a Joomla page
    under ``default-src 'none'`` would lose its scripts, styles and images).
    """
    if g.get("_forwarded"):
        return response
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _route_view(resolve: Resolver) -> Callable[..., Response]:
    def view(**_values: Any) -> Response:  # the route's path values: the handler reads request
        return call(resolve)

    return view


def _http_error(error: HTTPException) -> Response:
    """Werkzeug's errors (unknown path, body too large) in the same JSON shape, no HTML page.

    A path no rule matches is unanswered: ``call`` gives it to a fallback, else answers
    the host's PathNotFound (Werkzeug's text). A body found too large outside a plugin's
    handler (no dialect to word it) gets the host's BodyTooLarge bytes.
    """
    if isinstance(error, NotFound):
        return call(_raise(PathNotFound(error.description)))
    if isinstance(error, RequestEntityTooLarge):
        return host_error_response(BodyTooLarge(request.max_content_length))
    rv = exception_response(error.description or error.name, error.code or 500)
    for name, value in error.get_headers():  # e.g. a 405's Allow
        if name.lower() != "content-type":
            rv.headers[name] = value
    return rv


def _raise(error: HostError) -> Resolver:
    """A resolver that finds nothing: ``error`` (Werkzeug found no rule)."""

    def resolve(_found: Resolution) -> Handler:
        raise error

    return resolve


def _unexpected_error(error: Exception) -> Response:
    """A bug or an outage: log it with its traceback, answer without one."""
    log.exception("unhandled error on %s %s", request.method, request.path)
    rollback()
    return exception_response("Internal server error", 500)
