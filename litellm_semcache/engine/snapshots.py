"""Saving what this replica holds, so the next start loads it in seconds instead of rebuilding.

A snapshot (format 2) is one directory ``snapshot-<id>/`` beside a manifest:

- ``table.npz``: the catalogue's columns (ids, categories, scopes, lifetimes, recency lists,
  label generations) and the vectors of the small exact shards, as plain NumPy arrays (loaded
  with ``allow_pickle=False``);
- one hnswlib graph per large shard (``<shard>.hnsw``, :mod:`litellm_semcache.index.snapshot`);
- ``manifest.v2.json`` (written last, atomically): the embedding model and dimension, each
  file's size and CRC-32, and where the deployment's change feed stood (the vector log
  position, or the Redis stream positions), so the start replays only what came after.

Graphs and table are saved together under the catalogue lock, so their labels agree and the
vectors need no check against the store at load. Every file is checksummed before the native
loader sees it. A snapshot is only an accelerator: one that does not fit is ignored and the
start rebuilds; the documents are verified in the store whenever a candidate is served.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from litellm_semcache.engine.catalogue import VECTOR_SPACE, Catalogue
from litellm_semcache.engine.slots import COLUMNS
from litellm_semcache.index import snapshot

log = structlog.get_logger("litellm_semcache")

SNAPSHOT_FORMAT = 3  # 3: one index for every category (2 had one per category)
MANIFEST = f"manifest.v{SNAPSHOT_FORMAT}.json"


class SnapshotCorrupt(Exception):
    """A snapshot file fails its size or checksum: damaged on disk, never handed to hnswlib."""


class SnapshotUnusable(Exception):
    """The saved snapshot cannot be loaded as it is (the start rebuilds instead)."""


def save_snapshot(catalogue: Catalogue, directory: Path | None, embedder_name: str,
                  position: Callable[[], dict[str, Any]] = dict) -> int:
    """Save everything ``catalogue`` holds under ``directory``, with the change-feed position
    ``position()`` gives under the catalogue lock; returns how many graphs."""
    if directory is None:
        return 0
    directory.mkdir(parents=True, exist_ok=True)
    ident = uuid.uuid4().hex
    target = directory / f"snapshot-{ident}"
    target.mkdir()
    graphs: list[dict[str, Any]] = []
    exact_labels: list[np.ndarray] = []
    exact_vectors: list[np.ndarray] = []
    with catalogue.lock:
        feed_position = position()
        for category, index in catalogue.indexes.items():
            def save(scope: str, shard: Any, category: str = category) -> None:
                path = snapshot.write_graph(target, category, scope, shard.save)
                graphs.append({"category": category, "scope": scope, "file": path.name,
                               **_fingerprint(path)})

            def visit(scope: str, labels: np.ndarray, vectors: np.ndarray) -> None:
                exact_labels.append(labels)
                exact_vectors.append(vectors)

            index.save_shards(save)
            index.export_exact(visit)
        columns = catalogue.columns()
        dim = catalogue.params.dim
        arrays = dict(columns["arrays"])  # type: ignore[call-overload]
        arrays.update(_names(columns), exact_labels=_join(exact_labels, np.int64, (0,)),
                      exact_vectors=_join(exact_vectors, np.float32, (0, dim)))
        np.savez(target / "table.npz", **arrays)
        manifest = {"format": SNAPSHOT_FORMAT, "id": ident, "embedder": embedder_name,
                    "dim": dim, "entries": len(catalogue), "position": feed_position,
                    "table": {"file": "table.npz", **_fingerprint(target / "table.npz")},
                    "recency": columns["recency"], "graphs": graphs}
        manifest["crc32"] = _text_crc(manifest)
        partial = directory / f"{MANIFEST}.{os.getpid()}.tmp"
        partial.write_text(json.dumps(manifest))
        os.replace(partial, directory / MANIFEST)
    _remove_all_but(directory, target.name)
    return len(graphs)


def load_snapshot(catalogue: Catalogue, directory: Path | None, embedder_name: str,
                  on_corrupt: Callable[[str], None] | None = None) -> dict[str, Any] | None:
    """Fill ``catalogue`` from the saved snapshot; returns the manifest (None: there is no
    usable snapshot, and the catalogue is left empty). A damaged file is logged loudly and
    reported to ``on_corrupt``; the caller then rebuilds from the store."""
    if directory is None or not (directory / MANIFEST).is_file():
        return None
    try:
        try:
            manifest = json.loads((directory / MANIFEST).read_text())
        except (UnicodeDecodeError, ValueError):
            raise SnapshotCorrupt("the manifest is not JSON") from None
        if not isinstance(manifest, dict) or manifest.pop("crc32", None) != _text_crc(manifest):
            raise SnapshotCorrupt("the manifest fails its checksum")
        if (manifest.get("format") != SNAPSHOT_FORMAT or manifest.get("embedder") != embedder_name
                or manifest.get("dim") != catalogue.params.dim):
            raise SnapshotUnusable("made by another format or embedding model")
        target = directory / f"snapshot-{manifest['id']}"
        _restore(catalogue, target, manifest)
    except SnapshotCorrupt as exc:
        catalogue.reset()
        log.error("semcache.snapshot_corrupt", problem=str(exc)[:200], path=str(directory),
                  action="rebuilding the index from the store")
        if on_corrupt is not None:
            on_corrupt("snapshot_corrupt")
        return None
    except Exception as exc:  # noqa: BLE001 - an unusable snapshot means "rebuild"
        catalogue.reset()
        log.warning("semcache.snapshot_ignored", reason=f"{type(exc).__name__}: {exc}"[:200])
        return None
    return manifest


def _restore(catalogue: Catalogue, target: Path, manifest: dict[str, Any]) -> None:
    table = target / manifest["table"]["file"]
    _check(table, manifest["table"])
    with np.load(table, allow_pickle=False) as saved:
        arrays = {name: saved[name] for name in (*COLUMNS, "prev", "next")}
        catalogue.restore({
            "arrays": arrays, "recency": manifest["recency"],
            "categories": [name.decode() for name in saved["category_names"].tolist()],
            "scopes": [name.decode() or None for name in saved["scope_names"].tolist()],
            "hashed": dict(zip(saved["hashed_slots"].tolist(),
                               (i.decode() for i in saved["hashed_ids"].tolist())))})
        exact_labels, exact_vectors = saved["exact_labels"], saved["exact_vectors"]
    groups = _groups(catalogue)
    for graph in manifest["graphs"]:
        path = target / graph["file"]
        _check(path, graph)
        labels = groups.pop((graph["category"], graph["scope"]), None)
        if labels is None:
            raise SnapshotUnusable("a graph without entries")
        catalogue.index().load_shard(graph["scope"], path, labels)
    slots = (exact_labels & 0xFFFFFFFF).astype(np.int64)
    scopes = catalogue.slots.scope_names
    keys = catalogue.slots.scope[slots].astype(np.int64)
    for key in np.unique(keys).tolist():
        members = keys == key
        group = (VECTOR_SPACE, scopes[key] or "")
        if groups.pop(group, None) is None:
            raise SnapshotUnusable("exact vectors without entries")
        catalogue.index().add_many(group[1], exact_labels[members], exact_vectors[members])
    if groups:
        raise SnapshotUnusable(f"{len(groups)} shards were not saved (an index without snapshots)")


def _groups(catalogue: Catalogue) -> dict[tuple[str, str], np.ndarray]:
    """Live labels by shard: (the one index's name, scope); every category shares a shard."""
    slots = catalogue.live_slots()
    scopes = catalogue.slots.scope_names
    keys = catalogue.slots.scope[slots].astype(np.int64)
    unique, inverse = np.unique(keys, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(len(unique) + 1))
    labels = catalogue.labels_of(slots)
    return {(VECTOR_SPACE, scopes[int(key)] or ""):
            labels[order[bounds[i]:bounds[i + 1]]] for i, key in enumerate(unique.tolist())}


def _names(columns: dict[str, Any]) -> dict[str, np.ndarray]:
    hashed: dict[int, str] = columns["hashed"]
    return {"category_names": _bytes([name for name in columns["categories"]]),
            "scope_names": _bytes([name or "" for name in columns["scopes"]]),
            "hashed_slots": np.array(sorted(hashed), dtype=np.int64),
            "hashed_ids": _bytes([hashed[slot] for slot in sorted(hashed)])}


def _bytes(texts: list[str]) -> np.ndarray:
    encoded = [text.encode("utf-8", "surrogatepass") for text in texts]
    return np.array(encoded, dtype=f"S{max([1, *map(len, encoded)])}")


def _join(parts: list[np.ndarray], dtype: Any, empty: tuple[int, ...]) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.empty(empty, dtype=dtype)


def _text_crc(manifest: dict[str, Any]) -> int:
    return zlib.crc32(json.dumps(manifest, sort_keys=True).encode())


def _fingerprint(path: Path) -> dict[str, int]:
    crc = 0
    with open(path, "rb") as source:
        while chunk := source.read(1 << 24):
            crc = zlib.crc32(chunk, crc)
    return {"size": path.stat().st_size, "crc32": crc}


def _check(path: Path, expected: dict[str, Any]) -> None:
    """Refuse a file that is not byte for byte what was saved (hnswlib's loader trusts its
    input and can crash the process on a corrupted graph)."""
    if not path.is_file() or path.stat().st_size != expected["size"]:
        raise SnapshotCorrupt(f"{path.name} is missing or has the wrong size")
    if _fingerprint(path)["crc32"] != expected["crc32"]:
        raise SnapshotCorrupt(f"{path.name} fails its checksum")


def _remove_all_but(directory: Path, keep: str) -> None:
    """Delete older snapshots (and format-1 files) once the new manifest is in place."""
    for path in directory.iterdir():
        if path.name in (keep, MANIFEST):
            continue
        if path.is_dir() and path.name.startswith("snapshot-"):
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_file() and path.suffix in (".hnsw", ".json"):
            path.unlink(missing_ok=True)
