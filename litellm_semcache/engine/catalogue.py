"""What this replica holds in memory: one entry per stored document, and its vector.

The catalogue keeps the entry bookkeeping (id, label, category, scope, lifetime), the per-
category recency order for quota eviction, the expiry heap, and the vector index, always in
step under one lock: an entry is in the catalogue exactly when its vector is in the index. The
store is not touched here; callers delete documents themselves.

One index holds every category (partitioned by scope; the category is the entry's payload):
the category of a prompt is a guess, and a paraphrase stored under another category's guess is
still the same request, so one search must find it whatever either side landed in (the lookup
then applies the stricter of the two policies). Quotas, recency and expiry stay per category.
"""

from __future__ import annotations

import heapq
import itertools
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from litellm_semcache.index.base import IndexFactory, IndexParams, VectorIndex
from litellm_semcache.store.document import Document


@dataclass(slots=True)
class Entry:
    id: str
    category: str
    scope: str
    label: int
    created_at: float
    expires_at: float

    def expired(self, now: float) -> bool:
        return self.expires_at <= now


VECTOR_SPACE = "*"  # the key of the one index in ``indexes`` (snapshots are named by it)


class Catalogue:
    """Entries and vectors by category. Thread-safe (one re-entrant lock, ``lock``)."""

    def __init__(self, params: IndexParams, index_factory: IndexFactory) -> None:
        self.params = params
        self._make_index = index_factory
        self.lock = threading.RLock()
        self._entries: dict[str, Entry] = {}  # document id -> entry; also the exact fast path
        self._by_label: dict[int, Entry] = {}
        self._recency: dict[str, OrderedDict[str, None]] = {}  # category -> ids, oldest first
        self._expiry: list[tuple[float, int]] = []
        self._labels = itertools.count(1)
        self.indexes: dict[str, VectorIndex] = {}

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, entry_id: str) -> Entry | None:
        return self._entries.get(entry_id)

    def by_label(self, label: int) -> Entry | None:
        return self._by_label.get(label)

    def count(self, category: str) -> int:
        recency = self._recency.get(category)
        return len(recency) if recency is not None else 0

    def entries(self, category: str | None = None) -> list[Entry]:
        with self.lock:
            return [e for e in self._entries.values() if category in (None, e.category)]

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries())

    def nearest(self, scopes: tuple[str, ...], vector: np.ndarray) -> list[tuple[Entry, float]]:
        """The closest entry under each of ``scopes``, whatever its category, best first (an
        index label the catalogue no longer knows, a race with a removal, is skipped)."""
        index = self.indexes.get(VECTOR_SPACE)
        found: list[tuple[Entry, float]] = []
        for scope in scopes if index is not None else ():
            hit = index.nearest(scope, vector)  # type: ignore[union-attr]
            entry = self._by_label.get(hit[0]) if hit is not None else None
            if entry is not None:
                found.append((entry, hit[1]))  # type: ignore[index]
        found.sort(key=lambda pair: -pair[1])
        return found

    # ------------------------------------------------------------------ writing

    def add(self, document: Document, label: int | None = None) -> Entry:
        """Hold ``document`` (replacing an older version of it) and index its vector."""
        with self.lock:
            previous = self._entries.get(document.id)
            if previous is not None:
                self.forget(previous)
            entry = self._book(document, label)
            self.index().add(document.scope, entry.label, document.vector)
            return entry

    def add_bulk(self, documents: list[Document], labels: dict[str, int]
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Book-keep documents loaded at start (vectors are indexed by the caller, in one
        batch or from a snapshot); returns their (labels, vectors)."""
        with self.lock:
            entries = [self._book(doc, labels.get(doc.id)) for doc in documents]
        return (np.array([entry.label for entry in entries], dtype=np.int64),
                np.vstack([doc.vector for doc in documents]).astype(np.float32))

    def touch(self, entry: Entry) -> None:
        """Mark ``entry`` most recently used (a hit)."""
        with self.lock:
            recency = self._recency.get(entry.category)
            if recency is not None and entry.id in recency:
                recency.move_to_end(entry.id)

    def forget(self, entry: Entry) -> bool:
        """Drop ``entry`` from memory; False when it was not (or no longer) held."""
        with self.lock:
            if self._entries.get(entry.id) is not entry:
                return False
            del self._entries[entry.id]
            self._by_label.pop(entry.label, None)
            self._recency.get(entry.category, OrderedDict()).pop(entry.id, None)
            index = self.indexes.get(VECTOR_SPACE)
            if index is not None:
                index.remove(entry.scope, entry.label)
            return True

    def evict_for(self, document: Document, quota: int) -> list[str]:
        """Forget the least recently used entries of the document's category until one more
        fits in ``quota``; returns their ids (the caller deletes the documents)."""
        victims: list[str] = []
        with self.lock:
            recency = self._recency.get(document.category)
            while recency and len(recency) >= quota:
                victim = self._entries[next(iter(recency))]
                self.forget(victim)
                victims.append(victim.id)
        return victims

    def retire(self, entry_id: str, version: float) -> bool:
        """Forget an entry removed from a shared store, unless this replica holds a newer
        version of it (the removal was ordered before that write)."""
        with self.lock:
            entry = self._entries.get(entry_id)
            if entry is None or entry.expires_at > version:
                return False
            return self.forget(entry)

    def pop_expired(self, now: float, limit: int | None = None) -> list[Entry]:
        """Forget up to ``limit`` entries that expired by ``now``; returns them."""
        gone: list[Entry] = []
        with self.lock:
            while self._expiry and self._expiry[0][0] <= now and (limit is None or len(gone) < limit):
                _, label = heapq.heappop(self._expiry)
                entry = self._by_label.get(label)
                if entry is not None and entry.expired(now) and self.forget(entry):
                    gone.append(entry)
        return gone

    def clear(self, category: str | None = None) -> list[Entry]:
        """Forget every entry (of one category); returns them."""
        with self.lock:
            victims = self.entries(category)
            for entry in victims:
                self.forget(entry)
            return victims

    def index(self) -> VectorIndex:
        """The vector index of every category (created on first use)."""
        index = self.indexes.get(VECTOR_SPACE)
        if index is None:
            index = self.indexes[VECTOR_SPACE] = self._make_index(self.params)
        return index

    def continue_labels_after(self, highest: int) -> None:
        """New labels start above ``highest`` (labels taken by saved snapshots)."""
        self._labels = itertools.count(max(highest + 1, next(self._labels)))

    def _book(self, document: Document, label: int | None) -> Entry:
        if label is None or label in self._by_label:
            label = next(self._labels)
        # Interned: every entry of a scope shares one string (tens of bytes per entry at 100k).
        entry = Entry(document.id, sys.intern(document.category), sys.intern(document.scope),
                      label, document.created_at, document.expires_at)
        self._entries[entry.id] = entry
        self._by_label[entry.label] = entry
        self._recency.setdefault(entry.category, OrderedDict())[entry.id] = None
        heapq.heappush(self._expiry, (entry.expires_at, entry.label))
        return entry
