"""Our cache with its vector search in Milvus Lite: the "remote vector DB" design.

An implementation of ``litellm_semcache.index.VectorIndex`` (one Milvus collection per
category + scope) so everything else in the lookup path stays ours. Benchmark-only: it lives in
``bench/`` and is passed to a ``SemanticCache`` as its ``index_factory`` by
:func:`milvus_variant`.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from litellm_semcache.index import IndexFactory, IndexParams

_INSERT_BATCH = 5_000


class MilvusCategoryIndex:
    """All vectors of one category in Milvus Lite; HNSW with our parameters, cosine metric."""

    client: Any = None  # one Milvus Lite server per process, shared by every category

    def __init__(self, params: IndexParams) -> None:
        self._params = params
        self._sizes: dict[str, int] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return sum(self._sizes.values())

    @property
    def scopes(self) -> int:
        return len(self._sizes)

    def add(self, scope: str, label: int, vector: np.ndarray) -> None:
        self.add_many(scope, np.array([label]), vector[None, :])

    def add_many(self, scope: str, labels: np.ndarray, vectors: np.ndarray) -> None:
        name = self._collection(scope)
        for start in range(0, len(labels), _INSERT_BATCH):
            rows = [{"id": int(label), "vector": vector.tolist()} for label, vector in
                    zip(labels[start:start + _INSERT_BATCH], vectors[start:start + _INSERT_BATCH])]
            self.client.insert(name, rows)
        if len(labels) > 1:
            self._seal_and_index(name)
        self._sizes[scope] += len(labels)

    def _seal_and_index(self, name: str, patience_s: float = 300.0) -> None:
        """End a bulk load as a deployment would: segments sealed and their HNSW index built
        (Milvus builds it in the background; until then a search scans raw segments)."""
        self.client.flush(name)
        deadline = time.monotonic() + patience_s
        while time.monotonic() < deadline:
            state = self.client.describe_index(name, "vector")
            if not state.get("pending_index_rows") and state.get("indexed_rows", 0) >= \
                    state.get("total_rows", 0):
                return
            time.sleep(0.5)

    def load_shard(self, scope: str, path: Path, labels: np.ndarray) -> None:
        raise ValueError("the Milvus variant keeps no local snapshot")  # the caller rebuilds

    def discard(self, scope: str) -> None:
        self._drop(scope)

    def save_shards(self, save: Callable[[str, Any], None]) -> None:
        pass  # Milvus persists by itself

    def export_exact(self, visit: Callable[[str, np.ndarray, np.ndarray], None]) -> None:
        pass  # nothing saved: a start rebuilds the collections from the vector log

    def remove(self, scope: str, label: int) -> None:
        if scope in self._sizes:
            self.client.delete(self._name(scope), ids=[int(label)])
            self._sizes[scope] -= 1

    def nearest(self, scope: str, vector: np.ndarray) -> tuple[int, float] | None:
        if not self._sizes.get(scope):
            return None
        found = self.client.search(
            self._name(scope), data=[vector.tolist()], limit=1, output_fields=[],
            search_params={"metric_type": "COSINE", "params": {"ef": self._params.ef_search}})
        if not found or not found[0]:
            return None
        return int(found[0][0]["id"]), float(found[0][0]["distance"])

    def clear(self) -> None:
        for scope in list(self._sizes):
            self._drop(scope)

    def _name(self, scope: str) -> str:
        return "s_" + hashlib.sha1(f"{id(self)}/{scope}".encode()).hexdigest()[:20]

    def _collection(self, scope: str) -> str:
        name = self._name(scope)
        with self._lock:
            if scope not in self._sizes:
                from pymilvus import DataType, MilvusClient

                schema = MilvusClient.create_schema(auto_id=False)
                schema.add_field("id", DataType.INT64, is_primary=True)
                schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self._params.dim)
                index = self.client.prepare_index_params()
                index.add_index(field_name="vector", index_type="HNSW", metric_type="COSINE",
                                params={"M": self._params.m,
                                        "efConstruction": self._params.ef_construction})
                self.client.create_collection(name, schema=schema, index_params=index)
                self._sizes[scope] = 0
        return name

    def _drop(self, scope: str) -> None:
        if self._sizes.pop(scope, None) is not None:
            self.client.drop_collection(self._name(scope))


@contextmanager
def milvus_variant(database: Path) -> Iterator[IndexFactory]:
    """An index factory for ``SemanticCache(..., index_factory=...)`` that keeps the vectors in
    Milvus Lite at ``database`` (a local file; pymilvus starts the Milvus Lite server for it)
    while the block runs."""
    from pymilvus import MilvusClient

    MilvusCategoryIndex.client = MilvusClient(str(database))
    try:
        yield MilvusCategoryIndex
    finally:
        MilvusCategoryIndex.client.close()
        MilvusCategoryIndex.client = None
