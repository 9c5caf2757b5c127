"""The real LiteLLM proxy under concurrent clients, with and without the cache, in one run.

For each number of concurrent clients (1, 50, 200 by default) the same request list goes
through a proxy without the cache and a proxy with it (optionally a third: the cache from
another checkout, ``--compare-with PATH``, for before/after figures), one after the other. Each
proxy has its own stand-in upstream (200 ms, in a process of its own so that the load clients do
not share its interpreter) that counts the calls it gets.

The workload is a replay with repeats and paraphrases: ShareGPT first user turns (the prompts
that fit ``max_prompt_chars``, a fresh slice per client count so no level profits from another),
each asked several times in a shuffled order, and for some a paraphrase generated here (a
greeting, a request or thanks around the same text). Clients are closed-loop: each sends its next
request when the previous answer arrived.

Per proxy and client count: throughput, client-side p50/p99, upstream calls against distinct
prompts, hit rate, fail-open share (``deadline``, ``fail_open``, ``overloaded`` misses), errors,
the proxy's CPU seconds per request and its RSS at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import random
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.lookup_cost import percentiles, rss_mb
from bench.proxy_latency import MASTER_KEY
from bench.proxy_latency import _config as proxy_config
from harness import litellm_proxy

ROOT = Path(__file__).resolve().parents[1]
FAIL_OPEN_REASONS = {"deadline", "fail_open", "overloaded"}
_PARAPHRASES = ("Hi! {p}", "Please help me with this: {p}", "{p}\n\nThank you!")
_MAX_PROMPT_CHARS = 8000  # the shipped max_prompt_chars: longer prompts bypass the cache


def prompt_pool(count: int) -> list[str]:
    """``count`` distinct ShareGPT first turns that fit the shipped ``max_prompt_chars``."""
    from bench.replay import first_user_turns

    pool: dict[str, None] = {}
    for text in first_user_turns(count * 2):
        if len(text) <= _MAX_PROMPT_CHARS - 40:  # room for a paraphrase's extra words
            pool[text] = None
    return list(pool)[:count]


def workload(requests: int, bases: list[str], seed: int = 13) -> list[str]:
    """``requests`` prompts over ``bases``, each asked ``requests / len(bases)`` times in a
    shuffled order, a third of the bases once as a paraphrase instead (with bases at 30% of the
    requests: about 60% exact repeats, 10% paraphrases)."""
    rng = random.Random(seed + requests)
    prompts = [bases[n % len(bases)] for n in range(requests)]
    rng.shuffle(prompts)
    paraphrased = {base for base in bases if rng.random() < 1 / 3}
    for position, prompt in enumerate(prompts):
        if prompt in paraphrased:
            paraphrased.discard(prompt)
            prompts[position] = rng.choice(_PARAPHRASES).format(p=prompt)
    return prompts


def _serve_stand_in(latency_ms: float, ready: Any, orders: Any) -> None:
    from litellm_semcache.testing import StandInModel

    with StandInModel(latency_ms=latency_ms) as model:
        ready.send(model.url)
        while orders.recv() == "calls":
            ready.send(model.calls)


@contextlib.contextmanager
def stand_in_process(latency_ms: float) -> Iterator[tuple[str, Any]]:
    """A stand-in upstream in its own process: (url, a function returning its call count)."""
    context = multiprocessing.get_context("spawn")
    answers, replies = context.Pipe()
    orders, commands = context.Pipe()
    process = context.Process(target=_serve_stand_in, args=(latency_ms, replies, orders),
                              daemon=True)
    process.start()
    try:
        url = answers.recv()

        def calls() -> int:
            commands.send("calls")
            return int(answers.recv())

        yield url, calls
    finally:
        commands.send("stop")
        process.join(timeout=10)
        if process.is_alive():
            process.kill()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _drive(base: str, prompts: list[str], clients: int) -> dict[str, Any]:
    """Closed-loop clients: each sends the next prompt of the shared list when it got its
    previous answer."""
    import aiohttp

    queue: asyncio.Queue[str] = asyncio.Queue()
    for prompt in prompts:
        queue.put_nowait(prompt)
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    errors = 0
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def client() -> None:
            nonlocal errors
            while not queue.empty():
                prompt = queue.get_nowait()
                body = {"model": "chat-small", "messages": [{"role": "user", "content": prompt}]}
                started = time.perf_counter()
                try:
                    async with session.post(f"{base}/v1/chat/completions", json=body,
                                            headers=headers) as reply:
                        await reply.read()
                        ok = reply.status == 200
                        outcomes[reply.headers.get("x-semcache", "none")] += 1
                        reasons[reply.headers.get("x-semcache-reason", "none")] += 1
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    ok = False
                latencies.append((time.perf_counter() - started) * 1000)
                errors += not ok

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        wall = time.perf_counter() - started
    return {"wall_s": wall, "latencies": latencies, "outcomes": outcomes, "reasons": reasons,
            "errors": errors}


def _series(proxy: Any, calls: Any, prompts: list[str], clients: int) -> dict[str, Any]:
    before_calls = calls()
    cpu_before = _cpu_seconds(proxy.process.pid)
    driven = asyncio.run(_drive(proxy.base_url, prompts, clients))
    cpu_after, rss = _cpu_seconds(proxy.process.pid), rss_mb(proxy.process.pid)
    n = len(prompts)
    fail_opens = sum(count for reason, count in driven["reasons"].items()
                     if reason in FAIL_OPEN_REASONS)
    return {
        "requests": n, "distinct_prompts": len(set(prompts)),
        "throughput_rps": round(n / driven["wall_s"], 1),
        **{name: round(value, 1) for name, value in percentiles(driven["latencies"]).items()},
        "upstream_calls": calls() - before_calls,
        "hit_rate": round(driven["outcomes"]["hit"] / n, 3),
        "fail_open_share": round(fail_opens / n, 4),
        "errors": driven["errors"],
        "reasons": dict(driven["reasons"].most_common()),
        "proxy_cpu_ms_per_request": round((cpu_after - cpu_before) * 1000 / n, 2),
        "proxy_rss_mb": round(rss),
    }


def run(clients_levels: tuple[int, ...] = (1, 50, 200), upstream_ms: float = 200.0,
        requests_per_client: int = 15, minimum_requests: int = 100,
        compare_with: str | None = None, distinct: float = 0.3) -> dict[str, Any]:
    """Run every client count through each proxy; returns the rows and the settings used."""
    workdir = Path(tempfile.mkdtemp(prefix="semcache-concurrency-"))
    env = {"SEMCACHE_CONFIG": str(ROOT / "config.example.yaml"), "SEMCACHE_LOG_LEVEL": "warning"}
    variants: dict[str, dict[str, str] | None] = {"no_cache": None, "cache": {}}
    if compare_with:
        variants["cache_compared"] = {"PYTHONPATH": str(Path(compare_with).resolve())}
    rows: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        proxies = {}
        for name, extra in variants.items():
            url, calls = stack.enter_context(stand_in_process(upstream_ms))
            proxy_env = None if extra is None else {
                **env, "SEMCACHE_STORE__PATH": str(workdir / name / "store"), **extra}
            proxy = stack.enter_context(litellm_proxy(proxy_config(url, extra is not None),
                                                      workdir / name, proxy_env))
            asyncio.run(_drive(proxy.base_url, [f"warm-up request {n}" for n in range(20)], 4))
            proxies[name] = (proxy, calls)
        sizes = [max(minimum_requests, clients * requests_per_client) for clients in clients_levels]
        pool = prompt_pool(sum(int(size * distinct) + 1 for size in sizes))
        for clients, size in zip(clients_levels, sizes):
            count = int(size * distinct) + 1
            bases, pool = pool[:count], pool[count:]
            prompts = workload(size, bases)  # a fresh slice: no level profits from another
            for name, (proxy, calls) in proxies.items():
                row = {"clients": clients, "proxy": name,
                       **_series(proxy, calls, prompts, clients)}
                rows.append(row)
                print(f"concurrency: {clients} clients, {name}: {row['throughput_rps']} req/s, "
                      f"p99 {row['p99_ms']} ms", flush=True)
    for row in rows:
        plain = next(r for r in rows if r["clients"] == row["clients"] and r["proxy"] == "no_cache")
        row["throughput_vs_no_cache"] = round(row["throughput_rps"] / plain["throughput_rps"], 2)
    return {"upstream_ms": upstream_ms, "compare_with": compare_with, "distinct_bases": distinct,
            "load_average": os.getloadavg(), "rows": rows}


def plot(results: dict[str, Any], path: Path) -> None:
    """Throughput, p99 and upstream calls per distinct prompt against the client count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["rows"]
    names = list(dict.fromkeys(row["proxy"] for row in rows))
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for name in names:
        mine = [row for row in rows if row["proxy"] == name]
        clients = [row["clients"] for row in mine]
        axes[0].plot(clients, [row["throughput_rps"] for row in mine], marker="o", label=name)
        axes[1].plot(clients, [row["p99_ms"] for row in mine], marker="o", label=name)
        axes[2].plot(clients, [row["upstream_calls"] / row["distinct_prompts"] for row in mine],
                     marker="o", label=name)
    for axis, title in zip(axes, ("throughput (req/s)", "client p99 (ms, log)",
                                  "upstream calls per distinct prompt")):
        axis.set_title(title)
        axis.set_xlabel("concurrent clients")
        axis.set_xscale("symlog", linthresh=1)
        axis.legend()
    axes[1].set_yscale("log")
    figure.suptitle(f"LiteLLM proxy, stand-in upstream {results['upstream_ms']:g} ms")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
