"""Issue 11 through the real LiteLLM proxy: a hostile tenant cannot plant or shape what other
tenants are served, a broken upstream answer is never cached, prompts and call types that can
mean different things never share an entry, and a damaged stored value is never served.

Two API keys (``proxy_auth.py``: team-a, team-b). ``finance`` is shared with the default write
right (only what the cache categorised itself); ``docs`` is shared with ``writers: [team:team-a]``.
"""

from __future__ import annotations

import json
import time

import openai
import pytest

from harness import free_port, litellm_proxy
from litellm_semcache.testing import Misbehaviour
from proxy_setup import ROOT, client, metric, proxy_config, wait_for_metric

pytestmark = pytest.mark.e2e
KEY_A, KEY_B = "sk-tenant-a-0123456789", "sk-tenant-b-0123456789"


@pytest.fixture(scope="module")
def proxy(tmp_path_factory, upstream):
    workdir = tmp_path_factory.mktemp("trust-proxy")
    metrics_port = free_port()
    env = {"SEMCACHE_CONFIG": str(ROOT / "config.example.yaml"),
           "SEMCACHE_STORE__PATH": str(workdir / "store"),
           "SEMCACHE_METRICS_PORT": str(metrics_port), "UPSTREAM_API_KEY": "sk-upstream",
           "SEMCACHE_CATEGORIES__FINANCE__SHARED": "true",
           "SEMCACHE_CATEGORIES__DOCS__SHARED": "true",
           "SEMCACHE_CATEGORIES__DOCS__WRITERS": json.dumps(["team:team-a"]),
           # a repeat right after a store would take the leader's answer from single-flight
           "SEMCACHE_SINGLE_FLIGHT_WAIT_MS": "200"}
    with litellm_proxy(proxy_config(upstream.url, workdir), workdir, env) as running:
        yield {"base": running.base_url, "metrics": f"http://127.0.0.1:{metrics_port}/metrics",
               "log": running.log, "store": workdir / "store"}


def ask(proxy, prompt: str, key: str = KEY_A, **extra):
    """(answer text, headers) of one chat completion."""
    raw = client(proxy["base"], key).chat.completions.with_raw_response.create(
        model="chat-small", messages=[{"role": "user", "content": prompt}], **extra)
    return raw.parse().choices[0].message.content, raw.headers


def stored(proxy, category: str, before: float) -> None:
    wait_for_metric(proxy["metrics"], "semcache_stores_total", before, category=category)


def stores(proxy, category: str) -> float:
    return metric(proxy["metrics"], "semcache_stores_total", category=category)


def refused(proxy, category: str) -> float:
    return metric(proxy["metrics"], "semcache_refused_stores_total", category=category)


# ---------------------------------------------------------------- finding 1: shared categories

@pytest.mark.parametrize("label", [{"metadata": {"semcache_category": "finance"}},
                                   {"metadata": {"tags": ["semcache:finance"]}}],
                         ids=["metadata", "tag"])
def test_a_client_label_cannot_plant_an_answer_in_a_shared_category(proxy, upstream, label):
    prompt = f"Tell me a joke about accountants ({list(label['metadata'])[0]})"
    before = refused(proxy, "finance")
    planted, _ = ask(proxy, prompt, key=KEY_B, extra_body={**label, "guided_choice": ["EVIL"]})
    assert planted == "EVIL"
    wait_for_metric(proxy["metrics"], "semcache_refused_stores_total", before, category="finance")

    for extra in ({"extra_body": label}, {}):  # the victim labels it too, or does not
        answer, headers = ask(proxy, prompt, key=KEY_A, **extra)
        assert answer == f"answer to: {prompt}" and headers["x-semcache"] == "miss"


def test_answer_shaping_parameters_are_part_of_a_shared_scope(proxy, upstream):
    prompt = "What is the current price of Nvidia stock?"  # finance by the cache's own rule
    before = stores(proxy, "finance")
    planted, headers = ask(proxy, prompt, key=KEY_B, extra_body={"guided_choice": ["SELL ALL"]})
    assert planted == "SELL ALL" and headers["x-semcache-category"] == "finance"
    stored(proxy, "finance", before)

    answer, headers = ask(proxy, prompt, key=KEY_A)
    assert answer == f"answer to: {prompt}" and headers["x-semcache"] == "miss"
    same, headers = ask(proxy, prompt, key=KEY_A, extra_body={"guided_choice": ["SELL ALL"]})
    assert same == "SELL ALL" and headers["x-semcache"] == "hit"  # the same request is shared

    for shaping in ({"top_k": 3}, {"repetition_penalty": 1.3}, {"min_tokens": 5}):
        _, headers = ask(proxy, prompt, key=KEY_B, extra_body=shaping)
        assert headers["x-semcache"] == "miss", shaping


