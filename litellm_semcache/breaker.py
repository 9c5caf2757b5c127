"""Circuit breaker: stop calling a dependency that keeps failing, and probe it back.

A dead Redis or a slow embedder would otherwise cost every request a full timeout. After
``failures`` consecutive errors the breaker opens and calls fail at once (the cache turns that
into a miss); after ``reset_after_s`` one call is let through as a probe (half-open): success
closes the breaker, failure re-opens it for another period.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from litellm_semcache.errors import SemcacheError

T = TypeVar("T")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class CircuitOpen(SemcacheError):
    """The dependency is considered down; the call was not attempted."""


class CircuitBreaker:
    def __init__(self, name: str, *, failures: int = 3, reset_after_s: float = 1.0,
                 slow_after_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._slow_after = slow_after_s  # a call slower than this counts as a failure
        self._threshold = failures
        self._reset_after = reset_after_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False
        self.opened = 0  # how many times it opened (for reports and tests)
        self.rejected = 0  # calls refused while open

    @property
    def state(self) -> str:
        with self._lock:
            if self._opened_at is None:
                return CLOSED
            return HALF_OPEN if self._clock() - self._opened_at >= self._reset_after else OPEN

    def call(self, operation: Callable[[], T], *, slow_after_s: float | None = None) -> T:
        """Run ``operation`` unless the breaker is open; raises :class:`CircuitOpen` then.
        ``slow_after_s`` replaces the breaker's own limit for this call (a batch of n texts
        may take n times as long as one)."""
        self._admit()
        return self.observe(operation, slow_after_s=slow_after_s)

    def observe(self, operation: Callable[[], T], *, slow_after_s: float | None = None) -> T:
        """Run ``operation`` whatever the state (work already accepted, such as a queued
        write, is never dropped) and let its outcome and duration move the breaker as
        :meth:`call` does."""
        started = self._clock()
        try:
            result = operation()
        except Exception:
            self._failed()
            raise
        slow_after = slow_after_s if slow_after_s is not None else self._slow_after
        if slow_after is not None and self._clock() - started > slow_after:
            self._failed()  # in-process work cannot be interrupted: stop calling it instead
        else:
            self._succeeded()
        return result

    def _admit(self) -> None:
        with self._lock:
            if self._opened_at is None:
                return
            if self._clock() - self._opened_at >= self._reset_after and not self._probing:
                self._probing = True  # exactly one probe at a time
                return
            self.rejected += 1
        raise CircuitOpen(f"{self.name} is unavailable (circuit open)")

    def _failed(self) -> None:
        with self._lock:
            self._failures += 1
            if self._probing or self._failures >= self._threshold:
                if self._opened_at is None:
                    self.opened += 1
                self._opened_at = self._clock()
            self._probing = False

    def _succeeded(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._probing = False
