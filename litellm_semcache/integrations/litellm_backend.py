"""Plug the engine into LiteLLM's response cache (SDK, Router and proxy).

LiteLLM has no "custom" cache type. We build ``litellm.Cache`` with ``type="redis-semantic"``
only for its key rules (the prompt is left out of LiteLLM's key, the tenant is put in) and hand
it our backend; LiteLLM's key then serves as the parameter fingerprint of the request, because
LiteLLM's sync path passes only ``messages``/``input``/``metadata`` to a backend.

Counting happens here, once per request, on the decision the client finally gets (after
single-flight), so the counters equal what clients received.

The async path runs on the caller's event loop (:meth:`SemanticCache.prepare` with
``on_loop``: bypasses and exact hits never leave it) and hands only the embedding to the
engine's batched service (:meth:`SemanticCache.complete_async`). Writes go to the engine's
write thread after the answer was handed to identical waiting requests.
"""

from __future__ import annotations

import contextvars
import functools
import time
from typing import Any

import litellm
from litellm.caching.base_cache import BaseCache
from litellm.integrations.custom_logger import CustomLogger
from litellm.litellm_core_utils.model_param_helper import ModelParamHelper
from litellm.types.utils import is_litellm_owned_kwarg

from litellm_semcache.answer_params import canonical, neutral
from litellm_semcache.bounded import RecentSet
from litellm_semcache.config import CategoryPolicy, Mode
from litellm_semcache.engine import answers
from litellm_semcache.engine.decision import Decision, Outcome, Reason
from litellm_semcache.engine.facade import SemanticCache
from litellm_semcache.engine.pipeline import LookupContext, elapsed_ms
from litellm_semcache.errors import InvalidRequest
from litellm_semcache.integrations.single_flight import Flight, SingleFlight
from litellm_semcache.integrations.stream_ends import STREAM_ENDS, WITNESS, unfinished_stream

SUPPORTED_CALL_TYPES = ["completion", "acompletion", "text_completion", "atext_completion"]
_REMEMBERED_WRITES = 4096
# Waiting requests are handed an answer before its write (whose category rules then decide
# whether it is kept) only when no category could refuse it: complete, no tools, not cut off.
_STRICTEST = CategoryPolicy()


