"""Plug the engine into LiteLLM's response cache (SDK, Router, and later the proxy).

LiteLLM has no "custom" cache type. We build ``litellm.Cache`` with ``type="redis-semantic"``
only for its key rules (the prompt is left out of LiteLLM's key, the tenant is put in) and hand
it our backend; LiteLLM's key then serves as the parameter fingerprint of the request, because
LiteLLM's sync path passes only ``messages``/``input``/``metadata`` to a backend.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import litellm
import structlog
from litellm.caching.base_cache import BaseCache

from litellm_semcache.cache import HIT, MISS, Decision, SemanticCache
from litellm_semcache.config import Mode
from litellm_semcache.errors import InvalidRequest
from litellm_semcache.request import view_request

log = structlog.get_logger("litellm_semcache")
SUPPORTED_CALL_TYPES = ["completion", "acompletion", "text_completion", "atext_completion"]
_MAX_IN_FLIGHT = 10_000


@dataclass
class _Flight:
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


class LiteLLMBackend(BaseCache):
    """A LiteLLM cache backend over :class:`SemanticCache`. The first parameter of each method
    must be named ``key``: LiteLLM's async path also passes ``cache_key=``."""

    def __init__(self, engine: SemanticCache) -> None:
        super().__init__(default_ttl=0)
        self.engine = engine
        # request key -> (released when the first request's answer is stored, since when)
        self._in_flight: dict[str, _Flight] = {}

    def get_cache(self, key: str, **kwargs: Any) -> Any:
        decision = self.engine.lookup(kwargs, upstream_key=key)
        _annotate(kwargs, decision.as_dict())
        return decision.response if decision.served else None

    async def async_get_cache(self, key: str, **kwargs: Any) -> Any:
        decision = await self._lookup(key, kwargs)
        # A lookup cut off by its deadline or failed open (overload, open breaker) still joins
        # single-flight: identical requests must not all reach the model because the cache is busy.
        missed = decision is None or decision.outcome == MISS
        request_key = missed and ((decision and decision.request_key) or _joinable_key(kwargs, key))
        flight = await self._follow_identical_request(request_key) if request_key else None
        if flight is not None:
            decision = self._shared_answer(flight) or decision
        if decision is None:
            return None
        _annotate(kwargs, decision.as_dict())
        return decision.response if decision.served else None

    async def _lookup(self, key: str, kwargs: dict[str, Any]) -> Decision | None:
        """Off the event loop (embedding is CPU work) and under a real deadline."""
        deadline = self.engine.settings.lookup_deadline_ms / 1000
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(self.engine.lookup, kwargs, upstream_key=key), deadline)
        except asyncio.TimeoutError:
            self.engine.stats.of("uncategorised").fail_opens += 1
            log.warning("semcache.fail_open", operation="lookup", error="deadline")
            return None

    async def _follow_identical_request(self, request_key: str) -> _Flight | None:
        """Single-flight for identical prompts: the first miss goes to the model, identical ones
        arriving meanwhile wait (up to ``single_flight_wait_ms``) for its answer to be stored,
        and so do those arriving up to that long after it was stored (their own lookup may
        have been cut off under load). Returns the finished flight, or None to call the model.
        Near-duplicates are not held back: only an exact (scope, prompt) match waits."""
        wait = self.engine.settings.single_flight_wait_ms / 1000
        if wait <= 0:
            return None
        now = time.monotonic()
        flight = self._in_flight.get(request_key)
        if flight is None or not flight.usable(now, wait):  # none, stale or failed: lead
            if len(self._in_flight) > _MAX_IN_FLIGHT:
                self._in_flight = {k: v for k, v in self._in_flight.items() if v.usable(now, wait)}
            self._in_flight[request_key] = _Flight(asyncio.Event(), now)
            return None
        try:
            await asyncio.wait_for(flight.done.wait(), timeout=wait - (now - flight.since))
        except asyncio.TimeoutError:
            return None
        return flight if flight.stored is not None else None

    def _shared_answer(self, flight: _Flight) -> Decision | None:
        """The leader's stored answer, served as an exact hit (where the category serves hits)."""
        stored = flight.stored
        if stored is None or stored.category is None:
            return None
        policy = self.engine.settings.policy(stored.category)
        if policy.mode is not Mode.ON:
            return None
        stats = self.engine.stats.of(stored.category)
        stats.lookups += 1
        stats.hits += 1
        stats.exact_hits += 1
        return Decision(HIT, "exact+single_flight", category=stored.category,
                        category_source="single_flight", similarity=1.0,
                        threshold=policy.similarity_threshold, ttl_seconds=stored.ttl_seconds,
                        entry_id=stored.entry_id, request_key=stored.request_key,
                        response=flight.answer)

    def _release(self, request_key: str | None, stored: Decision | None, answer: Any) -> None:
        flight = self._in_flight.get(request_key) if request_key else None
        if flight is None or flight.done.is_set():
            return
        if stored is not None and stored.outcome == "stored":
            flight.stored, flight.answer = stored, answer
        else:
            del self._in_flight[request_key]  # type: ignore[arg-type]
        flight.finished = time.monotonic()
        flight.done.set()

    def set_cache(self, key: str, value: Any, **kwargs: Any) -> None:
        self.engine.store(kwargs, value, upstream_key=key)

    async def async_set_cache(self, key: str, value: Any, **kwargs: Any) -> None:
        stored: Decision | None = None
        try:
            stored = await asyncio.to_thread(self.engine.store, kwargs, value, upstream_key=key)
        finally:
            # wake identical requests waiting for this answer (they look up again); the view is
            # only recomputed when the store failed before computing it
            self._release(stored.request_key if stored and stored.request_key
                          else _request_key(kwargs, key), stored, value)

    async def async_set_cache_pipeline(self, cache_list: Any, **kwargs: Any) -> None:
        for key, value in cache_list:
            await self.async_set_cache(key, value, **kwargs)

    async def disconnect(self) -> None:
        self.engine.close()

    async def test_connection(self) -> dict[str, Any]:
        return {"status": "success", "message": f"litellm-semcache, {len(self.engine)} entries"}

    async def ping(self) -> bool:
        return True

    def flush_cache(self) -> None:
        self.engine.flush()


