"""The one writer of counters, and their Prometheus exposition.

Every final decision passes through :meth:`Recorder.lookup` or :meth:`Recorder.stored` exactly
once: the engine's ``lookup()`` for direct callers, the LiteLLM backend after single-flight for
LiteLLM traffic. Counters therefore equal what clients received. They are plain
prometheus-client Counters and Histograms with a ``category`` label, in a registry of the
engine's own; :func:`expose` puts the installed engine's registry on the default registry
(LiteLLM's ``/metrics``) and, with ``metrics_port``, on a port of our own.

Ratios are left to PromQL, which computes them over any window and across workers and
replicas (a ratio gauge can do neither): hit rate = ``rate(semcache_hits_total[5m]) /
rate(semcache_lookups_total[5m])``; break-even = mean miss cost / mean saved upstream latency,
from the ``_sum``/``_count`` of ``semcache_miss_cost_seconds`` and
``semcache_upstream_latency_seconds``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import structlog
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from litellm_semcache.engine.decision import EXACT_HITS, FAULTS, Decision, Outcome, Reason
from litellm_semcache.observability.stats import CostBook

log = structlog.get_logger("litellm_semcache")

UNCATEGORISED = "uncategorised"
STORE_FAULTS = ("store_unavailable", "snapshot_corrupt", "document_corrupt")
REFUSED = frozenset({Reason.INCOMPLETE_ANSWER, Reason.SHARED_WRITE_DENIED})
LATENCY_BUCKETS_S = (0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
UPSTREAM_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
SIMILARITY_BUCKETS = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.92, 0.94, 0.96, 0.98, 0.99, 1.0)
COUNTERS = {
    "lookups": "Lookups per category",
    "hits": "Answers served from the cache",
    "exact_hits": "Hits served by the exact fast path or single-flight (no embedding)",
    "relaxed_hits": "Hits served only because the load policy relaxed the threshold or the "
                    "verifier's operating point",
    "stale_hits": "Expired answers served (within their stale grace) because the routed model "
                  "was overloaded",
    "misses": "Lookups that went to the model",
    "bypasses": "Requests the cache did not look up (no text, no-cache, mode off, invalid, "
                "below break-even)",
    "below_break_even": "Requests not looked up because the category's hit rate is below "
                        "break-even (auto-bypass)",
    "shadow_hits": "Shadow-mode lookups that would have hit",
    "guard_rejections": "Candidates above the threshold vetoed by the guard",
    "fail_opens": "Cache faults, deadline overruns and overload refusals turned into misses",
    "stores": "Answers stored",
    "refused_stores": "Answers not stored: incomplete (cut-off stream, length, content filter, "
                      "tool calls) or a shared category this writer may not write",
    "evictions": "Entries evicted by the category quota",
    "expirations": "Entries removed at expiry",
}


class Recorder:
    """Counts decisions and events; reads them back for ``stats_snapshot()``."""

    def __init__(self, categories: Iterable[str], entries: Callable[[str], int]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.costs = CostBook()
        self._entries = entries
        self._categories: set[str] = set()
        self._lock = threading.Lock()
        self._counters = {name: Counter(f"semcache_{name}", text, ["category"],
                                        registry=self.registry)
                          for name, text in COUNTERS.items()}
        self._latency = Histogram("semcache_lookup_latency_seconds", "Lookup latency",
                                  ["category"], buckets=LATENCY_BUCKETS_S, registry=self.registry)
        self._similarity = Histogram("semcache_best_similarity",
                                     "Similarity of the best candidate", ["category"],
                                     buckets=SIMILARITY_BUCKETS, registry=self.registry)
        self._miss_cost = Histogram("semcache_miss_cost_seconds",
                                    "What a lookup that went to the model cost (embedding "
                                    "included)", ["category"], buckets=LATENCY_BUCKETS_S,
                                    registry=self.registry)
        self._upstream = Histogram("semcache_upstream_latency_seconds",
                                   "Time from a miss to the store of its answer: what a hit "
                                   "saves", ["category"], buckets=UPSTREAM_BUCKETS_S,
                                   registry=self.registry)
        self._faults = Counter("semcache_store_faults", "Store faults the cache survived: "
                               "store_unavailable (the cache bypasses), snapshot_corrupt (the "
                               "shard is rebuilt), document_corrupt (the entry is dropped)",
                               ["fault"], registry=self.registry)
        for fault in STORE_FAULTS:
            self._faults.labels(fault)
        self.registry.register(_DerivedGauges(self))
        for category in [*categories, UNCATEGORISED]:
            self._known(category)  # every category exported from the start, at zero

    # ------------------------------------------------------------------ writing

    def lookup(self, decision: Decision) -> None:
        category = self._known(decision.category)
        self._inc("lookups", category)
        outcome = decision.outcome
        if outcome is Outcome.HIT:
            self._inc("hits", category)
            if decision.reason in EXACT_HITS:
                self._inc("exact_hits", category)
            if decision.relaxed:
                self._inc("relaxed_hits", category)
            if decision.stale:
                self._inc("stale_hits", category)
        elif outcome is Outcome.SHADOW_HIT:
            self._inc("shadow_hits", category)
        elif outcome is Outcome.MISS:
            self._inc("misses", category)
            if decision.reason in FAULTS:
                self._inc("fail_opens", category)
            elif decision.reason is Reason.GUARD:
                self._inc("guard_rejections", category)
        else:
            self._inc("bypasses", category)
            if decision.reason is Reason.BELOW_BREAK_EVEN:
                self._inc("below_break_even", category)
        self._latency.labels(category).observe(decision.latency_ms / 1000)
        if decision.similarity is not None:
            self._similarity.labels(category).observe(decision.similarity)
        if outcome is not Outcome.BYPASS:
            missed = outcome in (Outcome.MISS, Outcome.SHADOW_HIT)
            self.costs.lookup(category, decision.latency_ms, missed=missed)
            if missed:
                self._miss_cost.labels(category).observe(decision.latency_ms / 1000)

    def stored(self, decision: Decision) -> None:
        category = self._known(decision.category)
        if decision.outcome is Outcome.STORED:
            self._inc("stores", category)
        elif decision.reason in FAULTS:
            self._inc("fail_opens", category)
        elif decision.reason in REFUSED:
            self._inc("refused_stores", category)

    def fault(self, kind: str) -> None:
        """A store fault the cache survived (one of :data:`STORE_FAULTS`)."""
        self._faults.labels(kind).inc()

    def upstream(self, category: str, latency_ms: float) -> None:
        """How long the model took to answer a miss (what a hit saves)."""
        category = self._known(category)
        self.costs.upstream(category, latency_ms)
        self._upstream.labels(category).observe(latency_ms / 1000)

    def evicted(self, category: str, count: int = 1) -> None:
        if count:
            self._inc("evictions", self._known(category), count)

    def expired(self, category: str, count: int = 1) -> None:
        if count:
            self._inc("expirations", self._known(category), count)

    # ------------------------------------------------------------------ reading

    def categories(self) -> list[str]:
        with self._lock:
            return sorted(self._categories)

    def count(self, name: str, category: str) -> int:
        value = self.registry.get_sample_value(f"semcache_{name}_total", {"category": category})
        return int(value or 0)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Per category: the counters, entries held, hit rate and break-even."""
        return {category: self._row(category) for category in self.categories()}

    def hit_rate(self, category: str) -> float:
        answered = sum(self.count(name, category) for name in ("hits", "misses", "shadow_hits"))
        return self.count("hits", category) / answered if answered else 0.0

    def _row(self, category: str) -> dict[str, Any]:
        row: dict[str, Any] = {name: self.count(name, category) for name in COUNTERS}
        costs = self.costs.of(category)
        break_even, hit_rate = costs.break_even_hit_rate, self.hit_rate(category)
        row.update(
            entries=self._entries(category), hit_rate=round(hit_rate, 4),
            miss_cost_ms=_round(costs.miss_cost_ms), saved_ms=_round(costs.saved_ms),
            break_even_hit_rate=_round(break_even),
            pays_off=None if break_even is None else hit_rate >= break_even,
            lookup_p50_ms=_round(costs.percentile_ms(0.5)),
            lookup_p99_ms=_round(costs.percentile_ms(0.99)))
        return row

    def _inc(self, name: str, category: str, amount: int = 1) -> None:
        self._counters[name].labels(category).inc(amount)

    def _known(self, category: str | None) -> str:
        category = category or UNCATEGORISED
        if category not in self._categories:
            with self._lock:
                if category not in self._categories:
                    for counter in self._counters.values():
                        counter.labels(category)  # exported at 0 from now on
                    self._categories.add(category)
        return category


