"""Cache replicas over a real Redis Cluster (3 masters, 3 replicas of Debian's redis-server
7.0, started here): one hash slot per category, global quotas, convergence through the
per-category streams, and a master failover under load with no wrong answer and no
acknowledged entry lost."""

from __future__ import annotations

import os
import random
import shutil
import threading
import time
import zlib
from pathlib import Path

import pytest
from helpers import HIT, MISS, FakeClock, chat

from litellm_semcache.engine import Outcome
from litellm_semcache.store.redis_layout import keys_for
from litellm_semcache.store.redis_store import RedisStore

pytestmark = pytest.mark.redis_cluster


def _cluster(workdir: Path):
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is missing although CI=true: run scripts/bootstrap-redis")
        pytest.skip("redis-server is not installed (scripts/bootstrap-redis installs it)")
    from harness import RedisClusterNodes

    return RedisClusterNodes(workdir)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with _cluster(tmp_path_factory.mktemp("cluster")) as nodes:
        yield nodes


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(time.time())  # Redis expires documents by its own clock


@pytest.fixture
def replica(make_cache, cluster, request):
    # each test its own keys, the same in every run (str hash() is salted per process: a
    # random prefix put all four categories on one master in about 1 run of 27)
    prefix = f"t{zlib.crc32(request.node.name.encode()) % 10**8}:"

    def build(nodes=None, **overrides):
        store = {"backend": "redis", "redis_url": (nodes or cluster).url, "redis_cluster": True,
                 "redis_timeout_ms": 1000, "redis_prefix": prefix, **overrides.pop("store", {})}
        return make_cache(store=store, **overrides)

    build.prefix = prefix
    return build


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.005)


TAGGED = {category: {"metadata": {"semcache_category": category}}
          for category in ("chat", "code", "docs", "finance")}


def test_each_category_is_one_slot_and_replicas_share_entries(replica, cluster):
    a, b = replica(), replica()
    prompts = {category: f"Tell me one thing about {category} number {n}"
               for n, category in enumerate(TAGGED)}
    for category, prompt in prompts.items():
        assert a.store(chat(prompt, **TAGGED[category]), {"answer": prompt}).outcome == "stored"

    wait_until(lambda: len(b) == len(prompts))
    for category, prompt in prompts.items():
        decision = b.lookup(chat(prompt, **TAGGED[category]))
        assert decision.outcome == HIT and decision.response == {"answer": prompt}
    client = cluster.client()
    for category in TAGGED:
        keys = keys_for(replica.prefix, category)
        category_slots = {client.keyslot(key) for key in (keys.doc("x" * 32), *keys.keys)}
        assert len(category_slots) == 1  # every script of the category runs on one node
    # the categories spread over the masters (deterministic: a fixed prefix, fixed slot ranges)
    shipped = ("chat", "code", "docs", "finance", "medical", "legal", "default")
    assert len({cluster.master_of(keys_for(replica.prefix, c).quota).port for c in shipped}) > 1


def test_quota_is_global_across_replicas_on_the_cluster(replica, clock):
    quota = {"categories": {"chat": {"max_entries": 3}}}
    a, b = replica(**quota), replica(**quota)
    prompts = [f"Give me a fun fact about the number {n * 11}" for n in range(6)]
    for position, prompt in enumerate(prompts):
        (a if position % 2 else b).store(chat(prompt, **TAGGED["chat"]), {"answer": prompt})
        clock.advance(1)

    wait_until(lambda: len(a) == len(b) == 3)
    for cache in (a, b):
        assert cache.lookup(chat(prompts[0], **TAGGED["chat"])).outcome == MISS
        assert cache.lookup(chat(prompts[-1], **TAGGED["chat"])).outcome == HIT


