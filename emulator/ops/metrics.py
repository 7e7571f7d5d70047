"""Prometheus metrics at ``/metrics``: requests, latency, tokens issued, failed client
authentication and lockouts, summed over every worker process.

Off by default (``METRICS_ENABLED``). Off, nothing here is registered: ``/metrics`` is an
unknown URL like any other, no hook runs on the request path, and the few counting calls
the dialects make cost one lookup and return (``token_issued``; the throttle gets no
lockout hook of the metrics). On, a ``before_request``/``after_request`` pair times and
counts every request from what the dispatcher resolved for it
(``emulator.web.resolution``), and ``/metrics`` answers the scrapers that
``METRICS_ALLOWED`` (and, when set, ``METRICS_TOKEN_SHA256``) let in; others get 403.

Several workers: prometheus_client's multiprocess mode. Each process writes its values to
memory-mapped files in ``PROMETHEUS_MULTIPROC_DIR`` (an environment variable, read by
prometheus_client when it is first imported, so it is set before the server starts its
workers), and a scrape adds up every file there, those of workers that have since died or
been replaced included: right for counters and histograms, which is all this module
keeps (no gauge, which would need a live-process mode). The directory is emptied when the
server starts, never by a worker (``bin/serve`` does both). Without the variable a process
counts alone (``flask run``, the tests), and says so (a warning) at its first scrape.

Label values come from bounded sets only: installed plugin names, their declared
operations, the grants the engine knows, the engine's reasons, HTTP statuses. A request no
plugin answered (an unknown api, option or path) is ``plugin="_host"``,
``operation="unknown"``, whatever it asked for; a client id or secret is never a label.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask import Response
from flask import current_app
from flask import g
from flask import request
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Histogram
from prometheus_client import generate_latest
from prometheus_client import values
from prometheus_client.multiprocess import MultiProcessCollector

from emulator.oauth import InvalidClient
from emulator.web.context import app_object as _app
from emulator.web.errors import exception_response
from emulator.web.plugin import HTTP_METHODS
from emulator.web.plugin import METRICS_PATH
from emulator.web.resolution import Resolution
from emulator.web.resolution import resolution

log = logging.getLogger(__name__)

EXTENSION = "emulator.metrics"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# The plugin label of a request the host answered itself (no plugin name starts with "_").
HOST = "_host"
UNKNOWN = "unknown"  # the operation of a request no plugin answered (any URL)
FALLBACK = "fallback"  # the operation of a request a plugin's fallback took (passthrough)
# Request latency (seconds): a cached token check is well under a millisecond, an
# argon2id secret check some tens of milliseconds, a proxied call up to the deadline.
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
)
SCRAPE_METHODS = frozenset({"GET", "HEAD"})
_START = "_metrics_start"  # g: when the request began (perf_counter)
_OPERATION = "_metrics_operation"  # g: the operation a handler named (label_operation)


class Metrics:
    """The app's metric objects and who may scrape them.

    ``registry`` None: multiprocess mode (the values go to files; a scrape collects them
    from ``directory``); otherwise this process's own registry.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None,
        *,
        directory: str | None,
        allowed: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...],
        token_sha256: str,
    ) -> None:
        self.registry = registry
        self.directory = directory
        self.allowed = allowed
        self.token_sha256 = token_sha256
        # (plugin, operation, status) -> its requests and latency series (bounded, as
        # the labels are; a race only makes labels() return the same series twice)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._warned = False
        self.requests = Counter(
            "emulator_requests",
            "Requests answered, by plugin, operation and HTTP status.",
            ("plugin", "operation", "status"),
            registry=registry,
        )
        self.latency = Histogram(
            "emulator_request_duration_seconds",
            "Time from the request's arrival to its answer, by plugin and operation.",
            ("plugin", "operation"),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.tokens = Counter(
            "emulator_tokens_issued",
            "Access tokens issued, by plugin and grant type.",
            ("plugin", "grant_type"),
            registry=registry,
        )
        self.auth_failures = Counter(
            "emulator_client_auth_failures",
            "Failed client authentication (invalid_client), by plugin and the engine's reason.",
            ("plugin", "reason"),
            registry=registry,
        )
        self.plugin_events = Counter(
            "emulator_plugin_events",
            "Events a plugin counts (fixed names it declares, e.g. oauth2's link_queued), "
            "by plugin and event.",
            ("plugin", "event"),
            registry=registry,
        )
        self.lockouts = Counter(
            "emulator_client_auth_lockouts",
            "Lockouts by the failed-authentication throttle, by what was locked "
            "(client: one client id from one address; address: every id from one address).",
            ("key",),
            registry=registry,
        )
        self.cookies_refused = Counter(
            "emulator_upstream_cookies_refused",
            "Set-Cookie headers of forwarded answers not passed on (they would land on "
            "this service's own session cookie or admin pages), by plugin.",
            ("plugin",),
            registry=registry,
        )

        self.outbound_refused = Counter(
            "emulator_outbound_refused",
            "Outbound calls not sent because the worker's OUTBOUND_MAX_CONCURRENT calls were "
            "under way (each answered 503), by what was called (legacy site, target).",
            ("caller",),
            registry=registry,
        )

    def count_request(
        self, plugin: str, operation: str, status: int, seconds: float | None
    ) -> None:
        """Count one answered request and observe its latency (``seconds``, if known)."""
        key = (plugin, operation, status)
        children = self._children.get(key)
        if children is None:  # labels() takes a lock: look each series up once
            children = self._children[key] = (
                self.requests.labels(plugin, operation, str(status)),
                self.latency.labels(plugin, operation),
            )
        children[0].inc()
        if seconds is not None:
            children[1].observe(seconds)

    def allows(self, address: str, authorization: str | None) -> bool:
        """Whether a scrape from ``address`` (with this Authorization header) is let in."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if not any(ip in network for network in self.allowed):
            return False
        if not self.token_sha256:
            return True
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        presented = hashlib.sha256(token.strip().encode("utf-8", "surrogatepass")).hexdigest()
        return hmac.compare_digest(presented, self.token_sha256)

    def exposition(self) -> bytes:
        """The text exposition of every process's values (or this process's)."""
        if self.registry is not None:
            if not self._warned:  # at the first scrape, not at every CLI command's start
                self._warned = True
                log.warning(
                    "metrics: %s is not set, so this process counts alone; a server of "
                    "several worker processes must set it (bin/serve does)",
                    MULTIPROC_ENV,
                )
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.directory)
        return generate_latest(registry)


def metrics_of(app: Flask) -> Metrics | None:
    """The app's metrics (None when they are off)."""
    return app.extensions.get(EXTENSION)


