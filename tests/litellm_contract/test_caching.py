"""LiteLLM's SDK caching contract, run against litellm-semcache.

Adapts ``tests/local_testing/test_caching.py`` of BerriAI/litellm to ``litellm_semcache.install()``
(instead of ``litellm.Cache(type=...)``), for the pinned LiteLLM 1.108.7. Redis-, S3- and
Azure-client tests of that file have no counterpart for a custom backend (see README.md).
Markers: plain = passes; ``xfail(strict)`` "by design" = semantic keys differ on purpose;
``xfail(strict)`` "contract break (issue 12)" = our cache should fix it.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import datetime

import litellm
import pytest
from contract_support import aask, ask, content, quiet, settle, stores, user, was_hit
from litellm.caching.caching import CacheMode
from litellm.caching.caching_handler import LLMCachingHandler

BREAK = "contract break (issue 12): "
DESIGN = "by design: "
SYNC_ASYNC = pytest.mark.parametrize("mode", ["sync", "async"])


async def call(engine, mode: str, prompt: str, answer: str, **kwargs):
    """One completion in the given mode; async calls wait until LiteLLM has written the cache."""
    if mode == "sync":
        return ask(prompt, answer, **kwargs)
    engine_stores = stores(engine)
    response = await aask(prompt, answer, **kwargs)
    if not was_hit(response) and not (kwargs.get("cache") or {}).get("no-store"):
        try:
            await settle(engine, engine_stores + 1, timeout=1.0)
        except AssertionError:
            pass  # not stored (ttl 0, ...): the test's assertions say whether that was right
    return response


# ---------------------------------------------------------------- a repeat is a hit

def test_repeat_completion_is_served_from_the_cache(cache):
    first = ask("who is ishaan 5222", "Hello world from cache test", caching=True)
    second = ask("who is ishaan 5222", "THE MODEL WAS CALLED", caching=True)

    assert not was_hit(first) and "cache_key" not in first._hidden_params
    assert was_hit(second) and second._hidden_params["cache_key"]
    assert content(second) == "Hello world from cache test"
    assert (second.id, second.created) == (first.id, first.created)


def test_different_model_does_not_share(cache):
    prompt = "who is ishaan CTO of litellm from litellm 2023"
    ask(prompt, "from gpt-3.5-turbo")
    again = ask(prompt, "THE MODEL WAS CALLED")
    other = ask(prompt, "from gpt-4.1-nano", model="gpt-4.1-nano")

    assert content(again) == "from gpt-3.5-turbo"
    assert not was_hit(other) and content(other) == "from gpt-4.1-nano"


# ---------------------------------------------------------------- ttl

def test_ttl_kwarg_zero_is_not_served_again(cache):
    ask("who is ishaan 6001", "Hello world from cache test 1", ttl=0)
    second = ask("who is ishaan 6001", "Hello world from cache test 2")

    assert content(second) == "Hello world from cache test 2"


def test_cache_default_ttl_zero_is_not_served_again(cache):
    litellm.cache.ttl = 0
    first = ask("who is ishaan 6002", "Hello world from cache test")
    second = ask("who is ishaan 6002", "Hello world from cache test")

    assert second.id != first.id


@SYNC_ASYNC
async def test_caching_with_cache_controls(cache, mode):
    # ttl 0: not kept, so even a lenient s-maxage finds nothing
    first = await call(cache, mode, "Hey, how's it going? 0-ttl", "Hello world", cache={"ttl": 0})
    second = await call(cache, mode, "Hey, how's it going? 0-ttl", "Hello world",
                        cache={"s-maxage": 10})
    # ttl 25, read back well within s-maxage 25
    kept = await call(cache, mode, "Hey, how's it going? 25-ttl", "Hello world", cache={"ttl": 25})
    again = await call(cache, mode, "Hey, how's it going? 25-ttl", "Hello world",
                       cache={"s-maxage": 25})

    assert second.id != first.id and not was_hit(second)
    assert again.id == kept.id and was_hit(again)


@SYNC_ASYNC
async def test_cache_control_ttl_expires(cache, mode):
    await call(cache, mode, "Hey, how's it going? 1-ttl", "first", cache={"ttl": 1})
    await asyncio.sleep(1.3)
    again = await call(cache, mode, "Hey, how's it going? 1-ttl", "after expiry")

    assert not was_hit(again) and content(again) == "after expiry"


async def test_expired_entry_is_not_served_by_single_flight(default_cache):
    await call(default_cache, "async", "Hey, how's it going? sf-ttl", "first", cache={"ttl": 1})
    await asyncio.sleep(1.3)
    again = await aask("Hey, how's it going? sf-ttl", "after expiry")

    assert content(again) == "after expiry"


@SYNC_ASYNC
async def test_s_maxage_refuses_an_older_entry(default_cache, mode):
    await call(default_cache, mode, "Hey, how's it going? s-maxage", "old answer")
    await asyncio.sleep(1.2)
    young_only = await call(default_cache, mode, "Hey, how's it going? s-maxage", "fresh answer",
                            cache={"s-maxage": 1})

    assert not was_hit(young_only) and content(young_only) == "fresh answer"


# ---------------------------------------------------------------- embeddings (not cached)

@pytest.mark.xfail(strict=True, reason=DESIGN + "embedding calls are not cached (the cache "
                   "supports completion and text_completion call types only)")
def test_embedding_is_cached(cache):
    first = litellm.embedding(model="text-embedding-ada-002", input=["small text " * 5],
                              mock_response="0.1,0.2,0.3,0.4,0.5")
    second = litellm.embedding(model="text-embedding-ada-002", input=["small text " * 5],
                               mock_response="0.6,0.7,0.8,0.9,1.0")

    assert second._hidden_params.get("cache_hit") is True
    assert second.data[0]["embedding"] == first.data[0]["embedding"]


# ---------------------------------------------------------------- streaming, text completion

def _wait_sync(engine, at_least: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while stores(engine) < at_least:
        assert time.monotonic() < deadline, "the streamed answer was never stored"
        time.sleep(0.02)


def test_stream_repeat_is_replayed_from_the_cache(cache):
    prompt = "write a one sentence poem about: 90210"
    answer = "In the stillness of numbers, the world turns quietly."
    first = ask(prompt, answer, max_tokens=40, temperature=0.2, stream=True)
    first_text, first_id = "", None
    for chunk in first:
        first_text += chunk.choices[0].delta.content or ""
        first_id = chunk.id
    _wait_sync(cache, 1)

    second = ask(prompt, "THE MODEL WAS CALLED", max_tokens=40, temperature=0.2, stream=True)
    second_text, second_id = "", None
    for chunk in second:
        second_text += chunk.choices[0].delta.content or ""
        second_id = chunk.id

    assert second_text == first_text == answer
    assert second_id == first_id


@SYNC_ASYNC
async def test_streamed_answer_is_stored_once_complete_with_message_logging_off(
        cache, mode, monkeypatch):
    monkeypatch.setattr(litellm, "turn_off_message_logging", True)
    if mode == "sync":
        for _ in ask("hi there, stream me", "hello", stream=True):
            pass
        _wait_sync(cache, 1)
        replay = ask("hi there, stream me", "THE MODEL WAS CALLED", stream=True)
        text = "".join(chunk.choices[0].delta.content or "" for chunk in replay)
    else:
        async for _ in await aask("hi there, stream me", "hello", stream=True):
            pass
        await settle(cache, 1)
        replay = await aask("hi there, stream me", "THE MODEL WAS CALLED", stream=True)
        text = "".join([chunk.choices[0].delta.content or "" async for chunk in replay])

    assert text == "hello"
    assert stores(cache) == 1


async def test_atext_completion_with_supported_call_types(cache):
    litellm.cache.supported_call_types = ["atext_completion"]
    prompt = "write a one sentence poem about: text completion 11"
    first = await litellm.atext_completion(model="gpt-3.5-turbo-instruct", prompt=prompt,
                                           max_tokens=40, temperature=1,
                                           mock_response="Hello world from cache test")
    await settle(cache, 1)
    second = await litellm.atext_completion(model="gpt-3.5-turbo-instruct", prompt=prompt,
                                            max_tokens=40, temperature=1,
                                            mock_response="THE MODEL WAS CALLED")

    assert second.id == first.id
    assert second.choices[0].text == "Hello world from cache test"


def test_text_completion_repeat_is_a_hit(cache):
    prompt = "write a one sentence poem about: text completion 12"
    first = litellm.text_completion(model="gpt-3.5-turbo-instruct", prompt=prompt,
                                    mock_response="sync text answer")
    second = litellm.text_completion(model="gpt-3.5-turbo-instruct", prompt=prompt,
                                     mock_response="THE MODEL WAS CALLED")

    assert second.id == first.id and second.choices[0].text == "sync text answer"


def test_call_type_left_out_of_supported_call_types_is_not_cached(cache):
    litellm.cache.supported_call_types = ["acompletion"]
    ask("write a one sentence poem about: only async", "first")
    second = ask("write a one sentence poem about: only async", "second")

    assert not was_hit(second) and content(second) == "second"
    assert stores(cache) == 0


# ---------------------------------------------------------------- per-request controls

def test_caching_false_skips_the_cache(cache):
    messages = user("write a one line story")
    ask(messages, "Hello world from cache test", temperature=1, caching=True)
    cached = ask(messages, "THE MODEL WAS CALLED", temperature=1, caching=True)
    uncached = ask(messages, "Different uncached response", temperature=1, caching=False)

    assert content(cached) == "Hello world from cache test"
    assert content(uncached) == "Different uncached response"


@SYNC_ASYNC
async def test_no_cache_skips_the_lookup(cache, mode):
    first = await call(cache, mode, "hello who are you 7f3a", "Hello world from cache test",
                       caching=True)
    second = await call(cache, mode, "hello who are you 7f3a", "Hello world from cache test",
                        caching=True, cache={"no-cache": True})

    assert second.id != first.id and not was_hit(second)


def test_no_cache_still_stores_the_fresh_answer(cache):
    ask("hello who are you 8b2c", "old answer")
    refreshed = ask("hello who are you 8b2c", "refreshed answer", cache={"no-cache": True})
    later = ask("hello who are you 8b2c", "THE MODEL WAS CALLED")

    assert content(refreshed) == "refreshed answer"
    assert content(later) == "refreshed answer"


@SYNC_ASYNC
async def test_no_store_answer_is_not_stored(cache, mode):
    await call(cache, mode, "hello who are you 9d4e", "not kept", cache={"no-store": True})
    await quiet()
    later = await call(cache, mode, "hello who are you 9d4e", "asked again")

    assert not was_hit(later) and content(later) == "asked again"


async def test_no_store_does_not_hold_back_the_next_identical_request(default_cache):
    await aask("hello who are you 0a5f", "not kept", cache={"no-store": True})
    started = time.monotonic()
    later = await aask("hello who are you 0a5f", "asked again")

    assert content(later) == "asked again"
    assert time.monotonic() - started < 1.0


async def test_failed_upstream_call_is_not_cached(cache):
    with pytest.raises(litellm.InternalServerError):
        await aask("hello who are you 1b6a", Exception("upstream failed"))
    retry = await aask("hello who are you 1b6a", "answer after the failure")

    assert not was_hit(retry) and content(retry) == "answer after the failure"


async def test_failed_upstream_call_does_not_hold_back_the_retry(default_cache):
    with pytest.raises(litellm.InternalServerError):
        await aask("hello who are you 2c7b", Exception("upstream failed"))
    started = time.monotonic()
    retry = await aask("hello who are you 2c7b", "answer after the failure")

    assert content(retry) == "answer after the failure"
    assert time.monotonic() - started < 1.0


def test_default_off_mode_only_caches_on_use_cache(cache):
    litellm.cache.mode = CacheMode.default_off
    prompt = "write a one sentence poem about: default off 5150"
    first = ask(prompt, "hello", max_tokens=20)
    second = ask(prompt, "hello again", max_tokens=20)
    opted = ask(prompt, "opted in", cache={"use-cache": True}, metadata={"key": "value"},
                max_tokens=20)
    opted_again = ask(prompt, "THE MODEL WAS CALLED", cache={"use-cache": True},
                      metadata={"key": "value"}, max_tokens=20)

    assert second.id != first.id and not was_hit(second)
    assert opted_again.id == opted.id and content(opted_again) == "opted in"


# ---------------------------------------------------------------- cache key, hidden params, usage

@pytest.mark.xfail(strict=True, reason=DESIGN + "semantic key rules: the prompt is left out of "
                   "LiteLLM's cache key (it is matched by embedding), so the key is not the "
                   "hash of model + messages + params")
def test_cache_key_is_the_hash_of_model_messages_and_params(cache):
    request = {"model": "gpt-3.5-turbo", "max_tokens": 40, "temperature": 0.2, "stream": True,
               "messages": [{"role": "user", "content": "write a one sentence poem about: 7510"}]}
    expected = hashlib.sha256(
        b"model: gpt-3.5-turbomessages: [{'role': 'user', 'content': 'write a one sentence poem "
        b"about: 7510'}]max_tokens: 40temperature: 0.2stream: True").hexdigest()

    assert litellm.cache.get_cache_key(**request) == expected


async def test_cache_key_is_in_hidden_params_on_async_hits_only(install_cache):
    engine = install_cache()
    litellm.cache.namespace = "test_namespace"  # Cache(namespace=...) of the upstream test
    first = await aask("hi 6e1d-namespace", "hello", caching=True)
    await settle(engine, 1)
    second = await aask("hi 6e1d-namespace", "THE MODEL WAS CALLED", caching=True)

    assert first._hidden_params.get("cache_hit") is not True
    assert "cache_key" not in first._hidden_params
    assert was_hit(second) and second.id == first.id
    assert second._hidden_params["cache_key"].startswith("test_namespace:")


def test_cache_hit_keeps_usage_and_costs_nothing(cache):
    first = ask("how many moons does jupiter have", "ninety-five")
    second = ask("how many moons does jupiter have", "THE MODEL WAS CALLED")

    assert was_hit(second)
    assert second.usage.prompt_tokens == first.usage.prompt_tokens > 0
    assert second.usage.completion_tokens == first.usage.completion_tokens > 0
    assert first._hidden_params["response_cost"] > 0
    assert second._hidden_params["response_cost"] == 0


def test_disable_cache_turns_the_cache_off(cache):
    ask("is the cache on?", "cached before disable")
    litellm.disable_cache()
    after = ask("is the cache on?", "fresh after disable")

    assert litellm.cache is None
    assert "cache" not in litellm.success_callback
    assert "cache" not in litellm._async_success_callback
    assert content(after) == "fresh after disable"


# ---------------------------------------------------------------- semantic hits

def test_semantic_paraphrase_is_served_sync(install_cache):
    # LiteLLM's semantic cache decides by cosine: no score operating point (the guard stays)
    install_cache(categories={"default": {"similarity_threshold": 0.8, "verifier_threshold": 0.0,
                                          "verifier_floor": None}})
    first = ask("write a one sentence poem about summer", "Summer sun shines bright and warm.",
                max_tokens=20)
    second = ask("write a one sentence poem about summertime", "THE MODEL WAS CALLED",
                 max_tokens=20)

    assert second.id == first.id


async def test_semantic_paraphrase_is_served_async(install_cache):
    engine = install_cache(categories={"default": {"similarity_threshold": 0.7,
                                                   "verifier_threshold": 0.0,
                                                   "verifier_floor": None}})
    first = await aask("write a one sentence poem about summer",
                       "Summer sun shines bright and warm.", max_tokens=5)
    await settle(engine, 1)
    second = await aask("write a one sentence poem about summertime", "THE MODEL WAS CALLED",
                        max_tokens=5)

    assert second.id == first.id


# ---------------------------------------------------------------- namespaces

def test_same_namespace_hits_sync(cache):
    ask("what is litellm? 1234-ns", "Response for namespace 1", cache={"namespace": "org-id1"})
    again = ask("what is litellm? 1234-ns", "This should be cached",
                cache={"namespace": "org-id1"})

    assert was_hit(again) and content(again) == "Response for namespace 1"


def test_different_namespaces_do_not_share_sync(cache):
    first = ask("what is litellm? 2345-ns", "Response for namespace 1",
                cache={"namespace": "org-id1"})
    second = ask("what is litellm? 2345-ns", "Response for namespace 2",
                 cache={"namespace": "org-id2"})
    plain = ask("what is litellm? 2345-ns", "Response without namespace")

    assert len({first.id, second.id, plain.id}) == 3
    assert not was_hit(second) and not was_hit(plain)


async def test_namespaces_async(cache):
    first = await call(cache, "async", "what is litellm? 3456-ns", "namespace 1",
                       cache={"namespace": "org-id1"})
    again = await aask("what is litellm? 3456-ns", "THE MODEL WAS CALLED",
                       cache={"namespace": "org-id1"})
    other = await call(cache, "async", "what is litellm? 3456-ns", "namespace 2",
                       cache={"namespace": "org-id2"})
    plain = await aask("what is litellm? 3456-ns", "no namespace")

    assert was_hit(again) and again.id == first.id
    assert content(other) == "namespace 2" and content(plain) == "no namespace"


# ---------------------------------------------------------------- reasoning parameters

def test_reasoning_content_request_is_cached(cache):
    messages = user("what is litellm? reasoning 42")
    ask(messages, "LiteLLM is a unified API interface for LLMs.",
        model="anthropic/claude-sonnet-4-5-20250929",
        thinking={"type": "enabled", "budget_tokens": 1024})
    second = ask(messages, "THE MODEL WAS CALLED", model="anthropic/claude-sonnet-4-5-20250929",
                 thinking={"type": "enabled", "budget_tokens": 1024})

    assert was_hit(second)


@pytest.mark.parametrize("param, value", [("reasoning_effort", "low"),
                                          ("thinking", {"type": "enabled", "budget_tokens": 1024})])
def test_reasoning_args_are_part_of_the_key(cache, param, value):
    model = "anthropic/claude-sonnet-4-20250514"
    first = ask(f"who is ishaan 5222 {param}", "My response", model=model, caching=True,
                **{param: value})
    same = ask(f"who is ishaan 5222 {param}", "My response", model=model, caching=True,
               **{param: value})
    without = ask(f"who is ishaan 5222 {param}", "My response", model=model, caching=True)

    assert same.id == first.id
    assert without.id != first.id and not was_hit(without)


# ---------------------------------------------------------------- flush

def test_flush_empties_the_cache_sync(cache):
    ask("recommend a good science fiction book", "Dune")
    removed = cache.flush()
    emptied = len(cache)
    after = ask("recommend a good science fiction book", "after the flush")

    assert removed == 1 and emptied == 0
    assert content(after) == "after the flush"


def test_flush_cache_through_litellms_backend(cache):
    ask("recommend a good fantasy book", "The Hobbit")
    litellm.cache.cache.flush_cache()
    after = ask("recommend a good fantasy book", "after the flush")

    assert len(cache) == 1 and content(after) == "after the flush"


async def test_flushed_answer_is_not_served_async(default_cache):
    await call(default_cache, "async", "recommend a good mystery novel",
               "The Hound of the Baskervilles")
    default_cache.flush()
    after = await aask("recommend a good mystery novel", "after the flush")

    assert content(after) == "after the flush"


# ---------------------------------------------------------------- caching handler kwargs

@SYNC_ASYNC
async def test_caching_handler_stores_with_positional_model_and_preset_key(cache, mode):
    messages = user("42HHey, how's it going?")
    handler = LLMCachingHandler(original_function=litellm.acompletion, request_kwargs={},
                                start_time=datetime.now())
    result = litellm.ModelResponse(
        id="chatcmpl-contract-kwargs",
        choices=[litellm.Choices(message=litellm.Message(role="assistant", content="I'm fine"))],
        model="gpt-3.5-turbo-0125",
        usage=litellm.Usage(prompt_tokens=16, completion_tokens=31, total_tokens=47))
    kwargs = {"messages": messages, "caching": True, "litellm_call_id": "contract-call",
              "preset_cache_key": "2f69f5640d5e0f25315d0e132f1278bb"}
    if mode == "sync":
        handler.sync_set_cache(result=result, kwargs=kwargs, args=("gpt-3.5-turbo",))
    else:
        await handler.async_set_cache(result=result, original_function=litellm.acompletion,
                                      kwargs=kwargs, args=("gpt-3.5-turbo",))
        await settle(cache, 1)
    again = await aask(messages, "THE MODEL WAS CALLED")

    assert content(again) == "I'm fine"