def test_only_the_granted_writers_write_a_shared_category(proxy, upstream):
    docs = {"metadata": {"semcache_category": "docs"}}
    before = stores(proxy, "docs")
    ask(proxy, "How do I rotate my webhook secret?", key=KEY_A, extra_body=docs)
    stored(proxy, "docs", before)
    answer, headers = ask(proxy, "How do I rotate my webhook secret?", key=KEY_B, extra_body=docs)
    assert headers["x-semcache"] == "hit"
    assert answer == "answer to: How do I rotate my webhook secret?"

    before = refused(proxy, "docs")
    ask(proxy, "How do I delete my webhook?", key=KEY_B,
        extra_body={**docs, "guided_choice": ["EVIL"]})
    wait_for_metric(proxy["metrics"], "semcache_refused_stores_total", before, category="docs")
    answer, headers = ask(proxy, "How do I delete my webhook?", key=KEY_A, extra_body=docs)
    assert answer == "answer to: How do I delete my webhook?" and headers["x-semcache"] == "miss"


def test_a_miss_never_shows_how_close_another_tenants_shared_entry_is(proxy, upstream):
    before = stores(proxy, "finance")
    ask(proxy, "What is the current price of Tesla stock?", key=KEY_B)
    stored(proxy, "finance", before)

    _, headers = ask(proxy, "What was the price of Tesla stock in 2019?", key=KEY_A)

    assert headers["x-semcache"] == "miss" and headers["x-semcache-reason"] == "shared_miss"
    assert "x-semcache-similarity" not in headers
    assert "x-litellm-semantic-similarity" not in headers


# ---------------------------------------------------------------- finding 2: broken answers

BROKEN = [(how, stream) for how in (Misbehaviour.TRUNCATED_STREAM, Misbehaviour.CONTENT_FILTER,
                                    Misbehaviour.LENGTH, Misbehaviour.TOOL_CALLS,
                                    Misbehaviour.NULL_CONTENT)
          for stream in (True, False) if stream or how is not Misbehaviour.TRUNCATED_STREAM]


@pytest.mark.parametrize("how, stream", BROKEN,
                         ids=[f"{how.value}-{'stream' if stream else 'plain'}" for how, stream in BROKEN])
def test_a_broken_answer_is_never_stored(proxy, upstream, how, stream):
    prompt = f"Tell me a story about a {how.value} {'stream' if stream else 'answer'}"
    before = refused(proxy, "chat") + refused(proxy, "default")
    with upstream.misbehaving(how):
        _chat(proxy, prompt, stream)
    if how is Misbehaviour.NULL_CONTENT and stream:
        time.sleep(0.5)  # LiteLLM itself drops an empty stream: nothing reaches the cache
    else:
        deadline = time.monotonic() + 10
        while refused(proxy, "chat") + refused(proxy, "default") <= before:
            assert time.monotonic() < deadline, "the broken answer was neither refused nor stored"
            time.sleep(0.05)
    calls = upstream.calls

    text, headers = _chat(proxy, prompt, stream)

    assert text == f"answer to: {prompt}" and headers["x-semcache"] == "miss"
    assert upstream.calls == calls + 1


def test_an_upstream_error_is_never_stored(proxy, upstream):
    prompt = "Tell me a story about a server that failed"
    with upstream.misbehaving(Misbehaviour.ERROR), pytest.raises(openai.APIError):
        ask(proxy, prompt)
    time.sleep(0.3)
    answer, headers = ask(proxy, prompt)
    assert answer == f"answer to: {prompt}" and headers["x-semcache"] == "miss"


def test_a_streamed_answer_is_stored_once(proxy, upstream):
    before = stores(proxy, "chat")
    _chat(proxy, "Tell me a joke about a streaming zebra", stream=True)
    stored(proxy, "chat", before)
    time.sleep(1.0)  # the second write LiteLLM attempts lands within milliseconds
    assert stores(proxy, "chat") == before + 1


