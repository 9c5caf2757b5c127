"""The semantic cache engine: lookup and store of one request, independent of LiteLLM.

Hot path of a miss: parse the request, categorise cheaply, probe the exact map, embed (memoised),
search the category's in-memory index for the request's scope. Only a candidate that passes the
threshold costs a document-store read, where expiry, scope and the guard are checked against the
source of truth. Every failure inside the cache turns into a miss and is counted: a cache fault
never fails a request.
"""

from __future__ import annotations

import gc
import heapq
import itertools
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from litellm_semcache import guard, replication, snapshot
from litellm_semcache.breaker import CircuitBreaker
from litellm_semcache.categories import Categorizer
from litellm_semcache.config import CacheSettings, CategoryPolicy, Mode, load_settings
from litellm_semcache.embedding import MemoEmbedder, load_embedder
from litellm_semcache.errors import InvalidRequest
from litellm_semcache.index import CategoryIndex, IndexParams
from litellm_semcache.load_policy import LoadPolicy
from litellm_semcache.request import RequestView, view_request
from litellm_semcache.stats import CategoryStats, StatsBook
from litellm_semcache.storage import Document, DocumentStore, open_store

log = structlog.get_logger("litellm_semcache")

HIT, MISS, BYPASS, SHADOW_HIT = "hit", "miss", "bypass", "shadow-hit"
_PENDING_LIMIT = 4096
_SWEEP_PER_WRITE = 16


@dataclass
class Decision:
    """What the cache decided for one request, and the policy in force (hit provenance)."""

    outcome: str
    reason: str
    category: str | None = None
    category_source: str | None = None
    similarity: float | None = None
    threshold: float | None = None
    ttl_seconds: int | None = None
    entry_id: str | None = None
    model_group: str | None = None
    deployment: str | None = None
    request_key: str | None = None  # scope + normalised prompt of the request (single-flight)
    load_state: str | None = None  # of the routed model: off | unknown | normal | overloaded
    load_score: float | None = None
    relaxed: bool = False  # served only because the load policy lowered the threshold
    latency_ms: float = 0.0
    response: Any = None

    @property
    def served(self) -> bool:
        return self.outcome == HIT

    def as_dict(self) -> dict[str, Any]:
        """Everything but the response (hit provenance for logs, metadata and headers)."""
        return {name: getattr(self, name) for name in _DECISION_FIELDS}


_DECISION_FIELDS = tuple(f.name for f in fields(Decision) if f.name != "response")


@dataclass(slots=True)
class _Entry:
    id: str
    category: str
    scope: str
    label: int
    created_at: float
    expires_at: float


