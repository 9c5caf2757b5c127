"""Router caching through litellm-semcache.

Adapts ``tests/local_testing/test_router_caching.py`` of BerriAI/litellm (LiteLLM pin 1.108.7).
Upstream gives the Router a Redis host; here ``litellm_semcache.install()`` is ``litellm.cache``
and the Router only needs ``cache_responses=True``. The Redis-client tests of that file (SSL URL,
``_create_redis_cache``) have no counterpart here (see README.md).
"""

from __future__ import annotations

import litellm
from contract_support import content, quiet, settle, user, was_hit


def deployment(group: str, answer: str, model: str = "gpt-4.1-nano") -> dict:
    return {"model_name": group,
            "litellm_params": {"model": model, "api_key": "sk-contract", "mock_response": answer},
            "tpm": 100000, "rpm": 10000}


async def test_acompletion_caching_on_router(cache):
    router = litellm.Router(model_list=[deployment("gpt-4.1-nano", "Hello world")],
                            cache_responses=True, routing_strategy="simple-shuffle")
    messages = user("write a one sentence poem 1700000001?")
    first = await router.acompletion(model="gpt-4.1-nano", messages=messages, temperature=1)
    await settle(cache, 1)
    second = await router.acompletion(model="gpt-4.1-nano", messages=messages, temperature=1,
                                      mock_response="THE MODEL WAS CALLED")

    assert second.id == first.id and was_hit(second)
    assert content(second) == content(first) == "Hello world"


def test_sync_completion_caching_on_router(cache):
    router = litellm.Router(model_list=[deployment("chat", "sync routed answer")],
                            cache_responses=True)
    messages = user("write a one sentence poem 1700000003?")
    first = router.completion(model="chat", messages=messages)
    second = router.completion(model="chat", messages=messages,
                               mock_response="THE MODEL WAS CALLED")

    assert was_hit(second) and second.id == first.id


async def test_acompletion_caching_with_ttl_on_router(cache):
    router = litellm.Router(model_list=[deployment("gpt-3.5-turbo", "first", "gpt-3.5-turbo"),
                                        deployment("gpt-3.5-turbo", "first")],
                            cache_responses=True, routing_strategy="simple-shuffle")
    messages = user("write a one sentence poem 1700000004?")
    first = await router.acompletion(model="gpt-3.5-turbo", messages=messages, temperature=1,
                                     ttl=0)
    await quiet(0.5)  # the time a (wrong) background write would need
    second = await router.acompletion(model="gpt-3.5-turbo", messages=messages, temperature=1,
                                      ttl=0, mock_response="second")

    assert second.id != first.id and content(second) == "second"


async def test_acompletion_caching_on_router_caching_groups(cache):
    router = litellm.Router(
        model_list=[deployment("openai-gpt-3.5-turbo", "Hello world", "gpt-3.5-turbo"),
                    deployment("azure-gpt-3.5-turbo", "from azure", "azure/gpt-4.1-nano")],
        cache_responses=True, routing_strategy="simple-shuffle",
        caching_groups=[("openai-gpt-3.5-turbo", "azure-gpt-3.5-turbo")])
    messages = user("write a one sentence poem 1700000005?")
    first = await router.acompletion(model="openai-gpt-3.5-turbo", messages=messages,
                                     temperature=1)
    await settle(cache, 1)
    second = await router.acompletion(model="azure-gpt-3.5-turbo", messages=messages,
                                      temperature=1)

    assert second.id == first.id and content(second) == "Hello world"


async def test_model_groups_outside_a_caching_group_do_not_share(cache):
    router = litellm.Router(model_list=[deployment("group-x", "from x"),
                                        deployment("group-y", "from y")],
                            cache_responses=True)
    messages = user("write a one sentence poem 1700000006?")
    await router.acompletion(model="group-x", messages=messages)
    await settle(cache, 1)
    other = await router.acompletion(model="group-y", messages=messages)

    assert not was_hit(other) and content(other) == "from y"


async def test_deployments_of_one_model_group_share(cache):
    """Scenario 1 of the upstream file: two deployments (openai + azure), one model group."""
    router = litellm.Router(model_list=[
        deployment("gpt-3.5-turbo", "answer", "gpt-3.5-turbo"),
        deployment("gpt-3.5-turbo", "answer", "azure/gpt-4.1-nano")],
                            cache_responses=True, routing_strategy="simple-shuffle")
    messages = user("write a one sentence poem 1700000007?")
    first = await router.acompletion(model="gpt-3.5-turbo", messages=messages)
    await settle(cache, 1)
    hits = [await router.acompletion(model="gpt-3.5-turbo", messages=messages,
                                     mock_response="THE MODEL WAS CALLED") for _ in range(4)]

    assert all(hit.id == first.id for hit in hits)


async def test_router_without_cache_responses_does_not_read_the_cache(cache):
    router = litellm.Router(model_list=[deployment("chat", "first")])
    messages = user("write a one sentence poem 1700000008?")
    await router.acompletion(model="chat", messages=messages)
    again = await router.acompletion(model="chat", messages=messages, mock_response="second")

    assert not was_hit(again) and content(again) == "second"
