"""Writing one HNSW graph of a snapshot: a file named by its shard, written atomically.

Building an HNSW graph of 100k entries takes minutes on 2 cores; loading the saved graph takes
well under a second. The snapshot as a whole (the manifest with each file's size and CRC-32,
the entry table, the change-feed position) is :mod:`litellm_semcache.engine.snapshots`: it
checks every file before hnswlib's loader sees it, because that loader trusts its input (a
truncated or flipped graph crashes the whole process with SIGSEGV, which no ``try`` catches).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path


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