def token_issued(plugin: str, grant_type: str | None) -> None:
    """Count one access token issued by ``plugin`` under ``grant_type`` (an engine grant)."""
    metrics: Metrics | None = _app().extensions.get(EXTENSION)
    if metrics is not None:
        metrics.tokens.labels(plugin, grant_type).inc()


def plugin_event(plugin: str, event: str, count: int = 1) -> None:
    """Count ``count`` of a plugin's ``event`` (a fixed word of the plugin's, never a value
    from a request)."""
    metrics: Metrics | None = _app().extensions.get(EXTENSION)
    if metrics is not None:
        metrics.plugin_events.labels(plugin, event).inc(count)


def cookie_refused(plugin: str) -> None:
    """Count one upstream Set-Cookie that ``plugin`` did not pass on (emulator.web.isolation)."""
    metrics: Metrics | None = _app().extensions.get(EXTENSION)
    if metrics is not None:
        metrics.cookies_refused.labels(plugin).inc()


def outbound_refused(caller: str) -> None:
    """Count one outbound call refused for want of a free slot (emulator/web/outbound.py)."""
    metrics: Metrics | None = _app().extensions.get(EXTENSION)
    if metrics is not None:
        metrics.outbound_refused.labels(caller).inc()


def label_operation(name: str) -> None:
    """Name the operation of a path route's request (a fixed word: never a request value).

    A plugin whose one route serves several operations calls it (by default a path route's
    operation is its endpoint name).
    """
    if _app().extensions.get(EXTENSION) is not None:
        setattr(g, _OPERATION, name)


def lockout_hook(app: Flask) -> Callable[[Any], None] | None:
    """A hook for the throttle's ``on_lockout(lockout)``, counting each lockout by its kind
    (``client`` or ``address``); None when metrics are off."""
    metrics = metrics_of(app)
    if metrics is None:
        return None
    return lambda lockout: metrics.lockouts.labels(lockout.kind).inc()


