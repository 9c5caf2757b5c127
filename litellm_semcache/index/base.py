"""What the engine needs from a vector index, so another index can be passed in (a factory),
never patched in.

An index holds the vectors of every category (the catalogue knows which is which). Every
operation names the request ``scope``: a query can only ever reach vectors stored under the
same scope (tenant + compatibility key), so isolation is a partition of the key space, not a
filter a code path could forget.
Labels are integers chosen by the engine and never reused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class IndexParams:
    dim: int
    m: int = 16
    ef_construction: int = 100
    ef_search: int = 64
    flat_limit: int = 1024
    initial_capacity: int = 1024


class VectorIndex(Protocol):
    def __len__(self) -> int: ...
    def add(self, scope: str, label: int, vector: np.ndarray) -> None: ...
    def add_many(self, scope: str, labels: np.ndarray, vectors: np.ndarray) -> None: ...
    def remove(self, scope: str, label: int) -> None: ...
    def nearest(self, scope: str, vector: np.ndarray) -> tuple[int, float] | None:
        """(label, cosine similarity) of the closest vector in ``scope``, or None."""
        ...
    def clear(self) -> None: ...

    # Snapshots: large shards are saved as graphs (``save_shards`` hands each to ``save``,
    # which calls its ``save(path)``), small ones as arrays (``export_exact``). A shard that
    # is saved neither way, or a graph ``load_shard`` refuses (it raises), makes the start
    # rebuild every vector from the vector log or the store instead.
    def save_shards(self, save: Callable[[str, Any], None]) -> None: ...
    def export_exact(self, visit: Callable[[str, np.ndarray, np.ndarray], None]) -> None: ...
    def load_shard(self, scope: str, path: Path, labels: np.ndarray) -> None: ...
    def discard(self, scope: str) -> None: ...


IndexFactory = Callable[[IndexParams], VectorIndex]


def default_index_factory(params: IndexParams) -> VectorIndex:
    from litellm_semcache.index.hnsw import CategoryIndex

    return CategoryIndex(params)
