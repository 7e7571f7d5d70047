"""The one cache type: what this worker read, kept for at most ``max_age`` seconds.

Every per-worker cache of the service is one of these (plugin state, client records,
verified secrets, verified access tokens); the host creates them once, in
``emulator.web.stores.init_app``. It is framework-free, so the engine may use it too.

It is an ``OrderedDict`` in least-recently-used order, each value kept with the moment
it goes stale, under a lock (a worker serves several threads; the lock is never held
during I/O). It replaced cachetools' ``TTLCache``/``LRUCache``, whose layers of Python
calls cost ~1.2 us a read against ~0.3 us here, and the token path reads six of them.
Every value of one cache lives equally long, so a value leaves when it is read stale, or
when the cache is full and it is the least recently used.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from collections.abc import Hashable
from typing import Generic
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def _monotonic() -> float:
    return time.monotonic()


class WorkerCache(Generic[K, V]):
    """Values this worker read, each for at most ``max_age`` seconds, at most ``max_size``.

    ``max_age`` 0 keeps nothing (every read goes to the source); ``None`` keeps a value
    until it is evicted by size or forgotten, for values that cannot go stale (a value
    keyed by what it was derived from). The least recently used value leaves first.
    ``timer`` is the clock ages are measured on (default: ``time.monotonic``, looked up
    on each call, so a test may replace it).
    """

    def __init__(
        self,
        max_age: float | None,
        max_size: int,
        *,
        timer: Callable[[], float] | None = None,
    ) -> None:
        self.max_age = max_age
        self.max_size = max_size
        self._lock = threading.Lock()
        self._timer = timer or _monotonic
        # key -> (the timer's reading at which the value goes stale, the value)
        self._data: OrderedDict[K, tuple[float, V]] | None = (
            None if max_age is not None and max_age <= 0 else OrderedDict()
        )

    def get(self, key: K) -> V | None:
        """The value kept for ``key``, or None when there is none (or it is too old)."""
        data = self._data
        if data is None:
            return None
        with self._lock:
            entry = data.get(key)
            if entry is None:
                return None
            if self.max_age is not None and entry[0] <= self._timer():
                del data[key]
                return None
            data.move_to_end(key)
            return entry[1]

    def put(self, key: K, value: V) -> None:
        """Keep ``value`` for ``key`` (from now on, for ``max_age``)."""
        data = self._data
        if data is None:
            return
        stale_at = 0.0 if self.max_age is None else self._timer() + self.max_age
        with self._lock:
            data[key] = (stale_at, value)
            data.move_to_end(key)
            if len(data) > self.max_size:
                data.popitem(last=False)

    def forget(self, key: K) -> None:
        """Drop what is kept for ``key``: the next read goes to the source."""
        if self._data is None:
            return
        with self._lock:
            self._data.pop(key, None)

    def clear(self) -> None:
        """Drop everything."""
        if self._data is None:
            return
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        """How many values are kept and still fresh."""
        data = self._data
        if data is None:
            return 0
        with self._lock:
            if self.max_age is None:
                return len(data)
            now = self._timer()
            return sum(1 for stale_at, _value in data.values() if stale_at > now)
