"""Soak: two cache replicas (two processes) over one private redis-server, mixed traffic for N
minutes, loopback only. Reports throughput, lookup latency (p50/p99), memory growth per replica
(RSS after warm-up vs end), errors and fail-opens, cross-replica hits, and how long a replica
takes to see another's entry.

Traffic per replica, each request a lookup and, on a miss, a store (the upstream model is not
called: this measures the cache): 50% a popular prompt (hits, mostly exact), 20% a paraphrase of
one (semantic hits), 30% a fresh prompt (a miss and a write). Four tenants, four categories with
small quotas (1,000 entries each) so eviction and the global quota run all the time and memory
must level off.
"""

from __future__ import annotations

import multiprocessing
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

CATEGORIES = ["chat", "code", "docs", "default"]
QUOTA = 1_000
_TOPICS = ["owls", "rust lifetimes", "tax returns", "sourdough", "black holes", "git rebase",
           "the French revolution", "marathon training", "kubernetes", "jazz", "tomatoes",
           "solar panels", "chess openings", "sleep", "python decorators", "volcanoes"]
_POPULAR = [f"Tell me something useful about {topic}" for topic in _TOPICS]
_PARAPHRASE = [f"Could you tell me something useful about {topic}?" for topic in _TOPICS]


def _settings(redis_url: str, workdir: Path) -> Any:
    from litellm_semcache.config import BUILTIN_DEFAULTS, load_settings

    settings = load_settings(BUILTIN_DEFAULTS).model_copy(deep=True)
    settings.store.backend, settings.store.redis_url = "redis", redis_url
    settings.store.path = str(workdir)
    for name in CATEGORIES:
        settings.categories[name].max_entries = QUOTA
    settings.log_level = "warning"
    return settings


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _replica(name: str, redis_url: str, workdir: str, seconds: float, seed: int,
             results: Any) -> None:
    from litellm_semcache.engine import Outcome, SemanticCache
    from litellm_semcache.observability.logs import configure_logging

    configure_logging("warning")
    cache = SemanticCache(_settings(redis_url, Path(workdir) / name))
    rng = random.Random(seed)
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    errors = cross_hits = requests = 0
    started = time.monotonic()
    warm_rss = None
    rss_samples: list[float] = []  # one per tenth of the run: does memory level off?
    while (elapsed := time.monotonic() - started) < seconds:
        if elapsed >= seconds * len(rss_samples) / 10:
            rss_samples.append(round(_rss_mb(), 1))
        if warm_rss is None and elapsed > seconds * 0.1:
            warm_rss = _rss_mb()
        roll, tenant = rng.random(), f"tenant-{rng.randrange(4)}"
        category = rng.choice(CATEGORIES)
        if roll < 0.5:
            prompt = rng.choice(_POPULAR)
        elif roll < 0.7:
            prompt = rng.choice(_PARAPHRASE)
        else:
            prompt = f"{rng.choice(_POPULAR)} (question {name}-{requests} in {rng.random():.6f})"
        request = {"model": "soak", "messages": [{"role": "user", "content": prompt}],
                   "metadata": {"user_api_key_hash": tenant, "semcache_category": category}}
        try:
            decision = cache.lookup(request)
            latencies.append(decision.latency_ms)
            outcomes[decision.reason] = outcomes.get(decision.reason, 0) + 1
            if decision.outcome == Outcome.HIT:
                cross_hits += decision.response.get("by") != name
            else:
                cache.store(request, {"by": name, "text": f"answer to {prompt}"})
        except Exception:  # noqa: BLE001 - the cache promises never to raise: count if it does
            errors += 1
        requests += 1
    elapsed = time.monotonic() - started
    stats = cache.stats_snapshot()
    results.put({
        "replica": name, "requests": requests, "seconds": round(elapsed, 1),
        "throughput_rps": round(requests / elapsed, 1),
        "lookup_p50_ms": round(statistics.median(latencies), 3) if latencies else None,
        "lookup_p99_ms": round(_percentile(latencies, 99), 3) if latencies else None,
        "hits": sum(v for k, v in outcomes.items() if k in ("exact", "semantic")),
        "cross_replica_hits": cross_hits, "reasons": outcomes, "errors_raised": errors,
        "fail_opens": sum(row.get("fail_opens", 0) for row in stats.values()),
        "entries_end": len(cache), "rss_warm_mb": round(warm_rss or 0, 1),
        "rss_end_mb": round(_rss_mb(), 1), "rss_samples_mb": rss_samples,
    })
    cache.close()


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def _convergence(redis_url: str, workdir: Path, samples: int) -> dict[str, float]:
    """Milliseconds from ``store()`` returning on replica A to replica B holding the entry."""
    from litellm_semcache.engine import SemanticCache
    from litellm_semcache.embedding import load_embedder

    settings = _settings(redis_url, workdir / "probe")
    embedder = load_embedder(settings.embedding)
    a = SemanticCache(settings, embedder=embedder)
    b = SemanticCache(settings, embedder=embedder)
    try:
        return measure_convergence(a, b, embedder, samples)
    finally:
        a.close()
        b.close()


def measure_convergence(a: Any, b: Any, embedder: Any, samples: int) -> dict[str, float]:
    """Milliseconds from ``a.store()`` returning to ``b`` holding the entry (also used by the
    Redis Cluster suite)."""
    lags = []
    for n in range(samples):
        request = {"model": "soak-probe", "metadata": {"semcache_category": "chat"},
                   "messages": [{"role": "user", "content": f"convergence probe {n}"}]}
        embedder.embed_one(f"convergence probe {n}")  # embedding is not replication time
        entry_id = a.store(request, {"n": n}).entry_id
        started = time.perf_counter()
        while b.catalogue.get(entry_id) is None:
            if time.perf_counter() - started > 5:
                break
            time.sleep(0.0002)
        lags.append((time.perf_counter() - started) * 1000)
    return {"samples": samples, "p50_ms": round(statistics.median(lags), 2),
            "p99_ms": round(_percentile(lags, 99), 2), "max_ms": round(max(lags), 2),
            "samples_ms": [round(lag, 3) for lag in lags]}


def run(minutes: float) -> dict[str, Any]:
    from harness import RedisServer

    workdir = Path(tempfile.mkdtemp(prefix="semcache-soak-"))
    with RedisServer(workdir / "redis") as server:
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        replicas = [context.Process(target=_replica, args=(name, server.url, str(workdir),
                                                           minutes * 60, seed, results))
                    for seed, name in enumerate(["a", "b"])]
        for process in replicas:
            process.start()
        rows = [results.get(timeout=minutes * 60 + 180) for _ in replicas]
        for process in replicas:
            process.join(timeout=30)
        convergence = _convergence(server.url, workdir, 20 if minutes < 1 else 200)
    total = sum(row["requests"] for row in rows)
    return {"minutes": minutes, "replicas": rows, "convergence": convergence,
            "total_requests": total,
            "total_throughput_rps": round(sum(row["throughput_rps"] for row in rows), 1),
            "errors_raised": sum(row["errors_raised"] for row in rows)}
