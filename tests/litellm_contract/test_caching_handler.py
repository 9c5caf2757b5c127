"""LiteLLM's caching handler (``LLMCachingHandler``) over litellm-semcache.

Adapts ``tests/local_testing/test_caching_handler.py`` of BerriAI/litellm (LiteLLM pin 1.108.7).
Upstream sets ``Cache(type=LOCAL)``; here the handler writes to and reads from the installed
semantic cache. The handler's embedding-merging unit tests exercise no backend and are not
ported (see README.md).
"""

from __future__ import annotations

import uuid
from datetime import datetime

import litellm
import pytest
from contract_support import aask, settle, user, was_hit
from litellm.caching.caching_handler import LLMCachingHandler
from litellm.litellm_core_utils.litellm_logging import Logging as LiteLLMLogging
from litellm.types.utils import CallTypes, TextChoices

CHAT = litellm.ModelResponse(
    id=f"chatcmpl-{uuid.uuid4()}",
    choices=[litellm.Choices(message=litellm.Message(role="assistant",
                                                     content="Hello, how can I help you today?"))])
TEXT = litellm.TextCompletionResponse(
    id=f"cmpl-{uuid.uuid4()}", choices=[TextChoices(text="Hello, how can I help you today?")])


def logging_object(call_type: str, messages: list) -> LiteLLMLogging:
    return LiteLLMLogging(litellm_call_id=str(uuid.uuid4()), call_type=call_type,
                          model="gpt-3.5-turbo", messages=messages, function_id=str(uuid.uuid4()),
                          stream=False, start_time=datetime.now())


@pytest.mark.parametrize("response", [CHAT, TEXT], ids=["chat", "text"])
async def test_async_set_get_cache(cache, response):
    chat = isinstance(response, litellm.ModelResponse)
    function = litellm.acompletion if chat else litellm.atext_completion
    call_type = CallTypes.acompletion.value if chat else CallTypes.atext_completion.value
    stamp = uuid.uuid4().hex[:8]
    kwargs = ({"messages": user(f"Unique message {stamp}")} if chat
              else {"prompt": f"Hello, how can I help you today? {stamp}"})
    handler = LLMCachingHandler(original_function=function, request_kwargs={},
                                start_time=datetime.now())

    await handler.async_set_cache(result=response, original_function=function, kwargs=kwargs)
    await settle(cache, 1)
    cached = await handler.async_get_cache(
        model="gpt-3.5-turbo", original_function=function,
        logging_obj=logging_object(call_type, kwargs.get("messages", [])),
        start_time=datetime.now(), call_type=call_type, kwargs=kwargs)

    assert cached.cached_result is not None
    assert cached.cached_result.id == response.id


async def test_cached_chat_result_is_converted_to_a_model_response(cache):
    await aask("convert my cached chat answer", "Hello")
    await settle(cache, 1)
    hit = await aask("convert my cached chat answer", "THE MODEL WAS CALLED")

    assert was_hit(hit) and isinstance(hit, litellm.ModelResponse)
    assert hit.choices[0].message.content == "Hello"


async def test_cached_text_result_is_converted_to_a_text_completion_response(cache):
    prompt = "convert my cached text answer"
    await litellm.atext_completion(model="gpt-3.5-turbo-instruct", prompt=prompt,
                                   mock_response="Hello")
    await settle(cache, 1)
    hit = await litellm.atext_completion(model="gpt-3.5-turbo-instruct", prompt=prompt,
                                         mock_response="THE MODEL WAS CALLED")

    assert isinstance(hit, litellm.TextCompletionResponse)
    assert hit.choices[0].text == "Hello"


async def test_a_miss_is_reported_in_the_request_metadata(cache):
    metadata: dict = {}
    await aask("what does the cache say about this one?", "an answer", metadata=metadata)

    assert metadata["semcache"]["outcome"] == "miss"


async def test_a_lookup_cut_off_by_the_deadline_is_reported_as_a_miss(install_cache):
    install_cache(lookup_deadline_ms=0.001)
    metadata: dict = {}
    response = await aask("how do I merge two dictionaries in Python?", "an answer",
                          metadata=metadata)

    assert response.choices[0].message.content == "an answer"
    assert metadata.get("semcache", {}).get("outcome") == "miss"
    assert metadata["semcache"]["reason"] == "deadline"
