"""The circuit breaker on its own, and in front of a slow embedder."""

from __future__ import annotations

import time

import numpy as np
import pytest
from helpers import FakeClock, chat

from litellm_semcache.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, CircuitOpen
from helpers import HIT, MISS
from litellm_semcache.embedding import MemoEmbedder


def failing() -> None:
    raise ConnectionError("down")


def test_opens_after_consecutive_failures_rejects_then_probes_once_and_closes():
    clock = FakeClock(0)
    breaker = CircuitBreaker("dep", failures=3, reset_after_s=2, clock=clock)
    for _ in range(3):
        with pytest.raises(ConnectionError):
            breaker.call(failing)
    assert breaker.state == OPEN
    calls = []
    with pytest.raises(CircuitOpen):
        breaker.call(lambda: calls.append(1))
    assert calls == [] and breaker.rejected == 1

    clock.advance(2)
    assert breaker.state == HALF_OPEN
    with pytest.raises(ConnectionError):  # the probe fails: open for another period
        breaker.call(failing)
    with pytest.raises(CircuitOpen):
        breaker.call(lambda: calls.append(1))
    clock.advance(2)
    assert breaker.call(lambda: "back") == "back"
    assert breaker.state == CLOSED and breaker.opened == 1


def test_a_success_resets_the_failure_count():
    breaker = CircuitBreaker("dep", failures=2, clock=FakeClock(0))
    with pytest.raises(ConnectionError):
        breaker.call(failing)
    breaker.call(lambda: None)
    with pytest.raises(ConnectionError):
        breaker.call(failing)
    assert breaker.state == CLOSED


class _Slowed:
    """The real embedding model behind an adjustable delay."""

    def __init__(self, inner) -> None:
        self.inner, self.dim, self.name = inner, inner.dim, inner.name
        self.delay, self.calls = 0.0, 0

    def embed(self, texts) -> np.ndarray:
        self.calls += 1
        time.sleep(self.delay)
        return self.inner.embed(texts)


def test_a_slow_embedder_turns_into_fast_misses_then_is_probed_back(make_cache, embedder):
    slowed = _Slowed(embedder.inner)
    cache = make_cache(lookup_deadline_ms=100)
    cache.embedder = MemoEmbedder(slowed, 0)
    cache.store(chat("Tell me a joke"), {"answer": "ok"})
    slowed.delay = 0.2
    slow = [cache.lookup(chat(f"Tell me a joke number {n}")) for n in range(5)]
    assert all(d.outcome == MISS and d.reason == "deadline" for d in slow)

    calls = slowed.calls
    fast = cache.lookup(chat("Tell me a joke please"))
    assert fast.outcome == MISS and fast.reason == "fail_open"
    assert slowed.calls == calls  # not called while open: no 200 ms wait

    slowed.delay = 0.0
    time.sleep(1.05)  # reset period: the next embedding is the probe
    assert cache.lookup(chat("Tell me a joke please")).outcome == HIT
    assert slowed.calls == calls + 1
