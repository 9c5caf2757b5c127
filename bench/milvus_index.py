"""Our cache with its vector search in Milvus Lite: the "remote vector DB" design.

Milvus Lite 3 (``milvus-lite`` 3.x) runs in this process: a gRPC server in threads, FAISS HNSW
per sealed segment, an exhaustive scan for rows not yet in a sealed, indexed segment.

An implementation of ``litellm_semcache.index.VectorIndex`` (one Milvus collection per
category + scope) so everything else in the lookup path stays ours. Benchmark-only: it lives in
``bench/`` and is passed to a ``SemanticCache`` as its ``index_factory`` by
:func:`milvus_variant`.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from litellm_semcache.index import IndexFactory, IndexParams

_INSERT_BATCH = 5_000
_PROBES = 20
_PROBE_MIN_ROWS = 1_000


class MilvusCategoryIndex:
    """All vectors of one category in Milvus Lite; HNSW with our parameters, cosine metric."""

    client: Any = None  # one Milvus Lite server per process, shared by every category
    database: str | None = None  # its data directory
    evidence: ClassVar[dict[str, dict[str, Any]]] = {}  # collection -> how its HNSW use was seen

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
        self._sizes[scope] += len(labels)
        if len(labels) > 1:
            self._seal_and_index(name, self._sizes[scope])

    def _seal_and_index(self, name: str, rows: int) -> None:
        """End a bulk load as a deployment would before serving: segments sealed, then the
        collection released and loaded again, which builds every segment's HNSW index before it
        returns. Milvus Lite 3.2 reports the index built (``indexed_rows == total_rows``) right
        after a flush, but searches then scan segments without one while a background job builds
        them, so that report is not trusted: :meth:`_index_evidence` checks the index is used."""
        self.client.flush(name)
        collection = _lite_collection(name)
        if collection is not None:
            collection._wait_for_bg()  # the flush's compaction and index job, before the reload
        self.client.release_collection(name)
        self.client.load_collection(name)
        evidence = self._index_evidence(name, collection, rows)
        MilvusCategoryIndex.evidence[name] = evidence
        if not evidence["hnsw_used"]:
            raise RuntimeError(f"Milvus Lite searches {name} without its HNSW index: {evidence}")

    def _index_evidence(self, name: str, collection: Any, rows: int) -> dict[str, Any]:
        """Two checks that searches go through HNSW graphs: (1) every segment holding rows has
        an HNSW index attached (Milvus Lite's own objects, when this version exposes them); (2)
        black-box: the same random queries with ``ef`` 1 and ``ef`` 2048 return different nearest
        neighbours for some of them. A graph search honours ``ef`` (a greedy walk with ``ef`` 1
        stops early); an exhaustive scan ignores it and always returns the exact neighbour.
        Below :data:`_PROBE_MIN_ROWS` rows a graph walk finds the exact neighbour too, so the
        probe is recorded but decides nothing."""
        rng = np.random.default_rng(5)
        queries = rng.standard_normal((_PROBES, self._params.dim)).astype(np.float32)
        differ = 0
        for query in queries:
            found = [self.client.search(
                name, data=[query.tolist()], limit=1, output_fields=[],
                search_params={"metric_type": "COSINE", "params": {"ef": ef}})[0][0]["id"]
                for ef in (1, 2048)]
            differ += found[0] != found[1]
        segments: dict[str, Any] = {"segments": None, "with_hnsw": None, "index_classes": None}
        if collection is not None:
            holding = [seg for seg in collection._segments_snapshot() if seg.num_rows]
            classes = [type(seg.indexes.get("vector")).__name__ for seg in holding]
            segments = {"segments": len(holding),
                        "with_hnsw": sum("Hnsw" in name for name in classes),
                        "index_classes": sorted(set(classes))}
        attached = segments["segments"] is None or segments["with_hnsw"] == segments["segments"]
        conclusive = rows >= _PROBE_MIN_ROWS
        return {"rows": rows, "ef_probes": _PROBES, "ef_probes_differing": differ,
                "ef_probe_conclusive": conclusive, **segments,
                "hnsw_used": attached and (differ > 0 or not conclusive)}

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
    MilvusCategoryIndex.database = os.path.abspath(database)
    try:
        yield MilvusCategoryIndex
    finally:
        MilvusCategoryIndex.client.close()
        MilvusCategoryIndex.client = None


def _lite_collection(name: str) -> Any:
    """Milvus Lite 3's own collection object behind the client (it runs in this process, its
    gRPC server in threads), or None where a version does not expose it."""
    try:
        from milvus_lite.server_manager import server_manager_instance

        _, database, _ = server_manager_instance._servers[MilvusCategoryIndex.database]
        return database.get_collection(name)
    except Exception:  # noqa: BLE001 - introspection only; the black-box check still runs
        return None
