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
import hashlib
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
from litellm_semcache.store.logged_store import LoggedStore
from litellm_semcache.store.vector_log import VectorLog

CATEGORY = "chat"
QUERIES = [f"Tell me something interesting about topic number {i} in {topic}"
           for i, topic in enumerate(["history", "music", "space", "cooking", "sport"] * 40)]
STORED_PROMPTS = [f"Tell me something surprising about item number {i} in {topic}"
                  for i, topic in enumerate(["geology", "poetry", "physics", "baking", "chess"] * 10)]


# How ``lookup`` spreads its entries over the shipped categories (a misses searches one of them).
SHARES = {"default": 0.35, "chat": 0.20, "code": 0.15, "docs": 0.10, "finance": 0.08,
          "medical": 0.06, "legal": 0.06}


def request_for(prompt: str, category: str = CATEGORY) -> dict[str, Any]:
    return {"model": "bench-model", "messages": [{"role": "user", "content": prompt}],
            "metadata": {"semcache_category": category}}


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


def entry_id(n: int) -> str:
    """A digest id, as the engine makes them (the vector log holds digest ids only)."""
    return hashlib.blake2b(f"bench-{n}".encode(), digest_size=16).hexdigest()


def open_bench_store(path: Path) -> LoggedStore:
    """The store as the engine opens it: diskcache plus the vector log beside it."""
    return LoggedStore(DiskcacheStore(path), VectorLog(path))


def fill_store(path: Path, entries: int, scope: str, kind: str, bases: np.ndarray,
               categories: dict[str, float] | None = None) -> float:
    """Write ``entries`` documents (one category, or spread over ``categories`` by share)."""
    store = open_bench_store(path)
    names = list(categories or {CATEGORY: 1.0})
    shares = np.array(list((categories or {CATEGORY: 1.0}).values()))
    assignment = np.random.default_rng(7).choice(len(names), size=entries, p=shares / shares.sum())
    now = time.time()
    started = time.perf_counter()
    for start, vectors in stored_batches(kind, entries, bases):
        for offset, vector in enumerate(vectors):
            n = start + offset
            store.put(Document(
                id=entry_id(n), category=names[assignment[n]], scope=scope,
                prompt=f"stored prompt {n}", normalized=f"stored prompt {n}", vector=vector,
                response={"timestamp": now, "response": f'{{"id": "r{n}"}}'},
                created_at=now + n * 1e-6, expires_at=now + 7 * 86400))
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


def _time_lookups(cache: SemanticCache, prompts: list[str], expect: str,
                  categories: list[str] | None = None) -> list[float]:
    """Latencies of the lookups that came out as ``expect`` (all of them, for misses)."""
    samples = []
    for position, prompt in enumerate(prompts):
        category = categories[position % len(categories)] if categories else CATEGORY
        started = time.perf_counter()
        decision = cache.lookup(request_for(prompt, category))
        elapsed = (time.perf_counter() - started) * 1000
        if decision.outcome == expect:
            samples.append(elapsed)
        elif expect == Outcome.MISS:
            raise AssertionError(f"unexpected {decision.outcome} for {prompt!r} in {category}: "
                                 f"{decision.reason}, similarity {decision.similarity}")
    return samples


def near_duplicate_recall(cache: SemanticCache, store_dir: Path, scope: str,
                          samples: int = 300) -> float:
    """Recall@1 of the HNSW search for near-duplicates of stored vectors (each a stored vector
    plus noise, cosine about 0.97 to it): how often ``nearest`` returns the entry an exact
    search over the whole scope finds (one index holds every category)."""
    records, valid = VectorLog(store_dir).read()
    rng = np.random.default_rng(11)
    found = 0
    live = np.flatnonzero(valid)
    picks = rng.choice(live, size=min(samples, len(live)), replace=False)
    for position in picks.tolist():
        query = records["vector"][position] + rng.normal(0, 0.012, records["vector"].shape[1])
        query = (query / np.linalg.norm(query)).astype(np.float32)
        best = live[int(np.argmax(records["vector"][live] @ query))]
        expected = _hex(records["id"][best])
        hits = cache.catalogue.nearest((scope,), query)
        found += bool(hits) and hits[0][0].id == expected
    return found / len(picks)


def _hex(words: np.ndarray) -> str:
    return b"".join(int(word).to_bytes(8, "little") for word in words).hex()