def test_a_replica_restarts_from_its_snapshot_and_the_stream_positions(replica, tmp_path):
    from structlog.testing import capture_logs

    snapshots = {"store": {"snapshot_path": str(tmp_path / "b-snapshot")}}
    a, b = replica(), replica(**snapshots)
    prompts = [f"Summarise chapter {n} of the operations handbook" for n in range(6)]
    for prompt in prompts[:4]:
        a.store(chat(prompt, **TAGGED["docs"]), {"answer": prompt})
    wait_until(lambda: len(b) == 4)
    b.close()  # saves the index and where each stream stood
    for prompt in prompts[4:]:  # while b is down
        a.store(chat(prompt, **TAGGED["docs"]), {"answer": prompt})
    gone = a.lookup(chat(prompts[0], **TAGGED["docs"])).entry_id
    a.deployment.store.delete(gone, category="docs")  # its event waits in the stream for b

    with capture_logs() as events:
        again = replica(**snapshots)

    names = [event["event"] for event in events]
    assert "semcache.snapshot_loaded" in names and "semcache.rebuilt" not in names  # no scan
    wait_until(lambda: len(again) == 5)  # caught up from the saved positions
    assert again.lookup(chat(prompts[0], **TAGGED["docs"])).outcome == MISS
    for prompt in prompts[1:]:
        decision = again.lookup(chat(prompt, **TAGGED["docs"]))
        assert decision.outcome == HIT and decision.response == {"answer": prompt}


def test_a_master_failover_under_load_loses_no_acknowledged_entry_and_serves_no_wrong_answer(
        make_cache, tmp_path):
    with _cluster(tmp_path / "failover") as nodes:
        store = {"backend": "redis", "redis_url": nodes.url, "redis_cluster": True,
                 "redis_timeout_ms": 500, "redis_wait_replicas": 1}
        writer, reader = make_cache(store=store), make_cache(store=store)
        acknowledged: dict[str, dict] = {}
        wrong, raised, stop = [], [], threading.Event()

        def write() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                prompt = f"Failover question {n}: what is {n} times {n + 3}?"
                category = ("chat", "code")[n % 2]
                try:
                    decision = writer.store(chat(prompt, **TAGGED[category]), {"answer": prompt})
                except Exception as exc:  # noqa: BLE001 - the cache must never raise
                    raised.append(exc)
                    continue
                if decision.outcome == Outcome.STORED:
                    acknowledged[prompt] = {"answer": prompt, "category": category,
                                            "id": decision.entry_id}
                time.sleep(0.002)

        def read() -> None:
            rng = random.Random(1)
            while not stop.is_set():
                if not acknowledged:
                    time.sleep(0.01)
                    continue
                prompt = rng.choice(list(acknowledged))
                asked = chat(prompt, **TAGGED[acknowledged[prompt]["category"]])
                for cache in (reader, writer):
                    try:
                        decision = cache.lookup(asked)
                    except Exception as exc:  # noqa: BLE001
                        raised.append(exc)
                        continue
                    if decision.outcome == HIT and decision.response != {"answer": prompt}:
                        wrong.append((prompt, decision.response))

        threads = [threading.Thread(target=write), threading.Thread(target=read)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(1.5)
            before = len(acknowledged)
            master = nodes.master_of(keys_for("semcache:", "chat").quota)
            master.kill()  # SIGKILL: what it did not replicate is gone
            nodes.wait_failover(keys_for("semcache:", "chat").quota, master)
            time.sleep(2.0)  # load continues on the promoted replica
        finally:
            stop.set()
            for thread in threads:
                thread.join(10)

        assert not raised and not wrong
        assert before > 20 and len(acknowledged) > before  # writes went on after the failover
        check = RedisStore(nodes.url, cluster=True, timeout_ms=2000)
        lost = [prompt for prompt, entry in acknowledged.items()
                if check.get(entry["id"], category=entry["category"]) is None]
        assert not lost, f"{len(lost)} of {len(acknowledged)} acknowledged entries lost"
        for prompt, entry in acknowledged.items():  # and the reader converges on all of them
            asked = chat(prompt, **TAGGED[entry["category"]])
            wait_until(lambda asked=asked: reader.lookup(asked).outcome == HIT, timeout=20)
        check.close()
