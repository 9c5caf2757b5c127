"""The adaptive load policy: hysteresis, dwell, floors, caps, sensitive categories, stale
signals, per-deployment scope, and its effect on real cache lookups and stores."""

from __future__ import annotations

import time

import numpy as np
import pytest
from helpers import FakeClock, chat, exposition

from litellm_semcache import ConfigError, load_settings
from litellm_semcache.config import CategoryPolicy, LoadDeployment, LoadPolicySettings
from litellm_semcache.load import NORMAL, OFF, OVERLOADED, UNKNOWN
from litellm_semcache.load.adaptive import LoadPolicy, metrics_url_for
from litellm_semcache.integrations.proxy import response_headers
from vllm_hooks import LoadBoard, LoadSnapshot

CHAT = CategoryPolicy(similarity_threshold=0.80, threshold_floor=0.75, ttl_seconds=600, ttl_cap=1000)
STRICT = CategoryPolicy(similarity_threshold=0.96, ttl_seconds=600)  # declares no bounds
SENSITIVE = CategoryPolicy(similarity_threshold=0.96, threshold_floor=0.90, ttl_seconds=600,
                           ttl_cap=6000, sensitive=True)


@pytest.fixture
def tick() -> FakeClock:
    return FakeClock(1000.0)


def make_policy(tick: FakeClock, **overrides) -> LoadPolicy:
    settings = LoadPolicySettings(**{"enabled": True, "smoothing": 1.0, "min_dwell_seconds": 2.0,
                                     "stale_after_seconds": 5.0, **overrides})
    return LoadPolicy(settings, LoadBoard(settings.stale_after_seconds, clock=tick), clock=tick)


def report(policy: LoadPolicy, deployment: str = "vllm-a", *, waiting: float = 0, kv: float = 0.0,
           **fields) -> None:
    policy.board.update(LoadSnapshot(deployment, waiting=waiting, kv_usage=kv,
                                     received_at=policy.board.now(), **fields))


def state(policy: LoadPolicy, deployment: str = "vllm-a") -> str:
    return policy.effective(CHAT, deployment, None).state


def test_hysteresis_enters_high_and_leaves_low(tick):
    policy = make_policy(tick)
    report(policy, kv=0.45)  # score 0.5: normal
    assert state(policy) == NORMAL
    tick.advance(3)
    report(policy, waiting=7.2)  # 0.9 >= enter_at 0.8
    assert state(policy) == OVERLOADED
    tick.advance(3)
    report(policy, waiting=5.2)  # 0.65: between the levels, stays overloaded
    assert state(policy) == OVERLOADED
    tick.advance(3)
    report(policy, waiting=3.6)  # 0.45 < exit_at 0.5
    assert state(policy) == NORMAL
    tick.advance(3)
    report(policy, waiting=5.6)  # 0.7: below enter_at, stays normal
    assert state(policy) == NORMAL


def test_minimum_dwell_holds_each_state(tick):
    policy = make_policy(tick, min_dwell_seconds=5.0)
    report(policy, kv=0.1)
    assert state(policy) == NORMAL
    tick.advance(1)
    report(policy, kv=0.9)
    assert state(policy) == NORMAL  # 1 s in normal: not yet
    tick.advance(4.5)
    report(policy, kv=0.9)
    assert state(policy) == OVERLOADED
    tick.advance(1)
    report(policy, kv=0.0)
    assert state(policy) == OVERLOADED  # a single quiet sample does not flap back
    tick.advance(5)
    report(policy, kv=0.0)
    assert state(policy) == NORMAL


def test_ramp_threshold_floor_and_ttl_cap(tick):
    policy = make_policy(tick, relax=0.2, ttl_stretch=3.0)
    report(policy, waiting=6)  # score 0.75 -> overloaded? no: below enter_at 0.8
    assert policy.effective(CHAT, "vllm-a", None).threshold == 0.80
    tick.advance(3)
    report(policy, waiting=7.2)  # 0.9: ramp (0.9 - 0.5) / 0.5 = 0.8
    half = policy.effective(CHAT, "vllm-a", None)
    assert half.ramp == pytest.approx(0.8) and half.relaxed
    assert half.threshold == 0.75  # 0.80 - 0.2 * 0.8 = 0.64, held at the floor
    assert half.ttl_seconds == 1000  # 600 * (1 + 2 * 0.8) = 1560, held at the cap
    tick.advance(3)
    report(policy, waiting=20)  # far beyond full_at: ramp 1, still within bounds
    full = policy.effective(CHAT, "vllm-a", None)
    assert (full.threshold, full.ttl_seconds, full.ramp) == (0.75, 1000, 1.0)


