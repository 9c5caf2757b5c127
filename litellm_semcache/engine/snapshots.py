"""Saving the large (HNSW) shards at shut-down, so the next start loads instead of
rebuilding them (a 100k-entry graph takes minutes to build on 2 cores, well under a second to
load). See :mod:`litellm_semcache.index.snapshot` for the files."""

from __future__ import annotations

from pathlib import Path

from litellm_semcache.engine.catalogue import VECTOR_SPACE, Catalogue
from litellm_semcache.index import snapshot


def save_snapshot(catalogue: Catalogue, directory: Path | None, embedder_name: str) -> int:
    """Save every HNSW shard of ``catalogue`` under ``directory``; returns how many."""
    if directory is None:
        return 0
    saved: set[str] = set()
    with catalogue.lock:
        groups: dict[tuple[str, str], dict[str, int]] = {}
        for entry in catalogue.entries():
            groups.setdefault((VECTOR_SPACE, entry.scope), {})[entry.id] = entry.label
        for category, index in catalogue.indexes.items():
            def save(scope: str, shard: object, category: str = category) -> None:
                graph = snapshot.write_graph(directory, category, scope, shard.save)  # type: ignore[attr-defined]
                snapshot.write_meta(directory, category, scope,
                                    groups.get((category, scope), {}), embedder_name)
                saved.add(graph.stem)
            index.save_shards(save)
        snapshot.remove_except(directory, saved)
    return len(saved)
