"""Latency through the real LiteLLM proxy, with and without the cache, against a 0 ms upstream.

Two proxies run side by side in the same run (same model list; one has the
``callbacks: litellm_semcache.proxy_handler`` line) in front of one stand-in model answering
instantly, so the differences are the proxy's and the cache's own costs. Requests alternate
between the two proxies to share any machine noise.
"""

from __future__ import annotations

import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from harness import litellm_proxy
from litellm_semcache.testing import StandInModel

ROOT = Path(__file__).resolve().parents[1]


def _config(upstream: str, with_cache: bool) -> dict[str, Any]:
    config: dict[str, Any] = {
        "model_list": [{"model_name": "chat-small",
                        "litellm_params": {"model": "openai/stand-in", "api_base": upstream,
                                           "api_key": "sk-upstream"},
                        "model_info": {"id": "stand-in-a"}}],
        "general_settings": {"master_key": MASTER_KEY},
    }
    if with_cache:
        config["litellm_settings"] = {"callbacks": "litellm_semcache.proxy_handler"}
    return config


MASTER_KEY = f"sk-bench-{secrets.token_hex(16)}"


def _post(client: httpx.Client, base: str, prompt: str, **extra: Any) -> tuple[float, httpx.Response]:
    body = {"model": "chat-small", "messages": [{"role": "user", "content": prompt}], **extra}
    started = time.perf_counter()
    reply = client.post(f"{base}/v1/chat/completions", json=body,
                        headers={"authorization": f"Bearer {MASTER_KEY}"})
    elapsed = (time.perf_counter() - started) * 1000
    reply.raise_for_status()
    return elapsed, reply


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": round(statistics.median(ordered), 2),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 2),
            "n": len(ordered)}


def run(requests: int = 200) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="semcache-proxy-bench-"))
    env = {"SEMCACHE_CONFIG": str(ROOT / "config.example.yaml"),
           "SEMCACHE_STORE__PATH": str(workdir / "store"), "SEMCACHE_LOG_LEVEL": "warning"}
    series: dict[str, list[float]] = {name: [] for name in (
        "no_cache_proxy", "no_cache_proxy_with_no_cache_field", "hit_exact", "hit_semantic",
        "miss", "bypass_no_cache")}
    lookup_ms: dict[str, list[float]] = {"hit_exact": [], "hit_semantic": [], "miss": []}
    with StandInModel() as upstream, \
            litellm_proxy(_config(upstream.url, False), workdir / "plain") as plain, \
            litellm_proxy(_config(upstream.url, True), workdir / "cached", env) as cached, \
            httpx.Client(timeout=60) as client:
        seed = "hi, how are you today?"
        _post(client, cached.base_url, seed)
        deadline = time.monotonic() + 10
        while _post(client, cached.base_url, seed)[1].headers.get("x-semcache") != "hit":
            assert time.monotonic() < deadline, "the seed answer was never stored"
            time.sleep(0.05)
        for name, base in (("plain", plain.base_url), ("cached", cached.base_url)):
            for _ in range(10):  # warm both (first requests after start are slow)
                _post(client, base, f"warm-up request for {name}")
        for n in range(requests):
            series["no_cache_proxy"].append(_post(client, plain.base_url, seed)[0])
            series["no_cache_proxy_with_no_cache_field"].append(
                _post(client, plain.base_url, seed, cache={"no-cache": True})[0])
            for name, prompt, extra in (
                    ("hit_exact", seed, {}),
                    # trailing spaces defeat the embedding memo, not the meaning
                    ("hit_semantic", "hello, how are you doing?" + " " * (n + 1), {}),
                    ("miss", f"Tell me a fact about the number {n} and the letter {n % 26}", {}),
                    ("bypass_no_cache", seed, {"cache": {"no-cache": True}})):
                elapsed, reply = _post(client, cached.base_url, prompt, **extra)
                series[name].append(elapsed)
                if name in lookup_ms and "x-semcache-lookup-ms" in reply.headers:
                    lookup_ms[name].append(float(reply.headers["x-semcache-lookup-ms"]))
                expected = {"hit_exact": "hit", "hit_semantic": "hit", "miss": "miss",
                            "bypass_no_cache": "bypass"}[name]
                assert reply.headers["x-semcache"] == expected, (name, dict(reply.headers))
    results = {name: _summary(samples) for name, samples in series.items()}
    for name, samples in lookup_ms.items():
        results[name]["cache_lookup_p50_ms"] = round(statistics.median(samples), 3)
    base = results["no_cache_proxy"]["p50_ms"]
    for name in ("no_cache_proxy_with_no_cache_field", "hit_exact", "hit_semantic", "miss",
                 "bypass_no_cache"):
        results[name]["vs_no_cache_proxy_p50"] = round(results[name]["p50_ms"] / base, 2)
    return results
