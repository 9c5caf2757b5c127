"""Load adaptation: static vs adaptive policy while the routed model is overloaded.

Workload (replayed identically for both policies): the labelled pairs of ``bench/data``. Every
``a`` prompt is asked once while the model is idle (the answers are cached); then the ``b``
prompts (paraphrases with the same answer, and traps with a different one) arrive in rounds,
each round during a burst of long requests from other clients that overloads the model. Each
``a`` gets its own cache namespace, so a hit of ``b`` is served from its labelled partner and
"false hit" means exactly "a different-answer pair was served".

Live mode: a real vLLM server (CPU, tiny random Llama, KV pressure), the real LiteLLM proxy with
the cache in front of it, the plugin pushing and the proxy scraping ``/metrics``. Measured per
policy: probe requests that reached the model (``x-semcache`` != hit), client p95 latency of the
probes, false hits. ``--smoke``: the same replay in-process in seconds, no vLLM and no proxy,
with the overload signal simulated (a figure of the policy alone, not of the system).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"
PROBE_TOKENS = 16  # probes are short; the burst's fillers are long
FILLERS, FILLER_TOKENS = 24, 150
ROUND_SIZE, PROBE_CONCURRENCY = 12, 4
WIDE = 0.10  # "adaptive_wide": relax by up to 0.10 with every non-sensitive floor at base - 0.10
POLICIES = ("static", "adaptive", "adaptive_wide")


def load_pairs(smoke: bool = False) -> list[dict[str, Any]]:
    from litellm_semcache.calibration import read_pairs

    pairs = [p for path in sorted(DATA.glob("pairs*.jsonl")) for p in read_pairs(path)]
    return pairs[:40] if smoke else pairs


def _messages(prompt: Any) -> list[dict[str, Any]]:
    return prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]


def _namespaces(pairs: list[dict[str, Any]]) -> list[str]:
    """One namespace per distinct ``a`` (a paraphrase and a trap often share one)."""
    seen: dict[str, str] = {}
    return [seen.setdefault(json.dumps(p["a"], sort_keys=True), f"a{len(seen)}") for p in pairs]


def _summary(probes: list[dict[str, Any]]) -> dict[str, Any]:
    different = [p for p in probes if not p["same_answer"]]
    same = [p for p in probes if p["same_answer"]]
    latencies = sorted(p["ms"] for p in probes if "ms" in p)  # offline mode has no client
    return {
        "probes": len(probes),
        "reached_model": sum(not p["hit"] for p in probes),
        "hits": sum(p["hit"] for p in probes),
        "relaxed_hits": sum(p.get("relaxed", False) for p in probes),
        "hit_rate_same_answer": round(sum(p["hit"] for p in same) / max(len(same), 1), 4),
        "false_hits": sum(p["hit"] for p in different),
        "false_hit_rate": round(sum(p["hit"] for p in different) / max(len(different), 1), 4),
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p95_ms": round(latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))], 1)
        if latencies else None,
        "overloaded_lookups": sum(p.get("load") == "overloaded" for p in probes),
        "fail_open_lookups": sum(p.get("reason") in ("deadline", "fail_open") for p in probes),
    }


def _policy_yaml(name: str) -> dict[str, Any]:
    """The shipped policy with the load policy off (static), on, or on with wider floors."""
    import yaml

    from litellm_semcache.config import BUILTIN_DEFAULTS

    policy = yaml.safe_load(BUILTIN_DEFAULTS.read_text())
    policy["load_policy"]["enabled"] = name != "static"
    # vLLM runs on the proxy's own CPUs here: a burst slows lookups past the 250 ms default
    # deadline, and those fail-open misses would blur both policies alike.
    policy["lookup_deadline_ms"] = 5000
    if name == "adaptive_wide":
        policy["load_policy"]["relax"] = WIDE
        for category in policy["categories"].values():
            if not category.get("sensitive"):
                category["threshold_floor"] = round(category["similarity_threshold"] - WIDE, 4)
    return policy


def compare(static: dict[str, Any], adaptive: dict[str, Any]) -> dict[str, Any]:
    base = max(static["reached_model"], 1)
    return {"traffic_reduction": round(1 - adaptive["reached_model"] / base, 4),
            "false_hit_rate_change_points": round(
                100 * (adaptive["false_hit_rate"] - static["false_hit_rate"]), 2),
            "p95_change": round(adaptive["p95_ms"] / static["p95_ms"] - 1, 4)
            if static["p95_ms"] and adaptive["p95_ms"] else None}


# ---------------------------------------------------------------------------- smoke (in-process)


def run_offline(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """The replay against the cache engine with a simulated overload signal."""
    from litellm_semcache.engine import SemanticCache
    from litellm_semcache.config import load_settings
    from litellm_semcache.embedding import load_embedder
    from litellm_semcache.observability.logs import configure_logging
    from vllm_hooks import LoadSnapshot

    configure_logging("warning")
    embedder = None
    results = {}
    for name in POLICIES:
        settings = load_settings({**_policy_yaml(name), "log_level": "warning", "store": {
            "path": tempfile.mkdtemp(prefix=f"semcache-load-{name}-")}})
        embedder = embedder or load_embedder(settings.embedding)
        cache = SemanticCache(settings, embedder=embedder)
        try:
            probes = []
            for pair, namespace in zip(pairs, _namespaces(pairs)):
                request = _request(pair["a"], pair, namespace)
                if not cache.lookup(request).served:
                    cache.store(request, {"answer": namespace})
            board = getattr(cache.load, "board", None)  # None: the static policy has no signals
            for pair, namespace in zip(pairs, _namespaces(pairs)):
                if board is not None:
                    board.update(LoadSnapshot("vllm-tiny", waiting=16, kv_usage=1.0))
                decision = cache.lookup(_request(pair["b"], pair, namespace))
                probes.append({"hit": decision.served, "same_answer": pair["same_answer"],
                               "relaxed": decision.relaxed, "load": decision.load_state})
            results[name] = _summary(probes)
        finally:
            cache.close()
    return {"mode": "offline (simulated overload, no vLLM)", "pairs": len(pairs), **results,
            "comparison": _comparisons(results)}


def _comparisons(results: dict[str, Any]) -> dict[str, Any]:
    return {name: compare(results["static"], results[name]) for name in POLICIES[1:]}


def _request(prompt: Any, pair: dict[str, Any], namespace: str) -> dict[str, Any]:
    return {"model": "tiny", "messages": _messages(prompt), "max_tokens": PROBE_TOKENS,
            "metadata": {"semcache_category": pair.get("category") or "default",
                         "model_group": "tiny"},
            "model_info": {"id": "vllm-tiny"}, "cache": {"namespace": namespace}}


# ---------------------------------------------------------------------------- live


def run_live(pairs: list[dict[str, Any]], workdir: Path) -> dict[str, Any]:
    """Real vLLM + real LiteLLM proxy with the cache, static then adaptive."""
    from harness import free_port, vllm_server

    push_port = free_port()  # UDP: the proxy's receiver; a free TCP port is free enough here
    env = {"SEMCACHE_VLLM_PUSH": f"127.0.0.1:{push_port}", "SEMCACHE_VLLM_DEPLOYMENT": "vllm-tiny"}
    results: dict[str, Any] = {"mode": "live (vLLM CPU + LiteLLM proxy)", "pairs": len(pairs)}
    with vllm_server(workdir / "vllm", env=env) as vllm:
        for name in POLICIES:
            print(f"load bench: {name} policy ...", flush=True)
            results[name] = _live_policy(name, pairs, vllm, workdir / name, push_port)
    results["comparison"] = _comparisons(results)
    return results


def _live_policy(name: str, pairs: list[dict[str, Any]], vllm: Any, workdir: Path,
                 push_port: int) -> dict[str, Any]:
    import secrets

    import yaml

    from harness import litellm_proxy, proxy_config_for

    workdir.mkdir(parents=True, exist_ok=True)
    policy = _policy_yaml(name)
    policy["load_policy"]["push_listen"] = f"127.0.0.1:{push_port}"
    policy["store"] = {"path": str(workdir / "store")}
    (workdir / "semcache.yaml").write_text(yaml.safe_dump(policy))
    key = f"sk-bench-{secrets.token_hex(8)}"
    config = proxy_config_for(vllm, "vllm-tiny", key)
    env = {"SEMCACHE_CONFIG": str(workdir / "semcache.yaml"), "SEMCACHE_LOG_LEVEL": "warning"}
    with litellm_proxy(config, workdir, env) as proxy:
        namespaces = _namespaces(pairs)
        seeded: set[str] = set()
        for pair, namespace in zip(pairs, namespaces):  # idle model: every answer gets cached
            if namespace not in seeded:
                seeded.add(namespace)
                _ask(proxy.base_url, key, pair["a"], pair, namespace)
        time.sleep(2.0)  # LiteLLM stores answers in background tasks
        probes: list[dict[str, Any]] = []
        for start in range(0, len(pairs), ROUND_SIZE):
            probes.extend(_round(proxy.base_url, key, vllm, pairs[start:start + ROUND_SIZE],
                                 namespaces[start:start + ROUND_SIZE]))
    return _summary(probes)


def _round(base_url: str, key: str, vllm: Any, pairs: list[dict[str, Any]],
           namespaces: list[str]) -> list[dict[str, Any]]:
    """Overload the model with other clients' long requests, probe through the proxy meanwhile."""
    fillers = threading.Thread(target=_fill, args=(vllm.base_url, vllm.served_name), daemon=True)
    fillers.start()
    time.sleep(1.0)  # the queue builds up; the cache sees it through push and pull
    with concurrent.futures.ThreadPoolExecutor(PROBE_CONCURRENCY) as pool:
        probes = list(pool.map(lambda item: _probe(base_url, key, *item), zip(pairs, namespaces)))
    fillers.join()
    time.sleep(4.0)  # back to idle (exit_at + dwell) before the next round
    return probes


