"""The lookup path side by side: our cache, our cache with its vector search in Milvus Lite,
GPTCache (SQLite + hnswlib, its ``get``/``put`` API) and brute-force NumPy.

Every system gets the same stored vectors (``lookup_cost.stored_batches``), the same 200 query
prompts and the same MiniLM embedder, in a fresh process per system and size (so RSS per entry
is its own). Each lookup runs twice: first with an empty embedding memo (embedding included),
then memoised (the system's own cost). "Exact" stores 50 prompts with each system's write API
and asks for them again: our exact fast path; GPTCache and NumPy have none, so theirs is a
search with the embedding memoised. Lookups are time-boxed per system; the JSON says how many
ran. HNSW parameters are ours everywhere (M=16, ef_construction=100, ef=64; GPTCache's own
default ef is 2).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench import lookup_cost
from bench.gptcache_setup import gptcache
from bench.lookup_cost import CATEGORY, QUERIES, percentiles, release_freed_memory, request_for, rss_mb
from litellm_semcache.engine import Outcome, SemanticCache
from litellm_semcache.config import CacheSettings, load_settings
from litellm_semcache.embedding import MemoEmbedder, load_embedder
from litellm_semcache.observability.logs import configure_logging
from litellm_semcache.request import view_request

SYSTEMS = ("ours", "milvus_lite", "gptcache", "numpy")
EXACT_PROMPTS = 50


class _System:
    """One system under test: ``lookup`` says whether it served an answer."""

    lookup: Callable[[str], bool]
    store: Callable[[str], None]
    close: Callable[[], None] = staticmethod(lambda: None)


def run(system: str, entries: int, queries: int = 200, vectors: str = "mixed",
        time_box_s: float = 120.0) -> dict[str, Any]:
    """Measure one system at ``entries`` stored vectors (run it in a fresh process)."""
    settings = _settings(entries)
    embedder = load_embedder(settings.embedding)
    workdir = Path(tempfile.mkdtemp(prefix=f"semcache-peer-{system}-"))
    try:
        bases = lookup_cost.base_vectors_for(embedder, entries)
        started = time.perf_counter()
        release_freed_memory()
        under_test, rss_before = _LOADERS[system](settings, embedder, workdir, entries, vectors,
                                                  bases)
        load_s = time.perf_counter() - started
        release_freed_memory()
        ram = (rss_mb(with_children=True) - rss_before) * 2**20 / entries
        disk = sum(f.stat().st_size for f in workdir.rglob("*") if f.is_file()) / entries
        prompts = QUERIES[:queries]
        deadline = time.perf_counter() + time_box_s
        cold, cold_hits = _timed(under_test.lookup, prompts, deadline)
        warm, warm_hits = _timed(under_test.lookup, prompts[:len(cold)], deadline + time_box_s / 2)
        for prompt in prompts[:EXACT_PROMPTS]:
            under_test.store(prompt)
        exact, exact_hits = _timed(under_test.lookup, prompts[:EXACT_PROMPTS],
                                   deadline + time_box_s)
        under_test.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "system": system, "entries": entries, "stored_vectors": vectors,
        "load_s": round(load_s, 1),
        "miss_excluding_embedding": percentiles(warm) | {"n": len(warm), "served": warm_hits},
        "miss_including_embedding": percentiles(cold) | {"n": len(cold), "served": cold_hits},
        "hit_exact": percentiles(exact) | {"n": len(exact), "served": exact_hits},
        "ram_bytes_per_entry": round(ram), "disk_bytes_per_entry": round(disk) if disk else None,
    }


def _settings(entries: int) -> CacheSettings:
    settings = load_settings(None).model_copy(deep=True)
    settings.log_level = "warning"
    settings.lookup_deadline_ms = 600_000  # a slow peer's miss must stay a measured miss
    settings.categories[CATEGORY].max_entries = entries + 10_000
    configure_logging(settings.log_level)
    return settings


def _timed(lookup: Callable[[str], bool], prompts: list[str],
           deadline: float) -> tuple[list[float], int]:
    samples, served = [], 0
    for prompt in prompts:
        if samples and time.perf_counter() > deadline:
            break
        started = time.perf_counter()
        served += lookup(prompt)
        samples.append((time.perf_counter() - started) * 1000)
    return samples, served


# ---------------------------------------------------------------------- the systems


def _ours(settings: CacheSettings, embedder: MemoEmbedder, workdir: Path, entries: int,
          vectors: str, bases: np.ndarray) -> tuple[_System, float]:
    settings.store.path = str(workdir / "store")
    lookup_cost.fill_store(workdir / "store", entries, view_request(request_for("x")).scope,
                           vectors, bases)
    release_freed_memory()
    rss_before = rss_mb(with_children=True)
    return _our_cache(SemanticCache(settings, embedder=embedder)), rss_before


def _milvus_lite(settings: CacheSettings, embedder: MemoEmbedder, workdir: Path, entries: int,
                 vectors: str, bases: np.ndarray) -> tuple[_System, float]:
    from bench.milvus_index import milvus_variant

    settings.store.path = str(workdir / "store")
    lookup_cost.fill_store(workdir / "store", entries, view_request(request_for("x")).scope,
                           vectors, bases)
    context = milvus_variant(workdir / "milvus.db")
    index_factory = context.__enter__()  # starts the Milvus Lite server (a child process)
    release_freed_memory()
    rss_before = rss_mb(with_children=True)
    system = _our_cache(SemanticCache(settings, embedder=embedder, index_factory=index_factory))
    closing = system.close
    system.close = lambda: (closing(), context.__exit__(None, None, None))  # type: ignore[assignment]
    return system, rss_before


def _our_cache(cache: SemanticCache) -> _System:
    system = _System()
    system.lookup = lambda prompt: cache.lookup(request_for(prompt)).outcome == Outcome.HIT
    system.store = lambda prompt: cache.store(request_for(prompt), {"timestamp": time.time(),
                                                                     "response": "{}"}) and None
    system.close = cache.close
    return system


def _gptcache(settings: CacheSettings, embedder: MemoEmbedder, workdir: Path, entries: int,
              vectors: str, bases: np.ndarray) -> tuple[_System, float]:
    from gptcache.adapter.api import get, put
    from gptcache.similarity_evaluation.distance import SearchDistanceEvaluation

    rss_before = rss_mb()
    # GPTCache's score is 4 - squared L2 over [0, 4]; threshold t means cosine >= 2t - 1.
    threshold = (1 + settings.policy(CATEGORY).similarity_threshold) / 2
    cache, manager = gptcache(workdir, embedder, SearchDistanceEvaluation(), threshold,
                              max_elements=entries + 1_000, ef=settings.index.ef_search)
    for start, batch in lookup_cost.stored_batches(vectors, entries, bases):
        numbers = range(start, start + len(batch))
        manager.import_data([f"stored prompt {n}" for n in numbers],
                            [f'{{"id": "r{n}"}}' for n in numbers], list(batch),
                            [None] * len(batch))
    system = _System()
    system.lookup = lambda prompt: get(prompt, cache_obj=cache) is not None
    system.store = lambda prompt: put(prompt, "{}", cache_obj=cache)
    system.close = manager.close
    return system, rss_before


def _numpy(settings: CacheSettings, embedder: MemoEmbedder, workdir: Path, entries: int,
           vectors: str, bases: np.ndarray) -> tuple[_System, float]:
    rss_before = rss_mb()
    matrix = np.empty((entries, embedder.dim), dtype=np.float32)
    for start, batch in lookup_cost.stored_batches(vectors, entries, bases):
        matrix[start:start + len(batch)] = batch
    threshold = settings.policy(CATEGORY).similarity_threshold
    exact: dict[str, int] = {}

    def lookup(prompt: str) -> bool:
        if prompt in exact:
            return True
        return float(np.max(matrix @ embedder.embed_one(prompt))) >= threshold

    system = _System()
    system.lookup = lookup
    system.store = lambda prompt: exact.setdefault(prompt, len(exact)) and None
    return system, rss_before


_LOADERS = {"ours": _ours, "milvus_lite": _milvus_lite, "gptcache": _gptcache, "numpy": _numpy}


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ours / peer for every measured figure, pair by pair and size by size (< 1: ours is
    cheaper)."""
    out = []
    for entries in sorted({row["entries"] for row in rows}):
        at_size = {row["system"]: row for row in rows if row["entries"] == entries}
        ours = at_size.get("ours")
        if ours is None:
            continue
        for peer, row in at_size.items():
            if peer == "ours":
                continue
            pair: dict[str, Any] = {"entries": entries, "peer": peer}
            for figure in ("miss_excluding_embedding", "miss_including_embedding", "hit_exact"):
                for stat in ("p50_ms", "p99_ms"):
                    pair[f"{figure}_{stat}"] = _ratio(ours[figure][stat], row[figure][stat])
            for figure in ("ram_bytes_per_entry", "disk_bytes_per_entry"):
                pair[figure] = _ratio(ours[figure], row[figure])
            out.append(pair)
    return out


def _ratio(ours: float | None, peer: float | None) -> float | None:
    return round(ours / peer, 4) if ours is not None and peer else None
