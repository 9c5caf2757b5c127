"""The lookup path side by side: our cache, our cache with its vector search in Milvus Lite,
GPTCache (SQLite + hnswlib, its ``get``/``put`` API) and brute-force NumPy.

This module is what runs inside one system's worker process (``bench/peer_rounds.py`` starts the
workers and interleaves their rounds). Every system gets the same stored vectors
(``lookup_cost.stored_batches``), the same query prompts, the same exact-hit prompts, the same
MiniLM embedder and the same warm-up. A round is three timed passes: the queries with an empty
embedding memo (embedding included), the same queries again (memoised: the system's own cost),
then the exact-hit prompts stored at load (our exact fast path; GPTCache and NumPy have none, so
theirs is a search with the embedding memoised). HNSW parameters are ours everywhere (M=16,
ef_construction=100, ef=64; GPTCache's own default ef is 2).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench import lookup_cost
from bench.gptcache_setup import gptcache
from bench.lookup_cost import (
    CATEGORY,
    QUERIES,
    percentiles,
    release_freed_memory,
    request_for,
    rss_mb,
)
from litellm_semcache.config import CacheSettings, load_settings
from litellm_semcache.embedding import MemoEmbedder, load_embedder
from litellm_semcache.engine import Outcome, SemanticCache
from litellm_semcache.observability.logs import configure_logging
from litellm_semcache.request import view_request

SYSTEMS = ("ours", "milvus_lite", "gptcache", "numpy")
_ANIMALS = ["otter", "heron", "badger", "walrus", "lynx", "gecko", "puffin", "marmot", "ibis",
            "tapir"]
_FOODS = ["pancakes", "olives", "ramen", "plums", "pretzels"]
# Stored through each system's write path at load and asked again every round (exact hits):
# worded unlike QUERIES, so that no query is served from them.
EXACT_PROMPTS = [f"Write a limerick about a {animal} who adores {food}"
                 for food in _FOODS for animal in _ANIMALS]
WARMUP_PROMPTS = [f"Describe the weather on a {day} in {town}" for day in ("Monday", "Friday")
                  for town in ("Lisbon", "Oslo", "Quito", "Perth", "Osaka")]


class RoundMemo(MemoEmbedder):
    """The embedding memo, emptied at the start of every round so that each round's first pass
    embeds again (the same memo class the engine uses, so memoised lookups cost the same)."""

    def forget(self) -> None:
        with self._lock:
            self._memo.clear()


class System:
    """One system under test: ``lookup`` says whether it served an answer."""

    lookup: Callable[[str], bool]
    store: Callable[[str], None]
    close: Callable[[], None] = staticmethod(lambda: None)
    index_evidence: dict[str, Any] | None = None  # Milvus Lite: how its HNSW use was checked


def load(system: str, entries: int, vectors: str, workdir: Path) -> tuple[System, RoundMemo,
                                                                            dict[str, Any]]:
    """Fill ``system`` with ``entries`` stored vectors, store the exact-hit prompts, warm it up.
    Returns the system, its embedder and what the load measured (RSS and disk per entry)."""
    settings = _settings(entries)
    embedder = RoundMemo(load_embedder(settings.embedding).inner, settings.embedding.memo_size)
    bases = lookup_cost.base_vectors_for(embedder, entries)
    started = time.perf_counter()
    release_freed_memory()
    under_test, rss_before = _LOADERS[system](settings, embedder, workdir, entries, vectors, bases)
    load_s = time.perf_counter() - started
    release_freed_memory()
    ram = (rss_mb(with_children=True) - rss_before) * 2**20 / entries
    disk = sum(f.stat().st_size for f in workdir.rglob("*") if f.is_file()) / entries
    for prompt in EXACT_PROMPTS:
        under_test.store(prompt)
    for prompt in WARMUP_PROMPTS:  # the same warm-up for every system: embedder, index, files
        under_test.lookup(prompt)
    info = {"load_s": round(load_s, 1), "ram_bytes_per_entry": round(ram),
            "disk_bytes_per_entry": round(disk) if disk else None}
    return under_test, embedder, info


def measure_round(under_test: System, embedder: RoundMemo, queries: int,
                  time_box_s: float) -> dict[str, Any]:
    """One round: queries embedded (cold), the same memoised (warm), exact hits (memoised)."""
    load_start = os.getloadavg()[0]
    started = time.perf_counter()
    embedder.forget()
    prompts = QUERIES[:queries]
    deadline = time.perf_counter() + time_box_s
    cold, cold_served = _timed(under_test.lookup, prompts, deadline)
    warm, warm_served = _timed(under_test.lookup, prompts[:len(cold)], deadline + time_box_s / 2)
    embedder.remember(EXACT_PROMPTS)  # as after a store: systems that search have it memoised
    exact, exact_served = _timed(under_test.lookup, EXACT_PROMPTS, deadline + time_box_s)
    return {
        "miss_including_embedding": percentiles(cold) | {"n": len(cold), "served": cold_served},
        "miss_excluding_embedding": percentiles(warm) | {"n": len(warm), "served": warm_served},
        "hit_exact": percentiles(exact) | {"n": len(exact), "served": exact_served},
        "load_average": [round(load_start, 2), round(os.getloadavg()[0], 2)],
        "seconds": round(time.perf_counter() - started, 1),
    }


def _settings(entries: int) -> CacheSettings:
    settings = load_settings(None).model_copy(deep=True)
    settings.log_level = "warning"
    settings.lookup_deadline_ms = 600_000  # a slow peer's miss must stay a measured miss
    settings.categories[CATEGORY].max_entries = entries + 10_000
    settings.embedding.memo_size = 4096
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
          vectors: str, bases: np.ndarray) -> tuple[System, float]:
    settings.store.path = str(workdir / "store")
    lookup_cost.fill_store(workdir / "store", entries, view_request(request_for("x")).scope,
                           vectors, bases)
    release_freed_memory()
    rss_before = rss_mb(with_children=True)
    return _our_cache(SemanticCache(settings, embedder=embedder)), rss_before


def _milvus_lite(settings: CacheSettings, embedder: MemoEmbedder, workdir: Path, entries: int,
                 vectors: str, bases: np.ndarray) -> tuple[System, float]:
    from bench.milvus_index import MilvusCategoryIndex, milvus_variant

    settings.store.path = str(workdir / "store")
    lookup_cost.fill_store(workdir / "store", entries, view_request(request_for("x")).scope,
                           vectors, bases)
    context = milvus_variant(workdir / "milvus.db")
    index_factory = context.__enter__()  # starts Milvus Lite (its server runs in threads here)
    release_freed_memory()
    rss_before = rss_mb(with_children=True)
    system = _our_cache(SemanticCache(settings, embedder=embedder, index_factory=index_factory))
    closing = system.close
    system.close = lambda: (closing(), context.__exit__(None, None, None))  # type: ignore[assignment]
    system.index_evidence = dict(MilvusCategoryIndex.evidence)
    return system, rss_before


def _our_cache(cache: SemanticCache) -> System:
    system = System()
    system.lookup = lambda prompt: cache.lookup(request_for(prompt)).outcome == Outcome.HIT
    system.store = lambda prompt: cache.store(request_for(prompt), {"timestamp": time.time(),
                                                                     "response": "{}"}) and None
    system.close = cache.close
    return system


def _gptcache(settings: CacheSettings, embedder: MemoEmbedder, workdir: Path, entries: int,
              vectors: str, bases: np.ndarray) -> tuple[System, float]:
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
    system = System()
    system.lookup = lambda prompt: get(prompt, cache_obj=cache) is not None
    system.store = lambda prompt: put(prompt, "{}", cache_obj=cache)
    system.close = manager.close
    return system, rss_before


def _numpy(settings: CacheSettings, embedder: MemoEmbedder, workdir: Path, entries: int,
           vectors: str, bases: np.ndarray) -> tuple[System, float]:
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

    system = System()
    system.lookup = lookup
    system.store = lambda prompt: exact.setdefault(prompt, len(exact)) and None
    return system, rss_before


_LOADERS = {"ours": _ours, "milvus_lite": _milvus_lite, "gptcache": _gptcache, "numpy": _numpy}


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ours / peer for every measured figure (the medians over rounds), pair by pair and size by
    size (< 1: ours is cheaper)."""
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
