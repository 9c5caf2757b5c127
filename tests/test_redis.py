"""Several cache replicas over one real redis-server: shared documents, absolute TTL, global
quotas, convergence through the change stream, Redis outages, and no unpickling."""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import pytest
import redis
from helpers import FakeClock, chat, expected_for_reader, interleave
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import HIT, MISS
from litellm_semcache.config import ConfigError, load_settings
from litellm_semcache.store.redis_layout import doc_pattern, keys_for

pytestmark = pytest.mark.redis
PROMPTS = ["Tell me a joke", "How do I reverse a list in Python?", "What is a normal blood pressure?",
           "hi, how are you today?", "How do I configure webhooks?"]


@pytest.fixture
def clock() -> FakeClock:
    """Near the real time: Redis expires documents by its own clock."""
    return FakeClock(time.time())


@pytest.fixture
def replica(make_cache, redis_server):
    def build(**overrides):
        # 1 s: appendfsync always on a loaded 2-core CI box can take a few hundred ms
        store = {"backend": "redis", "redis_url": redis_server.url, "redis_timeout_ms": 1000,
                 **overrides.pop("store", {})}
        return make_cache(store=store, **overrides)
    return build


def wait_until(condition, timeout: float = 5.0) -> float:
    """Seconds until ``condition()`` held; fails after ``timeout``."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, "condition never held"
        time.sleep(0.002)
    return time.monotonic() - started


def sample(cache, name: str, labels: dict[str, str]) -> float | None:
    """One value of the cache's Prometheus exposition."""
    return cache.recorder.registry.get_sample_value(name, labels)


def raw_redis(server) -> redis.Redis:
    return redis.Redis.from_url(server.url)


def test_an_entry_stored_through_one_replica_is_served_by_another(replica):
    a, b = replica(), replica()
    a.store(chat("hi, how are you today?"), {"answer": "fine"})

    waited = wait_until(lambda: len(b) == 1)
    decision = b.lookup(chat("hello, how are you doing?"))

    assert decision.outcome == HIT and decision.response == {"answer": "fine"}
    assert waited < 1.0


def test_a_late_replica_rebuilds_from_redis_then_follows_the_stream(replica):
    a = replica()
    for prompt in PROMPTS[:3]:
        a.store(chat(prompt), {"answer": prompt})
    late = replica()
    assert len(late) == 3  # from the scan, before any event
    a.store(chat(PROMPTS[3]), {"answer": PROMPTS[3]})
    wait_until(lambda: len(late) == 4)
    assert late.lookup(chat(PROMPTS[3])).response == {"answer": PROMPTS[3]}


def test_deletes_and_flushes_reach_every_replica(replica):
    a, b = replica(), replica()
    for prompt in PROMPTS:
        a.store(chat(prompt), {"answer": prompt})
    wait_until(lambda: len(b) == len(PROMPTS))

    b.flush()

    wait_until(lambda: len(a) == 0)
    assert a.lookup(chat(PROMPTS[0])).outcome == MISS


def test_redis_ttl_is_the_absolute_category_ttl_and_a_hit_never_extends_it(replica, redis_server):
    a = replica(categories={"chat": {"ttl_seconds": 120, "ttl_cap": 120}})
    decision = a.store(chat("hi, how are you today?"), {"answer": "fine"})
    document = a.deployment.store.get(decision.entry_id)
    server = raw_redis(redis_server)
    key = keys_for("semcache:", decision.category).doc(decision.entry_id)
    before = server.execute_command("PEXPIRETIME", key)
    assert a.lookup(chat("hi, how are you today?")).outcome == HIT

    assert document.expires_at - document.created_at == 120
    assert before == int(document.expires_at * 1000)  # Redis expires it with the entry
    assert server.execute_command("PEXPIRETIME", key) == before  # the hit did not re-arm it


def test_quota_is_global_across_replicas_and_evicts_the_oldest(replica, redis_server, clock):
    quota = {"categories": {"chat": {"max_entries": 3}}}
    a, b = replica(**quota), replica(**quota)
    prompts = ["Tell me a joke", "Good morning!", "Can you recommend a good book?",
               "What should I cook for dinner tonight?", "I'm bored, what can we talk about?"]
    for position, prompt in enumerate(prompts):
        (a if position % 2 else b).store(chat(prompt, metadata={"category": "chat"}),
                                         {"answer": prompt})
        clock.advance(1)

    server = raw_redis(redis_server)
    assert server.zcard(keys_for("semcache:", "chat").quota) == 3
    assert len(list(server.scan_iter(doc_pattern("semcache:")))) == 3
    wait_until(lambda: len(a) == len(b) == 3)
    for replica_ in (a, b):
        assert replica_.lookup(chat(prompts[0], metadata={"category": "chat"})).outcome == MISS
        assert replica_.lookup(chat(prompts[-1], metadata={"category": "chat"})).outcome == HIT
    assert a.stats_snapshot()["chat"]["evictions"] + b.stats_snapshot()["chat"]["evictions"] == 2