def _chat(proxy, prompt: str, stream: bool, key: str = KEY_A):
    raw = client(proxy["base"], key).chat.completions.with_raw_response.create(
        model="chat-small", stream=stream, messages=[{"role": "user", "content": prompt}])
    if not stream:
        return raw.parse().choices[0].message.content, raw.headers
    return "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices), raw.headers


# ---------------------------------------------------------------- finding 3: one key, one request

@pytest.mark.parametrize("first, second", [
    ("What is 2⁵?", "What is 25?"),
    ('Explain print("a    b") in Python', 'Explain print("a b") in Python'),
    ("Fix this:\ndef f(x):\n    return x", "Fix this:\ndef f(x):\nreturn x"),
])
def test_prompts_that_differ_in_meaning_are_never_served_each_others_answer(proxy, upstream,
                                                                              first, second):
    before = stores(proxy, "code") + stores(proxy, "default") + stores(proxy, "chat")
    ask(proxy, first)
    deadline = time.monotonic() + 10
    while stores(proxy, "code") + stores(proxy, "default") + stores(proxy, "chat") <= before:
        assert time.monotonic() < deadline
        time.sleep(0.05)

    answer, headers = ask(proxy, second)

    assert answer == f"answer to: {second}" and headers["x-semcache"] == "miss"


def test_the_last_turns_name_is_part_of_the_key(proxy, upstream):
    def named(name: str):
        raw = client(proxy["base"], KEY_A).chat.completions.with_raw_response.create(
            model="chat-small", messages=[{"role": "user", "content": "Who am I?", "name": name}])
        return raw.headers

    before = stores(proxy, "chat") + stores(proxy, "default")
    named("alice")
    deadline = time.monotonic() + 10
    while stores(proxy, "chat") + stores(proxy, "default") <= before:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert named("bob")["x-semcache"] == "miss" and named("alice")["x-semcache"] == "hit"


# ---------------------------------------------------------------- finding 4: call type

def test_a_text_completion_is_never_served_a_chat_entry_and_back(proxy, upstream):
    prompt = "How do I reverse a list in Python?"
    before = stores(proxy, "code")
    ask(proxy, prompt)
    stored(proxy, "code", before)
    completions = client(proxy["base"], KEY_A).completions.with_raw_response

    text = completions.create(model="chat-small", prompt=prompt)
    assert text.headers["x-semcache"] == "miss"
    assert text.parse().choices[0].text == f"answer to: {prompt}"
    stored(proxy, "code", before + 1)
    again = completions.create(model="chat-small", prompt=prompt)
    chat_again, headers = ask(proxy, prompt)

    assert again.headers["x-semcache"] == "hit" and again.parse().choices[0].text
    assert headers["x-semcache"] == "hit" and chat_again == f"answer to: {prompt}"


# ---------------------------------------------------------------- finding 6: a flipped byte

def test_a_flipped_byte_in_a_stored_value_file_is_never_served(proxy, upstream):
    prompt = "Tell me everything about the history of the lighthouse"
    before = stores(proxy, "chat") + stores(proxy, "default")
    upstream.pad_answers_to = 40_000  # over diskcache's 32 KiB: the value gets its own file
    try:
        original, _ = ask(proxy, prompt)
    finally:
        upstream.pad_answers_to = 0
    deadline = time.monotonic() + 10
    while stores(proxy, "chat") + stores(proxy, "default") <= before:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    value_file = next(path for path in proxy["store"].rglob("*.val")
                      if b"history of the lighthouse" in path.read_bytes())
    data = bytearray(value_file.read_bytes())
    data[data.index(b"filler") + 1] ^= 0x01  # "fhller": still valid JSON, a different answer
    value_file.write_bytes(bytes(data))
    time.sleep(0.3)  # past the single-flight window: the next answer comes from the store
    calls, faults = upstream.calls, metric(proxy["metrics"], "semcache_store_faults_total",
                                           fault="document_corrupt")

    answer, headers = ask(proxy, prompt)

    assert answer == f"answer to: {prompt}" and answer != original
    assert headers["x-semcache"] == "miss" and upstream.calls == calls + 1
    assert metric(proxy["metrics"], "semcache_store_faults_total",
                  fault="document_corrupt") == faults + 1
    assert "semcache.document_corrupt" in proxy["log"].read_text()