def request_labels(found: Resolution | None) -> tuple[str, str]:
    """(plugin, operation) of the current request, from what the dispatcher resolved."""
    if found is None or found.status is None:
        rule = request.url_rule
        return HOST, (rule.endpoint if rule is not None and rule.endpoint == "healthz" else UNKNOWN)
    plugin = found.status.plugin.name
    if found.forwarded:
        return plugin, FALLBACK
    if found.operation:
        return plugin, found.operation
    named = g.get(_OPERATION)
    if named:
        return plugin, named
    rule = request.url_rule
    if rule is not None and "." in rule.endpoint:  # a path route: "<plugin>.<endpoint>"
        return plugin, rule.endpoint.partition(".")[2]
    return plugin, UNKNOWN  # a legacy URL whose option named no operation


def _start() -> None:
    setattr(g, _START, time.perf_counter())


def _record(response: Response) -> Response:
    """Count and time the request that ``response`` answers (not the scrapes themselves)."""
    rule = request.url_rule
    if rule is not None and rule.endpoint == "metrics":
        return response
    metrics: Metrics = current_app.extensions[EXTENSION]
    try:
        found = resolution()
        plugin, operation = request_labels(found)
        started = g.get(_START)
        metrics.count_request(
            plugin,
            operation,
            response.status_code,
            None if started is None else time.perf_counter() - started,
        )
        if found is not None and isinstance(found.error, InvalidClient):
            metrics.auth_failures.labels(plugin, found.error.reason or "unspecified").inc()
    except Exception:  # counting never changes an answer
        log.exception("metrics: could not count %s %s", request.method, request.path)
    return response


def metrics_view() -> Response:
    """``/metrics``: the exposition to an allowed scraper, 403 to anyone else."""
    metrics: Metrics = current_app.extensions[EXTENSION]
    if not metrics.allows(request.remote_addr or "", request.headers.get("Authorization")):
        rv = exception_response("Forbidden", 403)
    elif request.method not in SCRAPE_METHODS:  # answered here: no plugin's route takes it
        rv = exception_response(f"Method {request.method} is not allowed here", 405)
        rv.headers["Allow"] = ", ".join(sorted(SCRAPE_METHODS))
    else:
        rv = Response(metrics.exposition(), content_type=CONTENT_TYPE_LATEST)
    rv.headers["Cache-Control"] = "no-store"
    return rv


@dataclass(frozen=True)
class _Settings:
    allowed: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    token_sha256: str


def _settings(config: Any) -> _Settings:
    """METRICS_ALLOWED and METRICS_TOKEN_SHA256, checked (a bad value stops the start)."""
    raw = config.get("METRICS_ALLOWED") or ()
    entries: Iterable[Any] = raw.replace(",", " ").split() if isinstance(raw, str) else raw
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(str(entry).strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"METRICS_ALLOWED: {entry!r} is not an address or network "
                "(e.g. 127.0.0.1, 10.0.0.0/8, ::1)"
            ) from None
    token = str(config.get("METRICS_TOKEN_SHA256") or "").strip().lower()
    if token and (len(token) != 64 or any(c not in "0123456789abcdef" for c in token)):
        raise ValueError(
            "METRICS_TOKEN_SHA256 must be 64 hex digits: the SHA-256 of the scrapers' bearer "
            "token (printf %s TOKEN | sha256sum)"
        )
    return _Settings(tuple(networks), token)


def is_multiprocess() -> bool:
    """Whether prometheus_client writes to PROMETHEUS_MULTIPROC_DIR in this process.

    It decided when it was first imported, from the environment of that moment.
    """
    return values.ValueClass is not values.MutexValue


def init_app(app: Flask) -> None:
    """Create the app's metrics and serve ``/metrics`` when ``METRICS_ENABLED``; else nothing."""
    if not app.config.get("METRICS_ENABLED"):
        app.extensions[EXTENSION] = None
        return
    settings = _settings(app.config)
    if is_multiprocess():
        directory = os.environ.get(MULTIPROC_ENV, "")
        if not os.path.isdir(directory):
            raise ValueError(
                f"{MULTIPROC_ENV}={directory!r} is not a directory: create it (empty) before "
                "the server starts (bin/serve does)"
            )
        registry = None
    else:
        directory = None
        registry = CollectorRegistry()
    app.extensions[EXTENSION] = Metrics(
        registry,
        directory=directory,
        allowed=settings.allowed,
        token_sha256=settings.token_sha256,
    )
    app.before_request(_start)
    app.after_request(_record)
    app.add_url_rule(
        METRICS_PATH,
        endpoint="metrics",
        view_func=metrics_view,
        methods=sorted(HTTP_METHODS),  # every method, so that a catch-all route gets none
        provide_automatic_options=False,
    )
