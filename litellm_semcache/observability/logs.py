"""Decision logs: one ``semcache.decision`` event per request at debug, and an info
``semcache.summary`` per interval.

A proxy at info level says every interval what the cache did (how many requests were hits,
misses, bypasses, and why), without one line per request; at debug each decision is logged
with LiteLLM's call id (``call_id``), so it can be matched to LiteLLM's own log line and to the
``x-litellm-call-id`` response header. structlog defaults apply for applications that did not
configure structlog themselves.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from litellm_semcache.engine.decision import Decision


def configure_logging(level: str = "info") -> None:
    """JSON lines on stderr at ``level``; a no-op when the application configured structlog."""
    if structlog.is_configured():
        return
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        # Not cached: module-level loggers then follow a later configuration (an application's
        # own, structlog.testing.capture_logs) instead of the first one forever (~2 µs/event).
        cache_logger_on_first_use=False,
    )


_log = structlog.get_logger("litellm_semcache")
_TOP_REASONS = 5


class DecisionLog:
    """Logs each decision at debug and sums them up at info every ``interval_s`` seconds (0: no
    summaries). The summary is written by the first decision after the interval: no timer
    thread, and no line while there is no traffic."""

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._since = clock()
        self._outcomes: Counter[str] = Counter()
        self._reasons: Counter[str] = Counter()
        self._categories: Counter[str] = Counter()

    def record(self, decision: Decision, prompt: str | None = None,
               call_id: str | None = None) -> None:
        fields = decision.as_dict()
        if fields["similarity"] is not None:
            fields["similarity"] = round(float(fields["similarity"]), 4)
        fields["latency_ms"] = round(fields["latency_ms"], 3)
        if call_id is not None:
            fields["call_id"] = call_id
        if prompt is not None:
            fields["prompt"] = prompt
        _log.debug("semcache.decision", **fields)
        if self._interval > 0:
            self._count(decision)

    def _count(self, decision: Decision) -> None:
        summary = None
        with self._lock:
            self._outcomes[decision.outcome.value] += 1
            if decision.outcome.value != "hit":
                self._reasons[f"{decision.outcome.value}:{decision.label}"] += 1
            self._categories[decision.category or "uncategorised"] += 1
            now = self._clock()
            if now - self._since >= self._interval:
                summary = self._summary(now)
        if summary is not None:
            _log.info("semcache.summary", **summary)

    def _summary(self, now: float) -> dict[str, object]:
        requests = sum(self._outcomes.values())
        summary: dict[str, object] = {
            "interval_s": round(now - self._since, 1), "requests": requests,
            **{outcome.replace("-", "_"): self._outcomes[outcome]
               for outcome in ("hit", "miss", "bypass", "shadow-hit")},
            "top_reasons": dict(self._reasons.most_common(_TOP_REASONS)),
            "categories": dict(self._categories.most_common()),
        }
        self._since = now
        self._outcomes.clear()
        self._reasons.clear()
        self._categories.clear()
        return summary
