"""Lookup cost of the engine at N cached entries: miss and hit, with and without embedding.

Entries are written straight to the document store and loaded by a fresh ``SemanticCache``, so
the run also measures start-up (rebuild from the store) and RAM/disk per entry. Stored vectors
are random unit vectors (the hardest case for HNSW: real embeddings cluster and search faster);
queries are real prompts embedded by the real model, in the same scope as the entries, so every
miss walks the full index of one category.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from litellm_semcache.cache import HIT, MISS, SemanticCache
from litellm_semcache.config import load_settings
from litellm_semcache.embedding import load_embedder
from litellm_semcache.logs import configure_logging
from litellm_semcache.request import view_request
from litellm_semcache.storage import DiskcacheStore, Document

CATEGORY = "chat"
QUERIES = [f"Tell me something interesting about topic number {i} in {topic}"
           for i, topic in enumerate(["history", "music", "space", "cooking", "sport"] * 40)]


def _request(prompt: str) -> dict[str, Any]:
    return {"model": "bench-model", "messages": [{"role": "user", "content": prompt}],
            "metadata": {"semcache_category": CATEGORY}}


def _fill_store(path: Path, entries: int, dim: int, scope: str) -> float:
    store = DiskcacheStore(path)
    rng = np.random.default_rng(0)
    now = time.time()
    started = time.perf_counter()
    batch = 10_000
    for start in range(0, entries, batch):
        vectors = rng.standard_normal((min(batch, entries - start), dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        for offset, vector in enumerate(vectors):
            n = start + offset
            store.put(Document(
                id=f"bench-{n}", category=CATEGORY, scope=scope, prompt=f"stored prompt {n}",
                normalized=f"stored prompt {n}", vector=vector,
                response={"timestamp": now, "response": f'{{"id": "r{n}"}}'},
                created_at=now, expires_at=now + 86400), 86400)
    store.close()
    return time.perf_counter() - started


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": round(statistics.median(ordered), 4),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 4)}


def _time_lookups(cache: SemanticCache, prompts: list[str], expect: str) -> list[float]:
    samples = []
    for prompt in prompts:
        started = time.perf_counter()
        decision = cache.lookup(_request(prompt))
        samples.append((time.perf_counter() - started) * 1000)
        assert decision.outcome == expect, (prompt, decision)
    return samples


def run(entries: int, queries: int = 200) -> dict[str, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    settings = load_settings(None).model_copy(deep=True)
    settings.log_level = "warning"
    settings.lookup_deadline_ms = 60_000
    settings.categories[CATEGORY].max_entries = entries + 10_000
    configure_logging(settings.log_level)  # decisions are logged at info; the benchmark filters them
    embedder = load_embedder(settings.embedding)
    workdir = Path(tempfile.mkdtemp(prefix="semcache-bench-"))
    try:
        settings.store.path = str(workdir / "store")
        scope = view_request(_request("x")).scope
        fill_s = _fill_store(workdir / "store", entries, embedder.dim, scope)
        rss_before = _rss_mb()
        started = time.perf_counter()
        cache = SemanticCache(settings, embedder=embedder)
        startup_s = time.perf_counter() - started
        ram_per_entry = (_rss_mb() - rss_before) * 2**20 / entries
        disk_per_entry = sum(f.stat().st_size for f in (workdir / "store").rglob("*")
                             if f.is_file()) / entries
        prompts = QUERIES[:queries]
        cold = _time_lookups(cache, prompts, MISS)  # embedding included (memo empty)
        warm = _time_lookups(cache, prompts, MISS)  # embedding memoised: the cache's own cost
        for prompt in prompts[:50]:
            cache.store(_request(prompt), {"timestamp": time.time(), "response": "{}"})
        exact = _time_lookups(cache, prompts[:50], HIT)
        paraphrases = [f"Could you {p[0].lower()}{p[1:]}, please?" for p in prompts[:50]]
        semantic = _time_lookups(cache, paraphrases, HIT)
        cache.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "entries": entries, "embedding": embedder.name,
        "miss_excluding_embedding": _percentiles(warm),
        "miss_including_embedding": _percentiles(cold),
        "hit_exact_fast_path": _percentiles(exact),
        "hit_semantic_including_embedding": _percentiles(semantic),
        "startup_rebuild_s": round(startup_s, 2), "store_fill_s": round(fill_s, 2),
        "ram_bytes_per_entry": round(ram_per_entry), "disk_bytes_per_entry": round(disk_per_entry),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