class _DerivedGauges(Collector):
    """Entries held, read when scraped."""

    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder

    def collect(self) -> Iterator[Metric]:
        entries = GaugeMetricFamily("semcache_entries", "Entries held", labels=["category"])
        for category in self._recorder.categories():
            entries.add_metric([category], self._recorder._entries(category))
        yield entries


class LoadGauges(Collector):
    """Load score and overload state per routed deployment (only with the load policy on)."""

    def __init__(self, states: Callable[[], dict[str, tuple[str, float | None]]]) -> None:
        self._states = states

    def collect(self) -> Iterator[Metric]:
        score = GaugeMetricFamily("semcache_load_score", "Smoothed load score of a deployment "
                                  "(1.0 = saturated; NaN = no fresh signal)", labels=["deployment"])
        overloaded = GaugeMetricFamily("semcache_overloaded", "1 while the load policy treats "
                                       "the deployment as overloaded", labels=["deployment"])
        for deployment, (state, value) in self._states().items():
            score.add_metric([deployment], float("nan") if value is None else value)
            overloaded.add_metric([deployment], float(state == "overloaded"))
        yield score
        yield overloaded


class AutoBypassGauges(Collector):
    """1 while a category opted into auto-bypass skips its lookups below break-even."""

    def __init__(self, bypassed: Callable[[], dict[str, bool]]) -> None:
        self._bypassed = bypassed

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily("semcache_auto_bypassed", "1 while the category's lookups "
                                  "are bypassed below break-even (categories with auto_bypass)",
                                  labels=["category"])
        for category, bypassed in self._bypassed().items():
            gauge.add_metric([category], float(bypassed))
        yield gauge