def _request_key(kwargs: dict[str, Any], key: str) -> str | None:
    try:
        return view_request(kwargs, upstream_key=key).exact_key
    except InvalidRequest:
        return None


def _joinable_key(kwargs: dict[str, Any], key: str) -> str | None:
    """The request key of a request whose own lookup gave no decision; None for one that asked
    not to be served from the cache."""
    try:
        view = view_request(kwargs, upstream_key=key)
    except InvalidRequest:
        return None
    return None if view.controls.no_cache or view.prompt is None else view.exact_key


def _annotate(kwargs: dict[str, Any], decision: dict[str, Any]) -> None:
    """Leave hit provenance in the request metadata (the proxy reads it for headers)."""
    metadata = kwargs.get("metadata")
    if isinstance(metadata, dict):
        metadata["semcache"] = decision
        if decision.get("similarity") is not None:
            metadata["semantic-similarity"] = decision["similarity"]


def attach(engine: SemanticCache) -> litellm.Cache:
    """Make ``engine`` LiteLLM's response cache (``litellm.cache``)."""
    backend = LiteLLMBackend(engine)
    options: dict[str, Any] = {"supported_call_types": SUPPORTED_CALL_TYPES, "max_messages": None}
    try:
        cache = litellm.Cache(type="redis-semantic", _backend=backend, **options)
    except TypeError:  # a LiteLLM without the private ``_backend`` argument
        cache = litellm.Cache(type="local", **options)
        cache.type = litellm.types.caching.LiteLLMCacheType.REDIS_SEMANTIC
        cache.cache = backend
    litellm.cache = cache
    return cache
