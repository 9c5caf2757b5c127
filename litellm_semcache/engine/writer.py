"""The write path: store an upstream answer for a request.

The category comes from the lookup that missed (no second categorisation) or, for a write
without a lookup, is computed here. The document is written to the store before the index can
point at it; the deployment decides who enforces the category quota.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import structlog

from litellm_semcache.classify.categories import Categorizer
from litellm_semcache.config import CacheSettings, CategoryPolicy, Mode
from litellm_semcache.engine.catalogue import Catalogue
from litellm_semcache.engine import answers
from litellm_semcache.engine.decision import Decision, Outcome, Reason
from litellm_semcache.engine.pending import PendingMisses
from litellm_semcache.engine.removal import Remover
from litellm_semcache.errors import InvalidRequest
from litellm_semcache.load import stale
from litellm_semcache.load.base import Load
from litellm_semcache.observability.metrics import Recorder
from litellm_semcache.request import RequestView, view_request
from litellm_semcache.store.deployment import Deployment
from litellm_semcache.store.document import PROMPT_SOURCES, Document

log = structlog.get_logger("litellm_semcache")
_SWEEP_PER_WRITE = 16  # expired entries leave as writes arrive: an active cache needs no timer
_SIZE_HEADROOM = 0.1  # past the size limit, evict down to 90 % of it


class WritePath:
    def __init__(self, settings: CacheSettings, deployment: Deployment, catalogue: Catalogue,
                 categorizer: Categorizer, embed: Callable[[str], np.ndarray], load: Load,
                 pending: PendingMisses, recorder: Recorder, remover: Remover,
                 clock: Callable[[], float]) -> None:
        self._settings = settings
        self._deployment = deployment
        self._catalogue = catalogue
        self._categorizer = categorizer
        self._embed = embed
        self._load = load
        self._pending = pending
        self._recorder = recorder
        self._remover = remover
        self._clock = clock

    def store(self, request: dict, response: Any, *, upstream_key: str | None = None,
              ttl: float | None = None, incomplete: str | None = None) -> Decision:
        """Store ``response`` for ``request``. Never raises; records and returns what it did.
        ``incomplete``: why the caller knows the answer is broken (e.g. a cut-off stream)."""
        started = time.perf_counter()
        try:
            decision = self._store(request, response, upstream_key, ttl, incomplete)
        except InvalidRequest as exc:  # malformed input is not a cache fault
            decision = Decision(Outcome.BYPASS, Reason.INVALID_REQUEST, detail=str(exc))
        except Exception as exc:  # noqa: BLE001 - a failed write is only a missed opportunity
            log.warning("semcache.fail_open", operation="store", error=type(exc).__name__,
                        detail=str(exc)[:200])
            decision = Decision(Outcome.BYPASS, Reason.FAIL_OPEN, detail=type(exc).__name__)
        decision = decision.but(latency_ms=(time.perf_counter() - started) * 1000)
        self._recorder.stored(decision)
        return decision

    def _store(self, request: dict, response: Any, upstream_key: str | None,
               ttl: float | None, incomplete: str | None) -> Decision:
        view = view_request(request, upstream_key=upstream_key,
                            max_prompt_chars=self._settings.max_prompt_chars)
        if view.prompt is None:  # none, or over max_prompt_chars
            return Decision(Outcome.BYPASS, Reason.NOT_STORABLE)
        if view.controls.no_store:
            return Decision(Outcome.BYPASS, Reason.NO_STORE)
        category, source = self._category_of(view)
        policy = self._settings.policy(category)
        requested = view.controls.ttl if ttl is None else ttl
        ttl_seconds = self._ttl(policy, view, requested)
        if policy.mode is Mode.OFF:
            return Decision(Outcome.BYPASS, Reason.MODE_OFF, category=category)
        if ttl_seconds <= 0:
            return Decision(Outcome.BYPASS, Reason.TTL_ZERO, category=category)
        refused = incomplete or answers.incomplete(response, policy)
        if refused:
            log.info("semcache.not_stored", category=category, reason=refused)
            return Decision(Outcome.BYPASS, Reason.INCOMPLETE_ANSWER, detail=refused,
                            category=category)
        if policy.shared and not may_write_shared(policy, view, source):
            log.info("semcache.not_stored", category=category, reason="shared_write_denied",
                     category_source=source)
            return Decision(Outcome.BYPASS, Reason.SHARED_WRITE_DENIED, category=category,
                            category_source=source)
        now = self._clock()
        # a TTL the caller chose is the answer's whole life: no stale grace after it
        grace = 0 if requested is not None else stale.grace_seconds(policy,
                                                                    self._settings.load_policy)
        document = Document(
            id=view.entry_id(policy.shared), category=category,
            scope=view.scope_for(policy.shared), prompt=view.prompt, normalized=view.normalized,
            vector=self._embed(view.embed_text), response=response, created_at=now,
            expires_at=now + ttl_seconds + grace, model_group=view.model_group,
            category_source=source, history=list(view.history), stale_grace_seconds=grace)
        encoded = document.to_bytes()
        if len(encoded) > self._settings.max_response_bytes:
            return Decision(Outcome.BYPASS, Reason.RESPONSE_TOO_LARGE, category=category)
        self._insert(document, policy, encoded)
        self._measure_upstream(view)
        return Decision(Outcome.STORED, Reason.STORED, category=category, category_source=source,
                        ttl_seconds=round(ttl_seconds), entry_id=document.id,
                        request_key=view.exact_key)

    def _insert(self, document: Document, policy: CategoryPolicy, encoded: bytes) -> None:
        with self._catalogue.lock:
            self._remover.sweep(limit=_SWEEP_PER_WRITE)
            previous = self._catalogue.get(document.id)
            if previous is not None:  # a rewrite takes its own place, it evicts nobody
                self._catalogue.forget(previous)
                if previous.category != document.category:  # a store partitioned by category
                    self._deployment.store.delete(previous.id, category=previous.category)
            evicted = self._deployment.write(document, encoded, policy.max_entries,
                                             self._catalogue)
            over_size = self._fit_size_limit(document.id)
        self._recorder.evicted(document.category, evicted)
        for category, count in over_size.items():
            self._recorder.evicted(category, count)

    def _fit_size_limit(self, written: str) -> dict[str, int]:
        """Past the store's size limit, evict (never the entry just written) until the store
        is back under 90 % of it, the fullest category relative to its quota first; returns
        the evictions by category. The 10 % headroom spares the next writes the same work."""
        if self._deployment.excess_bytes() <= 0:
            return {}
        evicted: dict[str, int] = {}
        quotas = {name: policy.max_entries for name, policy in self._settings.categories.items()}
        while self._deployment.excess_bytes(headroom=_SIZE_HEADROOM) > 0:
            victim = self._catalogue.evict_from_fullest(quotas, keep=written)
            if victim is None:
                break
            self._deployment.store.delete(victim.id)
            evicted[victim.category] = evicted.get(victim.category, 0) + 1
        log.warning("semcache.size_limit", evicted=sum(evicted.values()),
                    limit_mb=self._settings.store.size_limit_mb)
        return evicted

    def _category_of(self, view: RequestView) -> tuple[str, str]:
        pending = self._pending.peek(view.exact_key)
        if pending is not None:
            return pending.category, pending.source
        category, source = self._categorizer.without_embedding(view)
        if category is None:
            category, source = self._categorizer.by_embedding(self._embed(view.embed_text),
                                                               view.prompt or "")
        return category, source

    def _ttl(self, policy: CategoryPolicy, view: RequestView, requested: float | None) -> float:
        effective = self._load.effective(policy, view.deployment, view.model_group).ttl_seconds
        return ttl_to_store(policy, effective, requested)

    def _measure_upstream(self, view: RequestView) -> None:
        pending = self._pending.pop(view.exact_key)
        if pending is not None:
            self._recorder.upstream(pending.category, (time.perf_counter() - pending.started) * 1000)


def ttl_to_store(policy: CategoryPolicy, effective_ttl: float, requested: float | None) -> float:
    """A caller's ``ttl`` may shorten freely but lengthen only up to the category's cap;
    without one, the category's TTL in force (the load policy may have stretched it) applies."""
    if requested is None:
        return float(effective_ttl)
    return float(min(requested, max(policy.ttl_seconds, policy.ttl_cap or 0)))


def may_write_shared(policy: CategoryPolicy, view: RequestView, source: str) -> bool:
    """Whether this request's answer may go into a shared category's entries, which every
    tenant is then served. With ``writers`` set, only those identities may; without, any
    tenant may, but only when the cache chose the category from the prompt itself: a client's
    label (metadata or tag) alone never puts an answer in front of other tenants."""
    if policy.writers is not None:
        return not view.writers.isdisjoint(policy.writers)
    return source in PROMPT_SOURCES