def test_a_pickled_document_in_redis_is_never_unpickled(replica, redis_server, tmp_path):
    a = replica()
    decision = a.store(chat("Tell me a joke"), {"answer": "ok"})
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (Path.touch, (marker,))

    raw_redis(redis_server).set(keys_for("semcache:", decision.category).doc(decision.entry_id),
                                pickle.dumps(Exploit()))

    assert a.lookup(chat("Tell me a joke")).outcome == MISS
    assert len(a) == 0  # the undecodable document was dropped like a missing one
    assert replica().lookup(chat("Tell me a joke")).outcome == MISS  # rebuild: skipped as stale
    assert not marker.exists()
    # not a document (no checksum): a miss, and the entry is dropped at once
    assert a.recorder.registry.get_sample_value("semcache_store_faults_total",
                                                {"fault": "document_corrupt"}) == 1


def test_redis_killed_mid_run_then_restarted_fails_open_and_loses_nothing(replica, redis_server):
    a, b = replica(), replica()
    for prompt in PROMPTS[:3]:
        a.store(chat(prompt), {"answer": prompt})
    wait_until(lambda: len(b) == 3)

    redis_server.kill()  # SIGKILL: only the append-only file survives
    outage = [a.lookup(chat(prompt)) for prompt in PROMPTS] + [
        a.store(chat("What is the capital of France?"), {"answer": "Paris"})]
    assert all(d.outcome in ("miss", "bypass") for d in outage)  # answered, never raised
    assert a.stats_snapshot()["uncategorised"]["fail_opens"] >= 1
    assert a.deployment.store.breaker.opened >= 1
    breaker = {"breaker": f"redis {a.deployment.store.address}"}
    assert sample(a, "semcache_breaker_opened_total", breaker) >= 1
    assert sample(a, "semcache_breaker_state", {**breaker, "state": "closed"}) == 0.0

    redis_server.start()
    wait_until(lambda: a.lookup(chat(PROMPTS[0])).outcome == HIT, timeout=10)
    for prompt in PROMPTS[:3]:  # committed before the stop: still there
        assert a.lookup(chat(prompt)).response == {"answer": prompt}
    a.store(chat(PROMPTS[4]), {"answer": PROMPTS[4]})  # the follower of b resumed
    wait_until(lambda: b.lookup(chat(PROMPTS[4])).outcome == HIT, timeout=10)


def test_a_replica_started_while_redis_is_down_catches_up_when_it_is_back(replica, redis_server):
    a = replica()
    a.store(chat(PROMPTS[0]), {"answer": PROMPTS[0]})
    redis_server.kill()
    started = time.monotonic()
    b = replica()  # must not fail: starts empty
    assert time.monotonic() - started < 5
    missed = b.lookup(chat(PROMPTS[0]))
    assert missed.outcome == MISS
    category = missed.category
    redis_server.start()
    # The counter first: the follower bumps it once resync() has filled the index, so polling
    # the index first could read the counter in between.
    wait_until(lambda: sample(b, "semcache_follower_resyncs_total", {"stream": category}) == 1,
               timeout=10)
    wait_until(lambda: b.lookup(chat(PROMPTS[0])).outcome == HIT)  # the breaker's probe
    assert sample(b, "semcache_follower_resyncs_total", {"stream": category}) == 1  # only once
    assert sample(b, "semcache_follower_lag_entries", {"stream": category}) == 0
    assert sample(b, "semcache_follower_lag_seconds", {"stream": category}) == 0
    assert sample(b, "semcache_breaker_state", {"breaker": "embedder", "state": "closed"}) == 1


def test_bad_redis_settings_are_config_errors_that_hide_the_password():
    with pytest.raises(ConfigError) as error:
        load_settings({"store": {"backend": "redis", "redis_url": "http://user:s3cret@host/0"}})
    assert "store.redis_url" in str(error.value) and "s3cret" not in str(error.value)
    with pytest.raises(ConfigError, match="store.backend"):
        load_settings({"store": {"backend": "redis-cluster"}})
    with pytest.raises(ConfigError, match="store.redis_timeout_ms"):
        load_settings({"store": {"backend": "redis", "redis_timeout_ms": 0}})


def test_tenant_isolation_holds_on_redis(replica):
    cache = replica()
    tenants = st.sampled_from(["key-a", "key-b", "key-c"])

    field = "user_api_key_hash"

    @settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(others=st.lists(st.tuples(tenants, st.sampled_from(PROMPTS)), max_size=5),
           reader=tenants, asked=st.sampled_from(PROMPTS),
           own=st.lists(st.sampled_from(PROMPTS), max_size=2), position=st.integers(0, 5))
    def check(others, reader, asked, own, position):
        cache.flush()
        writes = interleave([(t, field, p) for t, p in others if t != reader],
                            [(reader, field, prompt) for prompt in own], position)
        for number, (tenant, _, prompt) in enumerate(writes):
            cache.store(chat(prompt, metadata={field: tenant}),
                        {"owner": [tenant, field], "n": number})
        decision = cache.lookup(chat(asked, metadata={field: reader}))
        expected_for_reader(writes, (reader, field), asked).check(decision)

    check()


