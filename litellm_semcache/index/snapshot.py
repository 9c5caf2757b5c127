"""Saved HNSW graphs, so a restart loads large shards instead of rebuilding them.

Building an HNSW graph of 100k entries takes about a minute and a half on 2 cores; loading the
saved graph takes well under a second. A snapshot is only an accelerator: the document store
stays the source of truth. At start every snapshot is reconciled with the store: labels whose
document is gone are deleted, documents missing from the graph are added, and a snapshot that
does not fit (another embedding model, a label already taken, an unreadable file) is ignored
and the shard is rebuilt from the store.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SNAPSHOT_FORMAT = 1


@dataclass(frozen=True)
class ShardSnapshot:
    graph: Path
    ids: dict[str, int]  # document id -> label in the graph


def shard_name(category: str, scope: str) -> str:
    return hashlib.blake2b(f"{category}\x1f{scope}".encode(), digest_size=16).hexdigest()


def write_graph(directory: Path, category: str, scope: str, save: Callable[[Path], None]) -> Path:
    """Save a shard's graph atomically (``save`` writes to the path it is given)."""
    directory.mkdir(parents=True, exist_ok=True)
    graph = directory / f"{shard_name(category, scope)}.hnsw"
    partial = graph.with_name(f"{graph.name}.{os.getpid()}.tmp")
    save(partial)
    os.replace(partial, graph)
    return graph


def write_meta(directory: Path, category: str, scope: str, ids: dict[str, int],
               embedder: str) -> None:
    """Write which document each graph label stands for, atomically."""
    name = shard_name(category, scope)
    meta = {"format": SNAPSHOT_FORMAT, "category": category, "scope": scope,
            "embedder": embedder, "ids": ids}
    partial = directory / f"{name}.json.{os.getpid()}.tmp"
    partial.write_text(json.dumps(meta))
    os.replace(partial, directory / f"{name}.json")


def read_all(directory: Path, embedder: str) -> dict[tuple[str, str], ShardSnapshot]:
    """Every usable snapshot by (category, scope); unusable ones are skipped."""
    found: dict[tuple[str, str], ShardSnapshot] = {}
    if not directory.is_dir():
        return found
    for meta_path in directory.glob("*.json"):
        graph = meta_path.with_suffix(".hnsw")
        try:
            meta: Any = json.loads(meta_path.read_text())
            if (meta.get("format") != SNAPSHOT_FORMAT or meta.get("embedder") != embedder
                    or not graph.is_file()):
                continue
            ids = {str(key): int(value) for key, value in meta["ids"].items()}
            found[(str(meta["category"]), str(meta["scope"]))] = ShardSnapshot(graph, ids)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
    return found


def remove_except(directory: Path, keep: set[str]) -> None:
    """Delete the files of shards that no longer exist."""
    if not directory.is_dir():
        return
    for path in directory.iterdir():
        if path.name.split(".")[0] not in keep:
            path.unlink(missing_ok=True)
