"""kill -9 of a writer process in the middle of a write burst, in diskcache and Redis mode: after
the restart every acknowledged entry is found, and nothing corrupt or half-written is served."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from burst_writer import answer, prompt
from helpers import HIT, MISS
from litellm_semcache.store import Stored
from litellm_semcache.engine import SemanticCache
from litellm_semcache.config import BUILTIN_DEFAULTS, load_settings

TESTS = Path(__file__).resolve().parent
KILL_AFTER = 25  # acknowledged writes before the kill
WRITES = 400  # far more than it can finish before the kill


def settings_for(store: dict) -> dict:
    data = load_settings(BUILTIN_DEFAULTS).model_dump(mode="json")
    data["store"] = store
    return data


def burst_and_kill(settings: dict) -> tuple[set[int], int]:
    """Run the writer, SIGKILL it after KILL_AFTER acks; return (acked, highest n seen)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])}
    writer = subprocess.Popen([sys.executable, str(TESTS / "burst_writer.py"),
                               json.dumps(settings), str(WRITES)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    acked: set[int] = set()
    deadline = time.monotonic() + 120
    assert writer.stdout is not None
    for line in writer.stdout:
        if line.startswith(b"ack "):
            acked.add(int(line.split()[1]))
        if len(acked) >= KILL_AFTER:
            os.kill(writer.pid, signal.SIGKILL)
            break
        assert time.monotonic() < deadline, "the writer is too slow"
    for line in writer.stdout:  # acks already written before the kill count too
        if line.startswith(b"ack "):
            acked.add(int(line.split()[1]))
    writer.wait(timeout=10)
    assert writer.returncode == -signal.SIGKILL, "the writer finished before it was killed"
    return acked, max(acked)


def check_after_restart(cache: SemanticCache, acked: set[int], highest: int) -> None:
    for n in range(highest + 2):  # +1: the write that was in flight at the kill
        decision = cache.lookup({"model": "gpt-test", "metadata": {"category": "default"},
                                 "messages": [{"role": "user", "content": prompt(n)}]})
        if n in acked:
            assert decision.outcome == HIT, f"acknowledged write {n} was lost"
        else:
            assert decision.outcome == MISS or decision.response == answer(n)
        if decision.outcome == HIT:
            assert decision.response == answer(n)  # never a half-written or foreign answer
    assert all(isinstance(item, Stored) for item in cache.deployment.store.scan()), "corrupt row"


def test_kill9_during_a_diskcache_write_burst(tmp_path, embedder):
    store = {"path": str(tmp_path / "store")}
    acked, highest = burst_and_kill(settings_for(store))
    cache = SemanticCache(load_settings(settings_for(store)), embedder=embedder)
    try:
        check_after_restart(cache, acked, highest)
    finally:
        cache.close()


@pytest.mark.redis
def test_kill9_during_a_redis_write_burst(tmp_path, embedder, redis_server):
    store = {"backend": "redis", "redis_url": redis_server.url, "path": str(tmp_path / "local"),
             "redis_timeout_ms": 1000}
    acked, highest = burst_and_kill(settings_for(store))
    redis_server.kill()  # and Redis itself, for good measure: the append-only file must hold
    redis_server.start()
    cache = SemanticCache(load_settings(settings_for(store)), embedder=embedder)
    try:
        check_after_restart(cache, acked, highest)
    finally:
        cache.close()
