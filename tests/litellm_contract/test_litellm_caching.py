"""LiteLLM's semantic-cache key rules, seen through litellm-semcache.

Adapts ``tests/test_litellm/caching/test_caching.py`` of BerriAI/litellm (LiteLLM pin 1.108.7).
Upstream checks the keys ``Cache.get_cache_key`` builds for a semantic cache type; here each
rule is checked by what the installed cache serves. The embedding per-item token tests of that
file exercise no backend and are not ported (see README.md).
"""

from __future__ import annotations

import logging

import litellm
import pytest
from contract_support import ask, content, user, was_hit

SKY, SKY_AGAIN = "What color is the sky?", "Tell me the colour of the sky, please."
FIRST, SECOND = "hi, how are you today?", "hello, how are you doing?"


def test_cache_key_debug_log_does_not_include_prompt_material(cache, caplog):
    secret = "secret prompt material "
    messages = [{"role": "system", "content": secret * 100}, {"role": "user", "content": "hello"}]
    tools = [{"type": "function", "function": {
        "name": "lookup", "parameters": {"type": "object",
                                         "properties": {"query": {"type": "string"}}}}}]
    response_format = {"type": "json_schema",
                       "json_schema": {"name": "lookup_response", "schema": {"type": "object"}}}

    with caplog.at_level(logging.DEBUG, logger="LiteLLM"):
        ask(messages, "first", model="gpt-4.1-mini", tools=tools, response_format=response_format)
        hit = ask(messages, "second", model="gpt-4.1-mini", tools=tools,
                  response_format=response_format)

    key_logs = [r.getMessage() for r in caplog.records if "Created cache key:" in r.getMessage()]
    assert was_hit(hit)
    assert key_logs and all(secret not in line for line in key_logs)
    assert any(hit._hidden_params["cache_key"] in line for line in key_logs)


def test_paraphrases_share_a_bucket_and_are_served(cache):
    tenant = {"user_api_key": "hash-abc"}
    ask(SKY, "blue", model="gpt-4o-mini", metadata=dict(tenant))
    second = ask(SKY_AGAIN, "THE MODEL WAS CALLED", model="gpt-4o-mini", metadata=dict(tenant))

    assert was_hit(second) and content(second) == "blue"
    assert second._hidden_params["cache_key"] == litellm.cache.get_cache_key(
        model="gpt-4o-mini", messages=user(SKY), metadata=dict(tenant))


def test_tenants_are_isolated(cache):
    ask(SKY, "for hash-A", model="gpt-4o-mini", metadata={"user_api_key": "hash-A"})
    same = ask(SKY, "THE MODEL WAS CALLED", model="gpt-4o-mini",
               metadata={"user_api_key": "hash-A"})
    other_key = ask(SKY, "for hash-B", model="gpt-4o-mini", metadata={"user_api_key": "hash-B"})
    with_team = ask(SKY, "for hash-A in team-1", model="gpt-4o-mini",
                    metadata={"user_api_key": "hash-A", "user_api_key_team_id": "team-1"})

    assert content(same) == "for hash-A"
    assert content(other_key) == "for hash-B" and content(with_team) == "for hash-A in team-1"


def test_models_and_params_still_separate(cache):
    tenant = {"user_api_key": "hash-A"}
    ask("hi", "gpt-4o-mini at 0", model="gpt-4o-mini", temperature=0, metadata=dict(tenant))
    other_model = ask("hi", "gpt-4o at 0", model="gpt-4o", temperature=0, metadata=dict(tenant))
    other_temperature = ask("hi", "gpt-4o-mini at 1", model="gpt-4o-mini", temperature=1,
                            metadata=dict(tenant))

    assert content(other_model) == "gpt-4o at 0" and not was_hit(other_model)
    assert content(other_temperature) == "gpt-4o-mini at 1" and not was_hit(other_temperature)


@pytest.mark.xfail(strict=True, reason="by design: semantic keys. LiteLLM's exact cache keys "
                   "the prompt, so a differently worded prompt is a miss; this cache serves a "
                   "paraphrase above the category threshold (chat: 0.81)")
def test_differently_worded_prompt_is_a_miss(cache):
    ask(FIRST, "I am fine, thanks!", model="gpt-4o-mini")
    second = ask(SECOND, "fresh answer", model="gpt-4o-mini")

    assert not was_hit(second) and content(second) == "fresh answer"


def test_unrelated_prompts_do_not_share(cache):
    ask(SKY, "blue", model="gpt-4o-mini")
    other = ask("How do I reverse a list in Python?", "use reversed()", model="gpt-4o-mini")

    assert not was_hit(other) and content(other) == "use reversed()"
