"""Load adaptation: how much traffic the adaptive policy takes off an overloaded model, and at
what cost in false hits. ``python -m bench load``.

The request sequence (:mod:`bench.load_workload`): Zipf-distributed topics of labelled prompts
and their paraphrases and traps, a ShareGPT long tail, two tenants, 3 requests a second through
quiet periods and bursts in which other clients flood the model directly. Time is compressed:
every TTL (and the stale grace) is the shipped one divided by ``COMPRESSION``, so the replay's
few minutes hold the expiries of days.

Live: a real vLLM (CPU, tiny random Llama, KV pressure), the real LiteLLM proxy with the cache
in front of it, following vLLM's /metrics. The static and the adaptive policy replay the same
sequence one after the other against the same vLLM (the static one also follows the load, so
its headers say when it was overloaded, but adapts nothing). Measured per policy: requests that
reached the model (``x-semcache`` != hit; cross-checked with vLLM's own request counter), in the
bursts and overall; hit and false-hit rates on the labelled part (a hit is false when the answer
served was stored for a prompt of another answer class); client p50 / p95; vLLM queue depth and
KV usage over time.

The curve of traffic cut vs added false hits for several verifier floors comes from the same
sequence replayed in-process (:mod:`bench.load_curve`, virtual clock, bursts as the live
schedule), since a live pass per floor would not fit the box. ``--smoke``: only that in-process
replay, on a short sequence, in seconds.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import random
import shutil
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench import load_workload
from bench.load_workload import DEPLOYMENT, Request, Workload

COMPRESSION = 720  # one replayed second stands for 12 minutes: a day of TTL lasts 2 minutes
PROBE_TOKENS = 16
FILLERS, FILLER_TOKENS = 4, 400  # long requests of other clients, per wave of a burst
WAVE_SECONDS = 3.0
# Longer answers than the suite's (the model's full 512-token context, 20 KV blocks of 32, 2
# sequences; one long answer fills 80 % of the KV cache): on two
# shared cores the tiny model's engine outruns its own HTTP front end on short requests, and a
# burst then queues where vLLM's gauges cannot see it (measured with 150-token fillers: the
# engine idle while clients waited seconds). A 400-token answer keeps the engine itself busy.
VLLM_ARGS = ("--max-model-len", "512", "--block-size", "32", "--num-gpu-blocks-override", "20",
             "--max-num-seqs", "2")
SHAPE = {"rate": 3.0, "cycles": 3, "quiet": 20.0, "burst": 25.0}
SMOKE_SHAPE = {"rate": 3.0, "cycles": 2, "quiet": 8.0, "burst": 8.0}
POLICIES = ("static", "adaptive")


def policy_yaml(name: str, verifier_floor: float | None = None) -> dict[str, Any]:
    """The shipped policy with compressed TTLs; ``static`` follows the load but adapts nothing,
    ``adaptive`` is the shipped load policy with a day (compressed) of stale grace; a
    ``verifier_floor`` replaces every non-sensitive category's (the curve)."""
    import yaml

    from litellm_semcache.config import BUILTIN_DEFAULTS

    policy = yaml.safe_load(BUILTIN_DEFAULTS.read_text())
    load = policy["load_policy"]
    # A TTFT target (1 s; idle, the tiny model answers in ~50 ms): on two shared cores much of
    # a burst queues in front of vLLM's scheduler, where its queue gauge cannot see it.
    load.update(enabled=True, scrape_interval_seconds=0.5, ttft_target_seconds=1.0,
                stale_min_ttl_seconds=max(1, 3600 // COMPRESSION))
    if name == "static":
        load.update(relax=0.0, verifier_relax=0.0, ttl_stretch=1.0, stale_grace_seconds=0)
    else:
        load.update(stale_grace_seconds=86400 // COMPRESSION)
    for category in policy["categories"].values():
        category["store_length_limited"] = True  # the tiny random model never ends by itself
        category["ttl_seconds"] = max(1, category["ttl_seconds"] // COMPRESSION)
        if "ttl_cap" in category:
            category["ttl_cap"] = max(category["ttl_seconds"], category["ttl_cap"] // COMPRESSION)
        if verifier_floor is not None and not category.get("sensitive"):
            category["verifier_floor"] = min(verifier_floor, category["verifier_threshold"])
    # vLLM runs on the proxy's own CPUs here: a burst slows lookups past the 250 ms default
    # deadline, and those fail-open misses would blur both policies alike.
    policy["lookup_deadline_ms"] = 5000
    return policy


# ---------------------------------------------------------------------------- the summary


def summarise(workload: Workload, outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """Per policy: traffic to the model (bursts / overall), hits, false hits, latency.
    ``outcomes[i]`` belongs to ``workload.requests[i]``: ``hit``, ``source`` (the prompt key
    whose answer was served), ``stale``, ``relaxed``, ``ms``, ``error``."""
    risky = load_workload.at_risk(workload)
    rows = list(zip(workload.requests, outcomes, risky))
    burst = [(r, o) for r, o, _ in rows if workload.phase_at(r.at) == "burst"]
    labelled = [(r, o, risk) for r, o, risk in rows if r.labelled]
    false = [(r, o) for r, o, _ in labelled if o["hit"] and _wrong(workload, r, o)]
    latencies = sorted(o["ms"] for o in outcomes if o.get("ms") is not None)
    burst_ms = sorted(o["ms"] for _, o in burst if o.get("ms") is not None)
    return {
        "requests": len(rows),
        "reached_model": sum(not o["hit"] for o in outcomes),
        "burst_requests": len(burst),
        "burst_reached_model": sum(not o["hit"] for _, o in burst),
        "hits": sum(o["hit"] for o in outcomes),
        "stale_hits": sum(bool(o.get("stale")) for o in outcomes),
        "relaxed_hits": sum(bool(o.get("relaxed")) for o in outcomes),
        "errors": sum(bool(o.get("error")) for o in outcomes),
        "labelled_requests": len(labelled),
        "labelled_hit_rate": _rate(sum(o["hit"] for _, o, _ in labelled), len(labelled)),
        "at_risk_requests": sum(risk for *_, risk in labelled),
        "false_hits": len(false),
        "false_hit_rate": _rate(len(false), len(labelled)),
        "false_hits_at_risk": sum(o["hit"] and _wrong(workload, r, o) for r, o, risk in labelled
                                  if risk),
        "unresolved_hits": sum(o["hit"] and o["source"] is None for o in outcomes),
        "false_hit_examples": [{"asked": r.key[:120], "served": str(o["source"])[:120]}
                               for r, o in false[:5]],
        "overloaded_lookups": sum(o.get("load") == "overloaded" for o in outcomes),
        "p50_ms": _quantile(latencies, 0.5), "p95_ms": _quantile(latencies, 0.95),
        "burst_p50_ms": _quantile(burst_ms, 0.5), "burst_p95_ms": _quantile(burst_ms, 0.95),
    }


def _wrong(workload: Workload, request: Request, outcome: dict[str, Any]) -> bool:
    """A labelled request served an answer stored for a prompt of another answer class (an
    answer stored for an unlabelled prompt counts as wrong too; one whose prompt is unknown
    is counted apart, as unresolved)."""
    source = outcome["source"]
    return source is not None and workload.classes.get(source) != request.answer_class


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(q * len(values)))], 1) if q != 0.5 \
        else round(statistics.median(values), 1)


def compare(static: dict[str, Any], adaptive: dict[str, Any]) -> dict[str, Any]:
    def cut(key: str) -> float:
        return round(1 - adaptive[key] / max(static[key], 1), 4)

    return {"burst_traffic_cut": cut("burst_reached_model"), "traffic_cut": cut("reached_model"),
            "false_hit_rate_change_points": round(
                100 * ((adaptive["false_hit_rate"] or 0) - (static["false_hit_rate"] or 0)), 2),
            "burst_p95_change": round(adaptive["burst_p95_ms"] / static["burst_p95_ms"] - 1, 4)
            if static["burst_p95_ms"] and adaptive["burst_p95_ms"] else None}


# ---------------------------------------------------------------------------- live


def run_live(workload: Workload, workdir: Path) -> dict[str, Any]:
    """Real vLLM + real LiteLLM proxy with the cache: static, then adaptive."""
    from harness import free_port, vllm_server

    # Both signals: the plugin pushes from inside vLLM (UDP to the proxy of the policy being
    # replayed; a free TCP port is free enough here), the proxy also scrapes /metrics.
    push = f"127.0.0.1:{free_port()}"
    env = {"SEMCACHE_VLLM_PUSH": push, "SEMCACHE_VLLM_DEPLOYMENT": DEPLOYMENT}
    results: dict[str, Any] = {"mode": "live (vLLM CPU + LiteLLM proxy)"}
    # vLLM at full priority on every core, as the recorded results were measured
    with vllm_server(workdir / "vllm", env=env, extra_args=VLLM_ARGS, yield_cpus=False) as vllm:
        for name in POLICIES:
            print(f"load bench: {name} policy, {len(workload.requests)} requests ...", flush=True)
            results[name] = _live_policy(name, workload, vllm, workdir / name, push)
    return results


def _live_policy(name: str, workload: Workload, vllm: Any, workdir: Path,
                 push: str) -> dict[str, Any]:
    import yaml

    from harness import litellm_proxy, proxy_config_for, tenants

    workdir.mkdir(parents=True, exist_ok=True)
    policy = policy_yaml(name)
    policy["store"] = {"path": str(workdir / "store")}
    policy["load_policy"]["push_listen"] = push
    (workdir / "semcache.yaml").write_text(yaml.safe_dump(policy))
    config = proxy_config_for(vllm, DEPLOYMENT, f"sk-bench-{os.urandom(8).hex()}")
    shutil.copy(Path(tenants.__file__), workdir / "proxy_auth.py")  # two tenants, two scopes
    config["general_settings"]["custom_auth"] = "proxy_auth.user_api_key_auth"
    keys = (tenants.KEY_A, tenants.KEY_B)
    env = {"SEMCACHE_CONFIG": str(workdir / "semcache.yaml"), "SEMCACHE_LOG_LEVEL": "warning"}
    with litellm_proxy(config, workdir, env) as proxy:
        for key in keys:  # the first call attaches the load scraper
            _ask(proxy.base_url, key, f"warm-up {name} {key[-4:]}")
        time.sleep(1.5)
        before = _vllm_metrics(vllm.base_url)
        timeline: list[dict[str, float]] = []
        fillers = _Counter()
        outcomes = _replay(workload, lambda r: _probe(proxy.base_url, keys[r.tenant], r),
                           lambda phase: _flood(vllm, phase, fillers), vllm, timeline)
        after = _vllm_metrics(vllm.base_url)
    _resolve_sources(outcomes)
    summary = summarise(workload, outcomes)
    at_vllm = after["requests"] - before["requests"] - fillers.value
    summary.update(fillers=fillers.value, requests_counted_by_vllm=int(at_vllm),
                   load_headers={state: sum(o.get("load") == state for o in outcomes)
                                 for state in ("normal", "overloaded", "unknown", None)},
                   timeline=timeline,
                   reached=[(r.at, not o["hit"]) for r, o in zip(workload.requests, outcomes)])
    return summary


def _replay(workload: Workload, probe: Any, flood: Any, vllm: Any,
            timeline: list[dict[str, float]]) -> list[dict[str, Any]]:
    """Open loop: each request leaves at its time, whatever the earlier ones are doing."""
    done = threading.Event()
    started = time.monotonic()
    sampler = threading.Thread(target=_sample, args=(vllm.base_url, started, done, timeline),
                               daemon=True)
    sampler.start()
    floods = []
    for phase in workload.phases:
        if phase.name == "burst":
            thread = threading.Thread(target=_at, args=(started, phase.start, flood, phase),
                                      daemon=True)
            thread.start()
            floods.append(thread)
    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        futures = [pool.submit(_at, started, request.at, probe, request)
                   for request in workload.requests]
        outcomes = [future.result() for future in futures]
    for thread in floods:
        thread.join()
    done.set()
    sampler.join()
    return outcomes


def _at(started: float, offset: float, function: Any, argument: Any) -> Any:
    time.sleep(max(0.0, started + offset - time.monotonic()))
    return function(argument)


class _Counter:
    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self.value += 1


def _flood(vllm: Any, phase: load_workload.Phase, count: _Counter) -> None:
    """Other clients' long requests, straight to vLLM: a wave of ``FILLERS`` at once every
    ``WAVE_SECONDS`` until the burst ends. Waves, not a steady stream: on two shared cores a
    steady stream queues in front of vLLM's API server, where its own gauges cannot see it;
    a wave lands in its scheduler's queue at once."""
    words = ("hello", "how", "are", "you", "today", "tell", "me", "a", "joke", "please", "about",
             "the", "sea", "and", "sky")

    def one(seed: int) -> None:  # a prompt of its own: vLLM's prefix cache would share one
        prompt = " ".join(random.Random(seed).choices(words, k=80))
        body = json.dumps({"model": vllm.served_name, "max_tokens": FILLER_TOKENS,
                           "ignore_eos": True,
                           "messages": [{"role": "user", "content": prompt}]}).encode()
        request = urllib.request.Request(f"{vllm.base_url}/v1/chat/completions", body,
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=300) as reply:
            reply.read()
        count.add()

    waves = max(1, int((phase.end - phase.start) // WAVE_SECONDS))
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(4 * FILLERS) as pool:
        futures = []
        for wave in range(waves):
            time.sleep(max(0.0, started + wave * WAVE_SECONDS - time.monotonic()))
            futures += [pool.submit(one, hash((phase.start, wave, i))) for i in range(FILLERS)]
        for future in futures:
            future.exception()  # a filler that failed is only not counted


def _probe(base_url: str, key: str, request: Request) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        headers, content = _ask(base_url, key, request.prompt)
    except Exception as error:  # noqa: BLE001 - a failed request is counted, not fatal
        return {"hit": False, "error": repr(error)[:200], "source": None}
    return {"hit": headers.get("x-semcache") == "hit", "answer": content, "key": request.key,
            "score": headers.get("x-semcache-load-score"),
            "stale": headers.get("x-semcache-stale") == "true",
            "relaxed": headers.get("x-semcache-relaxed") == "true",
            "load": headers.get("x-semcache-load"), "reason": headers.get("x-semcache-reason"),
            "ms": (time.perf_counter() - started) * 1000}


def _resolve_sources(outcomes: list[dict[str, Any]]) -> None:
    """The prompt whose answer a hit served: the answer's completion id names the request
    that reached the model for it."""
    produced = {o["answer"]: o["key"] for o in outcomes if not o["hit"] and "answer" in o}
    for outcome in outcomes:
        answer = outcome.pop("answer", None)
        outcome["source"] = produced.get(answer) if outcome["hit"] else outcome.get("key")


def _ask(base_url: str, key: str, prompt: Any) -> tuple[dict[str, str], str]:
    messages = prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
    body = {"model": "tiny", "messages": messages, "max_tokens": PROBE_TOKENS}
    request = urllib.request.Request(f"{base_url}/v1/chat/completions", json.dumps(body).encode(),
                                     {"Content-Type": "application/json",
                                      "Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=300) as reply:
        answer = json.loads(reply.read())
        headers = {k.lower(): v for k, v in reply.headers.items()}
    # vLLM's completion id is unique per request, and a cached answer keeps it
    return headers, f"{answer.get('id')}|{answer['choices'][0]['message']['content']}"


def _vllm_metrics(base_url: str) -> dict[str, float]:
    """Queue, running, KV usage and the finished-request count from vLLM's /metrics."""
    values = {"waiting": 0.0, "running": 0.0, "kv_usage": 0.0, "requests": 0.0}
    names = {"vllm:num_requests_waiting{": "waiting", "vllm:num_requests_running{": "running",
             "vllm:kv_cache_usage_perc{": "kv_usage", "vllm:request_success_total{": "requests"}
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=10) as reply:
        for line in reply.read().decode().splitlines():
            for prefix, name in names.items():
                if line.startswith(prefix):
                    values[name] += float(line.rsplit(" ", 1)[1])
    return values


def _sample(base_url: str, started: float, done: threading.Event,
            timeline: list[dict[str, float]]) -> None:
    while not done.wait(0.5):
        try:
            sample = _vllm_metrics(base_url)
        except OSError:
            continue
        timeline.append({"t": round(time.monotonic() - started, 2), "waiting": sample["waiting"],
                         "running": sample["running"], "kv_usage": round(sample["kv_usage"], 3)})


# ---------------------------------------------------------------------------- entry


def run(smoke: bool, workdir: Path | None = None) -> dict[str, Any]:
    from bench import load_curve
    from harness import vllm_missing_reason

    workload = load_workload.build(**(SMOKE_SHAPE if smoke else SHAPE), tail=not smoke)
    shape = {**(SMOKE_SHAPE if smoke else SHAPE), "requests": len(workload.requests),
             "topics": workload.topics, "compression": COMPRESSION,
             "tail_requests": sum(not r.labelled for r in workload.requests),
             "load_average_start": os.getloadavg()[0]}
    results: dict[str, Any] = {"shape": shape, "phases": [vars(p) for p in workload.phases]}
    missing = None if smoke else vllm_missing_reason()
    if smoke or missing:
        results["mode"] = "in-process only" + (f" ({missing})" if missing else "")
    else:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        results.update(run_live(workload, workdir or Path(tempfile.mkdtemp(prefix="semcache-load-"))))
        results["comparison"] = compare(results["static"], results["adaptive"])
    results["curve"] = load_curve.sweep(workload)
    shape["load_average_end"] = os.getloadavg()[0]
    return results