def _start(settings: Any, embedder: Any) -> tuple[SemanticCache, float, float]:
    """A fresh cache on the filled store: (cache, seconds to start, RSS in MB before it)."""
    release_freed_memory()
    rss_before = rss_mb()
    started = time.perf_counter()
    cache = SemanticCache(settings, embedder=embedder)
    return cache, time.perf_counter() - started, rss_before


def _per_entry(rss_before: float, entries: int) -> float:
    release_freed_memory()  # count what the cache keeps, not the start's freed garbage
    return (rss_mb() - rss_before) * 2**20 / entries


def run(entries: int, queries: int = 200, vectors: str = "mixed") -> dict[str, Any]:
    """Fill a store with ``entries`` documents over the shipped categories, then measure: a
    start that rebuilds the graphs from the vector log, lookups, the snapshot saved at close
    and a start from it (with its background check of the store)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    begun = time.perf_counter()
    settings = load_settings(None).model_copy(deep=True)
    settings.log_level = "warning"
    settings.lookup_deadline_ms = 60_000
    for name, share in SHARES.items():
        settings.categories[name].max_entries = int(entries * share * 1.2) + 10_000
    configure_logging(settings.log_level)  # decisions are logged at info; the benchmark filters them
    embedder = load_embedder(settings.embedding)
    workdir = Path(tempfile.mkdtemp(prefix="semcache-bench-"))
    store_dir = workdir / "store"
    try:
        settings.store.path = str(store_dir)
        scope = view_request(request_for("x")).scope
        bases = base_vectors_for(embedder, entries)
        fill_s = fill_store(store_dir, entries, scope, vectors, bases, SHARES)
        cache, startup_s, rss_before = _start(settings, embedder)
        ram_rebuilt = _per_entry(rss_before, entries)
        disk_per_entry = sum(f.stat().st_size for f in store_dir.rglob("*")
                             if f.is_file()) / entries
        prompts, categories = QUERIES[:queries], list(SHARES)
        cold = _time_lookups(cache, prompts, Outcome.MISS, categories)  # embedding included
        warm = _time_lookups(cache, prompts, Outcome.MISS, categories)  # the cache's own cost
        recall = near_duplicate_recall(cache, store_dir, scope, 30 if entries < 10_000 else 300)
        stored = STORED_PROMPTS[:min(50, queries)]  # never looked up: no pending category
        for prompt in stored:
            cache.store(request_for(prompt), {"timestamp": time.time(), "response": "{}"})
        exact = _time_lookups(cache, stored, Outcome.HIT)
        paraphrases = [f"Could you {p[0].lower()}{p[1:]}, please?" for p in stored]
        semantic = _time_lookups(cache, paraphrases, Outcome.HIT)
        started = time.perf_counter()
        cache.close()  # saves the index snapshot
        save_s = time.perf_counter() - started
        del cache
        cache, snapshot_startup_s, rss_before = _start(settings, embedder)
        ram_snapshot = _per_entry(rss_before, entries)
        check = cache.deployment.check  # type: ignore[attr-defined]
        started = time.perf_counter()
        if check is not None:
            check.done.wait(600)
        check_s = time.perf_counter() - started
        ram_checked = _per_entry(rss_before, entries)
        _time_lookups(cache, prompts, Outcome.MISS, categories)  # embeds them (memo)
        snapshot_warm = _time_lookups(cache, prompts, Outcome.MISS, categories)
        cache.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "entries": entries, "stored_vectors": vectors, "embedding": embedder.name,
        "categories": SHARES, "miss_excluding_embedding": percentiles(warm),
        "miss_including_embedding": percentiles(cold),
        "miss_excluding_embedding_after_snapshot_start": percentiles(snapshot_warm),
        "hit_exact_fast_path": percentiles(exact),
        "hit_semantic_including_embedding": percentiles(semantic),
        "near_duplicate_recall": round(recall, 4),
        "paraphrase_hit_rate": round(len(semantic) / len(paraphrases), 3),
        "startup_rebuild_s": round(startup_s, 2), "snapshot_save_s": round(save_s, 2),
        "startup_from_snapshot_s": round(snapshot_startup_s, 2),
        "store_check_after_snapshot_s": round(check_s, 2), "store_fill_s": round(fill_s, 2),
        "ram_bytes_per_entry": round(ram_rebuilt),
        "ram_bytes_per_entry_after_snapshot_start": round(ram_snapshot),
        "ram_bytes_per_entry_after_store_check": round(ram_checked),
        "disk_bytes_per_entry": round(disk_per_entry),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "run_s": round(time.perf_counter() - begun, 1),
    }
