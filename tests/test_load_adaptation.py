"""Load adaptation beyond the thresholds: the verifier's operating point relaxed under overload,
stale-while-overloaded (only while the routed model is overloaded, never for a sensitive or a
volatile category unless it asks, in both stores), and the break-even auto-bypass with its
sampled lookups and hysteresis."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from helpers import BYPASS, HIT, MISS, FakeClock, chat, exposition

from litellm_semcache import ConfigError, cli, load_settings
from litellm_semcache.config import (BUILTIN_DEFAULTS, AutoBypassSettings, CacheSettings,
                                     CategoryPolicy, LoadPolicySettings)
from litellm_semcache.engine import SemanticCache
from litellm_semcache.engine.break_even import BreakEvenSwitch
from litellm_semcache.engine.decision import Decision, Outcome, Reason
from litellm_semcache.integrations.proxy import response_headers
from litellm_semcache.load import OVERLOADED, stale
from litellm_semcache.load.adaptive import LoadPolicy
from litellm_semcache.observability.stats import CostBook
from vllm_hooks import LoadBoard, LoadSnapshot

CHAT = CategoryPolicy(similarity_threshold=0.55, verifier_threshold=0.6, verifier_floor=0.45,
                      ttl_seconds=600)
MEDICAL = CategoryPolicy(similarity_threshold=0.55, verifier_threshold=0.7, verifier_floor=0.3,
                         ttl_seconds=600, sensitive=True)
LOAD = {"enabled": True, "min_dwell_seconds": 0, "smoothing": 1.0}
HIT_RESPONSE = type("Served", (), {"_hidden_params": {"cache_hit": True}})()


@pytest.fixture
def clock() -> FakeClock:
    """Near the real time: diskcache and Redis expire documents by their own clocks."""
    return FakeClock(time.time())


def ask(prompt: str, deployment: str = "busy", category: str = "chat", **extra) -> dict:
    return chat(prompt, metadata={"semcache_category": category}, model_info={"id": deployment},
                model="tiny", **extra)


def overload(cache: SemanticCache, deployment: str = "busy") -> None:
    cache.load.board.update(LoadSnapshot(deployment, waiting=40, kv_usage=1.0))


def calm(cache: SemanticCache, deployment: str = "busy") -> None:
    cache.load.board.update(LoadSnapshot(deployment, waiting=0, kv_usage=0.1))


# ---------------------------------------------------------------------------- verifier point


def test_overload_lowers_the_verifier_operating_point_only_down_to_its_floor():
    tick = FakeClock(1000.0)
    settings = LoadPolicySettings(**LOAD, verifier_relax=0.35)
    policy = LoadPolicy(settings, LoadBoard(clock=tick), clock=tick)
    policy.board.update(LoadSnapshot("vllm-a", waiting=5.6))  # score 0.7: normal
    assert policy.effective(CHAT, "vllm-a", None).verifier_threshold == 0.6
    policy.board.update(LoadSnapshot("vllm-a", waiting=6.8))  # 0.85: overloaded, ramp 0.7
    relaxed = policy.effective(CHAT, "vllm-a", None)
    assert relaxed.state == OVERLOADED and relaxed.relaxed
    assert relaxed.verifier_threshold == 0.45  # 0.6 - 0.35 * 0.7 = 0.355, held at the floor
    assert policy.effective(MEDICAL, "vllm-a", None).verifier_threshold == 0.7  # sensitive
    unbounded = CHAT.model_copy(update={"verifier_floor": None})
    assert policy.effective(unbounded, "vllm-a", None).verifier_threshold == 0.6


class _PointVerifier:
    """A candidate whose verifier score is 0.5: vetoed at any operating point above it."""

    def veto(self, candidate, policy):
        return "score" if policy.verifier_threshold > 0.5 else None


def _cache_with(tmp_path, embedder, clock, verifier=None, **settings) -> SemanticCache:
    data = load_settings(BUILTIN_DEFAULTS).model_dump(mode="json")
    data.update(settings)
    data["store"] = {"path": str(tmp_path / "store")}
    return SemanticCache(CacheSettings(**data), embedder=embedder, clock=clock, verifier=verifier)


def test_the_relaxed_operating_point_serves_a_hit_only_for_the_overloaded_model(
        tmp_path, embedder, clock):
    cache = _cache_with(tmp_path, embedder, clock, _PointVerifier(), load_policy=LOAD)
    try:
        stored, asked = "Tell me a funny joke about cats", "Do you know a funny joke about cats?"
        cache.store(ask(stored), {"answer": "cats"})
        calm(cache, "calm")
        assert cache.lookup(ask(asked, "calm")).reason is Reason.GUARD  # score 0.5 < 0.6
        overload(cache)
        served = cache.lookup(ask(asked))
        assert served.outcome is HIT and served.relaxed and served.verifier_threshold == 0.45
        assert cache.stats_snapshot()["chat"]["relaxed_hits"] == 1
        headers = response_headers({"metadata": {"semcache": served.as_dict()}}, HIT_RESPONSE)
        assert headers["x-semcache-verifier-threshold"] == "0.45"
        assert headers["x-semcache-relaxed"] == "true"
        # a sensitive category keeps its operating point under the same overload
        cache.store(ask("What are the symptoms of the flu?", category="medical"), {"a": 1})
        medical = cache.lookup(ask("What are the symptoms of flu?", category="medical"))
        assert medical.outcome is MISS and medical.verifier_threshold == 0.7
    finally:
        cache.close()


# ---------------------------------------------------------------------------- stale


def test_an_expired_answer_is_served_stale_only_while_its_model_is_overloaded(make_cache, clock):
    cache = make_cache(categories={"chat": {"ttl_seconds": 60, "stale_grace_seconds": 300}},
                       load_policy=LOAD)
    stored = cache.store(ask("What should I cook for dinner tonight?"), {"answer": "pasta"})
    document = cache.deployment.store.get(stored.entry_id)
    assert document.ttl_seconds == 60 and document.kept_seconds == 360
    overload(cache)
    fresh = cache.lookup(ask("What should I cook for dinner tonight?"))
    assert fresh.outcome is HIT and not fresh.stale  # within its TTL: an ordinary hit

    clock.advance(61)
    calm(cache)
    expired = cache.lookup(ask("What should I cook for dinner tonight?"))
    assert (expired.outcome, expired.reason) == (MISS, Reason.EXPIRED)
    overload(cache)
    served = cache.lookup(ask("What should I cook for dinner tonight?"))
    assert served.outcome is HIT and served.stale and served.age_seconds == pytest.approx(61)
    assert served.response == {"answer": "pasta"} and served.ttl_seconds == 60
    calm(cache, "elsewhere")  # another deployment, not overloaded: not served stale
    assert cache.lookup(ask("What should I cook for dinner tonight?", "elsewhere")).outcome is MISS
    paraphrase = cache.lookup(ask("what should i cook for dinner tonight??"))
    assert paraphrase.outcome is HIT and paraphrase.stale  # the semantic path too
    headers = response_headers({"metadata": {"semcache": served.as_dict()}}, HIT_RESPONSE)
    assert (headers["x-semcache-stale"], headers["x-semcache-age"]) == ("true", "61")
    assert "x-semcache-stale" not in response_headers(
        {"metadata": {"semcache": fresh.as_dict()}}, HIT_RESPONSE)
    assert 'semcache_stale_hits_total{category="chat"} 2.0' in exposition(cache)
    # a client's s-maxage is never stretched by the grace
    assert cache.lookup(ask("What should I cook for dinner tonight?",
                            cache={"s-maxage": 30})).outcome is MISS

    clock.advance(300)  # past the grace: gone, even under overload
    assert cache.lookup(ask("What should I cook for dinner tonight?")).outcome is MISS
    assert len(cache) == 0


def test_sensitive_categories_are_never_served_stale(make_cache, clock):
    with pytest.raises(ConfigError, match="never served stale"):
        load_settings({"categories": {"medical": {"sensitive": True, "stale_grace_seconds": 60}}})
    cache = make_cache(categories={"chat": {"ttl_seconds": 60, "stale_grace_seconds": 300},
                                   "medical": {"ttl_seconds": 60}},
                       load_policy={**LOAD, "stale_grace_seconds": 300, "stale_min_ttl_seconds": 0})
    medical = cache.store(ask("What is a normal blood pressure?", category="medical"), {"a": 1})
    assert cache.deployment.store.get(medical.entry_id).stale_grace_seconds == 0
    cache.store(ask("Is a cold contagious?", category="chat"), {"a": 2})
    clock.advance(61)
    overload(cache)
    for prompt, category in (("What is a normal blood pressure?", "medical"),
                             ("Is a cold contagious?", "medical"),  # a chat entry, medical asks
                             ("What is a normal blood pressure?", "chat")):
        decision = cache.lookup(ask(prompt, category=category))
        assert decision.outcome is not HIT and not decision.stale, (prompt, category, decision)
    assert cache.lookup(ask("Is a cold contagious?")).stale  # chat itself is served stale


def test_volatile_categories_get_a_grace_only_when_they_ask():
    settings = load_settings({"load_policy": {"enabled": True, "stale_grace_seconds": 600},
                              "categories": {"finance": {"ttl_seconds": 300},
                                             "prices": {"ttl_seconds": 300,
                                                        "stale_grace_seconds": 120},
                                             "chat": {"ttl_seconds": 21600},
                                             "legal": {"sensitive": True}}})
    grace = {name: stale.grace_seconds(settings.policy(name), settings.load_policy)
             for name in ("finance", "prices", "chat", "legal")}
    assert grace == {"finance": 0, "prices": 120, "chat": 600, "legal": 0}
    off = load_settings({"categories": {"chat": {"stale_grace_seconds": 600}}})
    assert stale.grace_seconds(off.policy("chat"), off.load_policy) == 0  # load policy off


def test_a_ttl_the_caller_chose_gets_no_grace(make_cache):
    cache = make_cache(categories={"chat": {"stale_grace_seconds": 300}}, load_policy=LOAD)
    chosen = cache.store(ask("Tell me a joke about owls", cache={"ttl": 30}), {"a": 1})
    document = cache.deployment.store.get(chosen.entry_id)
    assert (document.ttl_seconds, document.stale_grace_seconds) == (30, 0)


def test_diskcache_keeps_the_document_for_its_grace(make_cache):
    cache = make_cache(categories={"chat": {"ttl_seconds": 60, "stale_grace_seconds": 300}},
                       load_policy=LOAD)
    stored = cache.store(ask("Tell me a joke about owls"), {"a": 1})
    disk = cache.deployment.store
    while not hasattr(disk, "_cache"):  # the vector log wraps the diskcache store
        disk = disk.inner
    _, expire_time = disk._cache.get(stored.entry_id, expire_time=True)  # noqa: SLF001
    assert expire_time - time.time() == pytest.approx(360, abs=5)


@pytest.mark.redis
def test_redis_expiry_leaves_room_for_the_grace_and_another_replica_serves_it_stale(
        make_cache, redis_server, clock):
    import redis

    from litellm_semcache.store.redis_layout import keys_for

    store = {"backend": "redis", "redis_url": redis_server.url, "redis_timeout_ms": 1000}
    settings = dict(categories={"chat": {"ttl_seconds": 1, "stale_grace_seconds": 60}},
                    load_policy=LOAD, store=store)
    writer = make_cache(**settings)
    stored = writer.store(ask("Tell me a joke about owls"), {"a": "owls"})
    key = keys_for("semcache:", "chat").doc(stored.entry_id)
    document = writer.deployment.store.get(stored.entry_id)
    assert document.kept_seconds == pytest.approx(61)
    assert redis.Redis.from_url(redis_server.url).execute_command("PEXPIRETIME", key) == int(
        document.expires_at * 1000)
    time.sleep(1.5)  # Redis's own clock: past the TTL, within the grace
    clock.advance(1.5)
    reader = make_cache(**settings)
    overload(reader)
    served = reader.lookup(ask("Tell me a joke about owls"))
    assert served.outcome is HIT and served.stale and served.response == {"a": "owls"}
    calm(reader)
    assert reader.lookup(ask("Tell me a joke about owls")).reason is Reason.EXPIRED


# ---------------------------------------------------------------------------- break-even


def _decision(outcome: Outcome, reason: Reason, category: str = "chat") -> Decision:
    return Decision(outcome, reason, category=category)


def test_auto_bypass_switches_off_below_break_even_and_back_on_with_hysteresis():
    costs = CostBook()
    switch = BreakEvenSwitch({"chat": CategoryPolicy(auto_bypass=True), "code": CategoryPolicy()},
                             AutoBypassSettings(min_samples=10, sample_rate=0.25,
                                                resume_factor=1.5), costs)
    assert not switch.enabled("code") and switch.should_look_up("code")

    def window(hits: int, misses: int = 0, upstream_ms: float = 100.0) -> None:
        for _ in range(hits):
            switch.observe(_decision(HIT, Reason.SEMANTIC))
        for _ in range(misses):
            costs.lookup("chat", 10.0, missed=True)  # a miss costs 10 ms
            costs.upstream("chat", upstream_ms)  # its model call took 100 ms: break-even 0.1
            switch.observe(_decision(MISS, Reason.BELOW_THRESHOLD))

    window(hits=2, misses=8)  # 20 % >= 10 %: pays off
    assert switch.bypassed() == {"chat": False}
    for _ in range(50):  # exact hits and faults say nothing about the search: not counted
        switch.observe(_decision(HIT, Reason.EXACT))
        switch.observe(_decision(MISS, Reason.FAIL_OPEN))
    window(hits=0, misses=9)
    assert switch.bypassed() == {"chat": False}  # 9 samples: not enough yet
    window(hits=0, misses=1)
    assert switch.bypassed() == {"chat": True}
    assert switch.report("chat") == {"auto_bypass": "bypassed", "auto_bypass_window_hit_rate": 0.0,
                                     "auto_bypass_break_even": 0.1}
    looked_up = [switch.should_look_up("chat") for _ in range(40)]
    assert sum(looked_up) == 10 and looked_up[3::4] == [True] * 10  # one in 1 / sample_rate

    window(hits=1, misses=9)  # sampled 10 %: at break-even, below 1.5 x: stays bypassed
    assert switch.bypassed() == {"chat": True}
    window(hits=2, misses=8)  # 20 % >= 15 %: looked up again
    assert switch.bypassed() == {"chat": False}
    assert all(switch.should_look_up("chat") for _ in range(20))
    window(hits=1, misses=9, upstream_ms=50.0)  # the model got faster: break-even 0.2
    assert switch.bypassed() == {"chat": True}


def test_a_bypassed_category_skips_lookups_still_stores_and_shows_it(make_cache, capsys):
    cache = make_cache(categories={"chat": {"auto_bypass": True}},
                       auto_bypass={"min_samples": 10, "sample_rate": 0.5})
    cache.recorder.upstream("chat", 2000.0)  # what the model's answers cost: 2 s
    for number in range(10):
        request = ask(f"Tell me a joke about the number {number} and a spaceship")
        assert cache.lookup(request).outcome is MISS
        cache.store(request, {"answer": number})
    bypassed = cache.lookup(ask("Give me a short poem about rivers"))
    assert (bypassed.outcome, bypassed.reason) == (BYPASS, Reason.BELOW_BREAK_EVEN)
    headers = response_headers({"metadata": {"semcache": bypassed.as_dict()}}, None)
    assert (headers["x-semcache"], headers["x-semcache-reason"]) == ("bypass", "below_break_even")
    assert cache.store(ask("Give me a short poem about rivers"), {"answer": "a poem"}).outcome == "stored"
    cache.recorder.upstream("chat", 2000.0)  # (a store right after its lookup measures ~0 ms)
    assert cache.lookup(ask("Give me a short poem about rivers")).reason is Reason.EXACT  # free
    assert cache.lookup(ask("How do I reverse a list in Python?", category="code")).outcome is MISS
    assert cache.stats_snapshot()["chat"]["auto_bypass"] == "bypassed"
    text = exposition(cache)
    assert 'semcache_auto_bypassed{category="chat"} 1.0' in text
    assert 'semcache_below_break_even_total{category="chat"} 1.0' in text
    assert 'semcache_auto_bypassed{category="code"}' not in text  # not opted in

    # sampled lookups keep measuring; paraphrases of stored answers hit, and lookups resume
    outcomes = [cache.lookup(ask(f"tell me a joke about the number {n % 10} and a spaceship!"))
                for n in range(30)]
    assert {d.reason for d in outcomes} >= {Reason.BELOW_BREAK_EVEN, Reason.SEMANTIC}
    assert cache.stats_snapshot()["chat"]["auto_bypass"] == "looking_up"
    assert cache.lookup(ask("tell me a joke about the number 3 and a spaceship!")).outcome is HIT

    body = exposition(cache).encode()

    class Metrics(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        capsys.readouterr()
        assert cli.main(["stats", "--metrics", f"http://127.0.0.1:{server.server_port}/"]) == 0
    finally:
        server.shutdown()
    out = capsys.readouterr().out
    assert "bypassed" in out and "break" in out and "stale" in out
