"""Misses waiting for their answer: when each started and which category it was put in.

The write path reads it back when the answer arrives, so the store reuses the lookup's
category (no second categorisation) and the time between miss and store is measured as the
upstream latency a hit would have saved.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class PendingMiss:
    started: float  # time.perf_counter() of the lookup
    category: str
    source: str


class PendingMisses:
    """Bounded (oldest forgotten first) and thread-safe."""

    def __init__(self, limit: int = _LIMIT) -> None:
        self._limit = limit
        self._misses: OrderedDict[str, PendingMiss] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, request_key: str, miss: PendingMiss) -> None:
        with self._lock:
            self._misses[request_key] = miss
            while len(self._misses) > self._limit:
                self._misses.popitem(last=False)

    def peek(self, request_key: str) -> PendingMiss | None:
        return self._misses.get(request_key)

    def pop(self, request_key: str) -> PendingMiss | None:
        with self._lock:
            return self._misses.pop(request_key, None)