def test_a_slow_redis_is_a_miss_within_the_operation_deadline(replica, redis_server):
    a = replica(store={"redis_timeout_ms": 200})
    a.store(chat("Tell me a joke"), {"answer": "ok"})
    raw_redis(redis_server).execute_command("CLIENT", "PAUSE", "3000", "ALL")  # Redis hangs

    started = time.monotonic()
    decision = a.lookup(chat("Tell me a joke"))
    elapsed = time.monotonic() - started

    assert decision.outcome == MISS and decision.reason == "fail_open"
    assert elapsed < 1.5  # the 200 ms socket timeout (plus load), not the 3 s pause
    time.sleep(max(0.0, 3.1 - elapsed))
    wait_until(lambda: a.lookup(chat("Tell me a joke")).outcome == HIT, timeout=5)


def test_an_entry_rewritten_in_another_category_leaves_the_old_quota(replica, redis_server, clock):
    a = replica(categories={"chat": {"max_entries": 2}})
    prompt = "Tell me something useful about owls"
    a.store(chat(prompt, metadata={"semcache_category": "chat"}), {"v": 1})
    clock.advance(1)
    a.store(chat(prompt, metadata={"semcache_category": "code"}), {"v": 2})  # same id, new category
    for other in ("Good morning!", "Tell me a joke"):
        clock.advance(1)
        a.store(chat(other, metadata={"semcache_category": "chat"}), {"v": other})

    assert raw_redis(redis_server).zcard(keys_for("semcache:", "chat").quota) == 2
    assert a.lookup(chat(prompt, metadata={"semcache_category": "code"})).response == {"v": 2}


def test_an_index_entry_whose_document_is_gone_is_a_miss(replica, redis_server):
    a, b = replica(), replica()
    decision = a.store(chat("Tell me a joke"), {"answer": "ok"})
    wait_until(lambda: len(b) == 1)
    raw_redis(redis_server).delete(keys_for("semcache:", decision.category).doc(decision.entry_id))

    missed = b.lookup(chat("Tell me a joke"))

    assert missed.outcome == MISS and missed.reason in ("document_missing", "no_candidate")
    assert len(b) == 0  # dropped, never served


def test_a_follower_whose_position_was_trimmed_resyncs_from_the_store(replica):
    from litellm_semcache.store.replication import Follower

    a = replica(store={"redis_stream_max_len": 100})
    b = replica(store={"redis_stream_max_len": 100})
    b.deployment.followers["chat"].stop()  # b falls far behind on chat
    position = b.deployment.followers["chat"].position
    prompts = [f"burst question {n}: what is {n} plus {n + 7}?" for n in range(300)]
    for prompt in prompts:
        a.store(chat(prompt, metadata={"semcache_category": "chat"}), {"p": prompt})

    follower = Follower(b.deployment.replica, b.deployment.store, "chat", position,
                        block_ms=100).start()
    try:
        wait_until(lambda: follower.resyncs == 1, timeout=20)  # bumped after resync() returned
        assert len(b) == len(prompts)
        assert b.lookup(chat(prompts[0], metadata={"semcache_category": "chat"})).response == {
            "p": prompts[0]}
    finally:
        follower.stop()


def test_a_follower_reports_its_lag_while_it_works_through_a_backlog(replica):
    """Lag in entries and seconds while a stopped follower catches up on more than one batch."""
    from litellm_semcache.store.replication import Follower

    a, b = replica(), replica()
    b.deployment.followers["chat"].stop()
    position = b.deployment.followers["chat"].position
    prompts = [f"backlog question {n}: what is {n} minus {n + 2}?" for n in range(700)]
    for prompt in prompts:
        a.store(chat(prompt, metadata={"semcache_category": "chat"}), {"p": prompt})
    time.sleep(0.2)

    seen = []
    follower = Follower(b.deployment.replica, b.deployment.store, "chat", position, block_ms=50)
    original = follower._apply

    def watch(change):
        original(change)
        seen.append((follower.lag_entries, follower.lag_seconds))
    follower._apply = watch
    follower.start()
    try:
        wait_until(lambda: follower.applied == len(prompts), timeout=30)
        wait_until(lambda: follower.lag_entries == 0 and follower.lag_seconds == 0)
    finally:
        follower.stop()
    during_second_batch = seen[500:]
    assert any(entries >= 150 for entries, _ in during_second_batch)  # 700 - 500 still to do
    assert all(seconds > 0.1 for _, seconds in during_second_batch)  # waiting since the write
