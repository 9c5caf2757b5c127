"""Saved HNSW graphs, so a restart loads large shards instead of rebuilding them.

Building an HNSW graph of 100k entries takes about a minute and a half on 2 cores; loading the
saved graph takes well under a second. A snapshot is only an accelerator: the document store
stays the source of truth. At start every snapshot is reconciled with the store: labels whose
document is gone are deleted, documents missing from the graph are added, and a snapshot that
does not fit (another embedding model, a label already taken, an unreadable file) is ignored
and the shard is rebuilt from the store.

hnswlib's loader trusts its file: a truncated or flipped graph crashes the whole process
(SIGSEGV), which no ``try`` catches. So the meta file is the graph's header: it records the
graph's size and checksum, and a graph that does not match them is never handed to hnswlib
(the shard is rebuilt from the store, the fault is logged and counted).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SNAPSHOT_FORMAT = 2  # 2: the graph's size and checksum are in the meta file
_CHUNK = 1 << 20


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
    size, digest = _fingerprint(directory / f"{name}.hnsw")
    meta = {"format": SNAPSHOT_FORMAT, "category": category, "scope": scope,
            "embedder": embedder, "ids": ids, "graph_bytes": size, "graph_blake2b": digest}
    partial = directory / f"{name}.json.{os.getpid()}.tmp"
    partial.write_text(json.dumps(meta))
    os.replace(partial, directory / f"{name}.json")


def read_all(directory: Path, embedder: str,
             on_corrupt: Callable[[Path, str], None] | None = None
             ) -> dict[tuple[str, str], ShardSnapshot]:
    """Every usable snapshot by (category, scope); unusable ones are skipped, and a graph
    that does not match its header is reported to ``on_corrupt`` (path, why)."""
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
            problem = _mismatch(graph, int(meta["graph_bytes"]), str(meta["graph_blake2b"]))
            if problem:
                if on_corrupt is not None:
                    on_corrupt(graph, problem)
                continue
            ids = {str(key): int(value) for key, value in meta["ids"].items()}
            found[(str(meta["category"]), str(meta["scope"]))] = ShardSnapshot(graph, ids)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            if on_corrupt is not None and not isinstance(exc, OSError):
                on_corrupt(meta_path, f"unreadable header: {type(exc).__name__}")
            continue
    return found


def _mismatch(graph: Path, size: int, digest: str) -> str | None:
    """Why ``graph`` is not the file its header describes, or None. The size is checked
    first: it costs nothing and catches truncation."""
    actual_size = graph.stat().st_size
    if actual_size != size:
        return f"size {actual_size} != {size} in the header (truncated?)"
    if _fingerprint(graph)[1] != digest:
        return "checksum mismatch (the file changed after it was saved)"
    return None


def _fingerprint(path: Path) -> tuple[int, str]:
    hasher = hashlib.blake2b(digest_size=16)
    size = 0
    with open(path, "rb") as graph:
        while chunk := graph.read(_CHUNK):
            hasher.update(chunk)
            size += len(chunk)
    return size, hasher.hexdigest()


def remove_except(directory: Path, keep: set[str]) -> None:
    """Delete the files of shards that no longer exist."""
    if not directory.is_dir():
        return
    for path in directory.iterdir():
        if path.name.split(".")[0] not in keep:
            path.unlink(missing_ok=True)