class LiteLLMBackend(BaseCache):
    """A LiteLLM cache backend over :class:`SemanticCache`. The first parameter of each method
    must be named ``key``: LiteLLM's async path also passes ``cache_key=``."""

    def __init__(self, engine: SemanticCache) -> None:
        super().__init__(default_ttl=0)
        self.engine = engine
        self.single_flight = SingleFlight(engine.settings.single_flight_wait_ms / 1000,
                                          self._serves, engine.holds, lambda: engine.flushes)
        self._writes = RecentSet(_REMEMBERED_WRITES)  # (call id, key, chat?) already written

    def get_cache(self, key: str, **kwargs: Any) -> Any:
        request = _sync_request.get() or kwargs  # the whole request, as the async path gets it
        decision = self.engine.decide(request, upstream_key=scoped_key(key, request))
        decision = _unless_refused(decision, request)
        self.engine.record(decision, request)
        _annotate(request, decision)
        return decision.response if decision.served else None

    async def async_get_cache(self, key: str, **kwargs: Any) -> Any:
        key = scoped_key(key, kwargs)
        decision = _unless_refused(await self._lookup(key, kwargs), kwargs)
        self.engine.record(decision, kwargs)
        _annotate(kwargs, decision)
        return decision.response if decision.served else None

    async def _lookup(self, key: str, kwargs: dict[str, Any]) -> Decision:
        prepared = self.engine.prepare(kwargs, upstream_key=key, on_loop=True)
        if isinstance(prepared, Decision):  # bypass or exact hit, decided on the loop
            return prepared
        request_key, call_id = prepared.view.exact_key, _call_id(kwargs)
        may_lead = not prepared.view.controls.no_store  # LiteLLM will not hand that answer over
        if self.single_flight.leading(request_key):  # an identical request is at the model:
            flight = await self.single_flight.follow(request_key, call_id, may_lead=False)
            shared = self._shared_answer(flight, prepared) if flight else None
            if shared is not None:  # its answer, without an embedding of our own
                return shared
        decision = await self.engine.complete_async(prepared)
        # A lookup cut off by its deadline or refused (overloaded, open breaker) still joins:
        # identical requests must not all reach the model because the cache is busy.
        if decision.outcome is Outcome.MISS:
            flight = await self.single_flight.follow(request_key, call_id, may_lead=may_lead,
                                                     category=decision.category)
            if flight is not None:
                decision = self._shared_answer(flight, prepared, decision.category) or decision
        return decision

    def _shared_answer(self, flight: Flight, context: LookupContext,
                       category: str | None = None) -> Decision | None:
        """An identical request's fresh answer, served as an exact hit (where the category
        serves hits)."""
        stored = flight.stored
        category = category or context.category or flight.category
        if not self._serves(category):  # an unknown category: only if every category serves
            return None
        threshold = (self.engine.settings.policy(category).similarity_threshold
                     if category is not None else None)
        return Decision(Outcome.HIT, Reason.SINGLE_FLIGHT, category=category,
                        category_source="single_flight", similarity=1.0, threshold=threshold,
                        ttl_seconds=stored.ttl_seconds if stored else None,
                        entry_id=stored.entry_id if stored else None,
                        request_key=context.view.exact_key, response=flight.answer,
                        latency_ms=elapsed_ms(context.started))

    def _serves(self, category: str | None) -> bool:
        """Whether an answer may be handed to identical requests of ``category`` before it is
        stored; an unknown category qualifies only when every category would."""
        policies = ([self.engine.settings.policy(category)] if category is not None
                    else self.engine.settings.categories.values())
        return all(policy.mode is Mode.ON and policy.ttl_seconds > 0 for policy in policies)

    def upstream_failed(self, call_id: str | None) -> None:
        """LiteLLM reported a failed call: a single-flight leader gives its place up."""
        self.single_flight.abandon(call_id)

    def set_cache(self, key: str, value: Any, **kwargs: Any) -> None:
        if self._first_write(key, kwargs):
            self.engine.store(kwargs, value, upstream_key=scoped_key(key, kwargs),
                              incomplete=unfinished_stream(kwargs, STREAM_ENDS))

    async def async_set_cache(self, key: str, value: Any, **kwargs: Any) -> None:
        key = scoped_key(key, kwargs)
        if not self._first_write(key, kwargs):
            return
        request_key = _request_key(self.engine, kwargs, key)
        unfinished = unfinished_stream(kwargs, STREAM_ENDS)
        if unfinished is None and answers.incomplete(value, _STRICTEST) is None:
            self.single_flight.answer(request_key, value)  # waiting requests get it now
        stored: Decision | None = None
        try:
            stored = await self.engine.store_async(kwargs, value, upstream_key=key,
                                                   incomplete=unfinished)
        finally:
            listener = stored_here.get()
            if listener is not None and stored is not None:
                listener.append(stored)
            self.single_flight.stored(request_key, stored, value)

    def _first_write(self, key: str, kwargs: dict[str, Any]) -> bool:
        """False for a second write of one call's answer: the Router's stream wrapper and the
        stream it wraps both hand the finished stream to the cache."""
        call_id = kwargs.get("litellm_call_id")
        return (not isinstance(call_id, str)
                or self._writes.add((call_id, key, "messages" in kwargs)))

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


def scoped_key(key: str, kwargs: dict[str, Any]) -> str:
    """LiteLLM's cache key plus the parameters it leaves out that can change the answer.

    LiteLLM keys the OpenAI parameters it knows and skips the rest (vLLM's ``guided_choice``,
    ``min_tokens``, ... unless ``enable_caching_on_provider_specific_optional_params``, which
    would also key per-request objects such as ``parent_otel_span``). Its own plumbing
    (``api_base``, ``mock_response``, ...) stays out, as in its key. LiteLLM's sync lookup shows
    the backend no parameters at all: a sync request carrying such a parameter then never hits,
    it is never served another request's answer."""
    extra = {name: value for name, value in kwargs.items()
             if value is not None and name not in _api_params() and not neutral(name)
             and not is_litellm_owned_kwarg(name)}
    return f"{key}|{canonical(extra)}" if extra else key


@functools.cache
def _api_params() -> frozenset[str]:
    return frozenset(ModelParamHelper.get_all_llm_api_params())


def _request_key(engine: SemanticCache, kwargs: dict[str, Any], key: str) -> str | None:
    try:
        view = engine.view(kwargs, upstream_key=key)
    except InvalidRequest:
        return None
    return view.exact_key if view.prompt is not None else None


