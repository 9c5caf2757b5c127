"""What the LiteLLM backend promises beyond LiteLLM's own tests: the sync path sees the whole
request, the TTL a hit reports is the one it was stored with, a hit LiteLLM would refuse is
counted as a miss, and every decision is logged once with LiteLLM's call id."""

from __future__ import annotations

import json
import logging
import time

import litellm
import pytest
import structlog
from structlog.testing import capture_logs

import litellm_semcache
from litellm_semcache.config import BUILTIN_DEFAULTS, load_settings
from litellm_semcache.engine import Decision, Outcome, Reason
from litellm_semcache.observability.logs import DecisionLog


def ask(prompt: str, answer: str = "fresh", **kwargs):
    return litellm.completion(model="gpt-4o-mini", mock_response=answer,
                              messages=[{"role": "user", "content": prompt}], **kwargs)


def hit(response) -> bool:
    return (response._hidden_params or {}).get("cache_hit") is True


def test_a_sync_hit_reports_the_ttl_it_was_stored_with(installed):
    metadata: dict = {}
    ask("Tell me a joke about walruses", cache={"ttl": 7})
    again = ask("Tell me a joke about walruses", "THE MODEL WAS CALLED", metadata=metadata)

    assert hit(again)
    assert metadata["semcache"]["ttl_seconds"] == 7  # the sync path annotates the request too


def test_a_ttl_above_the_category_cap_is_capped(installed):
    ask("Tell me a joke about narwhals", ttl=10**9)
    metadata: dict = {}
    ask("Tell me a joke about narwhals", metadata=metadata)

    assert metadata["semcache"]["ttl_seconds"] == installed.settings.policy("chat").ttl_cap


@pytest.fixture
def shared_finance(tmp_path, embedder):
    """The shipped policy with ``finance`` shared by every tenant, installed."""
    settings = load_settings(BUILTIN_DEFAULTS).model_copy(deep=True)
    settings.store.path = str(tmp_path / "store")
    settings.categories["finance"].shared = True
    settings.categories["finance"].writers = ["key:a"]  # tenant a may write for everyone
    previous = litellm.cache
    engine = litellm_semcache.install(settings, embedder=embedder)
    yield engine
    litellm.cache = previous
    engine.close()


def test_a_shared_category_hits_across_tenants_on_the_sync_path(shared_finance):
    engine = shared_finance
    tenant_a = {"user_api_key_hash": "a", "semcache_category": "finance"}
    tenant_b = {"user_api_key_hash": "b", "semcache_category": "finance"}
    ask("What is the price of gold today?", "gold answer", metadata=tenant_a)
    # the same mock_response: a mocked answer is only ever shared with the same mock
    other = ask("What is the price of gold today?", "gold answer", metadata=tenant_b)

    assert hit(other) and other.choices[0].message.content == "gold answer"
    assert engine.stats_snapshot()["finance"]["hits"] == 1


def test_a_hit_litellm_would_refuse_for_s_maxage_is_a_counted_miss(installed):
    """LiteLLM measures s-maxage from the timestamp it stored, a moment before our entry's
    creation: an answer that is fresh for the engine but too old for LiteLLM is a miss."""
    backend = litellm.cache.cache
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Tell me a joke "
                                                                                "about ibexes"}]}
    old = {"timestamp": time.time() - 60, "response": json.dumps({"id": "x", "choices": [
        {"index": 0, "finish_reason": "stop",
         "message": {"role": "assistant", "content": "an ibex joke"}}]})}
    installed.store(request, old, upstream_key="k")
    hits = installed.stats_snapshot()["chat"]["hits"]

    refused = backend.get_cache("k", **request, cache={"s-maxage": 30})
    served = backend.get_cache("k", **request)

    assert refused is None and served == old
    snapshot = installed.stats_snapshot()["chat"]
    assert snapshot["hits"] == hits + 1 and snapshot["misses"] >= 1


def test_each_decision_is_one_debug_event_with_the_call_id(installed):
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    with capture_logs() as events:
        ask("Tell me a joke about tapirs", litellm_call_id="call-123")
    decisions = [e for e in events if e["event"] == "semcache.decision"]

    assert len(decisions) == 1
    assert decisions[0]["log_level"] == "debug" and decisions[0]["call_id"] == "call-123"


def test_the_summary_sums_up_each_interval_once():
    now = [0.0]
    log = DecisionLog(10.0, clock=lambda: now[0])
    with capture_logs() as events:
        for second in range(25):
            now[0] = float(second)
            outcome = Outcome.HIT if second % 5 == 0 else Outcome.MISS
            reason = Reason.EXACT if outcome is Outcome.HIT else Reason.NO_CANDIDATE
            log.record(Decision(outcome, reason, category="chat"))
    summaries = [e for e in events if e["event"] == "semcache.summary"]

    assert [s["log_level"] for s in summaries] == ["info", "info"]
    assert summaries[0]["requests"] == 11 and summaries[0]["hit"] == 3  # seconds 0 to 10
    assert summaries[0]["top_reasons"] == {"miss:no_candidate": 8}
    assert summaries[1]["requests"] == 10 and summaries[1]["categories"] == {"chat": 10}