def test_relaxation_is_proportional_inside_the_bounds(tick):
    policy = make_policy(tick, relax=0.04, ttl_stretch=1.5)
    report(policy, waiting=7.2)  # ramp 0.8
    effective = policy.effective(CHAT, "vllm-a", None)
    assert effective.threshold == pytest.approx(0.80 - 0.04 * 0.8)
    assert effective.ttl_seconds == int(600 * (1 + 0.5 * 0.8))


def test_sensitive_and_unbounded_categories_never_relax(tick):
    policy = make_policy(tick)
    report(policy, waiting=50, kv=1.0)
    for category in (SENSITIVE, STRICT):
        effective = policy.effective(category, "vllm-a", None)
        assert effective.state == OVERLOADED
        assert (effective.threshold, effective.ttl_seconds, effective.relaxed) == (0.96, 600, False)


def test_stale_signals_decay_to_unknown_and_the_static_policy(tick):
    policy = make_policy(tick)
    report(policy, waiting=50)
    assert policy.effective(CHAT, "vllm-a", None).relaxed
    tick.advance(6)  # past stale_after_seconds with no report: exporter dead or unreachable
    effective = policy.effective(CHAT, "vllm-a", None)
    assert (effective.state, effective.threshold, effective.ttl_seconds) == (UNKNOWN, 0.80, 600)
    report(policy, waiting=0)  # back with a normal reading: no leftover overload
    assert state(policy) == NORMAL


def test_only_the_overloaded_deployment_relaxes(tick):
    policy = make_policy(tick)
    policy.add_deployments([LoadDeployment(id="a-id", push_id="vllm-a", model_group="big"),
                            LoadDeployment(id="b-id", push_id="vllm-b", model_group="small")])
    report(policy, "vllm-a", waiting=40)
    report(policy, "vllm-b", waiting=1)
    assert policy.effective(CHAT, "a-id", "big").relaxed
    assert not policy.effective(CHAT, "b-id", "small").relaxed
    assert policy.effective(CHAT, "unknown-deployment", "small").state == UNKNOWN
    # before routing only the group is known: relaxed only if all its deployments are loaded
    assert policy.effective(CHAT, None, "big").relaxed
    assert not policy.effective(CHAT, None, "small").relaxed


def test_ewma_smooths_a_single_spike(tick):
    policy = make_policy(tick, smoothing=0.3)
    report(policy, kv=0.0)
    tick.advance(3)
    report(policy, waiting=16)  # raw 2.0, smoothed 0.6: below enter_at
    assert state(policy) == NORMAL
    assert policy.states()["vllm-a"][1] == pytest.approx(0.6)


def test_score_uses_ttft_and_preemptions_only_when_configured(tick):
    policy = make_policy(tick)
    snapshot = LoadSnapshot("x", ttft_p50=3.0, preemption_rate=10.0)
    assert policy.score(snapshot) == 0.0  # missing queue/KV metrics contribute nothing
    tuned = make_policy(tick, ttft_target_seconds=2.0, preemptions_per_second_full=20.0)
    assert tuned.score(snapshot) == pytest.approx(1.5)


def test_disabled_policy_is_static(tick):
    policy = LoadPolicy(LoadPolicySettings(), LoadBoard(clock=tick), clock=tick)
    report(policy, waiting=100)
    effective = policy.effective(CHAT, "vllm-a", None)
    assert (effective.state, effective.threshold) == (OFF, 0.80)


def test_model_list_maps_ids_and_api_bases(tick):
    policy = make_policy(tick)
    added = policy.add_model_list([
        {"model_name": "tiny", "litellm_params": {"model": "hosted_vllm/tiny",
                                                  "api_base": "http://127.0.0.1:8011/v1"},
         "model_info": {"id": "dep-1"}},
        {"model_name": "gpt", "litellm_params": {"model": "openai/gpt-4o"}},  # no api_base
    ])
    assert added == 1
    assert policy.scrape_targets()["dep-1"].url == "http://127.0.0.1:8011/metrics"
    assert policy.scrape_targets()["dep-1"].model_name == "tiny"
    report(policy, "dep-1", waiting=40)
    assert policy.effective(CHAT, "http://127.0.0.1:8011", "tiny").relaxed
    assert policy.effective(CHAT, "dep-1", "tiny").relaxed
    assert metrics_url_for("https://h.example/v1/") == "https://h.example/metrics"


