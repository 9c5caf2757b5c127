"""Per-category counters, and whether caching a category pays for itself.

Break-even hit rate = miss cost / saved upstream latency: a category whose hit rate stays below
it spends more time looking up than it saves. Miss cost is measured on real lookups (embedding
included); saved latency is measured as the time between a miss and the store of its answer.
"""

from __future__ import annotations

import bisect
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

_RESERVOIR = 4096
LATENCY_BUCKETS_MS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0)
SIMILARITY_BUCKETS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.92, 0.94, 0.96, 0.98, 0.99, 1.0)


@dataclass
class Histogram:
    """Fixed-bucket counts (one list increment per observation; exported by the metrics)."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value


@dataclass
class CategoryStats:
    lookups: int = 0
    hits: int = 0
    exact_hits: int = 0
    relaxed_hits: int = 0  # hits below the category's base threshold, under the load policy
    misses: int = 0
    bypasses: int = 0
    shadow_hits: int = 0
    guard_rejections: int = 0
    fail_opens: int = 0
    stores: int = 0
    evictions: int = 0
    expirations: int = 0
    entries: int = 0
    miss_ms_total: float = 0.0
    upstream_ms_total: float = 0.0
    upstream_samples: int = 0
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=_RESERVOIR))
    latency_histogram: Histogram = field(default_factory=lambda: Histogram(LATENCY_BUCKETS_MS))
    similarity_histogram: Histogram = field(default_factory=lambda: Histogram(SIMILARITY_BUCKETS))

    @property
    def hit_rate(self) -> float:
        answered = self.hits + self.misses + self.shadow_hits
        return self.hits / answered if answered else 0.0

    @property
    def miss_cost_ms(self) -> float | None:
        misses = self.misses + self.shadow_hits
        return self.miss_ms_total / misses if misses else None

    @property
    def saved_ms(self) -> float | None:
        return self.upstream_ms_total / self.upstream_samples if self.upstream_samples else None

    @property
    def break_even_hit_rate(self) -> float | None:
        if self.miss_cost_ms is None or not self.saved_ms:
            return None
        return min(1.0, self.miss_cost_ms / self.saved_ms)

    def percentile_ms(self, q: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def snapshot(self) -> dict[str, Any]:
        break_even = self.break_even_hit_rate
        return {
            "lookups": self.lookups, "hits": self.hits, "exact_hits": self.exact_hits,
            "relaxed_hits": self.relaxed_hits,
            "misses": self.misses, "bypasses": self.bypasses, "shadow_hits": self.shadow_hits,
            "guard_rejections": self.guard_rejections, "fail_opens": self.fail_opens,
            "stores": self.stores, "evictions": self.evictions, "expirations": self.expirations,
            "entries": self.entries, "hit_rate": round(self.hit_rate, 4),
            "miss_cost_ms": _round(self.miss_cost_ms), "saved_ms": _round(self.saved_ms),
            "break_even_hit_rate": _round(break_even),
            "pays_off": None if break_even is None else self.hit_rate >= break_even,
            "lookup_p50_ms": _round(self.percentile_ms(0.5)),
            "lookup_p99_ms": _round(self.percentile_ms(0.99)),
        }


class StatsBook:
    """Thread-safe map category -> CategoryStats."""

    def __init__(self) -> None:
        self._by_category: dict[str, CategoryStats] = {}
        self._lock = threading.Lock()

    def of(self, category: str) -> CategoryStats:
        stats = self._by_category.get(category)
        if stats is None:
            with self._lock:
                stats = self._by_category.setdefault(category, CategoryStats())
        return stats

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {name: stats.snapshot() for name, stats in sorted(self._by_category.items())}

    def items(self) -> list[tuple[str, CategoryStats]]:
        with self._lock:
            return sorted(self._by_category.items())


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