def _probe(base_url: str, key: str, pair: dict[str, Any], namespace: str) -> dict[str, Any]:
    started = time.perf_counter()
    headers = _ask(base_url, key, pair["b"], pair, namespace)
    return {"hit": headers.get("x-semcache") == "hit", "same_answer": pair["same_answer"],
            "relaxed": headers.get("x-semcache-relaxed") == "true",
            "reason": headers.get("x-semcache-reason"),
            "load": headers.get("x-semcache-load"), "ms": (time.perf_counter() - started) * 1000}


def _ask(base_url: str, key: str, prompt: Any, pair: dict[str, Any], namespace: str) -> dict[str, str]:
    body = {"model": "tiny", "messages": _messages(prompt), "max_tokens": PROBE_TOKENS,
            "metadata": {"semcache_category": pair.get("category") or "default"},
            "cache": {"namespace": namespace}}
    request = urllib.request.Request(f"{base_url}/v1/chat/completions", json.dumps(body).encode(),
                                     {"Content-Type": "application/json",
                                      "Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=180) as reply:
        reply.read()
        return {k.lower(): v for k, v in reply.headers.items()}


def _fill(vllm_url: str, model: str) -> None:
    prompt = "hello how are you today tell me a joke please " * 9
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": prompt}],
                       "max_tokens": FILLER_TOKENS, "ignore_eos": True}).encode()

    def one(_: int) -> None:
        request = urllib.request.Request(f"{vllm_url}/v1/chat/completions", body,
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=180) as reply:
            reply.read()

    with concurrent.futures.ThreadPoolExecutor(FILLERS) as pool:
        list(pool.map(one, range(FILLERS)))


