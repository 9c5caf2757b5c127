"""200 concurrent async requests with overlapping prompts through LiteLLM, on the Redis store:
no lost writes, one upstream call per identical in-flight prompt."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter

import litellm
import pytest
import redis

from helpers import install_shipped_policy
from litellm_semcache.store.redis_layout import doc_pattern
from litellm_semcache.testing import StandInModel

pytestmark = pytest.mark.redis
ANIMALS = ["owls", "cats", "dogs", "whales", "bees", "ants", "crows", "otters", "foxes", "bats",
           "frogs", "sharks", "horses", "goats", "eagles", "snails", "lions", "pandas", "koalas",
           "wolves"]
BASE = [f"Tell me a fun fact about {animal}" for animal in ANIMALS]
NEAR = [f"Please tell me one fun fact about {animal}" for animal in ANIMALS]


@pytest.fixture
def installed_on_redis(tmp_path, embedder, redis_server):
    yield from install_shipped_policy(embedder, backend="redis", redis_url=redis_server.url,
                                      redis_timeout_ms=1000, path=str(tmp_path / "local"))


def test_200_concurrent_overlapping_requests(installed_on_redis, redis_server):
    prompts = [prompt for prompt in BASE for _ in range(9)] + NEAR  # 180 identical + 20 near
    random.Random(5).shuffle(prompts)

    async def burst(model):
        calls = [litellm.acompletion(model="openai/stand-in", api_base=model.url, api_key="sk-x",
                                     messages=[{"role": "user", "content": prompt}])
                 for prompt in prompts]
        return await asyncio.gather(*calls)

    with StandInModel(latency_ms=300) as model:
        answers = asyncio.run(burst(model))
        upstream = Counter(model.prompts)

    assert len(answers) == 200
    for prompt, answer in zip(prompts, answers):
        text = answer.choices[0].message.content
        assert text == f"answer to: {prompt}" or (prompt in NEAR and text.startswith("answer to: "))
    assert all(upstream[prompt] == 1 for prompt in BASE), upstream  # single-flight: 9 -> 1 call
    # Near-duplicates are not held back: one that arrives while its twin is in flight misses.
    assert sum(upstream[prompt] for prompt in NEAR) <= len(NEAR)

    expected = len(BASE) + sum(upstream[prompt] for prompt in NEAR)
    deadline = time.monotonic() + 60  # a busy box: writes are slow, never lost
    while len(installed_on_redis) < expected:  # LiteLLM stores in background tasks
        assert time.monotonic() < deadline, f"lost writes: {len(installed_on_redis)} < {expected}"
        time.sleep(0.05)
    server = redis.Redis.from_url(redis_server.url)
    assert len(list(server.scan_iter(doc_pattern("semcache:")))) == expected
