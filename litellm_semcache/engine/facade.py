"""``SemanticCache``: the engine's public face. It wires the parts and delegates:

- lookups to :class:`~litellm_semcache.engine.pipeline.LookupPipeline` (and, for callers on
  an event loop, to :class:`~litellm_semcache.engine.async_path.AsyncPath`),
- writes to :class:`~litellm_semcache.engine.writer.WritePath`,
- what is held in memory to :class:`~litellm_semcache.engine.catalogue.Catalogue`,
- start-up to :class:`~litellm_semcache.engine.rebuild.Rebuilder` (and, for a shared store, a
  follower feeding :class:`~litellm_semcache.engine.replica.ReplicaSync`),
- counting to :class:`~litellm_semcache.observability.metrics.Recorder`.

Every failure inside the cache turns into a miss and is counted: a cache fault never fails a
request.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import structlog

from litellm_semcache.breaker import CircuitBreaker
from litellm_semcache.classify.categories import Categorizer
from litellm_semcache.classify.verifier import ScoredVerifier, Verifier
from litellm_semcache.config import DEFAULT_CATEGORY, CacheSettings, load_settings
from litellm_semcache.embedding import MemoEmbedder, load_embedder
from litellm_semcache.engine import snapshots
from litellm_semcache.engine.async_path import AsyncPath
from litellm_semcache.engine.break_even import BreakEvenSwitch
from litellm_semcache.engine.catalogue import Catalogue
from litellm_semcache.engine.decision import Decision, Outcome, Reason
from litellm_semcache.engine.pending import PendingMisses
from litellm_semcache.engine.pipeline import LookupContext, LookupPipeline, elapsed_ms
from litellm_semcache.engine.rebuild import Rebuilder
from litellm_semcache.engine.removal import Remover
from litellm_semcache.engine.replica import ReplicaSync
from litellm_semcache.engine.writer import WritePath
from litellm_semcache.index.base import IndexFactory, IndexParams, default_index_factory
from litellm_semcache.load import Load, make_load_policy
from litellm_semcache.observability.logs import DecisionLog
from litellm_semcache.observability.metrics import (
    AutoBypassGauges,
    BreakerGauges,
    FollowerGauges,
    LoadGauges,
    Recorder,
)
from litellm_semcache.request import RequestView, view_request
from litellm_semcache.store.base import DocumentStore
from litellm_semcache.store.deployment import Deployment, LocalDeployment, open_deployment
from litellm_semcache.store.document import Document
from litellm_semcache.store.unavailable import UnavailableDeployment

log = structlog.get_logger("litellm_semcache")


class SemanticCache:
    """Category-aware semantic cache. Thread-safe; one instance per process.

    ``store`` (a :class:`DocumentStore`, e.g. ``testing.MemoryStore``) or ``deployment``
    replace the store the settings name; ``index_factory`` and ``verifier`` replace the
    hnswlib index and the lexical guard.
    """

    def __init__(
        self,
        settings: CacheSettings | None = None,
        *,
        embedder: MemoEmbedder | None = None,
        store: DocumentStore | None = None,
        deployment: Deployment | None = None,
        clock: Callable[[], float] = time.time,
        load_policy: Load | None = None,
        index_factory: IndexFactory = default_index_factory,
        verifier: Verifier | None = None,
    ) -> None:
        self.settings = settings or load_settings(None)
        self.embedder = embedder or load_embedder(self.settings.embedding)
        self.load = load_policy or make_load_policy(self.settings.load_policy)
        self.catalogue = Catalogue(self._index_params(), index_factory)
        self.recorder = Recorder(self.settings.categories, self.catalogue.count)
        self.decision_log = DecisionLog(self.settings.log_summary_seconds)
        if self.settings.load_policy.enabled:
            self.recorder.registry.register(LoadGauges(self.load.states))
        self.break_even = BreakEvenSwitch(self.settings.categories, self.settings.auto_bypass,
                                          self.recorder.costs)
        self.recorder.registry.register(AutoBypassGauges(self.break_even.bypassed))
        self._closed = False
        self.flushes = 0  # how often flush() ran (single-flight drops answers from before)
        # An embedding slower than the lookup deadline counts as a failure: after 5 in a row,
        # lookups stop embedding (a miss at once) until a probe finds the embedder fast again.
        self._embedding_breaker = CircuitBreaker(
            "embedder", failures=5, slow_after_s=self.settings.lookup_deadline_ms / 1000)
        categorizer = Categorizer(self.settings, self.embedder)
        categorizer.warm_up()
        self.store_problem: str | None = None  # why the store could not be opened, if so
        self.deployment = self._start(deployment or (
            LocalDeployment(store, None) if store is not None else None), clock)
        self.recorder.registry.register(BreakerGauges(
            lambda: [self._embedding_breaker, *self.deployment.breakers]))
        self.recorder.registry.register(FollowerGauges(lambda: self.deployment.followers))
        pending, store_ = PendingMisses(), self.deployment.store
        remover = Remover(self.catalogue, store_, self.recorder, clock)
        self._remover = remover
        self.pipeline = LookupPipeline(self.settings, self.catalogue, store_, categorizer,
                                       self._embed, self.load, verifier or ScoredVerifier(),
                                       pending, remover, clock, self.break_even)
        self._writer = WritePath(self.settings, self.deployment, self.catalogue, categorizer,
                                 self._embed_for_write, self.load, pending, self.recorder, remover, clock)
        self._categorizer = categorizer
        self._clock = clock
        self.async_path = AsyncPath(self.settings, self.complete, self.store,
                                    lambda: self.embedder, self._embedding_breaker,
                                    self._fail_open, self.deployment.remote)

    def _start(self, deployment: Deployment | None, clock: Callable[[], float]) -> Deployment:
        """Open the store the settings name (unless one was given) and load the index from it.
        A store that cannot be opened or read (malformed database, read-only or missing
        directory) never stops the start: the cache then bypasses every request
        (:mod:`~litellm_semcache.store.unavailable`), loudly."""
        try:
            deployment = deployment or open_deployment(self.settings.store,
                                                          self.settings.categories)
            rebuilder = Rebuilder(self.catalogue, deployment.store, self.settings,
                                  self.embedder.name, self.embedder.dim, clock,
                                  deployment.snapshot_dir, self.recorder.fault)
            deployment.start(rebuilder, ReplicaSync(self.catalogue, rebuilder, deployment.store,
                                                        clock))
            return deployment
        except Exception as exc:  # noqa: BLE001 - a broken store must not keep the proxy down
            reason = f"{type(exc).__name__}: {str(exc)[:200]}"
            log.error("semcache.store_unavailable", path=self.settings.store.path,
                      backend=self.settings.store.backend, error=reason,
                      action="the cache bypasses every request until it is restarted on a "
                             "working store (move the damaged directory away, or fix its "
                             "permissions)")
            self.recorder.fault("store_unavailable")
            self.store_problem = reason
            self.catalogue.clear()
            if deployment is not None:
                try:
                    deployment.close()
                except Exception:  # noqa: BLE001 - it is already broken
                    pass
            return UnavailableDeployment(reason)

    @property
    def available(self) -> bool:
        """False when the store could not be opened: every request bypasses the cache."""
        return self.store_problem is None

    # ------------------------------------------------------------------ lookup

    def lookup(self, request: Mapping[str, Any], *, upstream_key: str | None = None) -> Decision:
        """Decide hit / miss / bypass for one request and count it. Never raises."""
        decision = self.decide(request, upstream_key=upstream_key)
        self.record(decision, request)
        return decision

    def decide(self, request: Mapping[str, Any], *, upstream_key: str | None = None) -> Decision:
        """Like :meth:`lookup` without counting: for integrations that count the decision
        they finally serve (e.g. after single-flight) with :meth:`record`."""
        started = time.perf_counter()
        if not self.available:
            return Decision(Outcome.BYPASS, Reason.STORE_UNAVAILABLE)
        try:
            prepared = self.pipeline.prepare(dict(request), upstream_key, started)
            decision = (prepared if isinstance(prepared, Decision)
                        else self.pipeline.complete(prepared))
        except Exception as exc:  # noqa: BLE001 - fail open, always
            decision = self._fail_open(exc)
        return self._within_deadline(decision.but(latency_ms=elapsed_ms(started)))

    def prepare(self, request: Mapping[str, Any], *, upstream_key: str | None = None,
                on_loop: bool = False) -> Decision | LookupContext:
        """The cheap part of a lookup (no embedding): a final decision (bypass, exact hit), or
        a context for :meth:`complete` / :meth:`complete_async`. ``on_loop``: the caller is an
        event loop, so a remote store is not read here. Never raises."""
        started = time.perf_counter()
        if not self.available:
            return Decision(Outcome.BYPASS, Reason.STORE_UNAVAILABLE)
        try:
            prepared = self.pipeline.prepare(dict(request), upstream_key, started,
                                             defer_reads=on_loop and self.deployment.remote)
        except Exception as exc:  # noqa: BLE001
            return self._fail_open(exc).but(latency_ms=elapsed_ms(started))
        if isinstance(prepared, Decision):
            return prepared.but(latency_ms=elapsed_ms(started))
        return prepared

    def complete(self, context: LookupContext) -> Decision:
        """The embedding part of a lookup prepared by :meth:`prepare`. Never raises."""
        try:
            decision = self.pipeline.complete(context)
        except Exception as exc:  # noqa: BLE001
            decision = self._fail_open(exc)
        return self._within_deadline(decision.but(latency_ms=elapsed_ms(context.started)))

    async def complete_async(self, context: LookupContext) -> Decision:
        """:meth:`complete` for a caller on an event loop: the embedding in the batched service
        (a full queue is a miss at once, reason ``overloaded``), within the lookup deadline.
        Never raises."""
        return await self.async_path.complete(context)

    async def store_async(self, request: Mapping[str, Any], response: Any, *,
                          upstream_key: str | None = None, ttl: float | None = None,
                          incomplete: str | None = None) -> Decision:
        """:meth:`store` on the engine's write thread. Never raises."""
        return await self.async_path.store(request, response, upstream_key=upstream_key, ttl=ttl,
                                           incomplete=incomplete)

    def prefetch(self, view: RequestView) -> bool:
        """Start embedding the prompt of ``view`` while the embedding service is idle, so that
        the lookup that follows finds it memoised. True if started."""
        return self.async_path.prefetch(view)

    def holds(self, entry_id: str) -> bool:
        """Whether the entry is still cached and unexpired (not flushed, evicted or expired)."""
        entry = self.catalogue.get(entry_id)
        return entry is not None and not entry.expired(self._clock())

    def view(self, request: Mapping[str, Any], *, upstream_key: str | None = None) -> RequestView:
        """This cache's view of ``request`` (a prompt over ``max_prompt_chars`` is refused on
        its raw length, before any normalisation). Raises :class:`InvalidRequest`."""
        return view_request(request, upstream_key=upstream_key,
                            max_prompt_chars=self.settings.max_prompt_chars)

    def record(self, decision: Decision, request: Mapping[str, Any] | None = None) -> None:
        """Count a decision a client received, and log it (the one place that does)."""
        self.recorder.lookup(decision)
        self.break_even.observe(decision)
        prompt = None
        if self.settings.log_prompts and request is not None:  # opt-in: prompts may be personal
            try:
                prompt = self.view(request).prompt
            except Exception:  # noqa: BLE001 - logging never fails a request
                prompt = None
        call_id = request.get("litellm_call_id") if request is not None else None
        self.decision_log.record(decision, prompt, call_id if isinstance(call_id, str) else None)

    def validate(self, request: Mapping[str, Any]) -> RequestView:
        """Raise :class:`InvalidRequest` for malformed cache controls or an unknown category
        (the proxy turns it into HTTP 400 before the request is routed); returns the view."""
        view = self.view(request)
        self._categorizer.without_embedding(view)
        return view

    def categorize(self, request: Mapping[str, Any]) -> tuple[str, str]:
        """(category, source) the cache puts ``request`` in; source is metadata, rule,
        centroid or default. Raises :class:`InvalidRequest` for an unknown explicit category."""
        view = self.view(request)
        category, source = self._categorizer.without_embedding(view)
        if category is None:
            category, source = self._categorizer.by_embedding(self._embed(view.embed_text),
                                                               view.prompt or "")
        return category, source

    # ------------------------------------------------------------------ store and maintenance

    def store(self, request: Mapping[str, Any], response: Any, *,
              upstream_key: str | None = None, ttl: float | None = None,
              incomplete: str | None = None) -> Decision:
        """Store an upstream answer for ``request``. Never raises; returns what it did.
        Broken answers are refused (see :mod:`~litellm_semcache.engine.answers`);
        ``incomplete`` names a defect only the caller can see (a stream that was cut off)."""
        if not self.available:
            return Decision(Outcome.BYPASS, Reason.STORE_UNAVAILABLE)
        return self._writer.store(dict(request), response, upstream_key=upstream_key, ttl=ttl,
                                  incomplete=incomplete)

    def sweep(self, limit: int | None = None) -> int:
        """Remove expired entries (all, or at most ``limit``); returns how many. Every write
        also sweeps a few, so an active cache needs no timer."""
        return self._remover.sweep(limit)

    def flush(self, category: str | None = None) -> int:
        """Delete every entry (of one category); returns how many."""
        self.flushes += 1  # before the entries go: nothing cached from before is handed over
        return self._remover.flush(category)

    def delete(self, entry_ids: list[str]) -> int:
        """Delete entries by id (the ``x-semcache-entry`` header of a hit); returns how many
        existed. On a shared store every replica drops them."""
        return self._remover.delete(entry_ids)

    def ping(self) -> bool:
        """Whether the document store answers a write, a read and a delete (of a probe entry
        no request can match). Never raises."""
        now = time.time()
        probe = Document(id=f"semcache-ping-{uuid.uuid4().hex}", category=DEFAULT_CATEGORY,
                         scope="ping", prompt="", normalized="",
                         vector=np.zeros(self.embedder.dim, dtype=np.float32),
                         response=None, created_at=now, expires_at=now + 60)
        store = self.deployment.store
        try:
            store.put(probe)
            found = store.get(probe.id) is not None
            store.delete(probe.id)
            return found
        except Exception as exc:  # noqa: BLE001 - a health check reports, never raises
            log.warning("semcache.ping_failed", error=type(exc).__name__, detail=str(exc)[:200])
            return False

    def __len__(self) -> int:
        return len(self.catalogue)

    def stats_snapshot(self) -> dict[str, dict[str, Any]]:
        """Per category: counters, entries, hit rate, miss cost, break-even and whether the
        category is auto-bypassed below it."""
        return {category: {**row, **self.break_even.report(category)}
                for category, row in self.recorder.snapshot().items()}

    def save_snapshot(self) -> int:
        """Save the large index shards for a fast next start (``close()`` does it too)."""
        return snapshots.save_snapshot(
            self.catalogue, self.deployment.snapshot_dir, self.embedder.name,
            lambda: self.deployment.position(self.catalogue, self._clock()))

    def close(self) -> None:
        """Save index snapshots and close the store. Idempotent (``install()`` also runs it at
        interpreter exit)."""
        if self._closed:
            return
        self._closed = True
        self.async_path.close()
        try:
            self.save_snapshot()
        except Exception as exc:  # noqa: BLE001 - a missing snapshot only slows the next start
            log.warning("semcache.snapshot_failed", error=type(exc).__name__, detail=str(exc)[:200])
        self.load.close()
        self.deployment.close()

    # ------------------------------------------------------------------ internals

    def _embed(self, text: str) -> np.ndarray:
        return self._embedding_breaker.call(lambda: self.embedder.embed_one(text))

    def _embed_for_write(self, text: str) -> np.ndarray:
        """Writes embed through the batched service too: one model call at a time, and the
        write after an overloaded lookup joins that queue instead of competing with it."""
        vector = self.embedder.peek(text)
        if vector is None:
            vector = self.async_path.embedding.embed([text])[0]  # the breaker is inside
            self.embedder.keep(text, vector)
        return vector

    def _within_deadline(self, decision: Decision) -> Decision:
        if (decision.outcome is not Outcome.BYPASS
                and decision.latency_ms > self.settings.lookup_deadline_ms):
            return Decision(Outcome.MISS, Reason.DEADLINE, category=decision.category,
                            request_key=decision.request_key, latency_ms=decision.latency_ms)
        return decision

    def _fail_open(self, exc: Exception) -> Decision:
        log.warning("semcache.fail_open", operation="lookup", error=type(exc).__name__,
                    detail=str(exc)[:200])
        return Decision(Outcome.MISS, Reason.FAIL_OPEN, detail=type(exc).__name__)

    def _index_params(self) -> IndexParams:
        index = self.settings.index
        return IndexParams(dim=self.embedder.dim, m=index.m,
                           ef_construction=index.ef_construction, ef_search=index.ef_search,
                           initial_capacity=index.initial_capacity,
                           flat_limit=index.exact_search_limit)
