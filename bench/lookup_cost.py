"""Lookup cost of the engine at N cached entries: miss and hit, with and without embedding.

Entries are written straight to the document store and loaded by a fresh ``SemanticCache``, so
the run also measures start-up (rebuild from the store, then from the saved snapshot) and
RAM/disk per entry. Stored vectors are either ``mixed`` (each a noisy mixture of two real
embeddings of template prompts: embedding 100k real prompts takes ~12 minutes here) or
``random`` unit vectors (the hardest case for HNSW). Queries are real prompts embedded by the
real model, in the same scope as the entries, so every miss searches one category's full index.
"""

from __future__ import annotations

import ctypes
import gc
import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import numpy as np

from litellm_semcache.engine import Outcome, SemanticCache
from litellm_semcache.config import load_settings
from litellm_semcache.embedding import load_embedder
from litellm_semcache.observability.logs import configure_logging
from litellm_semcache.request import view_request
from litellm_semcache.store import Document
from litellm_semcache.store.diskcache_store import DiskcacheStore

CATEGORY = "chat"
QUERIES = [f"Tell me something interesting about topic number {i} in {topic}"
           for i, topic in enumerate(["history", "music", "space", "cooking", "sport"] * 40)]


def request_for(prompt: str) -> dict[str, Any]:
    return {"model": "bench-model", "messages": [{"role": "user", "content": prompt}],
            "metadata": {"semcache_category": CATEGORY}}


_FRAMES = ["How do I {v} {o} in {t}?", "What is the best way to {v} {o} with {t}?",
           "Can you explain how to {v} {o} using {t}?", "Why can't I {v} {o} in {t}?",
           "Write a short guide to {v} {o} for {t} beginners"]
_VERBS = ["sort", "parse", "cache", "compress", "encrypt", "validate", "merge", "split", "rename",
          "deploy", "monitor", "debug", "profile", "serialize", "translate", "schedule", "index",
          "migrate", "back up", "visualise"]
_OBJECTS = ["a list of numbers", "JSON files", "user sessions", "log messages", "a CSV table",
            "images", "database rows", "HTTP requests", "email addresses", "time series",
            "config files", "unit tests", "a recipe book", "holiday photos", "bank statements",
            "sensor readings", "song lyrics", "chess games", "tax forms", "garden plans"]
_TOOLS = ["Python", "Rust", "Excel", "Linux", "Kubernetes", "PostgreSQL", "a spreadsheet", "Go",
          "JavaScript", "the command line", "Java", "R", "pandas", "a notebook", "Windows"]


def _base_vectors(embedder: Any, count: int) -> np.ndarray:
    """Real embeddings of ``count`` template prompts (cached on disk: embedding takes a while)."""
    cache_file = Path.home() / ".cache" / "litellm-semcache" / "bench" / f"bases-{embedder.name}-{count}.npy"
    cache_file = cache_file.with_name(cache_file.name.replace(":", "_"))
    if cache_file.is_file():
        return np.load(cache_file)
    rng = np.random.default_rng(1)
    prompts = sorted({rng.choice(_FRAMES).format(v=rng.choice(_VERBS), o=rng.choice(_OBJECTS),
                                                 t=rng.choice(_TOOLS)) for _ in range(count * 3)})
    prompts = prompts[:count]
    vectors = np.vstack([embedder.embed(prompts[i:i + 128]) for i in range(0, len(prompts), 128)])
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache_file, vectors)
    return vectors


def _vectors(kind: str, rng: np.random.Generator, count: int, bases: np.ndarray) -> np.ndarray:
    if kind == "random":  # the hardest case for HNSW
        vectors = rng.standard_normal((count, bases.shape[1])).astype(np.float32)
    else:  # embedding-like: mixtures of two real prompt embeddings plus noise
        first = bases[rng.integers(0, len(bases), count)]
        second = bases[rng.integers(0, len(bases), count)]
        weight = rng.uniform(0.5, 1.0, (count, 1)).astype(np.float32)
        vectors = weight * first + (1 - weight) * second
        vectors += rng.normal(0, 0.02, vectors.shape).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def stored_batches(kind: str, entries: int, bases: np.ndarray,
                   batch: int = 10_000) -> Iterator[tuple[int, np.ndarray]]:
    """(first entry number, vectors) batches: the same vectors for every system compared."""
    rng = np.random.default_rng(0)
    for start in range(0, entries, batch):
        yield start, _vectors(kind, rng, min(batch, entries - start), bases)


