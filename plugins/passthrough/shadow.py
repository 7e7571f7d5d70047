"""Shadow mode: requests a plugin answered, sent to the legacy site too, off the request path.

``offer`` (called by the observe hook, in the request) puts the request's snapshot on a
bounded queue of the worker process and returns at once: when the queue is full the
request is dropped, and counted, never waited for. One background thread per worker
process (started on first use, again after it went idle, and never inherited across a
fork: a forked child starts with an empty queue and no thread) takes each request, sends
it to the legacy site exactly as a forward would (emulator/web/outbound.py, with the plugin's
limits), compares the two answers (compare.py) and counts the outcome; the counts and the
kinds of difference are written in batches (store.py). The client only ever gets our
answer, which the thread never touches.

Outcomes: ``matched`` or ``differed`` (both ``compared``); ``failed`` (the legacy site gave
no answer: it is logged, like a forward's trouble); ``skipped`` (not comparable: the
request's body was not kept, or its path is not one a forward may carry); ``dropped`` (the
queue was full).
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask

from emulator.host import OBSERVED_BODY_LIMIT
from emulator.host import Exchange
from emulator.host import Limits
from emulator.host import Outbound
from emulator.host import RequestPath
from emulator.host import Trouble
from emulator.host import db
from emulator.host import isolation
from emulator.host import outbound
from emulator.host import utcnow

from . import store
from .compare import Asked
from .compare import Difference
from .compare import Side
from .compare import compare
from .legacy import hop_mark
from .legacy import legacy_headers
from .legacy import legacy_url
from .params import limits

log = logging.getLogger(__name__)

EXTENSION = "passthrough.shadow"
# The longest legacy answer read for a comparison (a longer one is "not read whole").
ANSWER_LIMIT = OBSERVED_BODY_LIMIT
FLUSH_DELAY = 0.5  # seconds without a new request before the counts are written
FLUSH_EVERY = 5.0  # seconds: written at least this often while busy
FLUSH_COUNT = 200  # outcomes: written at least this often while busy
IDLE_EXIT = 30.0  # seconds without a request before the thread ends (the next one restarts it)


@dataclass(frozen=True)
class Job:
    """One request to shadow, with the params it was answered under."""

    exchange: Exchange
    base: str  # the legacy site's URL, without a trailing '/'
    limits: Limits
    max_kinds: int
    mark: str  # this service's hop mark (legacy.hop_mark)
    own_cookies: frozenset[str]  # this service's cookie names: never sent to the old site


class ShadowFailed(Exception):
    """The legacy site gave no answer to compare (the outbound call logged why)."""

    def __init__(self, trouble: Trouble) -> None:
        super().__init__(trouble.value)
        self.trouble = trouble


class ShadowQueue:
    """One worker process's shadow queue and its background thread."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._reset()
        _QUEUES.add(self)

    def _reset(self) -> None:
        """Start empty (also in a forked child: the parent's thread and jobs are not ours)."""
        self._cond = threading.Condition()
        self._jobs: deque[Job] = deque()
        self._thread: threading.Thread | None = None
        self._busy = False
        self._dropped = 0
        self._tally = store.Tally()
        self._max_kinds = 1

    def offer(self, job: Job, size: int) -> bool:
        """Queue ``job`` unless ``size`` jobs wait already (then count it dropped); never waits
        for more than the queue's lock, which the thread holds only to take a job."""
        with self._cond:
            if len(self._jobs) >= size:
                self._dropped += 1
                accepted = False
            else:
                self._jobs.append(job)
                accepted = True
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="passthrough-shadow", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()
            return accepted

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every queued job is compared and written; False after ``timeout`` s."""
        with self._cond:
            return self._cond.wait_for(self._idle, timeout)

    def _idle(self) -> bool:
        return not self._jobs and not self._busy and not self._tally.pending and not self._dropped

    def _run(self) -> None:
        """The background thread: take jobs, compare, write the counts now and then."""
        while True:
            with self._cond:
                if not self._jobs:
                    pending = self._tally.pending or self._dropped
                    self._cond.wait(FLUSH_DELAY if pending else IDLE_EXIT)
                if not self._jobs and not (self._tally.pending or self._dropped):
                    self._thread = None  # idle: the next offer starts another
                    self._cond.notify_all()
                    return
                job = self._jobs.popleft() if self._jobs else None
                self._busy = True
            try:
                now = utcnow()
                if job is not None:
                    self._max_kinds = job.max_kinds
                    self._shadow(job, now=now)
                if job is None or self._due(now):
                    self._flush(now)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _shadow(self, job: Job, *, now: datetime) -> None:
        """Send one job to the legacy site, compare, and count the outcome (never raises)."""
        try:
            outcome = shadow_one(job)
        except ShadowFailed:
            outcome = "failed"
        except Exception:  # a bug here must not end the thread or reach the client
            log.exception("shadow: comparing %s failed", job.exchange.method)
            outcome = "failed"
        if isinstance(outcome, str):
            self._tally.count(outcome, now)
            if outcome == "matched":
                self._tally.count("compared", now)
        else:
            self._tally.add_difference(outcome, now)

    def _due(self, now: datetime) -> bool:
        started = self._tally.started
        return sum(self._tally.counts.values()) >= FLUSH_COUNT or (
            started is not None and (now - started).total_seconds() >= FLUSH_EVERY
        )

    def _flush(self, now: datetime) -> None:
        """Write what was counted (and dropped) since the last time; on failure log it."""
        with self._cond:
            dropped, self._dropped = self._dropped, 0
        tally, self._tally = self._tally, store.Tally()
        if dropped:
            tally.count("dropped", now, dropped)
        if not tally.pending:
            return
        try:
            with self.app.app_context():
                store.save(db.engine, tally, max_kinds=self._max_kinds, now=now)
        except Exception:
            log.exception("shadow: could not write %d outcomes", sum(tally.counts.values()))


def shadow_one(job: Job) -> Difference | str:
    """Send ``job``'s request to the legacy site; "matched", "skipped" or the Difference.

    Raises ShadowFailed when the legacy site gives no answer.
    """
    exchange = job.exchange
    path = RequestPath(exchange.path, exchange.raw_path)
    if exchange.body is None or not outbound.is_plain_path(path):
        return "skipped"
    request_out = Outbound(
        method=exchange.method,
        url=legacy_url(job.base, path, exchange.query_string),
        headers=legacy_headers(
            exchange.headers,
            exchange.client,
            exchange.host,
            exchange.scheme,
            job.mark,
            job.own_cookies,
        ),
        body=exchange.body,
    )
    bounds = Limits(
        read_timeout=job.limits.read_timeout,
        deadline=job.limits.deadline,
        max_request_bytes=job.limits.max_request_bytes,
        max_response_bytes=ANSWER_LIMIT,
    )
    answer = outbound.send(
        request_out, bounds, fault=ShadowFailed, log=log, label="shadow", request_thread=False
    )
    body = b"".join(answer.body)
    theirs = Side(answer.status, tuple(answer.headers), body if answer.body.complete else None)
    ours = Side(exchange.status, exchange.response_headers, exchange.response_body)
    asked = Asked(
        method=exchange.method,
        path=exchange.path,
        query_string=exchange.query_string,
        content_type=_header(exchange.headers, "Content-Type"),
        body=exchange.body,
    )
    return compare(asked, ours, theirs) or "matched"


def _header(headers: tuple[tuple[str, str], ...], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name.lower():
            return value
    return None


# --- one queue per app in each worker process ------------------------------------------------

_QUEUES: weakref.WeakSet[ShadowQueue] = weakref.WeakSet()
_CREATE = threading.Lock()
_fork_hook: list[bool] = []  # registered once, with the first queue


def queue_of(app: Flask) -> ShadowQueue:
    """The app's shadow queue in this process (made on first use)."""
    found = app.extensions.get(EXTENSION)
    if found is None:
        with _CREATE:
            found = app.extensions.get(EXTENSION)
            if found is None:
                if not _fork_hook:
                    os.register_at_fork(after_in_child=_after_fork_in_child)
                    _fork_hook.append(True)
                found = app.extensions[EXTENSION] = ShadowQueue(app)
    return found


def offer(app: Flask, exchange: Exchange, params: Mapping[str, Any]) -> bool:
    """Queue a plugin's answered request for shadowing; False when it was dropped."""
    job = Job(
        exchange=exchange,
        base=params["legacy_url"].rstrip("/"),
        limits=limits(params),
        max_kinds=params["shadow_max_kinds"],
        mark=hop_mark(app),
        own_cookies=isolation.guarded_cookies().names,
    )
    return queue_of(app).offer(job, params["shadow_queue_size"])


def _after_fork_in_child() -> None:
    """A forked child has none of its parent's threads: every queue starts empty, its lock
    new (the parent's may have been held by a thread that is not in the child)."""
    global _CREATE
    _CREATE = threading.Lock()
    for queue in list(_QUEUES):
        queue._reset()
