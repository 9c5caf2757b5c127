"""End to end through the real LiteLLM proxy process with `callbacks: litellm_semcache.proxy_handler`.

One proxy (and one stand-in upstream that counts calls) serves the whole module; each test uses
its own prompts so that tests stay independent.
"""

from __future__ import annotations

import itertools
import time
import urllib.request

import openai
import pytest

from harness import free_port, litellm_proxy
from litellm_semcache.config import load_settings
from proxy_setup import ROOT, proxy_config

pytestmark = pytest.mark.e2e
KEY_A, KEY_B = "sk-tenant-a-0123456789", "sk-tenant-b-0123456789"


@pytest.fixture(scope="module")
def proxy(tmp_path_factory, upstream):
    workdir = tmp_path_factory.mktemp("proxy")
    config = proxy_config(upstream.url, workdir)
    metrics_port = free_port()
    env = {"SEMCACHE_CONFIG": str(ROOT / "config.example.yaml"),
           "SEMCACHE_STORE__PATH": str(workdir / "store"), "SEMCACHE_METRICS_PORT": str(metrics_port),
           "UPSTREAM_API_KEY": "sk-upstream-SECRET-value",
           "SEMCACHE_CATEGORIES__FINANCE__SHARED": "true"}  # market data is the same for everyone
    with litellm_proxy(config, workdir, env) as running:
        yield {"base": running.base_url, "metrics": f"http://127.0.0.1:{metrics_port}/metrics",
               "log": running.log, "store": workdir / "store"}


def client(proxy, key: str = KEY_A) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{proxy['base']}/v1", api_key=key, max_retries=0, timeout=30)


def metric(proxy, name: str, category: str) -> float:
    with urllib.request.urlopen(proxy["metrics"], timeout=5) as reply:
        for line in reply.read().decode().splitlines():
            if line.startswith(f'{name}{{category="{category}"}}'):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def wait_for_store(proxy, category: str, before: float) -> None:
    """LiteLLM writes the cache in a background task after answering."""
    deadline = time.monotonic() + 10
    while metric(proxy, "semcache_stores_total", category) <= before:
        assert time.monotonic() < deadline, "the answer was never stored"
        time.sleep(0.05)


def stores_everywhere(proxy) -> float:
    """``semcache_stores_total`` summed over every category."""
    with urllib.request.urlopen(proxy["metrics"], timeout=5) as reply:
        return sum(float(line.rsplit(" ", 1)[1]) for line in reply.read().decode().splitlines()
                   if line.startswith("semcache_stores_total{"))


_MARKERS = itertools.count()


def settle(proxy) -> None:
    """A barrier, not a sleep, before checking that nothing was written: one more request,
    answered and its answer stored (exactly one more store). LiteLLM starts a request's cache
    write when it has answered it, so the writes of requests answered earlier were started
    first and waited on the same loaded box as this one."""
    before = stores_everywhere(proxy)
    chat(proxy, f"Repeat after me: marker number {next(_MARKERS)} of the barrier")
    deadline = time.monotonic() + 10
    while stores_everywhere(proxy) <= before:
        assert time.monotonic() < deadline, "the barrier's answer was never stored"
        time.sleep(0.05)


def chat_and_store(proxy, prompt: str, category: str, key: str = KEY_A):
    """Ask once (a miss) and wait until the answer is stored."""
    stores = metric(proxy, "semcache_stores_total", category)
    reply = chat(proxy, prompt, key=key)
    wait_for_store(proxy, category, stores)
    return reply


def chat(proxy, prompt: str, key: str = KEY_A, **kwargs):
    raw = client(proxy, key).chat.completions.with_raw_response.create(
        model="chat-small", messages=[{"role": "user", "content": prompt}], **kwargs)
    return raw.parse(), raw.headers