# ---------------------------------------------------------------------------- entry


def run(smoke: bool, workdir: Path | None = None) -> dict[str, Any]:
    from harness import vllm_missing_reason

    pairs = load_pairs(smoke)
    if smoke:
        return run_offline(pairs)
    missing = vllm_missing_reason()
    if missing:
        return {"mode": "skipped", "reason": missing}
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return run_live(pairs, workdir or Path(tempfile.mkdtemp(prefix="semcache-load-bench-")))


def plot(results: dict[str, Any], path: Path) -> None:
    """Bars: probes reaching the model, client p95, false-hit rate; static vs adaptive."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = (("reached_model", "probes reaching the model", "{:.0f}"),
               ("p95_ms", "client p95 (ms)", "{:,.0f}"), ("false_hit_rate", "false-hit rate", "{:.1%}"))
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for axis, (key, title, shown) in zip(axes, metrics):
        values = [results[p][key] or 0 for p in POLICIES]
        axis.bar(POLICIES, values, color=["#888888", "#2a7ab0", "#b0602a"])
        axis.tick_params(axis="x", labelsize=8)
        axis.set_title(title)
        for x, value in enumerate(values):
            axis.annotate(shown.format(value), (x, value), ha="center", va="bottom")
    figure.suptitle(f"load adaptation, {results['mode']}, {results['pairs']} labelled pairs")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
