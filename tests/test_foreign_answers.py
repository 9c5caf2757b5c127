"""Property: no tenant is ever served an answer another tenant's request produced, unless the
operator made that category shared and the writer was allowed to write it, and the reader's
request was the writer's in every parameter that can change the answer.

Tenants are hostile: each write and read picks its own client-supplied metadata (any category
label, as metadata or tag), answer-shaping parameters and prompt. Every answer records who
produced it and how, so a hit can be traced back to its writer.
"""

from __future__ import annotations

import json

from helpers import HIT, chat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PROMPTS = ["What is the current price of Apple stock?", "What's the current price of Apple stock?",
           "How do I authenticate with the REST API?", "How can I authenticate with the REST API?",
           "Tell me a joke", "Tell me a joke please", "How do I reverse a list in Python?"]
TEAMS = ["team-a", "team-b", "team-c"]
LABELS = [None, ("metadata", "finance"), ("tag", "finance"), ("metadata", "docs"),
          ("tag", "docs"), ("metadata", "chat")]
PARAMS = [{}, {"guided_choice": ["EVIL"]}, {"top_k": 3}, {"temperature": 0.0},
          {"metadata_only": True}]

requests = st.tuples(st.sampled_from(TEAMS), st.sampled_from(LABELS),
                     st.sampled_from(range(len(PARAMS))), st.sampled_from(PROMPTS))
policies = st.fixed_dictionaries({
    "finance": st.fixed_dictionaries({"shared": st.booleans()}),
    "docs": st.fixed_dictionaries({"shared": st.booleans(), "writers": st.sampled_from(
        [None, ["team:team-a"], ["team:team-b", "team:team-c"]])}),
})


def request(team: str, label, params: int, prompt: str) -> dict:
    metadata = {"user_api_key_hash": f"hash-{team}", "user_api_key_team_id": team}
    if label is not None:
        kind, category = label
        metadata.update({"semcache_category": category} if kind == "metadata"
                        else {"tags": [f"semcache:{category}"]})
    extra = dict(PARAMS[params])
    if extra.pop("metadata_only", False):
        metadata["anything"] = "a client may put here"
    return chat(prompt, metadata=metadata, **extra)


def answer(team: str, label, params: int) -> dict:
    content = json.dumps({"team": team, "labelled": label is not None, "params": params})
    return {"timestamp": 1.0, "response": json.dumps({"id": "r", "choices": [{
        "index": 0, "finish_reason": "stop",
        "message": {"role": "assistant", "content": content}}]})}


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(policy=policies, writes=st.lists(requests, min_size=1, max_size=6), read=requests)
def test_no_foreign_answer_without_a_granted_shared_write(make_cache, policy, writes, read):
    cache = make_cache(categories=policy)
    cache.flush()
    for team, label, params, prompt in writes:
        cache.store(request(team, label, params, prompt), answer(team, label, params))

    reader, _, reader_params, _ = read
    decision = cache.lookup(request(*read))

    if decision.outcome != HIT:
        return
    writer = json.loads(json.loads(decision.response["response"])["choices"][0]["message"]
                        ["content"])
    if writer["team"] == reader:
        return
    category = cache.settings.policy(decision.category)
    assert category.shared, (decision, writer)
    assert PARAMS[writer["params"]] == PARAMS[reader_params] or {
        writer["params"], reader_params} <= {0, 4}, (decision, writer)  # 4: metadata only
    if category.writers is None:
        assert not writer["labelled"], (decision, writer)
    else:
        assert f"team:{writer['team']}" in category.writers, (decision, writer)
