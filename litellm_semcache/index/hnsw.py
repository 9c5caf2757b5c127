"""The default vector index: in-process, one for every category, partitioned by request scope.

A query can only ever reach vectors of its own scope (tenant + compatibility key): each scope is
a separate shard. Small shards are exact NumPy matrices; a shard that grows past
``flat_limit`` is promoted to an hnswlib HNSW index. Why not one filtered hnswlib index: a
filtered HNSW query for a rare scope walks most of the graph through a Python callback (measured
~185 ms at 100k entries), and one hnswlib index per tiny scope costs megabytes of lock arrays.

Labels are never reused, so a stale label can never point at another entry. HNSW shards free
slots with ``mark_deleted`` and refill them with ``replace_deleted=True``; they grow with
``resize_index``. Nothing is ever renumbered, so eviction and expiry never make a retained
entry unfindable.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import hnswlib
import numpy as np

from litellm_semcache.index.base import IndexParams


class _Shard(Protocol):
    def __len__(self) -> int: ...
    def add(self, label: int, vector: np.ndarray) -> None: ...
    def remove(self, label: int) -> None: ...
    def nearest(self, vector: np.ndarray) -> tuple[int, float] | None: ...
    def vectors(self) -> tuple[np.ndarray, np.ndarray]: ...


class _FlatShard:
    """Exact search over a small matrix; removal swaps the last row into the hole. No
    label -> row dict: finding a label in at most ``flat_limit`` rows is one vector compare."""

    def __init__(self, dim: int, labels: np.ndarray | None = None,
                 vectors: np.ndarray | None = None) -> None:
        size = 0 if labels is None else len(labels)
        self._matrix = np.empty((max(4, size), dim), dtype=np.float32)
        self._labels = np.empty(max(4, size), dtype=np.int64)
        if size:
            self._matrix[:size] = vectors
            self._labels[:size] = labels
        self._size = size

    def __len__(self) -> int:
        return self._size

    def add(self, label: int, vector: np.ndarray) -> None:
        size = self._size
        if size == len(self._labels):
            grown = size + max(4, size // 2)
            matrix = np.empty((grown, self._matrix.shape[1]), dtype=np.float32)
            labels = np.empty(grown, dtype=np.int64)
            matrix[:size], labels[:size] = self._matrix[:size], self._labels[:size]
            self._matrix, self._labels = matrix, labels
        self._matrix[size] = vector
        self._labels[size] = label
        self._size = size + 1

    def remove(self, label: int) -> None:
        rows = np.flatnonzero(self._labels[:self._size] == label)
        if not len(rows):
            raise KeyError(label)
        row, last = int(rows[0]), self._size - 1
        if row != last:
            self._matrix[row] = self._matrix[last]
            self._labels[row] = self._labels[last]
        self._size = last

    def nearest(self, vector: np.ndarray) -> tuple[int, float] | None:
        size = self._size
        if size == 0:
            return None
        scores = self._matrix[:size] @ vector
        best = int(np.argmax(scores))
        return int(self._labels[best]), float(scores[best])

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        size = self._size
        return self._labels[:size].copy(), self._matrix[:size].copy()


class _HnswShard:
    def __init__(self, params: IndexParams, capacity: int, saved: Path | None = None) -> None:
        """A new empty graph of ``capacity`` slots, or the graph saved at ``saved``."""
        self._params = params
        self._index = hnswlib.Index(space="cosine", dim=params.dim)
        if saved is None:
            self._index.init_index(
                max_elements=capacity, ef_construction=params.ef_construction, M=params.m,
                allow_replace_deleted=True,
            )
        else:
            self._index.load_index(str(saved), allow_replace_deleted=True)
        self._index.set_ef(params.ef_search)
        self._index.set_num_threads(1)
        self._live = 0
        self._deleted = self._index.get_current_count()

    def __len__(self) -> int:
        return self._live

    @classmethod
    def load(cls, params: IndexParams, path: Path, live: np.ndarray) -> "_HnswShard":
        """Load a saved graph whose live labels are ``live``: every one must be in the graph
        (else ValueError: the caller rebuilds); other labels it holds are deleted."""
        shard = cls(params, 0, saved=path)
        saved = np.asarray(shard._index.get_ids_list(), dtype=np.int64)
        if not np.isin(live, saved).all():
            raise ValueError("the saved graph lacks labels its table holds")
        for label in np.setdiff1d(saved, live, assume_unique=True).tolist():
            try:
                shard._index.mark_deleted(label)
            except RuntimeError:
                pass  # already deleted when it was saved
        shard._live = len(live)
        shard._deleted = shard._index.get_current_count() - shard._live
        return shard

    def save(self, path: Path) -> None:
        self._index.save_index(str(path))

    def add_many(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        self._ensure_room(len(labels))
        self._index.add_items(vectors, labels, num_threads=2)
        self._live += len(labels)

    def add(self, label: int, vector: np.ndarray) -> None:
        replace = self._deleted > 0
        if not replace:
            self._ensure_room(1)
        self._index.add_items(vector[None, :], np.array([label]), replace_deleted=replace)
        self._live += 1
        if replace:
            self._deleted -= 1

    def remove(self, label: int) -> None:
        self._index.mark_deleted(label)
        self._live -= 1
        self._deleted += 1

    def nearest(self, vector: np.ndarray) -> tuple[int, float] | None:
        if self._live == 0:
            return None  # hnswlib raises when asked for more neighbours than live entries
        labels, distances = self._index.knn_query(vector, k=1)
        return int(labels[0][0]), 1.0 - float(distances[0][0])

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        labels = np.array(self._index.get_ids_list(), dtype=np.int64)
        return labels, np.asarray(self._index.get_items(labels, return_type="numpy"), dtype=np.float32)

    def _ensure_room(self, extra: int) -> None:
        # Grow before inserting: a batch that overflows capacity is half-inserted before it raises.
        needed = self._index.get_current_count() + extra
        capacity = self._index.get_max_elements()
        if needed > capacity:
            # Doubling wastes up to half of a large graph's lock array and copy time; past
            # 64k slots grow by a quarter.
            step = capacity if capacity < 65_536 else capacity // 4
            self._index.resize_index(max(needed, capacity + step))


class CategoryIndex:
    """All vectors (of every category), one shard per scope, guarded by one lock.

    hnswlib is not safe for a concurrent query and insert on one index; a plain lock is enough
    here because a query takes well under a millisecond.
    """

    def __init__(self, params: IndexParams) -> None:
        self._params = params
        self._shards: dict[str, _Shard] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return sum(len(shard) for shard in self._shards.values())

    @property
    def scopes(self) -> int:
        return len(self._shards)

    def add(self, scope: str, label: int, vector: np.ndarray) -> None:
        with self._lock:
            shard = self._shards.get(scope)
            if shard is None:
                shard = self._shards[scope] = _FlatShard(self._params.dim)
            shard.add(label, vector)
            if isinstance(shard, _FlatShard) and len(shard) > self._params.flat_limit:
                self._shards[scope] = self._promote(shard)

    def add_many(self, scope: str, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Bulk insert (start-up): a new scope is built in one batch, as HNSW when large."""
        with self._lock:
            if scope not in self._shards and len(labels):
                if len(labels) > self._params.flat_limit:
                    shard = _HnswShard(self._params,
                                       max(self._params.initial_capacity, len(labels)))
                    shard.add_many(labels, vectors)
                    self._shards[scope] = shard
                else:
                    self._shards[scope] = _FlatShard(self._params.dim, labels, vectors)
                return
        for label, vector in zip(labels, vectors):
            self.add(scope, int(label), vector)

    def load_shard(self, scope: str, path: Path, labels: np.ndarray) -> None:
        """Adopt a saved HNSW graph for ``scope`` whose live labels are ``labels``. The graph
        and the labels come from one snapshot (the catalogue's table saved with it), so the
        vectors are trusted; a graph that lacks one of the labels raises (the caller
        rebuilds)."""
        shard = _HnswShard.load(self._params, path, np.asarray(labels, dtype=np.int64))
        with self._lock:
            self._shards[scope] = shard

    def export_exact(self, visit: "Callable[[str, np.ndarray, np.ndarray], None]") -> None:
        """Hand (scope, labels, vectors) of every small exact shard to ``visit``: they are
        saved as plain arrays beside the graphs."""
        with self._lock:
            for scope, shard in self._shards.items():
                if isinstance(shard, _FlatShard):
                    labels, vectors = shard.vectors()
                    visit(scope, labels, vectors)

    def discard(self, scope: str) -> None:
        with self._lock:
            self._shards.pop(scope, None)

    def save_shards(self, save: "Callable[[str, _HnswShard], None]") -> None:
        """Hand every HNSW shard to ``save`` (small exact shards are cheaper to rebuild)."""
        with self._lock:
            for scope, shard in self._shards.items():
                if isinstance(shard, _HnswShard):
                    save(scope, shard)

    def remove(self, scope: str, label: int) -> None:
        with self._lock:
            shard = self._shards.get(scope)
            if shard is None:
                return
            shard.remove(label)
            if len(shard) == 0:
                del self._shards[scope]

    def nearest(self, scope: str, vector: np.ndarray) -> tuple[int, float] | None:
        """(label, cosine similarity) of the closest vector in ``scope``, or None."""
        with self._lock:
            shard = self._shards.get(scope)
            return shard.nearest(vector) if shard is not None else None

    def clear(self) -> None:
        with self._lock:
            self._shards.clear()

    def _promote(self, shard: _FlatShard) -> _HnswShard:
        labels, vectors = shard.vectors()
        capacity = max(self._params.initial_capacity, 2 * len(labels))
        promoted = _HnswShard(self._params, capacity)
        promoted.add_many(labels, vectors)
        return promoted
