"""Through the real LiteLLM proxy: a hostile prompt costs the cache nothing, and a failed upstream
call does not hold back the retry. The proxy's single-flight window is ten minutes: a retry held
back by the failed leader would hang until the client's 30 s timeout."""

from __future__ import annotations

import httpx
import pytest

from harness import litellm_proxy
from litellm_semcache.testing import Misbehaviour, StandInModel
from proxy_setup import ROOT, proxy_config

pytestmark = pytest.mark.e2e
KEY = "sk-tenant-a-0123456789"  # proxy_auth.py


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    """(proxy URL, its stand-in upstream); the single-flight window is ten minutes."""
    workdir = tmp_path_factory.mktemp("proxy-load")
    env = {"SEMCACHE_CONFIG": str(ROOT / "config.example.yaml"),
           "SEMCACHE_STORE__PATH": str(workdir / "store"), "SEMCACHE_LOG_LEVEL": "warning",
           "SEMCACHE_SINGLE_FLIGHT_WAIT_MS": "600000", "UPSTREAM_API_KEY": "sk-upstream"}
    with StandInModel() as upstream, \
            litellm_proxy(proxy_config(upstream.url, workdir), workdir, env) as running:
        yield running.base_url, upstream


def chat(base: str, prompt: str) -> httpx.Response:
    return httpx.post(f"{base}/v1/chat/completions", timeout=30,
                      headers={"Authorization": f"Bearer {KEY}"},
                      json={"model": "chat-small", "messages": [{"role": "user", "content": prompt}]})


def test_a_3_mb_prompt_of_u_fdfa_bypasses_the_cache_and_reaches_the_model(proxy):
    proxy, upstream = proxy
    hostile = "\ufdfa" * 1_000_000  # 3 MB of UTF-8; NFKC would make it 18 million characters
    before = upstream.calls
    reply = chat(proxy, hostile)

    assert reply.status_code == 200
    assert reply.headers["x-semcache"] == "bypass"
    assert reply.headers["x-semcache-reason"] == "prompt_too_long"
    assert upstream.calls == before + 1 and upstream.prompts[-1] == hostile
    assert httpx.get(f"{proxy}/health/liveliness", timeout=10).status_code == 200


def test_a_failed_upstream_call_does_not_hold_back_the_retry(proxy):
    proxy, upstream = proxy
    prompt = "What is the boiling point of water at the top of Everest?"
    upstream.misbehaviour = Misbehaviour.ERROR
    try:
        failed = chat(proxy, prompt)
    finally:
        upstream.misbehaviour = None
    assert failed.status_code >= 500

    retry = chat(proxy, prompt)  # would wait for the failed leader for ten minutes

    assert retry.status_code == 200
    assert retry.json()["choices"][0]["message"]["content"] == f"answer to: {prompt}"
    assert retry.headers["x-semcache"] == "miss"
