"""Whether caching a category pays for itself, measured on live traffic.

Break-even hit rate = miss cost / saved upstream latency: a category whose hit rate stays below
it spends more time looking up than it saves. Miss cost is measured on real lookups (embedding
included); saved latency is the time between a miss and the store of its answer, i.e. what the
upstream call took.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

_RESERVOIR = 4096


@dataclass
class CostTally:
    """Per category: what misses cost, what hits save, recent lookup latencies."""

    miss_ms_total: float = 0.0
    miss_samples: int = 0
    upstream_ms_total: float = 0.0
    upstream_samples: int = 0
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=_RESERVOIR))

    @property
    def miss_cost_ms(self) -> float | None:
        return self.miss_ms_total / self.miss_samples if self.miss_samples else None

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


class CostBook:
    """Thread-safe category -> :class:`CostTally`."""

    def __init__(self) -> None:
        self._tallies: dict[str, CostTally] = {}
        self._lock = threading.Lock()

    def lookup(self, category: str, latency_ms: float, *, missed: bool) -> None:
        with self._lock:
            tally = self._tallies.setdefault(category, CostTally())
            tally.latencies_ms.append(latency_ms)
            if missed:
                tally.miss_ms_total += latency_ms
                tally.miss_samples += 1

    def upstream(self, category: str, latency_ms: float) -> None:
        with self._lock:
            tally = self._tallies.setdefault(category, CostTally())
            tally.upstream_ms_total += latency_ms
            tally.upstream_samples += 1

    def of(self, category: str) -> CostTally:
        with self._lock:
            return self._tallies.setdefault(category, CostTally())
