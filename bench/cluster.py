"""Two cache replicas over a real Redis Cluster (3 masters, 3 replicas, started here).

1. Convergence: milliseconds from ``store()`` returning on replica A to replica B holding the
   entry (B follows the category's stream on the master that owns its slot).
2. Failover under load: A writes unique prompts (``redis_wait_replicas: 1``), B and A look up
   acknowledged ones; the master serving the ``chat`` slot is SIGKILLed, its replica takes
   over, load goes on. Counted: acknowledged writes, writes not acknowledged, acknowledged
   entries missing from the cluster afterwards, wrong answers, exceptions, and lookup latency
   while the master was down.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.soak import measure_convergence

PROBE = {"chat": {"semcache_category": "chat"}, "code": {"semcache_category": "code"}}


def _request(prompt: str, category: str) -> dict[str, Any]:
    return {"model": "cluster-bench", "messages": [{"role": "user", "content": prompt}],
            "metadata": PROBE[category]}


def run(smoke: bool) -> dict[str, Any]:
    from harness import RedisClusterNodes
    from litellm_semcache.config import load_settings
    from litellm_semcache.embedding import load_embedder
    from litellm_semcache.engine import SemanticCache
    from litellm_semcache.observability.logs import configure_logging

    workdir = Path(tempfile.mkdtemp(prefix="semcache-cluster-"))
    with RedisClusterNodes(workdir / "nodes") as nodes:
        settings = load_settings(None).model_copy(deep=True)
        settings.log_level = "error"
        configure_logging(settings.log_level)
        settings.store.backend, settings.store.redis_url = "redis", nodes.url
        settings.store.redis_cluster, settings.store.redis_wait_replicas = True, 1
        settings.store.redis_timeout_ms = 500
        embedder = load_embedder(settings.embedding)
        a = SemanticCache(settings, embedder=embedder)
        b = SemanticCache(settings, embedder=embedder)
        try:
            convergence = measure_convergence(a, b, embedder, 30 if smoke else 300)
            failover = _failover(nodes, a, b, *((1.0, 1.5) if smoke else (5.0, 10.0)))
        finally:
            a.close()
            b.close()
    return {"convergence": convergence, "failover": failover}


def _failover(nodes: Any, a: Any, b: Any, before_s: float, after_s: float) -> dict[str, Any]:
    from litellm_semcache.engine import Outcome
    from litellm_semcache.store.redis_layout import keys_for
    from litellm_semcache.store.redis_store import RedisStore

    acknowledged: dict[str, tuple[str, str]] = {}
    counts = {"writes": 0, "not_acknowledged": 0, "wrong_answers": 0, "exceptions": 0,
              "lookups": 0, "hits": 0}
    down: list[float] = []  # lookup latency while the master was down (ms)
    window = threading.Event()
    stop = threading.Event()

    def write() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            prompt, category = f"Cluster question {n}: what is {n} times {n + 3}?", ("chat", "code")[n % 2]
            try:
                decision = a.store(_request(prompt, category), {"answer": prompt})
            except Exception:  # noqa: BLE001 - counted: the cache must never raise
                counts["exceptions"] += 1
                continue
            counts["writes"] += 1
            if decision.outcome == Outcome.STORED:
                acknowledged[prompt] = (decision.entry_id or "", category)
            else:
                counts["not_acknowledged"] += 1
            time.sleep(0.002)

    def read() -> None:
        rng = random.Random(5)
        while not stop.is_set():
            if not acknowledged:
                time.sleep(0.01)
                continue
            prompt = rng.choice(list(acknowledged))
            for cache in (b, a):
                started = time.perf_counter()
                try:
                    decision = cache.lookup(_request(prompt, acknowledged[prompt][1]))
                except Exception:  # noqa: BLE001
                    counts["exceptions"] += 1
                    continue
                elapsed = (time.perf_counter() - started) * 1000
                if window.is_set():
                    down.append(elapsed)
                counts["lookups"] += 1
                if decision.outcome == Outcome.HIT:
                    counts["hits"] += 1
                    counts["wrong_answers"] += decision.response != {"answer": prompt}

    threads = [threading.Thread(target=write), threading.Thread(target=read)]
    for thread in threads:
        thread.start()
    time.sleep(before_s)
    master = nodes.master_of(keys_for("semcache:", "chat").quota)
    window.set()
    master.kill()
    failover_s = nodes.wait_failover(keys_for("semcache:", "chat").quota, master)
    window.clear()
    time.sleep(after_s)
    stop.set()
    for thread in threads:
        thread.join(10)
    check = RedisStore(nodes.url, cluster=True, timeout_ms=2000)
    lost = sum(check.get(ident, category=category) is None
               for ident, category in acknowledged.values())
    check.close()
    started = time.perf_counter()
    pending = set(acknowledged)
    while pending and time.perf_counter() - started < 60:  # B converges on every one of them
        pending = {p for p in pending if b.lookup(_request(p, acknowledged[p][1])).outcome != "hit"}
    ordered = sorted(down) or [0.0]
    return {**counts, "acknowledged": len(acknowledged), "acknowledged_lost": lost,
            "failover_s": round(failover_s, 2),
            "lookup_while_down_p50_ms": round(statistics.median(ordered), 2),
            "lookup_while_down_max_ms": round(ordered[-1], 2),
            "replica_converged_s": round(time.perf_counter() - started, 2),
            "not_converged": len(pending)}