class SemanticCache:
    """Category-aware semantic cache. Thread-safe; one instance per process."""

    def __init__(
        self,
        settings: CacheSettings | None = None,
        *,
        embedder: MemoEmbedder | None = None,
        store: DocumentStore | None = None,
        clock: Callable[[], float] = time.time,
        load_policy: LoadPolicy | None = None,
    ) -> None:
        self.settings = settings or load_settings(None)
        self.embedder = embedder or load_embedder(self.settings.embedding)
        self._store = store or open_store(self.settings.store)
        # A shared store (Redis) enforces quotas across replicas and publishes every change.
        self._feed = self._store if isinstance(self._store, replication.ChangeFeed) else None
        self._clock = clock
        self.load = load_policy or LoadPolicy(self.settings.load_policy)
        # An embedding slower than the lookup deadline counts as a failure: after 5 in a row,
        # lookups stop embedding (a miss at once) until a probe finds the embedder fast again.
        self._embedding_breaker = CircuitBreaker(
            "embedder", failures=5, slow_after_s=self.settings.lookup_deadline_ms / 1000)
        self._categorizer = Categorizer(self.settings, self.embedder)
        self._categorizer.warm_up()
        self._params = IndexParams(
            dim=self.embedder.dim, m=self.settings.index.m,
            ef_construction=self.settings.index.ef_construction,
            ef_search=self.settings.index.ef_search,
            initial_capacity=self.settings.index.initial_capacity,
            flat_limit=self.settings.index.exact_search_limit,
        )
        self._indexes: dict[str, CategoryIndex] = {}
        self._entries: dict[str, _Entry] = {}  # document id -> entry; also the exact fast path
        self._by_label: dict[int, _Entry] = {}
        self._lru: dict[str, OrderedDict[str, None]] = {}
        self._expiry: list[tuple[float, int]] = []
        self._labels = itertools.count(1)
        # Snapshots are per machine; replicas of a shared store rebuild from it instead.
        self._snapshot_dir = (None if self._feed is not None
                              else Path(self.settings.store.path) / "index-snapshot")
        self._pending: OrderedDict[str, tuple[float, str, str]] = OrderedDict()
        self._lock = threading.RLock()
        self._closed = False
        self.stats = StatsBook()
        self._follower: replication.Follower | None = None
        self._start()

    # ------------------------------------------------------------------ lookup

    def validate(self, request: Mapping[str, Any]) -> None:
        """Raise :class:`InvalidRequest` for malformed cache controls or an unknown category
        (the proxy turns it into HTTP 400 before the request is routed)."""
        self._categorizer.without_embedding(view_request(request))

    def lookup(self, request: Mapping[str, Any], *, upstream_key: str | None = None) -> Decision:
        """Decide hit / miss / bypass for one request. Never raises."""
        started = time.perf_counter()
        try:
            decision = self._lookup(request, upstream_key, started)
        except Exception as exc:  # noqa: BLE001 - fail open, always
            decision = self._fail_open("lookup", exc, started)
        decision.latency_ms = (time.perf_counter() - started) * 1000
        if decision.outcome != BYPASS and decision.latency_ms > self.settings.lookup_deadline_ms:
            decision = Decision(MISS, "deadline", category=decision.category,
                                latency_ms=decision.latency_ms)
            self._count(decision.category).fail_opens += 1
        self._record(decision, request)
        return decision

    def _lookup(self, request: Mapping[str, Any], upstream_key: str | None,
                started: float) -> Decision:
        try:
            view = view_request(request, upstream_key=upstream_key)
            category, source = self._categorizer.without_embedding(view)
        except InvalidRequest as exc:
            return Decision(BYPASS, f"invalid_request: {exc}")
        skip = self._bypass_reason(view)
        if skip:
            return Decision(BYPASS, skip, category=category, category_source=source or None)
        decision = self._lookup_view(view, category, source, started)
        decision.request_key = view.exact_key
        return decision

    def _lookup_view(self, view: RequestView, category: str | None, source: str,
                     started: float) -> Decision:
        exact = self._exact_candidate(view, category)
        if exact is not None:
            return exact
        vector = self._embed(view.prompt or "")
        if category is None:
            category, source = self._categorizer.by_embedding(vector)
        policy = self.settings.policy(category)
        decision = self._candidate_decision(view, policy, category, source, reason="no_candidate")
        if policy.mode is Mode.OFF:
            decision.outcome, decision.reason = BYPASS, "mode_off"
            return decision
        self._remember_miss(view, category, source, started)
        index = self._indexes.get(category)
        nearest = index.nearest(view.scope_for(policy.shared), vector) if index is not None else None
        if nearest is None:
            return decision
        label, decision.similarity = nearest
        if decision.similarity < decision.threshold:
            decision.reason = "below_threshold"
            return decision
        verified = self._verify(view, policy, decision, self._by_label.get(label))
        verified.relaxed = verified.outcome == HIT and verified.similarity < policy.similarity_threshold
        return verified

    def _bypass_reason(self, view: RequestView) -> str | None:
        if view.prompt is None:
            return view.bypass_reason or "no_prompt"
        if len(view.prompt) > self.settings.max_prompt_chars:
            return "prompt_too_long"
        if view.controls.no_cache:
            return "no-cache"
        return None

    def _exact_candidate(self, view: RequestView, category: str | None) -> Decision | None:
        """Serve an identical prompt without embedding it, when the policy allows."""
        entry = self._entries.get(view.exact_key) or self._entries.get(view.entry_id(shared=True))
        if entry is None or (category is not None and entry.category != category):
            return None
        policy = self.settings.policy(entry.category)
        if policy.mode is Mode.OFF:
            return None
        decision = self._candidate_decision(view, policy, entry.category, "exact", reason="exact")
        decision.similarity = 1.0
        verified = self._verify(view, policy, decision, entry)
        return verified if verified.outcome != MISS else None

    def _candidate_decision(self, view: RequestView, policy: CategoryPolicy, category: str,
                            source: str, *, reason: str) -> Decision:
        """A miss to be upgraded, carrying the policy in force for the routed model (exact and
        semantic hits alike record the load state and the effective threshold/TTL)."""
        served = self.load.effective(policy, view.deployment, view.model_group)
        return Decision(MISS, reason, category=category, category_source=source,
                        threshold=served.threshold, ttl_seconds=served.ttl_seconds,
                        model_group=view.model_group, deployment=view.deployment,
                        load_state=served.state, load_score=served.score)

    def _verify(self, view: RequestView, policy: CategoryPolicy, decision: Decision,
                entry: _Entry | None) -> Decision:
        """Check the candidate against the document store, the clock and the guard."""
        now = self._clock()
        scope = view.scope_for(policy.shared)
        if entry is None or entry.scope != scope:
            decision.reason = "index_out_of_sync"
            return decision
        if entry.expires_at <= now or _older_than(entry, view.controls.s_maxage, now):
            decision.reason = "expired"
            if entry.expires_at <= now:
                self._drop(entry, "expirations")
            return decision
        document = self._store.get(entry.id)
        if document is None or document.scope != scope or document.expires_at <= now:
            decision.reason = "document_missing"
            self._drop(entry, None)  # never serve an index entry without its document
            return decision
        decision.entry_id = entry.id
        if policy.guard and document.normalized != view.normalized:
            rejected = guard.check(view.prompt or "", document.prompt)
            if rejected:
                decision.reason = f"guard:{rejected}"
                self._count(decision.category).guard_rejections += 1
                return decision
        if policy.mode is Mode.SHADOW:
            decision.outcome, decision.reason = SHADOW_HIT, "shadow"
            return decision
        decision.outcome = HIT
        decision.reason = "exact" if document.normalized == view.normalized else "semantic"
        decision.response = document.response
        with self._lock:
            lru = self._lru.get(entry.category)
            if lru is not None and entry.id in lru:
                lru.move_to_end(entry.id)
        return decision

    # ------------------------------------------------------------------ store

    def store(self, request: Mapping[str, Any], response: Any, *,
              upstream_key: str | None = None, ttl: float | None = None) -> Decision:
        """Store an upstream answer for ``request``. Never raises; returns what it did."""
        started = time.perf_counter()
        try:
            decision = self._store_answer(request, response, upstream_key, ttl)
        except InvalidRequest as exc:  # malformed input is not a cache fault
            decision = Decision(BYPASS, f"invalid_request: {exc}")
        except Exception as exc:  # noqa: BLE001 - a failed write is only a missed opportunity
            decision = self._fail_open("store", exc, started)
        decision.latency_ms = (time.perf_counter() - started) * 1000
        return decision

    def _store_answer(self, request: Mapping[str, Any], response: Any,
                      upstream_key: str | None, ttl: float | None) -> Decision:
        view = view_request(request, upstream_key=upstream_key)
        if view.prompt is None or len(view.prompt) > self.settings.max_prompt_chars:
            return Decision(BYPASS, "not_storable")
        if view.controls.no_store:
            return Decision(BYPASS, "no-store")
        category, source = self._category_for_store(view)
        policy = self.settings.policy(category)
        ttl_seconds = self._effective_ttl(policy, view, view.controls.ttl if ttl is None else ttl)
        if policy.mode is Mode.OFF or ttl_seconds <= 0:
            return Decision(BYPASS, "mode_off" if policy.mode is Mode.OFF else "ttl_zero",
                            category=category)
        vector = self._embed(view.prompt)
        now = self._clock()
        document = Document(
            id=view.entry_id(policy.shared), category=category, scope=view.scope_for(policy.shared),
            prompt=view.prompt,
            normalized=view.normalized, vector=vector, response=response, created_at=now,
            expires_at=now + ttl_seconds, model_group=view.model_group,
        )
        encoded = document.to_bytes()
        if len(encoded) > self.settings.max_response_bytes:
            return Decision(BYPASS, "response_too_large", category=category)
        self._insert(document, policy, encoded)
        self._record_upstream_latency(view, category)
        stats = self._count(category)
        stats.stores += 1
        return Decision("stored", "stored", category=category, category_source=source,
                        ttl_seconds=int(ttl_seconds), entry_id=document.id,
                        request_key=view.exact_key)

    def categorize(self, request: Mapping[str, Any]) -> tuple[str, str]:
        """(category, source) the cache puts ``request`` in; source is metadata, rule,
        centroid or default. Raises :class:`InvalidRequest` for an unknown explicit category."""
        return self._categorize(view_request(request))

    def _categorize(self, view: RequestView) -> tuple[str, str]:
        category, source = self._categorizer.without_embedding(view)
        if category is None:
            category, source = self._categorizer.by_embedding(self._embed(view.prompt or ""))
        return category, source

    def _embed(self, text: str) -> np.ndarray:
        return self._embedding_breaker.call(lambda: self.embedder.embed_one(text))

    def _category_for_store(self, view: RequestView) -> tuple[str, str]:
        pending = self._pending.get(view.exact_key)
        return (pending[1], pending[2]) if pending is not None else self._categorize(view)

    def _effective_ttl(self, policy: CategoryPolicy, view: RequestView,
                       requested: float | None) -> float:
        """A caller's ``ttl`` may shorten freely but lengthen only up to the category's cap;
        without one, the load policy may stretch the category's TTL (up to the same cap)."""
        if requested is None:
            return float(self.load.effective(policy, view.deployment, view.model_group).ttl_seconds)
        ceiling = max(policy.ttl_seconds, policy.ttl_cap or 0)
        return float(min(requested, ceiling))

    def _insert(self, document: Document, policy: CategoryPolicy, encoded: bytes) -> None:
        with self._lock:
            self.sweep(limit=_SWEEP_PER_WRITE)  # amortised: expired entries leave as writes arrive
            previous = self._entries.get(document.id)
            if previous is not None:
                self._forget(previous)
            if self._feed is not None:
                self._insert_shared(self._feed, document, policy, encoded)
                return
            lru = self._lru.setdefault(document.category, OrderedDict())
            while len(lru) >= policy.max_entries:
                victim = self._entries[next(iter(lru))]
                self._drop(victim, "evictions")
            # The store is the source of truth: write it before the index can point at it.
            self._store.put(document, document.expires_at - document.created_at, encoded)
            self._index_entry(document)

    def _insert_shared(self, feed: replication.ChangeFeed, document: Document,
                       policy: CategoryPolicy, encoded: bytes) -> None:
        """The shared store evicts across replicas (soonest expiry first) in the same atomic
        write; this replica forgets the victims now, the others when the stream tells them."""
        evicted = feed.put_within_quota(document, policy.max_entries, encoded)
        self._index_entry(document)
        for entry_id, version in evicted:
            if self.retire(entry_id, version):
                self._count(document.category).evictions += 1

    def _index_entry(self, document: Document) -> None:
        entry = self._remember(document)
        self._index_for(document.category).add(document.scope, entry.label, document.vector)

    def _remember(self, document: Document, label: int | None = None) -> _Entry:
        """Book-keep a stored document (everything but its vector)."""
        if label is None or label in self._by_label:
            label = next(self._labels)
        # Interned: every entry of a scope shares one string (tens of bytes per entry at 100k).
        entry = _Entry(document.id, sys.intern(document.category), sys.intern(document.scope),
                       label, document.created_at, document.expires_at)
        self._entries[entry.id] = entry
        self._by_label[entry.label] = entry
        self._lru.setdefault(entry.category, OrderedDict())[entry.id] = None
        heapq.heappush(self._expiry, (entry.expires_at, entry.label))
        self._count(entry.category).entries += 1
        return entry

    def _index_for(self, category: str) -> CategoryIndex:
        index = self._indexes.get(category)
        if index is None:
            index = self._indexes[category] = CategoryIndex(self._params)
        return index

    # ------------------------------------------------------------------ maintenance

    def sweep(self, limit: int | None = None) -> int:
        """Remove expired entries (all, or at most ``limit``) from index and store; returns how
        many. Every write also sweeps a few, so an active cache needs no timer."""
        removed = 0
        now = self._clock()
        with self._lock:
            while self._expiry and self._expiry[0][0] <= now and (limit is None or removed < limit):
                _, label = heapq.heappop(self._expiry)
                entry = self._by_label.get(label)
                if entry is not None and entry.expires_at <= now:
                    self._drop(entry, "expirations")
                    removed += 1
        return removed

    def flush(self, category: str | None = None) -> int:
        """Delete every entry (of one category); returns how many."""
        with self._lock:
            victims = [e for e in self._entries.values() if category in (None, e.category)]
            for entry in victims:
                self._drop(entry, None)
            return len(victims)

    def __len__(self) -> int:
        return len(self._entries)

    def stats_snapshot(self) -> dict[str, dict[str, Any]]:
        return self.stats.snapshot()

    def close(self) -> None:
        """Save index snapshots and close the store. Idempotent (``install()`` also runs it at
        interpreter exit)."""
        if self._closed:
            return
        self._closed = True
        if self._follower is not None:
            self._follower.stop()
        try:
            self.save_snapshot()
        except Exception as exc:  # noqa: BLE001 - a missing snapshot only slows the next start
            log.warning("semcache.snapshot_failed", error=type(exc).__name__, detail=str(exc)[:200])
        self.load.close()
        self._store.close()

    def _drop(self, entry: _Entry, counter: str | None) -> None:
        with self._lock:
            if self._entries.get(entry.id) is not entry:
                return
            self._forget(entry)
            self._store.delete(entry.id)
            if counter:
                setattr(self._count(entry.category), counter,
                        getattr(self._count(entry.category), counter) + 1)

    def _forget(self, entry: _Entry) -> None:
        """Remove an entry from every in-memory structure (the store is handled by callers)."""
        del self._entries[entry.id]
        self._by_label.pop(entry.label, None)
        self._lru.get(entry.category, OrderedDict()).pop(entry.id, None)
        index = self._indexes.get(entry.category)
        if index is not None:
            index.remove(entry.scope, entry.label)
        self._count(entry.category).entries -= 1

    def save_snapshot(self) -> int:
        """Save the large (HNSW) shards so the next start loads instead of rebuilding them.
        Called by ``close()``; safe to call periodically. Returns the number of shards saved."""
        directory = self._snapshot_dir
        if directory is None:
            return 0
        groups: dict[tuple[str, str], dict[str, int]] = {}
        saved: set[str] = set()
        with self._lock:
            for entry in self._entries.values():
                groups.setdefault((entry.category, entry.scope), {})[entry.id] = entry.label
            for category, index in self._indexes.items():
                def save(scope: str, shard: Any, category: str = category) -> None:
                    graph = snapshot.write_graph(directory, category, scope, shard.save)
                    snapshot.write_meta(directory, category, scope,
                                        groups.get((category, scope), {}), self.embedder.name)
                    saved.add(graph.stem)
                index.save_shards(save)
            snapshot.remove_except(directory, saved)
        return len(saved)

    def _start(self) -> None:
        """Rebuild from the store; with a shared store, then follow its change stream from the
        position noted before the scan. An unreachable shared store does not stop the start:
        the cache runs empty (every lookup a miss) until the follower resyncs it."""
        if self._feed is None:
            self._rebuild()
            return
        position = replication.position_or_none(self._feed)
        if position is not None:
            try:
                self._rebuild()
            except Exception as exc:  # noqa: BLE001 - fail open: start empty, resync later
                self._fail_open("rebuild", exc, time.perf_counter())
                position = None
        self._follower = replication.Follower(
            self, self._feed, position,
            block_ms=max(10, int(self.settings.store.redis_timeout_ms / 2))).start()

    # ------------------------------------------------------------------ replication

    def holds(self, entry_id: str, version: float) -> bool:
        """True when this replica indexes exactly that version (``expires_at``) of the entry."""
        entry = self._entries.get(entry_id)
        return entry is not None and entry.expires_at == version

    def adopt(self, document: Document) -> None:
        """Index a document another replica stored (or replace the version held here)."""
        if not self._usable(document, self._clock()):
            return
        with self._lock:
            previous = self._entries.get(document.id)
            if previous is not None:
                if previous.expires_at == document.expires_at:
                    return
                self._forget(previous)
            self._index_entry(document)

    def retire(self, entry_id: str, version: float) -> bool:
        """Forget an entry removed from the shared store, unless this replica holds a newer
        version of it (the removal was ordered before that write). True if it was forgotten."""
        with self._lock:
            entry = self._entries.get(entry_id)
            if entry is None or entry.expires_at > version:
                return False
            self._forget(entry)
            return True

    def resync(self) -> None:
        """Make the index match a fresh scan of the store (after an outage or a gap)."""
        by_category, _ = self._scan_store()
        stored = {doc.id: doc for documents in by_category.values() for doc in documents}
        with self._lock:
            for entry in list(self._entries.values()):
                document = stored.get(entry.id)
                if document is None or document.expires_at != entry.expires_at:
                    self._forget(entry)
            for document in sorted(stored.values(), key=lambda doc: doc.created_at):
                if document.id not in self._entries:
                    self._index_entry(document)

    def _usable(self, document: Document, now: float) -> bool:
        return (document.expires_at > now and document.category in self.settings.categories
                and document.vector.shape == (self.embedder.dim,))

    def _rebuild(self) -> None:
        """Load the index at start: the document store is the source of truth, snapshots of
        large shards only spare the graph construction."""
        gc_was_enabled = gc.isenabled()
        gc.disable()  # 100k short-lived documents would trigger many full collections
        try:
            by_category, stale = self._scan_store()
        finally:
            if gc_was_enabled:
                gc.enable()
        snapshots = (snapshot.read_all(self._snapshot_dir, self.embedder.name)
                     if self._snapshot_dir is not None else {})
        self._labels = itertools.count(1 + max(
            (label for snap in snapshots.values() for label in snap.ids.values()), default=0))
        with self._lock:
            for category, documents in by_category.items():
                documents.sort(key=lambda doc: doc.created_at)  # rebuilds the LRU order too
                quota = self.settings.policy(category).max_entries  # the quota may have shrunk
                stale.extend(doc.id for doc in documents[:-quota])
                scopes: dict[str, list[tuple[_Entry, np.ndarray]]] = {}
                for document in documents[-quota:]:
                    saved = snapshots.get((category, document.scope))
                    entry = self._remember(document, saved.ids.get(document.id) if saved else None)
                    scopes.setdefault(document.scope, []).append((entry, document.vector))
                for scope, rows in scopes.items():
                    self._load_scope(category, scope, rows, snapshots.get((category, scope)))
        for key in stale:
            self._store.delete(key)
        if self._entries or stale:
            log.info("semcache.rebuilt", entries=len(self._entries), removed=len(stale),
                     snapshots=len(snapshots))

    def _scan_store(self) -> tuple[dict[str, list[Document]], list[str]]:
        now = self._clock()
        stale: list[str] = []
        by_category: dict[str, list[Document]] = {}
        for item in self._store.scan():
            if isinstance(item, str):
                stale.append(item)  # undecodable: never served, removed
            elif not self._usable(item, now):
                stale.append(item.id)
            else:
                by_category.setdefault(item.category, []).append(item)
        return by_category, stale

    def _load_scope(self, category: str, scope: str, rows: list[tuple[_Entry, np.ndarray]],
                    saved: snapshot.ShardSnapshot | None) -> None:
        index = self._index_for(category)
        labels = np.array([entry.label for entry, _ in rows], dtype=np.int64)
        vectors = np.vstack([vector for _, vector in rows]).astype(np.float32)
        if saved is not None:
            try:
                index.load_shard(scope, saved.graph, labels, vectors)
                return
            except Exception as exc:  # noqa: BLE001 - an unusable snapshot means "rebuild"
                log.warning("semcache.snapshot_ignored", category=category, reason=str(exc)[:200])
                index.discard(scope)
        index.add_many(scope, labels, vectors)

    # ------------------------------------------------------------------ bookkeeping

    def _count(self, category: str | None) -> CategoryStats:
        return self.stats.of(category or "uncategorised")

    def _remember_miss(self, view: RequestView, category: str, source: str, started: float) -> None:
        with self._lock:
            self._pending[view.exact_key] = (started, category, source)
            while len(self._pending) > _PENDING_LIMIT:
                self._pending.popitem(last=False)

    def _record_upstream_latency(self, view: RequestView, category: str) -> None:
        with self._lock:
            pending = self._pending.pop(view.exact_key, None)
        if pending is not None:
            stats = self._count(category)
            stats.upstream_ms_total += (time.perf_counter() - pending[0]) * 1000
            stats.upstream_samples += 1

    def _record(self, decision: Decision, request: Mapping[str, Any]) -> None:
        stats = self._count(decision.category)
        stats.lookups += 1
        if decision.outcome == HIT:
            stats.hits += 1
            stats.exact_hits += decision.reason == "exact"
            stats.relaxed_hits += decision.relaxed
        elif decision.outcome == SHADOW_HIT:
            stats.shadow_hits += 1
            stats.miss_ms_total += decision.latency_ms
        elif decision.outcome == MISS:
            stats.misses += 1
            stats.miss_ms_total += decision.latency_ms
        else:
            stats.bypasses += 1
        stats.latencies_ms.append(decision.latency_ms)
        stats.latency_histogram.observe(decision.latency_ms)
        if decision.similarity is not None:
            stats.similarity_histogram.observe(decision.similarity)
        fields = _log_fields(decision)
        if self.settings.log_prompts:  # opt-in only: prompts may carry personal data
            try:
                fields["prompt"] = view_request(request).prompt
            except InvalidRequest:
                pass
        log.info("semcache.decision", **fields)

    def _fail_open(self, operation: str, exc: Exception, started: float) -> Decision:
        self._count(None).fail_opens += 1
        log.warning("semcache.fail_open", operation=operation, error=type(exc).__name__,
                    detail=str(exc)[:200])
        return Decision(MISS if operation == "lookup" else BYPASS, "fail_open",
                        latency_ms=(time.perf_counter() - started) * 1000)


def _older_than(entry: _Entry, max_age: float | None, now: float) -> bool:
    return max_age is not None and now - entry.created_at > max_age


def _log_fields(decision: Decision) -> dict[str, Any]:
    fields = decision.as_dict()
    if fields["similarity"] is not None:
        fields["similarity"] = round(float(fields["similarity"]), 4)
    fields["latency_ms"] = round(fields["latency_ms"], 3)
    return fields


__all__ = ["SemanticCache", "Decision", "HIT", "MISS", "BYPASS", "SHADOW_HIT"]
