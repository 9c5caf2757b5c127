"""Issue 11, findings 5, 7 and 8, through the real LiteLLM proxy: a damaged or read-only store
never keeps the proxy down, a damaged index snapshot is rebuilt (hnswlib's loader would kill
the process), ``size_limit_mb`` holds, and a ``kill -9`` loses at most the answers whose write
had not finished (LiteLLM writes the cache after replying)."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import statistics
import subprocess
import time
from pathlib import Path

import pytest

from harness import free_port, litellm_proxy
from litellm_semcache.store.diskcache_store import DiskcacheStore
from proxy_setup import ROOT, client, metric, proxy_config, wait_for_metric

pytestmark = pytest.mark.e2e
KEY = "sk-tenant-a-0123456789"
SMALL_SHARDS = {"SEMCACHE_INDEX__EXACT_SEARCH_LIMIT": "4", "SEMCACHE_INDEX__INITIAL_CAPACITY": "16"}
CHAT = {"metadata": {"semcache_category": "chat"}}
SEQUENTIAL = 100


def started(upstream, workdir: Path, store: Path, **env: str):
    """(the proxy over ``store``, a context manager; the URL of its cache metrics)."""
    port = free_port()
    settings = {"SEMCACHE_CONFIG": str(ROOT / "config.example.yaml"),
                "SEMCACHE_STORE__PATH": str(store), "SEMCACHE_METRICS_PORT": str(port),
                "UPSTREAM_API_KEY": "sk-upstream", "SEMCACHE_SINGLE_FLIGHT_WAIT_MS": "0", **env}
    workdir.mkdir(parents=True, exist_ok=True)
    return (litellm_proxy(proxy_config(upstream.url, workdir), workdir, settings),
            f"http://127.0.0.1:{port}/metrics")


def ask(base: str, prompt: str, **extra):
    raw = client(base, KEY).chat.completions.with_raw_response.create(
        model="chat-small", messages=[{"role": "user", "content": prompt}], **extra)
    return raw.parse().choices[0].message.content, raw.headers


def _bypasses_and_answers(upstream, workdir: Path, store: Path) -> None:
    manager, metrics = started(upstream, workdir, store)
    with manager as proxy:
        answer, headers = ask(proxy.base_url, "Tell me a joke about broken disks")
        assert answer == "answer to: Tell me a joke about broken disks"
        assert headers["x-semcache"] == "bypass"
        assert headers["x-semcache-reason"] == "store_unavailable"
        assert metric(metrics, "semcache_store_faults_total", fault="store_unavailable") == 1
        assert "semcache.store_unavailable" in proxy.log.read_text()


def test_a_malformed_cache_db_never_keeps_the_proxy_down(upstream, tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    (store / "cache.db").write_bytes(b"SQLite format 3\x00" + b"\x17" * 8192)
    _bypasses_and_answers(upstream, tmp_path / "proxy", store)


def test_a_read_only_store_never_keeps_the_proxy_down(upstream, tmp_path):
    store = tmp_path / "store"
    DiskcacheStore(store).close()
    paths = [str(store), *(str(p) for p in store.iterdir())]
    if subprocess.run(["chattr", "+i", *paths], capture_output=True).returncode != 0:
        if os.geteuid() == 0:
            pytest.skip("root without chattr: a directory cannot be made read-only here")
        for path in paths:
            os.chmod(path, 0o500 if Path(path).is_dir() else 0o400)
    try:
        _bypasses_and_answers(upstream, tmp_path / "proxy", store)
    finally:
        subprocess.run(["chattr", "-i", *paths], capture_output=True)
        for path in paths:
            os.chmod(path, 0o700 if Path(path).is_dir() else 0o600)


def test_a_damaged_index_snapshot_is_rebuilt_and_the_proxy_starts(upstream, tmp_path):
    store = tmp_path / "store"
    prompts = [f"Remind me to water plant number {n} on the balcony" for n in range(12)]
    first, metrics = started(upstream, tmp_path / "first", store, **SMALL_SHARDS)
    with first as proxy:
        for prompt in prompts:
            ask(proxy.base_url, prompt, extra_body=CHAT)
        wait_for_metric(metrics, "semcache_stores_total", 11, category="chat")
    graph = next((store / "index-snapshot").glob("snapshot-*/*.hnsw"))  # saved at the stop
    data = bytearray(graph.read_bytes())
    data[3] ^= 0x5A  # a header byte: hnswlib's loader dies of SIGSEGV on this one
    graph.write_bytes(bytes(data))
    calls = upstream.calls

    second, metrics = started(upstream, tmp_path / "second", store, **SMALL_SHARDS)
    with second as proxy:
        answer, headers = ask(proxy.base_url, prompts[5], extra_body=CHAT)
        faults = metric(metrics, "semcache_store_faults_total", fault="snapshot_corrupt")

    assert headers["x-semcache"] == "hit" and answer == f"answer to: {prompts[5]}"
    assert upstream.calls == calls and faults == 1
    assert "semcache.snapshot_corrupt" in proxy.log.read_text()


def test_the_size_limit_holds(upstream, tmp_path):
    store = tmp_path / "store"
    manager, metrics = started(upstream, tmp_path / "proxy", store,
                               SEMCACHE_STORE__SIZE_LIMIT_MB="1")
    upstream.pad_answers_to = 100_000
    try:
        with manager as proxy:
            for n in range(30):  # 3 MB of answers at a 1 MB limit
                ask(proxy.base_url, f"Tell me fact number {n} about lighthouses", extra_body=CHAT)
            wait_for_metric(metrics, "semcache_stores_total", 29, category="chat")
            evictions = metric(metrics, "semcache_evictions_total", category="chat")
            _, last = ask(proxy.base_url, "Tell me fact number 29 about lighthouses",
                          extra_body=CHAT)
            volume = DiskcacheStore(store).volume()
    finally:
        upstream.pad_answers_to = 0

    assert volume <= 2**20 and evictions > 0
    assert last["x-semcache"] == "hit"  # the newest answers stay


def test_kill_9_loses_only_answers_whose_write_had_not_finished(upstream, tmp_path):
    store = tmp_path / "store"
    first, metrics = started(upstream, tmp_path / "first", store)
    windows, acked, committed = [], [], set()
    with first as proxy:
        for n in range(SEQUENTIAL):  # one at a time: how long after the reply it is stored
            stores = metric(metrics, "semcache_stores_total", category="chat")
            ask(proxy.base_url, f"Tell me fun fact number {n} about owls", extra_body=CHAT)
            replied = time.perf_counter()
            wait_for_metric(metrics, "semcache_stores_total", stores, category="chat")
            windows.append((time.perf_counter() - replied) * 1000)
            committed.add(n)
        # then a burst, killed as soon as the 10th reply arrived
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            burst = {pool.submit(ask, proxy.base_url, f"Tell me fun fact number {n} about owls",
                                 extra_body=CHAT): n for n in range(SEQUENTIAL, SEQUENTIAL + 30)}
            for done in concurrent.futures.as_completed(burst):
                if done.exception() is None:
                    acked.append(burst[done])
                if len(acked) == 10:
                    os.kill(proxy.process.pid, signal.SIGKILL)
                    break
    ordered = sorted(windows)
    print(f"\nreply -> stored: p50 {statistics.median(ordered):.1f} ms, "
          f"p99 {ordered[int(0.99 * (len(ordered) - 1))]:.1f} ms, max {ordered[-1]:.1f} ms "
          f"over {len(ordered)} sequential requests")

    calls = upstream.calls
    second, _ = started(upstream, tmp_path / "second", store)
    with second as proxy:
        served = {n: ask(proxy.base_url, f"Tell me fun fact number {n} about owls",
                         extra_body=CHAT) for n in sorted(committed | set(acked))}
    lost = [n for n in acked if served[n][1]["x-semcache"] != "hit"]
    print(f"burst: {len(acked)} acknowledged before the kill, {len(lost)} not in the cache after it")

    assert all(served[n][1]["x-semcache"] == "hit" for n in committed)  # every finished write
    assert all(answer == f"answer to: Tell me fun fact number {n} about owls"
               for n, (answer, _) in served.items())  # nothing foreign, nothing half-written
    assert upstream.calls == calls + len(lost)