class BreakerGauges(Collector):
    """State of each circuit breaker (the store's, the embedder's): a breaker that opens turns
    every lookup behind it into a miss, which hit rates alone do not explain."""

    STATES = ("closed", "half-open", "open")

    def __init__(self, breakers: Callable[[], Iterable[Any]]) -> None:
        self._breakers = breakers

    def collect(self) -> Iterator[Metric]:
        state = GaugeMetricFamily("semcache_breaker_state", "1 for the state each circuit "
                                  "breaker is in (closed, half-open, open)",
                                  labels=["breaker", "state"])
        opened = CounterMetricFamily("semcache_breaker_opened", "Times a circuit breaker opened",
                                     labels=["breaker"])
        for breaker in self._breakers():
            current = breaker.state
            for name in self.STATES:
                state.add_metric([breaker.name, name], float(current == name))
            opened.add_metric([breaker.name], breaker.opened)
        yield state
        yield opened


class FollowerGauges(Collector):
    """How far each change-stream follower (a Redis replica, one per category) is behind, and
    how often it had to resync from a scan."""

    def __init__(self, followers: Callable[[], dict[str, Any]]) -> None:
        self._followers = followers

    def collect(self) -> Iterator[Metric]:
        entries = GaugeMetricFamily("semcache_follower_lag_entries", "Change events in the "
                                    "stream this replica has not applied yet (at its last read)",
                                    labels=["stream"])
        seconds = GaugeMetricFamily("semcache_follower_lag_seconds", "Age of the oldest change "
                                    "this replica has not applied yet (0 when caught up)",
                                    labels=["stream"])
        resyncs = CounterMetricFamily("semcache_follower_resyncs", "Full rescans of a category "
                                      "after its stream had a gap or the store was unreachable",
                                      labels=["stream"])
        applied = CounterMetricFamily("semcache_follower_applied", "Change events applied",
                                      labels=["stream"])
        for stream, follower in sorted(self._followers().items()):
            entries.add_metric([stream], follower.lag_entries)
            seconds.add_metric([stream], follower.lag_seconds)
            resyncs.add_metric([stream], follower.resyncs)
            applied.add_metric([stream], follower.applied)
        yield from (entries, seconds, resyncs, applied)


class _Installed(Collector):
    """Registered once on the default registry: delegates to the installed engine's registry,
    so installing a new engine replaces the old one's series instead of clashing with them."""

    registry: CollectorRegistry | None = None

    def collect(self) -> Iterator[Metric]:
        if self.registry is not None:
            yield from self.registry.collect()


_installed = _Installed()
_installed_lock = threading.Lock()
_servers: set[tuple[str, int]] = set()


def expose(registry: CollectorRegistry, port: int | None, host: str = "127.0.0.1") -> None:
    """Show ``registry`` on the default registry, and serve it on ``port`` if given."""
    with _installed_lock:
        if _installed.registry is None:
            REGISTRY.register(_installed)
        _installed.registry = registry
        if not port or (host, port) in _servers:
            return
        try:
            start_http_server(port, addr=host)  # the default registry, as LiteLLM's
            _servers.add((host, port))
            log.info("semcache.metrics", url=f"http://{host}:{port}/metrics")
        except OSError as exc:  # e.g. a second proxy worker on the same port
            log.warning("semcache.metrics_port_busy", port=port, error=str(exc))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