def test_paraphrase_is_served_from_the_cache_with_provenance_headers(proxy, upstream):
    before = upstream.calls
    _, first_headers = chat_and_store(proxy, "hi, how are you today?", "chat")
    assert first_headers["x-semcache"] == "miss" and first_headers["x-semcache-category"] == "chat"

    second, headers = chat(proxy, "hello, how are you doing?")

    assert upstream.calls == before + 1
    assert second.choices[0].message.content == "answer to: hi, how are you today?"
    assert headers["x-semcache"] == "hit" and headers["x-semcache-reason"] == "semantic"
    assert headers["x-semcache-category"] == "chat"
    shipped = load_settings(None).policy("chat").similarity_threshold
    assert float(headers["x-semcache-similarity"]) >= float(headers["x-semcache-threshold"]) == shipped
    assert headers["x-semcache-ttl"] == "21600"
    assert headers["x-semcache-model-group"] == "chat-small"
    assert headers["x-semcache-deployment"] == "stand-in-a"
    assert "x-litellm-cache-key" in headers


def test_text_completions_are_cached_too(proxy, upstream):
    stores = metric(proxy, "semcache_stores_total", "code")
    completions = client(proxy).completions.with_raw_response
    first = completions.create(model="chat-small", prompt="How do I merge two dictionaries in Python?")
    assert first.headers["x-semcache"] == "miss"
    wait_for_store(proxy, "code", stores)
    before = upstream.calls

    again = completions.create(model="chat-small", prompt="How can I merge two dictionaries in Python?")

    assert again.headers["x-semcache"] == "hit" and upstream.calls == before
    assert again.parse().choices[0].text == "answer to: How do I merge two dictionaries in Python?"


def test_streams_are_stored_when_complete_and_replayed_as_streams(proxy, upstream):
    stores = metric(proxy, "semcache_stores_total", "chat")
    first = client(proxy).chat.completions.with_raw_response.create(
        model="chat-small", stream=True, messages=[{"role": "user", "content": "Tell me a joke"}])
    assert "".join(c.choices[0].delta.content or "" for c in first.parse() if c.choices) == \
        "answer to: Tell me a joke"
    wait_for_store(proxy, "chat", stores)
    before = upstream.calls

    replay = client(proxy).chat.completions.with_raw_response.create(
        model="chat-small", stream=True, messages=[{"role": "user", "content": "Tell me a joke!"}])
    chunks = list(replay.parse())

    assert replay.headers["x-semcache"] == "hit" and upstream.calls == before
    assert len(chunks) > 1
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == \
        "answer to: Tell me a joke"


def test_a_failed_stream_is_never_stored(proxy, upstream):
    prompt = "Tell me a story about a lighthouse keeper"
    upstream.fail_streams = True
    try:
        with pytest.raises(openai.APIError):
            stream = client(proxy).chat.completions.create(
                model="chat-small", stream=True, messages=[{"role": "user", "content": prompt}])
            list(stream)
    finally:
        upstream.fail_streams = False
    stores = stores_everywhere(proxy)
    settle(proxy)  # a (wrong) background write of the failed stream had its turn
    assert stores_everywhere(proxy) == stores + 1  # the barrier's own answer only
    before = upstream.calls

    _, headers = chat(proxy, prompt, stream=False)
    stream = client(proxy).chat.completions.create(
        model="chat-small", stream=True, messages=[{"role": "user", "content": prompt}])
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    assert text == f"answer to: {prompt}" and upstream.calls == before + 2


def test_two_keys_never_share_an_entry(proxy, upstream):
    chat_and_store(proxy, "How do I configure webhooks?", "docs", key=KEY_A)
    before = upstream.calls

    _, other_tenant = chat(proxy, "How do I configure webhooks?", key=KEY_B)
    _, same_tenant = chat(proxy, "How do I configure webhooks?", key=KEY_A)

    assert other_tenant["x-semcache"] == "miss" and same_tenant["x-semcache"] == "hit"
    assert upstream.calls == before + 1


