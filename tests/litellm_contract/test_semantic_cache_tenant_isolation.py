"""Tenant isolation of semantic caching (LiteLLM's VERIA-54 tests), run against litellm-semcache.

Adapts ``tests/test_litellm/caching/test_semantic_cache_tenant_isolation.py`` of BerriAI/litellm
(LiteLLM pin 1.108.7). Upstream checks that the Redis and Qdrant semantic caches route each
tenant (team, user, org from the proxy's metadata) to its own index; here the same promises
are checked by what the installed cache serves: another tenant's answer is never served, the
same tenant's is, and callers without a tenant share their own pool. ``get_tenant_scope`` and
the Redis/Qdrant index internals are newer than the pin or backend-specific (see README.md).
"""

from __future__ import annotations

import pytest
from contract_support import (
    KEY_A,
    KEY_B,
    aask,
    ask,
    content,
    proxy_chat,
    proxy_chat_and_store,
    settle,
    was_hit,
)

TEAM_A = {"user_api_key_team_id": "team-a"}
TEAM_B = {"user_api_key_team_id": "team-b"}
FIRST, SECOND = "hi, how are you today?", "hello, how are you doing?"


def test_team_b_is_not_served_team_a_answer(cache):
    ask("How do I configure webhooks?", "team-a answer", metadata=dict(TEAM_A))
    other = ask("How do I configure webhooks?", "team-b answer", metadata=dict(TEAM_B))
    own = ask("How do I configure webhooks?", "THE MODEL WAS CALLED", metadata=dict(TEAM_A))

    assert not was_hit(other) and content(other) == "team-b answer"
    assert content(own) == "team-a answer"


async def test_team_b_is_not_served_team_a_answer_async(cache):
    await aask("Where do I find my API key in the dashboard?", "team-a answer",
               metadata=dict(TEAM_A))
    await settle(cache, 1)
    other = await aask("Where do I find my API key in the dashboard?", "team-b answer",
                       metadata=dict(TEAM_B))
    own = await aask("Where do I find my API key in the dashboard?", "THE MODEL WAS CALLED",
                     metadata=dict(TEAM_A))

    assert content(other) == "team-b answer"
    assert was_hit(own) and content(own) == "team-a answer"


async def test_a_paraphrase_is_served_within_a_team_only(cache):
    await aask(FIRST, "I am fine, thanks!", metadata=dict(TEAM_A))
    await settle(cache, 1)
    same_team = await aask(SECOND, "THE MODEL WAS CALLED", metadata=dict(TEAM_A))
    other_team = await aask(SECOND, "team-b answer", metadata=dict(TEAM_B))

    assert was_hit(same_team) and content(same_team) == "I am fine, thanks!"
    assert not was_hit(other_team) and content(other_team) == "team-b answer"


def test_team_user_and_org_together_scope_an_entry(cache):
    scope = {"user_api_key_team_id": "team-a", "user_api_key_user_id": "user-1",
             "user_api_key_org_id": "org-x"}
    ask("What is the rate limit of the API?", "for this scope", metadata=dict(scope))
    same = ask("What is the rate limit of the API?", "THE MODEL WAS CALLED", metadata=dict(scope))
    other_user = ask("What is the rate limit of the API?", "for user-2",
                     metadata={**scope, "user_api_key_user_id": "user-2"})
    other_org = ask("What is the rate limit of the API?", "for org-y",
                    metadata={**scope, "user_api_key_org_id": "org-y"})

    assert content(same) == "for this scope"
    assert content(other_user) == "for user-2" and content(other_org) == "for org-y"


def test_callers_without_a_tenant_share_their_own_pool(cache):
    ask("Which SDK versions are supported?", "shared answer")
    again = ask("Which SDK versions are supported?", "THE MODEL WAS CALLED", metadata={})

    assert was_hit(again) and content(again) == "shared answer"


def test_tenant_and_no_tenant_pools_never_mix(cache):
    ask("How do I paginate results from the list endpoint?", "tenant answer",
        metadata=dict(TEAM_A))
    anonymous = ask("How do I paginate results from the list endpoint?", "anonymous answer")
    ask("What does error code 429 mean in the API?", "anonymous answer")
    tenant = ask("What does error code 429 mean in the API?", "tenant answer",
                 metadata=dict(TEAM_A))

    assert not was_hit(anonymous) and content(anonymous) == "anonymous answer"
    assert not was_hit(tenant) and content(tenant) == "tenant answer"


def test_end_users_of_one_key_do_not_share(cache):
    ask(FIRST, "for end user 1", metadata={"user_api_key_end_user_id": "end-user-1"})
    again = ask(FIRST, "THE MODEL WAS CALLED", metadata={"user_api_key_end_user_id": "end-user-1"})
    other = ask(FIRST, "for end user 2", metadata={"user_api_key_end_user_id": "end-user-2"})

    assert content(again) == "for end user 1"
    assert not was_hit(other) and content(other) == "for end user 2"


@pytest.mark.e2e
def test_two_api_keys_never_share_through_the_proxy(proxy, upstream):
    prompt = "How do I authenticate with the REST API?"
    first = proxy_chat_and_store(proxy, prompt, KEY_A)
    before = upstream.calls

    other_key = proxy_chat(proxy, prompt, KEY_B)
    same_key = proxy_chat(proxy, prompt, KEY_A)

    assert first.headers["x-semcache"] == "miss"
    assert other_key.headers["x-semcache"] == "miss" and same_key.headers["x-semcache"] == "hit"
    assert upstream.calls == before + 1
