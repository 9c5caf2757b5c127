"""Load adaptation on LiteLLM's async path (the one the proxy takes): stale-while-overloaded and
the break-even auto-bypass through ``litellm.acompletion``, against the stand-in model."""

from __future__ import annotations

import asyncio
import time

import litellm
import pytest
from test_load_adaptation import LOAD, calm, overload

from litellm_semcache.integrations import litellm_backend
from litellm_semcache.testing import StandInModel


@pytest.fixture
def attached():
    """Attach an engine as ``litellm.cache`` for one test, then restore LiteLLM's own."""
    previous = litellm.cache

    def attach(cache):
        litellm_backend.attach(cache)
        return cache

    yield attach
    litellm.cache = previous


async def ask_async(model: StandInModel, prompt: str, category: str = "chat"
                    ) -> litellm.ModelResponse:
    return await litellm.acompletion(
        model="openai/stand-in", api_base=model.url, api_key="sk-x",
        messages=[{"role": "user", "content": prompt}],
        metadata={"semcache_category": category, "model_info": {"id": "busy"}})


async def stored(cache, entries: int, timeout: float = 5.0) -> bool:
    """LiteLLM stores in background tasks of the running loop: wait on that loop."""
    deadline = time.monotonic() + timeout
    while len(cache) < entries:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def served_from_cache(answer: litellm.ModelResponse) -> bool:
    return bool((answer._hidden_params or {}).get("cache_hit"))


def test_acompletion_serves_an_expired_answer_stale_only_while_the_model_is_overloaded(
        make_cache, clock, attached):
    cache = attached(make_cache(categories={"chat": {"ttl_seconds": 60, "stale_grace_seconds": 300},
                                            "medical": {"ttl_seconds": 60}},
                                load_policy={**LOAD, "stale_grace_seconds": 300},
                                # the fake clock skips 61 s that single-flight, on real time,
                                # never sees pass: an answered flight would still be joinable
                                single_flight_wait_ms=0))
    dinner, flu = "What should I cook for dinner tonight?", "What are the symptoms of the flu?"

    async def scenario(model: StandInModel) -> None:
        assert not served_from_cache(await ask_async(model, dinner))
        assert not served_from_cache(await ask_async(model, flu, "medical"))
        assert await stored(cache, 2), "LiteLLM never stored the answers"
        clock.advance(61)  # both past their TTL
        overload(cache)
        stale = await ask_async(model, dinner)
        assert served_from_cache(stale) and stale.choices[0].message.content == f"answer to: {dinner}"
        assert not served_from_cache(await ask_async(model, flu, "medical"))  # sensitive: never
        assert cache.stats_snapshot()["chat"]["stale_hits"] == 1
        assert model.prompts.count(dinner) == 1 and model.prompts.count(flu) == 2
        calm(cache)
        assert not served_from_cache(await ask_async(model, dinner))  # calm: expired is a miss
        assert model.prompts.count(dinner) == 2

    with StandInModel() as model:
        asyncio.run(scenario(model))


def test_acompletion_bypasses_below_break_even_and_resumes_on_sampled_hits(
        make_cache, attached):
    cache = attached(make_cache(categories={"chat": {"auto_bypass": True}},
                                auto_bypass={"min_samples": 10, "sample_rate": 0.5}))
    cache.recorder.upstream("chat", 2000.0)  # the model's answers cost seconds

    async def scenario(model: StandInModel) -> None:
        for number in range(10):  # ten misses: a hit rate of 0 is below any break-even
            await ask_async(model, f"Tell me a joke about the number {number} and a spaceship")
        assert cache.stats_snapshot()["chat"]["auto_bypass"] == "bypassed"
        assert not served_from_cache(await ask_async(model, "Give me a short poem about rivers"))
        assert cache.stats_snapshot()["chat"]["below_break_even"] >= 1
        assert await stored(cache, 11), "a bypassed category still stores its answers"
        # sampled lookups keep measuring: paraphrases of the stored answers hit, lookups resume
        # (each asked once: a bypassed request's answer is stored, and would then be an exact hit)
        paraphrases = [template.format(n) for n in range(10) for template in (
            "tell me a joke about the number {} and a spaceship!",
            "Tell me a joke about the number {} and a spaceship, please.",
            "please tell me a joke about the number {} and a spaceship")]
        answers = [await ask_async(model, prompt) for prompt in paraphrases]
        assert any(served_from_cache(answer) for answer in answers)
        assert cache.stats_snapshot()["chat"]["auto_bypass"] == "looking_up"
        assert served_from_cache(
            await ask_async(model, "Tell me a joke about the number 3 and a spaceship?"))

    with StandInModel(latency_ms=100) as model:
        asyncio.run(scenario(model))
