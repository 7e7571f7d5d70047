"""The per-worker cache: freshness, size bound, least recently used first."""

from __future__ import annotations

from emulator.storage.cache import WorkerCache


def make(max_age: float | None, max_size: int = 3) -> tuple[WorkerCache[str, int], list[float]]:
    clock = [100.0]
    return WorkerCache(max_age, max_size, timer=lambda: clock[0]), clock


def test_a_value_is_kept_for_less_than_max_age() -> None:
    cache, clock = make(1.0)
    cache.put("a", 1)
    clock[0] += 0.999
    assert cache.get("a") == 1
    clock[0] += 0.001  # exactly max_age after the put: stale
    assert cache.get("a") is None
    assert len(cache) == 0


def test_a_put_starts_the_age_again() -> None:
    cache, clock = make(1.0)
    cache.put("a", 1)
    clock[0] += 0.8
    cache.put("a", 2)
    clock[0] += 0.8
    assert cache.get("a") == 2


def test_a_read_does_not_make_a_value_younger() -> None:
    cache, clock = make(1.0)
    cache.put("a", 1)
    clock[0] += 0.6
    assert cache.get("a") == 1
    clock[0] += 0.6
    assert cache.get("a") is None


def test_max_age_zero_keeps_nothing() -> None:
    cache, _clock = make(0)
    cache.put("a", 1)
    assert cache.get("a") is None
    assert len(cache) == 0


def test_no_max_age_keeps_values_until_evicted() -> None:
    cache, clock = make(None, max_size=2)
    cache.put("a", 1)
    clock[0] += 10**9
    assert cache.get("a") == 1
    cache.put("b", 2)
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, 2, 3)


def test_the_least_recently_used_value_leaves_first() -> None:
    cache, _clock = make(60.0, max_size=3)
    for key, value in (("a", 1), ("b", 2), ("c", 3)):
        cache.put(key, value)
    assert cache.get("a") == 1  # now "b" is the least recently used
    cache.put("d", 4)
    assert [cache.get(key) for key in "abcd"] == [1, None, 3, 4]
    assert len(cache) == 3


def test_forget_and_clear() -> None:
    cache, _clock = make(60.0)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.forget("a")
    cache.forget("missing")
    assert (cache.get("a"), cache.get("b")) == (None, 2)
    cache.clear()
    assert len(cache) == 0


def test_the_default_timer_is_looked_up_when_the_cache_is_made(monkeypatch) -> None:
    import emulator.storage.cache as cache_module

    clock = [5.0]
    monkeypatch.setattr(cache_module, "_monotonic", lambda: clock[0])
    cache: WorkerCache[str, int] = WorkerCache(1.0, 10)
    cache.put("a", 1)
    clock[0] += 1.0
    assert cache.get("a") is None
