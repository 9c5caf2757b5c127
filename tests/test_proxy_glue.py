"""Proxy glue without a proxy process: headers, 400s, the replaced-cache warning, metrics, CLI."""

from __future__ import annotations

import asyncio
import json

import litellm
import pytest
from fastapi import HTTPException
from helpers import exposition
from structlog.testing import capture_logs

from litellm_semcache import cli
from litellm_semcache.integrations import proxy
from litellm_semcache.config import BUILTIN_DEFAULTS


@pytest.fixture
def engine(installed):
    return installed


def test_bad_controls_become_http_400(engine):
    handler = proxy.SemcacheProxyHandler(engine)
    data = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "cache": {"ttl": -1}}
    with pytest.raises(HTTPException) as error:
        asyncio.run(handler.async_pre_call_hook(None, None, data, "completion"))
    assert error.value.status_code == 400 and "cache.ttl" in str(error.value.detail)


@pytest.mark.parametrize("header, ttl", [("s-maxage=30", 30.0), ("public, s-maxage=0", 0.0),
                                         ("max-age=5", None)])
def test_a_cache_control_header_sets_the_ttl(engine, header, ttl):
    handler = proxy.SemcacheProxyHandler(engine)
    data = {"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "proxy_server_request": {"headers": {"cache-control": header}}}
    asyncio.run(handler.async_pre_call_hook(None, None, data, "completion"))
    assert data.get("ttl") == ttl


@pytest.mark.parametrize("data", [
    {"proxy_server_request": {"headers": {"cache-control": "s-maxage=soon"}}},
    {"ttl": "soon"},
])
def test_a_bad_ttl_from_a_header_or_the_body_is_a_400(engine, data):
    handler = proxy.SemcacheProxyHandler(engine)
    data = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **data}
    with pytest.raises(HTTPException) as error:
        asyncio.run(handler.async_pre_call_hook(None, None, data, "completion"))
    assert error.value.status_code == 400 and "must be a number of seconds" in str(error.value.detail)


def test_a_replaced_litellm_cache_is_reported_once(engine):
    handler = proxy.SemcacheProxyHandler(engine)
    litellm.cache = litellm.Cache(type="local")  # what `cache: true` after `callbacks` does
    data = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    with capture_logs() as events:
        asyncio.run(handler.async_pre_call_hook(None, None, data, "completion"))
        asyncio.run(handler.async_pre_call_hook(None, None, data, "completion"))
    warnings = [e for e in events if e["event"] == "semcache.replaced"]
    assert len(warnings) == 1 and "cache: true" in warnings[0]["message"]


def test_headers_describe_the_decision():
    class Response:
        _hidden_params = {"cache_hit": True}

    decision = {"outcome": "hit", "reason": "semantic", "category": "chat", "similarity": 0.91234,
                "threshold": 0.8, "ttl_seconds": 600, "model_group": "g", "deployment": "d",
                "latency_ms": 1.23456}
    headers = proxy.response_headers({"metadata": {"semcache": decision}}, Response())
    assert headers == {"x-semcache": "hit", "x-semcache-reason": "semantic",
                       "x-semcache-category": "chat", "x-semcache-threshold": "0.8",
                       "x-semcache-ttl": "600", "x-semcache-model-group": "g",
                       "x-semcache-deployment": "d", "x-semcache-similarity": "0.9123",
                       "x-semcache-lookup-ms": "1.235"}
    assert proxy.response_headers({}, Response())["x-semcache"] == "bypass"
    Response._hidden_params = {}
    assert proxy.response_headers({"metadata": {"semcache": decision}}, Response())["x-semcache"] == "miss"


def test_metrics_expose_per_category_counters_and_histograms(engine):
    request = {"model": "m", "messages": [{"role": "user", "content": "Tell me a joke"}]}
    engine.lookup(request)
    engine.store(request, {"timestamp": 1.0, "response": "{}"})
    engine.lookup(request)
    text = exposition(engine)
    assert 'semcache_hits_total{category="chat"} 1.0' in text
    assert 'semcache_misses_total{category="chat"} 1.0' in text
    assert 'semcache_entries{category="chat"} 1.0' in text
    assert 'semcache_lookup_latency_seconds_count{category="chat"} 2.0' in text
    assert 'semcache_best_similarity_bucket{category="chat",le="1.0"} 1.0' in text
    # ratios are PromQL's: the sums and counts they are computed from, no ratio gauges
    assert 'semcache_miss_cost_seconds_count{category="chat"} 1.0' in text
    assert 'semcache_upstream_latency_seconds_count{category="chat"} 1.0' in text
    assert "semcache_hit_rate" not in text and "semcache_above_break_even" not in text


def test_cli_warm_inspect_stats_flush(tmp_path, monkeypatch, capsys):
    policy = tmp_path / "policy.yaml"
    policy.write_text(BUILTIN_DEFAULTS.read_text() + f"\nstore:\n  path: {tmp_path / 'store'}\n"
                      "log_level: warning\n")
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("\n".join(json.dumps(p) for p in [
        {"prompt": "How do I reverse a list in Python?", "response": "Use reversed() or [::-1]."},
        {"prompt": "What is the capital of France?", "response": "Paris.", "category": "docs"},
    ]) + "\n")
    previous = litellm.cache
    try:
        assert cli.main(["warm", str(pairs), "--config", str(policy)]) == 0
    finally:
        litellm.cache = previous
    assert cli.main(["inspect", "how to reverse a python list", "--config", str(policy)]) == 0
    assert "How do I reverse a list in Python?" in capsys.readouterr().out
    assert cli.main(["stats", "--config", str(policy)]) == 0
    out = capsys.readouterr().out
    assert "code" in out and "docs" in out
    assert cli.main(["flush", "--category", "docs", "--yes", "--config", str(policy)]) == 0
    assert "deleted 1 entries" in capsys.readouterr().out


def test_cli_reports_bad_input_without_a_traceback(tmp_path, capsys):
    bad = tmp_path / "pairs.jsonl"
    bad.write_text('{"prompt": "x"}\n')
    assert cli.main(["warm", str(bad)]) == 2
    assert "expected" in capsys.readouterr().err
    assert cli.main(["stats", "--config", str(tmp_path / "missing.yaml")]) == 2
