"""Per-request cache controls on the LiteLLM proxy, with litellm-semcache as the proxy's cache.

Adapts LiteLLM's proxy caching docs (docs/proxy/caching.md and docs/proxy/caching_controls.md:
``cache: {ttl, s-maxage, no-cache, no-store, namespace}`` in the request body, the
``Cache-Control: s-maxage=N`` request header, the ``x-litellm-cache-key`` response header) for
the pinned LiteLLM 1.108.7, against a real ``litellm --config`` process.
"""

from __future__ import annotations

import time

import pytest
from contract_support import proxy_chat, proxy_chat_and_store, proxy_stores, wait_for_proxy_store

pytestmark = pytest.mark.e2e
BREAK = "contract break (issue 12): "


def test_a_repeat_is_served_with_its_cache_key_header(proxy, upstream):
    first = proxy_chat_and_store(proxy, "Tell me a joke about otters")
    before = upstream.calls
    again = proxy_chat(proxy, "Tell me a joke about otters")

    assert first.headers["x-semcache"] == "miss" and "x-litellm-cache-key" not in first.headers
    assert again.headers["x-semcache"] == "hit" and again.headers["x-litellm-cache-key"]
    assert upstream.calls == before
    answer = again.json()["choices"][0]["message"]["content"]
    assert answer == "answer to: Tell me a joke about otters"


def test_no_cache_skips_the_lookup_and_stores_the_fresh_answer(proxy, upstream):
    proxy_chat_and_store(proxy, "Tell me a joke about llamas")
    before, stored = upstream.calls, proxy_stores(proxy)

    fresh = proxy_chat(proxy, "Tell me a joke about llamas", cache={"no-cache": True})
    wait_for_proxy_store(proxy, stored)
    later = proxy_chat(proxy, "Tell me a joke about llamas")

    assert fresh.headers["x-semcache"] == "bypass" and upstream.calls == before + 1
    assert later.headers["x-semcache"] == "hit"


def test_no_store_answer_is_not_stored(proxy, upstream):
    stored = proxy_stores(proxy)
    proxy_chat(proxy, "Tell me a joke about beavers", cache={"no-store": True})
    # A barrier, not a sleep: one more answer stored. LiteLLM starts each request's cache write
    # once it answered it, so a (wrong) write of the no-store answer was started before this one.
    proxy_chat_and_store(proxy, "Repeat after me: the barrier after the beavers")
    stored_meanwhile = proxy_stores(proxy) - stored - 1
    before = upstream.calls
    later = proxy_chat(proxy, "Tell me a joke about beavers")

    assert stored_meanwhile == 0
    assert later.headers["x-semcache"] == "miss" and upstream.calls == before + 1


def test_ttl_in_the_body_expires_the_entry(proxy, upstream):
    proxy_chat_and_store(proxy, "Tell me a joke about walruses", cache={"ttl": 1})
    time.sleep(1.5)
    before = upstream.calls
    later = proxy_chat(proxy, "Tell me a joke about walruses")

    assert later.headers["x-semcache"] == "miss" and upstream.calls == before + 1


def test_s_maxage_in_the_body_refuses_older_entries_only(proxy, upstream):
    proxy_chat_and_store(proxy, "Tell me a joke about hedgehogs")
    time.sleep(1.2)
    before = upstream.calls
    young_enough = proxy_chat(proxy, "Tell me a joke about hedgehogs", cache={"s-maxage": 60})
    too_old = proxy_chat(proxy, "Tell me a joke about hedgehogs", cache={"s-maxage": 1})

    assert young_enough.headers["x-semcache"] == "hit"
    assert too_old.headers["x-semcache"] != "hit" and upstream.calls == before + 1


def test_namespace_in_the_body_separates_entries(proxy, upstream):
    proxy_chat_and_store(proxy, "Tell me a joke about koalas", cache={"namespace": "team-x"})
    before = upstream.calls
    same = proxy_chat(proxy, "Tell me a joke about koalas", cache={"namespace": "team-x"})
    other = proxy_chat(proxy, "Tell me a joke about koalas", cache={"namespace": "team-y"})
    plain = proxy_chat(proxy, "Tell me a joke about koalas")

    assert same.headers["x-semcache"] == "hit"
    assert same.headers["x-litellm-cache-key"].startswith("team-x:")
    assert other.headers["x-semcache"] == "miss" and plain.headers["x-semcache"] == "miss"
    assert upstream.calls == before + 2


def test_cache_control_header_sets_the_ttl(proxy, upstream):
    proxy_chat_and_store(proxy, "Tell me a joke about pelicans",
                         headers={"Cache-Control": "s-maxage=1"})
    time.sleep(1.5)
    before = upstream.calls
    later = proxy_chat(proxy, "Tell me a joke about pelicans")

    assert later.headers["x-semcache"] == "miss" and upstream.calls == before + 1


def test_a_lookup_past_the_deadline_is_reported_as_a_miss(hurried_proxy):
    reply = proxy_chat(hurried_proxy, "How do I reverse a list in Python?")

    assert reply.status_code == 200
    assert reply.headers["x-semcache"] == "miss"
    # the embedding service refuses at once a lookup it cannot serve within the deadline
    # ("overloaded"); one it accepted and that ran late is "deadline"
    assert reply.headers["x-semcache-reason"] in ("overloaded", "deadline")
