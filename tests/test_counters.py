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
