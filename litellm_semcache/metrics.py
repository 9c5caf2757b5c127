"""Prometheus metrics, read from the engine's per-category stats at scrape time.

Nothing is done on the request path beyond the engine's own counters: a custom collector turns
them into Prometheus families when scraped. Exposed on the default registry (so LiteLLM's own
``/metrics`` shows them when LiteLLM's Prometheus callback is on) and, with ``metrics_port``, on
a port of our own.
"""

from __future__ import annotations

from collections.abc import Iterator

import structlog
from prometheus_client import REGISTRY, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from litellm_semcache.cache import SemanticCache
from litellm_semcache.stats import CategoryStats, Histogram

log = structlog.get_logger("litellm_semcache")

_COUNTERS = {
    "lookups": "Lookups per category",
    "hits": "Answers served from the cache",
    "exact_hits": "Hits served by the exact fast path (no embedding)",
    "relaxed_hits": "Hits served only because the load policy relaxed the threshold",
    "misses": "Lookups that went to the model",
    "bypasses": "Requests the cache did not look up (no text, no-cache, mode off, invalid)",
    "shadow_hits": "Shadow-mode lookups that would have hit",
    "guard_rejections": "Candidates above the threshold vetoed by the guard",
    "fail_opens": "Cache faults and deadline overruns turned into misses",
    "stores": "Answers stored",
    "evictions": "Entries evicted by the category quota",
    "expirations": "Entries removed at expiry",
}


class SemcacheCollector(Collector):
    def __init__(self, engine: SemanticCache) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        rows = self._engine.stats.items()
        for name, help_text in _COUNTERS.items():
            family = CounterMetricFamily(f"semcache_{name}", help_text, labels=["category"])
            for category, stats in rows:
                family.add_metric([category], getattr(stats, name))
            yield family
        yield _gauge("semcache_entries", "Entries held", rows, lambda s: s.entries)
        yield _gauge("semcache_hit_rate", "Hits / (hits + misses + shadow hits)", rows,
                     lambda s: s.hit_rate)
        yield _gauge("semcache_break_even_hit_rate",
                     "Miss cost / saved upstream latency (NaN until both are measured)", rows,
                     lambda s: float("nan") if s.break_even_hit_rate is None else s.break_even_hit_rate)
        yield _gauge("semcache_above_break_even", "1 if the hit rate pays for the lookups", rows,
                     lambda s: float(s.break_even_hit_rate is not None
                                     and s.hit_rate >= s.break_even_hit_rate))
        yield _histogram("semcache_lookup_latency_seconds", "Lookup latency", rows,
                         lambda s: s.latency_histogram, scale=1e-3)
        yield _histogram("semcache_best_similarity", "Similarity of the best candidate", rows,
                         lambda s: s.similarity_histogram)
        yield from _load_families(self._engine)


def _load_families(engine: SemanticCache) -> Iterator[Metric]:
    """Load score and overload state per routed deployment (only with the load policy on)."""
    if not engine.load.settings.enabled:
        return
    states = engine.load.states()
    score = GaugeMetricFamily("semcache_load_score", "Smoothed load score of a deployment "
                              "(1.0 = saturated; NaN = no fresh signal)", labels=["deployment"])
    overloaded = GaugeMetricFamily("semcache_overloaded", "1 while the load policy treats the "
                                   "deployment as overloaded", labels=["deployment"])
    for deployment, (state, value) in states.items():
        score.add_metric([deployment], float("nan") if value is None else value)
        overloaded.add_metric([deployment], float(state == "overloaded"))
    yield score
    yield overloaded


def _gauge(name: str, help_text: str, rows: list[tuple[str, CategoryStats]], value) -> Metric:  # type: ignore[no-untyped-def]
    family = GaugeMetricFamily(name, help_text, labels=["category"])
    for category, stats in rows:
        family.add_metric([category], value(stats))
    return family


def _histogram(name: str, help_text: str, rows: list[tuple[str, CategoryStats]], pick,  # type: ignore[no-untyped-def]
               scale: float = 1.0) -> Metric:
    family = HistogramMetricFamily(name, help_text, labels=["category"])
    for category, stats in rows:
        histogram: Histogram = pick(stats)
        cumulative, buckets = 0, []
        for bound, count in zip(histogram.bounds, histogram.counts):
            cumulative += count
            buckets.append((repr(bound * scale), cumulative))
        buckets.append(("+Inf", cumulative + histogram.counts[-1]))
        family.add_metric([category], buckets, sum_value=histogram.total * scale)
    return family


def expose(engine: SemanticCache, port: int | None, host: str = "127.0.0.1") -> None:
    """Register the collector on the default registry, and serve it on ``port`` if given."""
    try:
        REGISTRY.register(SemcacheCollector(engine))
    except ValueError:
        pass  # already registered in this process
    if port:
        try:
            start_http_server(port, addr=host)
            log.info("semcache.metrics", url=f"http://{host}:{port}/metrics")
        except OSError as exc:  # e.g. a second proxy worker on the same port
            log.warning("semcache.metrics_port_busy", port=port, error=str(exc))
