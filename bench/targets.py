"""The performance issue's targets (issue 22) and their check: ``make bench
BENCH_ARGS=--targets`` prints each with its figure and exits 0 only when every one is met.

A target is (scenario, what, threshold); scenario "*" is every scenario the run measured:

- "floor": the scenario's req/s over the floor's (bench/floor.py) at each connection count;
- "p99_floor": its p99 at c32 no worse than the floor's (threshold: the allowed ratio);
- "big": its req/s with 1,000,000 rows per token table over the empty-table figure.

A target the run could not measure (no floor for the scenario yet, no --big-table, a
backend without a floor) counts as missed: "met" means measured and met.
"""

from __future__ import annotations

from typing import Any

TARGETS = {
    "sqlite": [
        ("token", "floor", 0.80),
        ("refresh", "floor", 0.80),
        ("resource", "floor", 0.80),
        ("token", "p99_floor", 1.0),
        ("refresh", "p99_floor", 1.0),
        ("resource", "p99_floor", 1.0),
        ("*", "big", 0.90),
    ],
    "postgresql": [("token", "floor", 0.60)],
}

Check = tuple[str, float | None, float, bool]  # name, figure (None: not measured), want, met


def check(
    results: dict[str, dict[str, Any]],
    floor: dict[str, dict[str, Any]],
    connections: list[int],
    backend: str,
) -> list[Check]:
    """Each target of ``backend`` with this run's figure."""
    checks: list[Check] = []
    measured = [s for s in results if s != "noop" and not s.endswith(("_big", "_during_purge"))]
    for scenario, what, want in TARGETS.get(backend, ()):
        for name in measured if scenario == "*" else [scenario]:
            mine = results.get(name, {})
            if what == "p99_floor":
                label = f"{name} p99 c32 / floor's"
                if "c32" in mine and "c32" in floor.get(name, {}):
                    got = mine["c32"].p99_ms / floor[name]["c32"].p99_ms
                    checks.append((label, got, want, got <= want))
                else:
                    checks.append((label, None, want, False))
                continue
            for c in connections:
                key = f"c{c}"
                if what == "floor":
                    label, base, top = f"{name} {key} / floor", floor.get(name, {}), mine
                else:
                    label, base, top = (
                        f"{name} {key} 1M rows / empty",
                        mine,
                        results.get(f"{name}_big", {}),
                    )
                if key in base and key in top:
                    got = top[key].rps / base[key].rps
                    checks.append((label, got, want, got >= want))
                else:
                    checks.append((label, None, want, False))
    return checks


def show(checks: list[Check]) -> int:
    """Print the targets table; the number missed (not measured counts)."""
    print("\nTargets (issue 22; ratios in this run):")
    for name, got, want, met in checks:
        op = "<=" if "p99" in name else ">="
        figure = "not measured" if got is None else f"{got:8.2f}"
        print(f"  {name:<36} {figure:>12}  want {op} {want:<5} {'met' if met else 'MISSED'}")
    missed = sum(not met for *_, met in checks)
    print(
        f"  {len(checks) - missed} of {len(checks)} met" + (f", {missed} missed" if missed else "")
    )
    return missed
