"""Counters equal what clients received: one decision per request, counted once, also when
single-flight hands one request's answer to identical ones and when lookups run concurrently."""

from __future__ import annotations

import asyncio
import random

import litellm

from litellm_semcache.testing import StandInModel

PROMPTS = ["Tell me a joke about owls", "How do I merge two dictionaries in Python?",
           "What is the capital of France?", "Recommend a good book",
           "Tell me a joke about owls, please"]


def _totals(engine) -> dict[str, int]:
    rows = engine.stats_snapshot().values()
    return {name: sum(row[name] for row in rows)
            for name in ("lookups", "hits", "exact_hits", "misses", "bypasses", "stores")}


def test_counters_equal_what_concurrent_clients_received(installed):
    requests = [prompt for prompt in PROMPTS for _ in range(8)]
    random.Random(3).shuffle(requests)

    async def wave(model, prompts):
        return await asyncio.gather(*(
            litellm.acompletion(model="openai/stand-in", api_base=model.url, api_key="sk-x",
                                messages=[{"role": "user", "content": prompt}])
            for prompt in prompts))

    async def scenario(model):
        first = await wave(model, requests)
        for _ in range(200):  # LiteLLM stores in background tasks
            if len(installed) >= model.calls:
                break
            await asyncio.sleep(0.02)
        second = await wave(model, PROMPTS * 2)
        return first + second

    with StandInModel(latency_ms=200) as model:
        answers = asyncio.run(scenario(model))

    served = sum(bool(a._hidden_params.get("cache_hit")) for a in answers)
    totals = _totals(installed)
    assert totals["lookups"] == len(answers)
    assert totals["hits"] == served == len(answers) - model.calls
    assert totals["misses"] + totals["bypasses"] == model.calls
    assert totals["stores"] == len(installed) == model.calls


def test_break_even_is_the_mean_miss_cost_over_the_mean_upstream_latency():
    """Known latencies in, hand-computed figures out: misses of 10 and 30 ms (mean 20), hits and
    bypasses not counted as miss cost, upstream calls of 200 and 600 ms (mean 400)."""
    from litellm_semcache.engine import Decision, Outcome, Reason
    from litellm_semcache.observability.metrics import Recorder

    recorder = Recorder(["chat"], entries=lambda category: 0)
    for outcome, reason, ms in [(Outcome.MISS, Reason.BELOW_THRESHOLD, 10.0),
                                (Outcome.MISS, Reason.NO_CANDIDATE, 30.0),
                                (Outcome.HIT, Reason.EXACT, 1.0), (Outcome.HIT, Reason.SEMANTIC, 3.0),
                                (Outcome.BYPASS, Reason.NO_CACHE, 500.0)]:
        recorder.lookup(Decision(outcome, reason, category="chat", latency_ms=ms))
    recorder.upstream("chat", 200.0)
    recorder.upstream("chat", 600.0)

    row = recorder.snapshot()["chat"]
    assert (row["miss_cost_ms"], row["saved_ms"]) == (20.0, 400.0)
    assert row["break_even_hit_rate"] == 0.05  # 20 / 400
    assert row["hit_rate"] == 0.5 and row["pays_off"] is True  # 2 hits of 4 looked up

    dear = Recorder(["chat"], entries=lambda category: 0)  # a miss dearer than the model
    dear.lookup(Decision(Outcome.MISS, Reason.NO_CANDIDATE, category="chat", latency_ms=90.0))
    dear.upstream("chat", 60.0)
    assert dear.snapshot()["chat"]["break_even_hit_rate"] == 1.0
    assert dear.snapshot()["chat"]["pays_off"] is False