def _call_id(kwargs: dict[str, Any]) -> str | None:
    call_id = kwargs.get("litellm_call_id")
    if call_id is None:
        params = kwargs.get("litellm_params")
        call_id = params.get("litellm_call_id") if isinstance(params, dict) else None
    return str(call_id) if call_id is not None else None


class _FailureListener(CustomLogger):
    """LiteLLM's failure callback: tells the installed backend that a call failed, so that its
    single-flight leader stops holding identical requests back. One per process (installs
    replace ``litellm.cache``; the listener always asks the current one)."""

    async def async_log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        backend = getattr(litellm.cache, "cache", None)
        failed = getattr(backend, "upstream_failed", None)
        if callable(failed) and isinstance(kwargs, dict):
            failed(_call_id(kwargs))


_FAILURES = _FailureListener()


def _unless_refused(decision: Decision, kwargs: dict[str, Any]) -> Decision:
    """A hit LiteLLM would throw away is a miss: LiteLLM measures ``s-maxage`` from the
    timestamp it stored with the answer (a moment before our entry's ``created_at``)."""
    if not decision.served or not isinstance(decision.response, dict):
        return decision
    controls, stamp = kwargs.get("cache"), decision.response.get("timestamp")
    if not isinstance(controls, dict) or not isinstance(stamp, (int, float)):
        return decision
    ages = [controls.get(name) for name in ("s-maxage", "s-max-age")]
    limits = [age for age in ages if isinstance(age, (int, float)) and not isinstance(age, bool)]
    if limits and time.time() - stamp > min(limits):
        return decision.but(outcome=Outcome.MISS, reason=Reason.EXPIRED, response=None,
                            entry_id=None)
    return decision


def _annotate(kwargs: dict[str, Any], decision: Decision) -> None:
    """Leave hit provenance in the request metadata (the proxy reads it for headers)."""
    metadata = kwargs.get("metadata")
    if isinstance(metadata, dict):
        metadata["semcache"] = decision.as_dict()
        if decision.visible_similarity is not None:  # LiteLLM's x-litellm-semantic-similarity
            metadata["semantic-similarity"] = decision.visible_similarity


class _WholeRequestCache(litellm.Cache):
    """``litellm.Cache`` whose sync lookup lets the backend see the whole request, as the async
    lookup does. LiteLLM's sync path hands a backend only ``messages``/``metadata``; without the
    rest (``cache`` controls, parameters) a sync ``s-maxage`` hit would be counted and then
    refused by LiteLLM, and shared categories could never hit. The request stays in-process:
    the engine reads the fields it needs and never logs kwargs."""

    def get_cache(self, dynamic_cache_object: Any = None, **kwargs: Any) -> Any:
        token = _sync_request.set(kwargs)
        try:
            return super().get_cache(dynamic_cache_object, **kwargs)
        finally:
            _sync_request.reset(token)


# Set by a caller that wants to know what its LiteLLM call stored (``/semcache/warm``): LiteLLM
# writes the cache in a task created inside the call, which inherits the context.
stored_here: contextvars.ContextVar[list[Decision] | None] = contextvars.ContextVar(
    "semcache_stored_here", default=None)
_sync_request: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "semcache_sync_request", default=None)


def attach(engine: SemanticCache) -> litellm.Cache:
    """Make ``engine`` LiteLLM's response cache (``litellm.cache``).

    The stream-end witness is registered so that a cut-off stream is never stored (see
    ``stream_ends``)."""
    if not any(callback is WITNESS for callback in litellm.callbacks):
        litellm.callbacks.append(WITNESS)
    backend = LiteLLMBackend(engine)
    options: dict[str, Any] = {"supported_call_types": SUPPORTED_CALL_TYPES, "max_messages": None}
    try:
        cache = _WholeRequestCache(type="redis-semantic", _backend=backend, **options)
    except TypeError:  # a LiteLLM without the private ``_backend`` argument
        cache = _WholeRequestCache(type="local", **options)
        cache.type = litellm.types.caching.LiteLLMCacheType.REDIS_SEMANTIC
        cache.cache = backend
    litellm.cache = cache
    # Awaited by LiteLLM before the failure reaches the caller (SDK and proxy alike), so a
    # retry finds the failed leader's place already free.
    litellm.logging_callback_manager.add_litellm_async_failure_callback(_FAILURES)
    return cache