def test_config_validation_names_the_key():
    with pytest.raises(ConfigError, match="load_policy: .*exit_at < enter_at"):
        load_settings({"load_policy": {"enter_at": 0.4, "exit_at": 0.6}})
    with pytest.raises(ConfigError, match=r"load_policy.relaxx: unknown key \(did you mean 'relax'"):
        load_settings({"load_policy": {"relaxx": 0.1}})
    shipped = load_settings(None)
    assert shipped.load_policy.enabled is False and shipped.load_policy.relax == 0.05


# ---------------------------------------------------------------------------- with the cache


def similarity(embedder, a: str, b: str) -> float:
    va, vb = embedder.embed_one(a), embedder.embed_one(b)
    return float(np.dot(va, vb) / (np.linalg.norm(va) * np.linalg.norm(vb)))


def test_cache_serves_relaxed_hits_only_for_the_overloaded_deployment(make_cache, embedder):
    stored, asked = "Tell me a funny joke about cats", "Do you know any good jokes about kittens?"
    sim = similarity(embedder, stored, asked)
    base = round(sim + 0.02, 4)
    cache = make_cache(
        categories={"chat": {"similarity_threshold": base, "threshold_floor": round(sim - 0.02, 4),
                             "ttl_seconds": 600, "ttl_cap": 1200, "guard": False}},
        load_policy={"enabled": True, "relax": 0.05, "ttl_stretch": 2.0, "min_dwell_seconds": 0,
                     "smoothing": 1.0})

    def ask(prompt: str, deployment: str):
        return chat(prompt, metadata={"semcache_category": "chat", "model_group": "tiny"},
                    model_info={"id": deployment}, model="tiny")

    assert cache.store(ask(stored, "busy"), {"answer": 1}).ttl_seconds == 600
    normal = cache.lookup(ask(asked, "busy"))
    assert (normal.outcome, normal.reason, normal.load_state) == ("miss", "below_threshold", "unknown")

    cache.load.board.update(LoadSnapshot("busy", waiting=30, kv_usage=1.0))
    cache.load.board.update(LoadSnapshot("calm", waiting=0, kv_usage=0.1))
    relaxed = cache.lookup(ask(asked, "busy"))
    assert relaxed.outcome == "hit" and relaxed.relaxed
    assert relaxed.load_state == "overloaded" and relaxed.threshold < base
    assert cache.stats_snapshot()["chat"]["relaxed_hits"] == 1
    calm = cache.lookup(ask(asked, "calm"))
    assert (calm.outcome, calm.load_state, calm.threshold) == ("miss", "normal", base)
    exact = cache.lookup(ask(stored, "busy"))  # the fast path records the policy in force too
    assert (exact.outcome, exact.reason, exact.load_state) == ("hit", "exact", "overloaded")
    assert exact.threshold < base and not exact.relaxed
    # answers stored while the model is overloaded live longer, up to the cap
    assert cache.store(ask("What is your favourite colour?", "busy"), {"a": 2}).ttl_seconds == 1200
    assert cache.store(ask("What is your favourite song?", "calm"), {"a": 3}).ttl_seconds == 600

    headers = response_headers({"metadata": {"semcache": relaxed.as_dict()}},
                               type("R", (), {"_hidden_params": {"cache_hit": True}})())
    assert headers["x-semcache-load"] == "overloaded" and headers["x-semcache-relaxed"] == "true"
    assert float(headers["x-semcache-load-score"]) > 1

    text = exposition(cache)
    assert 'semcache_overloaded{deployment="busy"} 1.0' in text
    assert 'semcache_overloaded{deployment="calm"} 0.0' in text
    assert 'semcache_relaxed_hits_total{category="chat"} 1.0' in text


def test_cache_falls_back_when_the_signal_goes_stale(make_cache, embedder):
    cache = make_cache(load_policy={"enabled": True, "stale_after_seconds": 0.2})
    cache.load.board.update(LoadSnapshot("busy", waiting=30))
    request = chat("hello there", metadata={"semcache_category": "chat"}, model_info={"id": "busy"})
    assert cache.lookup(request).load_state == "overloaded"
    time.sleep(0.3)
    assert cache.lookup(request).load_state == "unknown"
