"""Single-flight for identical prompts: the first miss goes to the model, identical requests
arriving meanwhile wait for its answer instead of calling the model too.

Only an exact (scope, normalised prompt) match waits; near-duplicates are not held back. A
flight goes through three moments:

1. the leader misses and goes to the model (:meth:`SingleFlight.follow` returns None to it);
2. its answer arrives (:meth:`SingleFlight.answer`, when LiteLLM hands it to the cache): the
   waiters get it at once, before the write, when their category serves hits, and so does an
   identical request arriving while the write is pending (for ``wait`` seconds). A slow write
   (a busy embedding queue, a slow Redis) therefore delays nobody;
3. the write ends (:meth:`SingleFlight.stored`). For ``wait`` seconds after it, a request whose
   own lookup missed (cut off, overloaded, or racing the write) is served the answer too, but
   only while the entry is still cached: after a flush, an expiry or an eviction it leads.

A leader that delivers no answer gives its place up at once, so nobody waits ``wait`` seconds
for nothing: a request with ``no-store`` never leads (LiteLLM will not hand its answer to the
cache), and an upstream failure abandons the flight (:meth:`SingleFlight.abandon`, from
LiteLLM's failure callback): its waiters look again and one of them leads.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from litellm_semcache.engine.decision import Decision, Outcome



@dataclass
class Flight:
    """One identical-prompt group: the leader's call to the model, its answer, its write."""

    since: float
    leader: str | None  # LiteLLM's call id of the leader
    category: str | None  # the leader's category, when its lookup got that far
    done: asyncio.Event = field(default_factory=asyncio.Event)  # waiters wake up
    answered: float | None = None  # when the answer arrived
    answer: Any = None
    stored: Decision | None = None  # the write, when it stored the answer
    finished: float | None = None  # when the write ended
    abandoned: bool = False
    epoch: int = 0  # the cache's flush count when it started