def base_vectors_for(embedder: Any, entries: int) -> np.ndarray:
    return _base_vectors(embedder, 3000 if entries > 5000 else 300)


def fill_store(path: Path, entries: int, scope: str, kind: str, bases: np.ndarray) -> float:
    store = DiskcacheStore(path)
    now = time.time()
    started = time.perf_counter()
    for start, vectors in stored_batches(kind, entries, bases):
        for offset, vector in enumerate(vectors):
            n = start + offset
            store.put(Document(
                id=f"bench-{n}", category=CATEGORY, scope=scope, prompt=f"stored prompt {n}",
                normalized=f"stored prompt {n}", vector=vector,
                response={"timestamp": now, "response": f'{{"id": "r{n}"}}'},
                created_at=now, expires_at=now + 86400))
    store.close()
    return time.perf_counter() - started


def rss_mb(pid: int | str = "self", with_children: bool = False) -> float:
    """Resident memory of a process (and, optionally, its child processes: Milvus Lite's server)."""
    try:
        with open(f"/proc/{pid}/statm") as statm:
            total = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return 0.0
    if with_children:
        real_pid = os.getpid() if pid == "self" else int(pid)
        for task in Path(f"/proc/{real_pid}/task").iterdir():
            children = (task / "children").read_text().split()
            total += sum(rss_mb(child, with_children=True) for child in children)
    return total


def release_freed_memory() -> None:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": round(statistics.median(ordered), 4),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 4)}


def _time_lookups(cache: SemanticCache, prompts: list[str], expect: str) -> list[float]:
    """Latencies of the lookups that came out as ``expect`` (all of them, for misses)."""
    samples = []
    for prompt in prompts:
        started = time.perf_counter()
        decision = cache.lookup(request_for(prompt))
        elapsed = (time.perf_counter() - started) * 1000
        if decision.outcome == expect:
            samples.append(elapsed)
        elif expect == Outcome.MISS:
            raise AssertionError(f"unexpected {decision.outcome} for {prompt!r}")
    return samples


def run(entries: int, queries: int = 200, vectors: str = "mixed") -> dict[str, Any]:
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
        scope = view_request(request_for("x")).scope
        bases = base_vectors_for(embedder, entries)
        fill_s = fill_store(workdir / "store", entries, scope, vectors, bases)
        release_freed_memory()
        rss_before = rss_mb()
        started = time.perf_counter()
        cache = SemanticCache(settings, embedder=embedder)
        startup_s = time.perf_counter() - started
        release_freed_memory()  # count what the cache keeps, not the parser's freed garbage
        ram_per_entry = (rss_mb() - rss_before) * 2**20 / entries
        disk_per_entry = sum(f.stat().st_size for f in (workdir / "store").rglob("*")
                             if f.is_file()) / entries
        prompts = QUERIES[:queries]
        cold = _time_lookups(cache, prompts, Outcome.MISS)  # embedding included (memo empty)
        warm = _time_lookups(cache, prompts, Outcome.MISS)  # embedding memoised: the cache's own cost
        for prompt in prompts[:50]:
            cache.store(request_for(prompt), {"timestamp": time.time(), "response": "{}"})
        exact = _time_lookups(cache, prompts[:50], Outcome.HIT)
        paraphrases = [f"Could you {p[0].lower()}{p[1:]}, please?" for p in prompts[:50]]
        semantic = _time_lookups(cache, paraphrases, Outcome.HIT)
        cache.close()  # saves the index snapshot
        started = time.perf_counter()
        SemanticCache(settings, embedder=embedder).close()
        snapshot_startup_s = time.perf_counter() - started
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "entries": entries, "stored_vectors": vectors, "embedding": embedder.name,
        "miss_excluding_embedding": percentiles(warm),
        "miss_including_embedding": percentiles(cold),
        "hit_exact_fast_path": percentiles(exact),
        "hit_semantic_including_embedding": percentiles(semantic),
        "near_duplicate_recall": round(len(semantic) / len(paraphrases), 3),
        "startup_rebuild_s": round(startup_s, 2),
        "startup_from_snapshot_s": round(snapshot_startup_s, 2), "store_fill_s": round(fill_s, 2),
        "ram_bytes_per_entry": round(ram_per_entry), "disk_bytes_per_entry": round(disk_per_entry),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
