"""Break-even auto-bypass: a category whose lookups cost more than they save stops looking up.

A semantic lookup that misses costs its latency (embedding, search, store read); one that hits
saves the upstream call. Caching a category pays off while its hit rate is above the
break-even hit rate, ``miss cost / saved upstream latency`` (both measured on live traffic,
:mod:`~litellm_semcache.observability.stats`). Where a category opts in (``auto_bypass``, or
``auto_bypass.enabled`` for all), this switch measures that over windows of
``min_samples`` lookups and, when a window's hit rate is below break-even, stops the
category's lookups (decision ``bypass``, reason ``below_break_even``).

While bypassed, one request in ``1 / sample_rate`` is still looked up, so the would-be hit rate
stays measured; such a sample is a real lookup and is served when it hits (a verified answer
in hand is not thrown away). Answers are still stored meanwhile: a cache left to empty could
never show that it would pay again. Once a window of samples reaches ``resume_factor`` x
break-even, lookups resume; the gap between the two levels (hysteresis) and the window keep a
category near break-even from flapping.

Only lookups that searched count: exact hits (the exact fast path costs no embedding and stays
on either way), single-flight answers and cache faults say nothing about whether the semantic
search pays. Break-even is taken over the same window (means of the misses' cost and of the
upstream calls measured meanwhile), falling back to the whole run's when the window measured
no upstream call.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

import structlog

from litellm_semcache.adaptation_settings import AutoBypassSettings
from litellm_semcache.config import CategoryPolicy
from litellm_semcache.engine.decision import EXACT_HITS, FAULTS, Decision, Outcome
from litellm_semcache.observability.stats import CostBook, CostTally

log = structlog.get_logger("litellm_semcache")


@dataclass
class _Window:
    """One category's state and its current measurement window."""

    bypassed: bool = False
    hits: int = 0
    samples: int = 0
    skipped: int = 0  # requests since the last sampled lookup (while bypassed)
    miss_ms: float = 0.0  # the cost book's totals when the window opened
    misses: int = 0
    upstream_ms: float = 0.0
    upstreams: int = 0
    break_even: float | None = None  # at the last window that measured one
    hit_rate: float | None = None


class BreakEvenSwitch:
    """Per category: look up, or bypass below break-even. Thread-safe; O(1) per request."""

    def __init__(self, categories: Mapping[str, CategoryPolicy], settings: AutoBypassSettings,
                 costs: CostBook) -> None:
        self._settings = settings
        self._costs = costs
        self._enabled = {name: policy.auto_bypass if policy.auto_bypass is not None
                         else settings.enabled for name, policy in categories.items()}
        self._every = max(1, round(1 / settings.sample_rate))
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def enabled(self, category: str) -> bool:
        return self._enabled.get(category, False)

    def should_look_up(self, category: str) -> bool:
        """False: bypass this request. A bypassed category still samples one request in
        ``1 / sample_rate``."""
        if not self._enabled.get(category):
            return True
        with self._lock:
            window = self._window(category)
            if not window.bypassed:
                return True
            window.skipped += 1
            if window.skipped >= self._every:
                window.skipped = 0
                return True
            return False

    def observe(self, decision: Decision) -> None:
        """Count a decision a client received (from ``SemanticCache.record``)."""
        category = decision.category
        if category is None or not self._enabled.get(category) or not _searched(decision):
            return
        with self._lock:
            window = self._window(category)
            window.samples += 1
            window.hits += decision.outcome in (Outcome.HIT, Outcome.SHADOW_HIT)
            if window.samples >= self._settings.min_samples:
                self._close(category, window)

    def bypassed(self) -> dict[str, bool]:
        """Per opted-in category: whether its lookups are bypassed now."""
        with self._lock:
            return {name: self._window(name).bypassed
                    for name, on in sorted(self._enabled.items()) if on}

    def report(self, category: str) -> dict[str, object]:
        """What ``stats_snapshot()`` shows for the category."""
        if not self._enabled.get(category):
            return {"auto_bypass": "off"}
        with self._lock:
            window = self._window(category)
            return {"auto_bypass": "bypassed" if window.bypassed else "looking_up",
                    "auto_bypass_window_hit_rate": window.hit_rate,
                    "auto_bypass_break_even": window.break_even}

    # ------------------------------------------------------------------ internals

    def _window(self, category: str) -> _Window:
        window = self._windows.get(category)
        if window is None:
            window = self._windows[category] = _Window()
            self._reopen(window, self._costs.of(category))
        return window

    def _close(self, category: str, window: _Window) -> None:
        tally = self._costs.of(category)
        hit_rate = window.hits / window.samples
        break_even = _windowed_break_even(window, tally)
        window.hit_rate = round(hit_rate, 4)
        if break_even is not None:
            window.break_even = round(break_even, 4)
            if not window.bypassed and hit_rate < break_even:
                window.bypassed = True
            elif window.bypassed and hit_rate >= break_even * self._settings.resume_factor:
                window.bypassed = False
            else:
                break_even = None  # no change
        if break_even is not None:
            log.info("semcache.auto_bypass", category=category,
                     state="bypassed" if window.bypassed else "looking_up",
                     hit_rate=window.hit_rate, break_even=window.break_even,
                     samples=window.samples)
        window.hits = window.samples = 0
        self._reopen(window, tally)

    @staticmethod
    def _reopen(window: _Window, tally: CostTally) -> None:
        window.miss_ms, window.misses = tally.miss_ms_total, tally.miss_samples
        window.upstream_ms, window.upstreams = tally.upstream_ms_total, tally.upstream_samples


def _searched(decision: Decision) -> bool:
    """A lookup that went through the semantic search, hit or miss."""
    if decision.outcome in (Outcome.HIT, Outcome.SHADOW_HIT):
        return decision.reason not in EXACT_HITS
    return decision.outcome is Outcome.MISS and decision.reason not in FAULTS


def _windowed_break_even(window: _Window, tally: CostTally) -> float | None:
    """Mean miss cost over mean upstream latency since the window opened (the whole run's
    where the window measured none of either)."""
    misses = tally.miss_samples - window.misses
    upstreams = tally.upstream_samples - window.upstreams
    miss_ms = ((tally.miss_ms_total - window.miss_ms) / misses if misses
               else tally.miss_cost_ms)
    saved_ms = ((tally.upstream_ms_total - window.upstream_ms) / upstreams if upstreams
                else tally.saved_ms)
    if miss_ms is None or not saved_ms:
        return None
    return min(1.0, miss_ms / saved_ms)
