"""The one cache type: what this worker read, kept for at most ``max_age`` seconds.

Every per-worker cache of the service is one of these (plugin state, client records,
verified secrets, verified access tokens); the host creates them once, in
``emulator.stores.init_app``. It is framework-free, so the engine may use it too.

cachetools' ``TTLCache`` (and ``LRUCache`` where nothing goes stale) does the expiry and
the size bound; they are not thread-safe, and a worker serves several threads, so every
access holds a lock (a few hundred nanoseconds, never held during I/O).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from collections.abc import Hashable
from typing import Generic
from typing import TypeVar

from cachetools import Cache
from cachetools import LRUCache
from cachetools import TTLCache

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
        self._lock = threading.Lock()
        self._data: Cache | None
        if max_age is None:
            self._data = LRUCache(maxsize=max_size)
        elif max_age > 0:
            self._data = TTLCache(maxsize=max_size, ttl=max_age, timer=timer or _monotonic)
        else:
            self._data = None

    def get(self, key: K) -> V | None:
        """The value kept for ``key``, or None when there is none (or it is too old)."""
        if self._data is None:
            return None
        with self._lock:
            return self._data.get(key)

    def put(self, key: K, value: V) -> None:
        """Keep ``value`` for ``key`` (from now on, for ``max_age``)."""
        if self._data is None:
            return
        with self._lock:
            self._data[key] = value

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
        if self._data is None:
            return 0
        with self._lock:
            return len(self._data)
