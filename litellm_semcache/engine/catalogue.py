"""What this replica holds in memory: one entry per stored document, and its vector.

The catalogue keeps the entry bookkeeping (id, label, category, scope, lifetime), the per-
category recency order for quota eviction, the expiry heap, and the vector index, always in
step under one lock: an entry is in the catalogue exactly when its vector is in the index. The
store is not touched here; callers delete documents themselves.

One index holds every category (partitioned by scope; the category is the entry's payload):
the category of a prompt is a guess, and a paraphrase stored under another category's guess is
still the same request, so one search must find it whatever either side landed in (the lookup
then applies the stricter of the two policies). Quotas, recency and expiry stay per category.

At a million entries the bookkeeping must stay small beside hnswlib's 1.8 KB per vector, so
nothing here is one Python object per entry: the entries are columns
(:mod:`~litellm_semcache.engine.slots`), the id map an array hash table
(:mod:`~litellm_semcache.engine.id_table`), the recency order linked lists in arrays
(:mod:`~litellm_semcache.engine.recency`) and the expiry order an array heap
(:mod:`~litellm_semcache.engine.expiry`): about 100 bytes per entry in all, where one object
per entry with its dicts cost 400. :class:`Entry` is a view made when asked for.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping

import numpy as np

from litellm_semcache.engine.expiry import ExpiryHeap
from litellm_semcache.engine.id_table import EMPTY, IdTable, pack
from litellm_semcache.engine.recency import NONE, RecencyLists
from litellm_semcache.engine.slots import SLOT_BITS, SLOT_MASK, Entry, Slots
from litellm_semcache.index.base import IndexFactory, IndexParams, VectorIndex
from litellm_semcache.store.document import Document

__all__ = ["Catalogue", "Entry"]


VECTOR_SPACE = "*"  # the key of the one index in ``indexes`` (snapshots are named by it)


class Catalogue:
    """Entries and vectors by category. Thread-safe: writers hold ``lock`` (re-entrant);
    readers (:meth:`get`, :meth:`nearest`) take no lock and check the slot's generation."""

    def __init__(self, params: IndexParams, index_factory: IndexFactory) -> None:
        self.params = params
        self._make_index = index_factory
        self.lock = threading.RLock()
        self.indexes: dict[str, VectorIndex] = {}
        self._reset(1024)

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        return self._live

    def get(self, entry_id: str) -> Entry | None:
        low, high, hashed = pack(entry_id)
        slot = self._ids.find(low, high, self.slots.words)
        if slot == EMPTY or self.slots.hashed.get(slot) != (entry_id if hashed else None):
            return None
        return self.slots.view(slot)

    def at(self, slot: int) -> Entry | None:
        return self.slots.view(slot)

    def by_label(self, label: int) -> Entry | None:
        return self.slots.view(label & SLOT_MASK, label >> SLOT_BITS)

    def count(self, category: str) -> int:
        code = self.slots.category_codes.get(category)
        return 0 if code is None else self._recency.count(code)

    def entries(self, category: str | None = None) -> list[Entry]:
        with self.lock:
            return [entry for slot in self.slots.live(category).tolist()
                    if (entry := self.slots.view(slot)) is not None]

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries())

    def live_slots(self, category: str | None = None) -> np.ndarray:
        return self.slots.live(category)

    def labels_of(self, slots: np.ndarray) -> np.ndarray:
        return self.slots.labels_of(slots)

    def nearest(self, scopes: tuple[str, ...], vector: np.ndarray) -> list[tuple[Entry, float]]:
        """The closest entry under each of ``scopes``, whatever its category, best first (an
        index label the catalogue no longer knows, a race with a removal, is skipped)."""
        index = self.indexes.get(VECTOR_SPACE)
        found: list[tuple[Entry, float]] = []
        for scope in scopes if index is not None else ():
            hit = index.nearest(scope, vector)  # type: ignore[union-attr]
            entry = self.by_label(hit[0]) if hit is not None else None
            if entry is not None:
                found.append((entry, hit[1]))  # type: ignore[index]
        found.sort(key=lambda pair: -pair[1])
        return found

    # ------------------------------------------------------------------ writing

    def add(self, document: Document) -> Entry:
        """Hold ``document`` (replacing an older version of it) and index its vector."""
        with self.lock:
            previous = self.get(document.id)
            if previous is not None:
                self.forget(previous)
            low, high, hashed = pack(document.id)
            slot = self.slots.allocate()
            self._recency.grow(self.slots.capacity)
            self.slots.fill(slot, low, high, document.category, document.scope,
                            document.created_at, document.expires_at,
                            document.id if hashed else None)
            label = self.slots.label(slot)
            try:
                self.index().add(document.scope, label, document.vector)
            except Exception:
                self.slots.release(slot)
                raise
            self._ids.insert(slot, low, self.slots.words)
            self._recency.append(slot, int(self.slots.category[slot]))
            self._expiry.push(document.expires_at, label)
            self._live += 1
            return self.slots.view(slot)  # type: ignore[return-value]

    def extend(self, words: np.ndarray, categories: list[str], category_of: np.ndarray,
               scopes: list[str], scope_of: np.ndarray, created: np.ndarray,
               expires: np.ndarray) -> np.ndarray:
        """Book-keep many entries at once (start-up), oldest first, none of them held yet
        (``words``: their packed digest ids); the caller indexes their vectors. Returns their
        labels."""
        with self.lock:
            slots = self.slots.append(words, categories, category_of, scopes, scope_of,
                                      created, expires)
            self._recency.grow(self.slots.capacity)
            codes = self.slots.category[slots]
            for code in np.unique(codes).tolist():
                members = slots[codes == code]
                if self._recency.count(code):
                    for slot in members.tolist():
                        self._recency.append(slot, code)
                else:
                    self._recency.link(code, members)
            self._live += len(slots)
            self._ids.rebuild(self.slots.words, self.slots.live())
            self._rebuild_expiry()
            return self.slots.labels_of(slots)

    def touch(self, entry: Entry) -> None:
        """Mark ``entry`` most recently used (a hit). A hit never waits for the lock: while a
        long write holds it (a snapshot being saved), the recency update is skipped."""
        if not self.lock.acquire(blocking=False):
            return
        try:
            slot = entry.label & SLOT_MASK
            if self.slots.holds(slot, entry.label):
                self._recency.move_to_end(slot, int(self.slots.category[slot]))
        finally:
            self.lock.release()

    def forget(self, entry: Entry) -> bool:
        """Drop ``entry`` from memory; False when it was not (or no longer) held."""
        with self.lock:
            slot = entry.label & SLOT_MASK
            if not self.slots.holds(slot, entry.label):
                return False
            self._ids.remove(slot, int(self.slots.words[slot, 0]), self.slots.words)
            self._recency.unlink(slot, int(self.slots.category[slot]))
            index = self.indexes.get(VECTOR_SPACE)
            if index is not None:
                index.remove(entry.scope, entry.label)
            self.slots.release(slot)
            self._live -= 1
            return True

    def evict_for(self, document: Document, quota: int) -> list[str]:
        """Forget the least recently used entries of the document's category until one more
        fits in ``quota``; returns their ids (the caller deletes the documents)."""
        return [victim.id for victim in self.trim(document.category, quota - 1)]

    def trim(self, category: str, keep: int) -> list[Entry]:
        """Forget the least recently used entries of ``category`` beyond ``keep``."""
        victims: list[Entry] = []
        with self.lock:
            code = self.slots.category_codes.get(category)
            while code is not None and self._recency.count(code) > max(keep, 0):
                victim = self.slots.view(self._recency.oldest(code))
                if victim is None or not self.forget(victim):
                    break
                victims.append(victim)
        return victims

    def evict_from_fullest(self, quotas: Mapping[str, int], keep: str) -> Entry | None:
        """Forget the least recently used entry of the category fullest relative to its quota
        (``keep`` excepted: the entry being written); None when nothing else is held. The
        store's size limit evicts this way: categories far into their quota give way first."""
        with self.lock:
            order = sorted(((self._recency.count(code) / max(quotas.get(name, 1), 1), code)
                            for name, code in self.slots.category_codes.items()
                            if self._recency.count(code)), reverse=True)
            for _, code in order:
                slot = self._recency.oldest(code)
                while slot != NONE:
                    victim = self.slots.view(slot)
                    if victim is not None and victim.id != keep and self.forget(victim):
                        return victim
                    slot = int(self._recency.next[slot])
            return None

    def retire(self, entry_id: str, version: float, category: str | None = None) -> bool:
        """Forget an entry removed from a shared store, unless this replica holds a newer
        version of it (the removal was ordered before that write) or holds it under another
        category than the removal names (a store partitioned by category)."""
        with self.lock:
            entry = self.get(entry_id)
            if entry is None or entry.expires_at > version:
                return False
            if category and entry.category != category:
                return False
            return self.forget(entry)

    def pop_expired(self, now: float, limit: int | None = None) -> list[Entry]:
        """Forget up to ``limit`` entries that expired by ``now``; returns them."""
        gone: list[Entry] = []
        with self.lock:
            heap = self._expiry
            while (top := heap.peek()) is not None and top[0] <= now and (
                    limit is None or len(gone) < limit):
                heap.pop()
                entry = self.by_label(top[1])
                if entry is not None and entry.expired(now) and self.forget(entry):
                    gone.append(entry)
            if heap.needs_rebuild(self._live):
                self._rebuild_expiry()
        return gone

    def clear(self, category: str | None = None) -> list[Entry]:
        """Forget every entry (of one category); returns them."""
        with self.lock:
            victims = self.entries(category)
            for entry in victims:
                self.forget(entry)
            return victims

    def reset(self) -> None:
        """Forget everything at once (a snapshot that failed half-way through loading)."""
        with self.lock:
            self.indexes.clear()
            self._reset(1024)

    def index(self) -> VectorIndex:
        """The vector index of every category (created on first use)."""
        index = self.indexes.get(VECTOR_SPACE)
        if index is None:
            index = self.indexes[VECTOR_SPACE] = self._make_index(self.params)
        return index

    # ------------------------------------------------------------------ snapshots

    def columns(self) -> dict[str, object]:
        """Everything needed to :meth:`restore` this catalogue (call under ``lock``)."""
        saved = self.slots.columns()
        high = self.slots.high
        saved["arrays"].update(prev=self._recency.prev[:high].copy(),  # type: ignore[attr-defined]
                               next=self._recency.next[:high].copy())
        saved["recency"] = {str(code): [self._recency.head[code], self._recency.tail[code],
                                        self._recency.length[code]]
                            for code in self._recency.length}
        return saved

    def restore(self, saved: dict[str, object]) -> None:
        """Become exactly the catalogue :meth:`columns` described (labels unchanged)."""
        arrays: dict[str, np.ndarray] = saved["arrays"]  # type: ignore[assignment]
        with self.lock:
            high = len(arrays["created"])
            self._reset(high + 1024)
            self.slots.restore(saved)
            self._recency.grow(self.slots.capacity)
            self._recency.prev[:high], self._recency.next[:high] = arrays["prev"], arrays["next"]
            for code, (head, tail, length) in saved["recency"].items():  # type: ignore[union-attr]
                self._recency.head[int(code)], self._recency.tail[int(code)] = head, tail
                self._recency.length[int(code)] = length
            live = self.slots.live()
            self._live = len(live)
            self._ids.rebuild(self.slots.words, live)
            self._rebuild_expiry()

    # ------------------------------------------------------------------ internals

    def _reset(self, capacity: int) -> None:
        self.slots = Slots(capacity)
        self._live = 0
        self._ids = IdTable(2 * capacity)
        self._recency = RecencyLists(capacity)
        self._expiry = ExpiryHeap()

    def _rebuild_expiry(self) -> None:
        live = self.slots.live()
        self._expiry.rebuild(self.slots.expires[live], self.slots.labels_of(live))
