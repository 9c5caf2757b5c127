"""Single-flight for identical prompts: the first miss goes to the model, identical requests
arriving meanwhile wait for its answer instead of calling the model too.

Only an exact (scope, normalised prompt) match waits; near-duplicates are not held back. A
request arriving up to ``wait`` seconds after the leader's answer was stored is served it too
(its own lookup may have been cut off under load).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from litellm_semcache.engine.decision import Decision, Outcome

_MAX_IN_FLIGHT = 10_000


@dataclass
class Flight:
    """One identical-prompt group: the leader's call to the model, then its stored answer."""

    done: asyncio.Event
    since: float
    finished: float | None = None
    stored: Decision | None = None
    answer: Any = None

    def usable(self, now: float, wait: float) -> bool:
        if self.finished is None:
            return now - self.since <= wait
        return self.stored is not None and now - self.finished <= wait


class SingleFlight:
    """Flights by request key, on one event loop."""

    def __init__(self, wait_seconds: float) -> None:
        self._wait = wait_seconds
        self._flights: dict[str, Flight] = {}

    async def follow(self, request_key: str) -> Flight | None:
        """The finished flight whose answer this request may take, or None: call the model
        (this request now leads, or single-flight is off)."""
        wait = self._wait
        if wait <= 0:
            return None
        now = time.monotonic()
        flight = self._flights.get(request_key)
        if flight is None or not flight.usable(now, wait):  # none, stale or failed: lead
            if len(self._flights) > _MAX_IN_FLIGHT:
                self._flights = {k: v for k, v in self._flights.items() if v.usable(now, wait)}
            self._flights[request_key] = Flight(asyncio.Event(), now)
            return None
        try:
            await asyncio.wait_for(flight.done.wait(), timeout=wait - (now - flight.since))
        except asyncio.TimeoutError:
            return None
        return flight if flight.stored is not None else None

    def release(self, request_key: str | None, stored: Decision | None, answer: Any) -> None:
        """The leader's answer is stored (or not): wake the requests waiting for it."""
        flight = self._flights.get(request_key) if request_key else None
        if flight is None or flight.done.is_set():
            return
        if stored is not None and stored.outcome is Outcome.STORED:
            flight.stored, flight.answer = stored, answer
        else:
            del self._flights[request_key]  # type: ignore[arg-type]
        flight.finished = time.monotonic()
        flight.done.set()
