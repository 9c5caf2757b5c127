"""Redis outage figures: a steady request loop on one replica while its redis-server is
SIGKILLed and restarted. Reports how requests fared during the outage (all answered? how slow?
how many fail-opens?), how long after the restart hits came back, and whether every entry
committed before the kill survived (``appendfsync always``).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

PROMPTS = [f"Tell me something useful about topic {n}" for n in range(50)]


def _request(prompt: str) -> dict[str, Any]:
    return {"model": "faults", "messages": [{"role": "user", "content": prompt}],
            "metadata": {"semcache_category": "chat"}}


def run(before_s: float = 3.0, outage_s: float = 5.0, after_s: float = 5.0) -> dict[str, Any]:
    from litellm_semcache.engine import Outcome, SemanticCache
    from litellm_semcache.config import BUILTIN_DEFAULTS, load_settings
    from litellm_semcache.observability.logs import configure_logging
    from harness import RedisServer

    configure_logging("critical")
    workdir = Path(tempfile.mkdtemp(prefix="semcache-faults-"))
    with RedisServer(workdir / "redis") as server:
        settings = load_settings(BUILTIN_DEFAULTS).model_copy(deep=True)
        settings.store.backend, settings.store.redis_url = "redis", server.url
        settings.store.path = str(workdir / "local")
        settings.log_level = "critical"
        cache = SemanticCache(settings)
        committed = [p for p in PROMPTS if cache.store(_request(p), {"p": p}).outcome == "stored"]
        phases: dict[str, list[tuple[float, bool]]] = {"before": [], "outage": [], "after": []}
        raised = 0
        first_hit_after_restart = None
        restarted_at = 0.0
        for phase, seconds in (("before", before_s), ("outage", outage_s), ("after", after_s)):
            if phase == "outage":
                server.kill()
            if phase == "after":
                server.start()
                restarted_at = time.monotonic()
            until = time.monotonic() + seconds
            n = 0
            while time.monotonic() < until:
                prompt = PROMPTS[n % len(PROMPTS)]
                n += 1
                started = time.perf_counter()
                try:
                    hit = cache.lookup(_request(prompt)).outcome == Outcome.HIT
                except Exception:  # noqa: BLE001 - counted: the cache promises never to raise
                    raised += 1
                    hit = False
                phases[phase].append(((time.perf_counter() - started) * 1000, hit))
                if phase == "after" and hit and first_hit_after_restart is None:
                    first_hit_after_restart = time.monotonic() - restarted_at
                time.sleep(0.005)
        survived = sum(cache.lookup(_request(p)).outcome == Outcome.HIT for p in committed)
        fail_opens = sum(row.get("fail_opens", 0) for row in cache.stats_snapshot().values())
        breaker_opened = cache.deployment.store.breaker.opened  # type: ignore[attr-defined]
        cache.close()
    return {
        "phases": {name: _summary(rows) for name, rows in phases.items()},
        "exceptions_raised": raised, "fail_opens": fail_opens, "breaker_opened": breaker_opened,
        "seconds_to_first_hit_after_restart": round(first_hit_after_restart or -1, 3),
        "committed_before_kill": len(committed), "found_after_restart": survived,
    }


def _summary(rows: list[tuple[float, bool]]) -> dict[str, Any]:
    latencies = sorted(ms for ms, _ in rows)
    return {"requests": len(rows), "hits": sum(hit for _, hit in rows),
            "p50_ms": round(statistics.median(latencies), 3) if latencies else None,
            "max_ms": round(latencies[-1], 3) if latencies else None}