def test_a_shared_category_serves_both_keys(proxy, upstream):
    chat_and_store(proxy, "What is the current price of Apple stock?", "finance", key=KEY_A)
    before = upstream.calls

    answer, headers = chat(proxy, "What's the current price of Apple stock?", key=KEY_B)

    assert headers["x-semcache"] == "hit" and upstream.calls == before
    assert answer.choices[0].message.content == "answer to: What is the current price of Apple stock?"


def test_no_cache_and_no_store_controls(proxy, upstream):
    prompt = "What should I cook for dinner tonight?"
    everywhere = stores_everywhere(proxy)
    chat(proxy, prompt, extra_body={"cache": {"no-store": True}})
    settle(proxy)
    assert stores_everywhere(proxy) == everywhere + 1  # the barrier's answer, not the no-store one
    stores = metric(proxy, "semcache_stores_total", "chat")
    _, headers = chat(proxy, prompt)
    assert headers["x-semcache"] == "miss"
    wait_for_store(proxy, "chat", stores)
    before = upstream.calls

    _, skipped = chat(proxy, prompt, extra_body={"cache": {"no-cache": True}})

    assert skipped["x-semcache"] == "bypass" and upstream.calls == before + 1


@pytest.mark.parametrize("extra, message", [
    ({"cache": {"ttl": "soon"}}, "cache.ttl must be a number"),
    ({"cache": {"no-cache": "yes"}}, "cache.no-cache must be true or false"),
    ({"metadata": {"semcache_category": "sports"}}, "unknown semcache category 'sports'"),
])
def test_invalid_controls_are_a_400_not_a_500(proxy, extra, message):
    with pytest.raises(openai.BadRequestError) as error:
        chat(proxy, "Tell me a joke", extra_body=extra)
    assert message in str(error.value)


def test_sensitive_category_does_not_serve_a_paraphrase(proxy, upstream):
    chat_and_store(proxy, "What are the symptoms of diabetes?", "medical")
    before = upstream.calls

    answer, headers = chat(proxy, "What symptoms does diabetes cause?")

    assert headers["x-semcache"] == "miss" and headers["x-semcache-category"] == "medical"
    assert headers["x-semcache-reason"] == "guard:score"  # reworded: the verifier refuses it
    assert answer.choices[0].message.content == "answer to: What symptoms does diabetes cause?"
    assert upstream.calls == before + 1


def test_secrets_stay_out_of_logs_metrics_and_stored_documents(proxy):
    before = stores_everywhere(proxy)
    chat(proxy, "Can you recommend a good book?")
    deadline = time.monotonic() + 10
    while stores_everywhere(proxy) <= before:  # something to search for the secrets in
        assert time.monotonic() < deadline, "the answer was never stored"
        time.sleep(0.05)
    with urllib.request.urlopen(proxy["metrics"], timeout=5) as reply:
        exposed = reply.read().decode()
    stored = b"".join(p.read_bytes() for p in proxy["store"].rglob("*") if p.is_file())
    for secret in ("sk-upstream-SECRET-value", KEY_A):
        assert secret not in proxy["log"].read_text()
        assert secret not in exposed
        assert secret.encode() not in stored


def test_a_cache_fault_mid_run_never_fails_a_request(proxy, upstream):
    for name in ("cache.db", "cache.db-wal", "cache.db-shm"):  # corrupt the live store in place
        path = proxy["store"] / name
        if path.exists():
            with open(path, "r+b") as db:
                db.write(b"\0" * min(path.stat().st_size, 4096 * 16))
    before = upstream.calls

    answers = [chat(proxy, f"Tell me a fun fact about the number {n}") for n in range(3)]

    assert [a.choices[0].message.content for a, _ in answers] == [
        f"answer to: Tell me a fun fact about the number {n}" for n in range(3)]
    assert upstream.calls == before + 3
    assert sum(metric(proxy, "semcache_fail_opens_total", c) for c in
               ("uncategorised", "chat", "default")) > 0