class SingleFlight:
    """Flights by request key, on one event loop.

    ``serves(category)`` says whether an answer may be handed to waiters of that category
    (None: not known yet); ``holds(entry_id)`` whether a stored entry is still cached;
    ``flushes()`` how often the cache was flushed (a flight from before is joined by nobody).
    """

    def __init__(self, wait_seconds: float, serves: Callable[[str | None], bool],
                 holds: Callable[[str], bool], flushes: Callable[[], int]) -> None:
        self._wait = wait_seconds
        self._serves = serves
        self._holds = holds
        self._flushes = flushes
        self._flights: dict[str, Flight] = {}
        self._leaders: dict[str, str] = {}  # call id -> request key
        # (when it may end, key, flight), in that order: flights (and the answers they hold)
        # leave ``wait`` seconds after they started or finished, whoever asks next
        self._ends: deque[tuple[float, str, Flight]] = deque()

    def leading(self, request_key: str) -> bool:
        """Whether an identical request is at the model now (its answer is worth waiting for)."""
        flight = self._flights.get(request_key)
        return flight is not None and flight.finished is None and self._joinable(
            flight, time.monotonic())

    async def follow(self, request_key: str, call_id: str | None = None, *,
                     may_lead: bool = True, category: str | None = None) -> Flight | None:
        """The flight whose answer this request may take, or None: call the model (this
        request now leads, unless ``may_lead`` is False, or single-flight is off)."""
        if self._wait <= 0:
            return None
        until = time.monotonic() + self._wait  # this request waits that long at most
        while True:
            now = time.monotonic()
            self._expire(now)
            flight = self._flights.get(request_key)
            if flight is not None and call_id is not None and flight.leader == call_id:
                flight = None  # the leader itself again (a retry of its own call): lead again
            if flight is None or not self._joinable(flight, now):
                if may_lead:
                    self._lead(request_key, Flight(now, call_id, category, epoch=self._flushes()))
                return None
            if self._ready(flight):
                return flight
            try:
                await asyncio.wait_for(flight.done.wait(), max(0.0, until - now))
            except asyncio.TimeoutError:
                return None  # the leader is too slow: go to the model without it
            if not flight.abandoned:
                return flight if self._ready(flight) else None
            # the leader failed or was given up: look again (the first to do so leads)

    def answer(self, request_key: str | None, answer: Any) -> None:
        """An answer for ``request_key`` reached the cache: hand it to the waiters now, if
        their category serves hits (otherwise they wait for the write)."""
        flight = self._flights.get(request_key) if request_key else None
        if flight is None or flight.answered is not None or flight.abandoned:
            return
        flight.answered, flight.answer = time.monotonic(), answer
        # served for ``wait`` from now while its write is pending (a slow write holds nobody up)
        self._ends.append((flight.answered + self._wait, request_key, flight))  # type: ignore[arg-type]
        if self._serves(flight.category):
            flight.done.set()

    def stored(self, request_key: str | None, stored: Decision | None, answer: Any) -> None:
        """The write of ``answer`` ended (``stored``: what it did; None: it failed). An answer
        that was not handed over first (one a category may refuse) is served only if stored."""
        flight = self._flights.get(request_key) if request_key else None
        if flight is None or flight.finished is not None:
            return
        if flight.answered is None:
            flight.answer = answer
        flight.finished = time.monotonic()
        self._ends.append((flight.finished + self._wait, request_key, flight))  # type: ignore[arg-type]
        if flight.leader is not None:
            self._leaders.pop(flight.leader, None)  # nothing left to abandon
        if stored is not None and stored.outcome is Outcome.STORED:
            flight.stored, flight.category = stored, stored.category or flight.category
        else:
            self._forget(request_key, flight)  # type: ignore[arg-type]
        flight.done.set()

    def abandon(self, call_id: str | None) -> None:
        """The leader's call failed: release its waiters, the next request leads."""
        request_key = self._leaders.pop(call_id, None) if call_id else None
        flight = self._flights.get(request_key) if request_key else None
        if flight is None or flight.answered is not None or flight.leader != call_id:
            return
        flight.abandoned = True
        self._forget(request_key, flight)  # type: ignore[arg-type]
        flight.done.set()

    # ------------------------------------------------------------------ internals

    def _ready(self, flight: Flight) -> bool:
        """The flight's answer can be served now."""
        if flight.stored is not None:
            return True
        return flight.answered is not None and self._serves(flight.category)

    def _joinable(self, flight: Flight, now: float) -> bool:
        if flight.abandoned or flight.epoch != self._flushes():  # flushed since it started
            return False
        if flight.finished is None:  # at the model, or answered and being written
            since = flight.since if flight.answered is None else flight.answered
            return now - since <= self._wait
        stored = flight.stored
        return (stored is not None and now - flight.finished <= self._wait
                and stored.entry_id is not None and self._holds(stored.entry_id))

    def _lead(self, request_key: str, flight: Flight) -> None:
        previous = self._flights.get(request_key)
        if previous is not None:
            self._forget(request_key, previous)
            if previous.finished is None and previous.answered is None:
                # a leader slower than the window is given up: its waiters follow the new one
                # (and its answer, should it still come, serves the new flight's key)
                previous.abandoned = True
                previous.done.set()
        self._flights[request_key] = flight
        self._ends.append((flight.since + self._wait, request_key, flight))
        if flight.leader is not None:
            self._leaders[flight.leader] = request_key

    def _expire(self, now: float) -> None:
        while self._ends and self._ends[0][0] < now:
            _, request_key, flight = self._ends.popleft()
            if not self._joinable(flight, now):
                self._forget(request_key, flight)

    def _forget(self, request_key: str, flight: Flight) -> None:
        if self._flights.get(request_key) is flight:
            del self._flights[request_key]
        if flight.leader is not None and self._leaders.get(flight.leader) == request_key:
            del self._leaders[flight.leader]
