"""Split-proof lookup: a stored paraphrase is found whatever category either side landed in,
and the stricter of the two categories' policies judges it."""

from __future__ import annotations

from helpers import HIT, MISS, SHADOW_HIT, chat

ANSWER = {"answer": "use reversed() or slicing"}
STORED, ASKED = "How do I reverse a list in Python?", "How can I reverse a Python list?"


def tagged(category: str) -> dict:
    return {"metadata": {"semcache_category": category}}


def test_a_paraphrase_stored_under_another_category_is_served(make_cache):
    cache = make_cache(categories={"code": {"threshold_floor": None, "similarity_threshold": 0.80},
                                   "chat": {"threshold_floor": None, "similarity_threshold": 0.80}})
    cache.store(chat(STORED, **tagged("code")), ANSWER)

    decision = cache.lookup(chat(ASKED, **tagged("chat")))

    assert decision.outcome == HIT and decision.response == ANSWER
    assert decision.category == "chat"  # counted under the request's own category


def test_the_stricter_threshold_of_the_two_categories_applies(make_cache):
    cache = make_cache(categories={"code": {"threshold_floor": None, "similarity_threshold": 0.99},
                                   "chat": {"threshold_floor": None, "similarity_threshold": 0.70}})
    cache.store(chat(STORED, **tagged("code")), ANSWER)
    loose_side = cache.lookup(chat(ASKED, **tagged("chat")))
    assert loose_side.outcome == MISS and loose_side.reason == "below_threshold"

    cache.store(chat("Tell me a joke about cats", **tagged("chat")), ANSWER)
    strict_side = cache.lookup(chat("Tell me a joke about cats please", **tagged("code")))
    assert strict_side.outcome == MISS and strict_side.threshold == 0.99


def test_a_shadow_category_on_either_side_never_serves(make_cache):
    cache = make_cache(categories={"code": {"threshold_floor": None, "similarity_threshold": 0.80, "mode": "shadow"},
                                   "chat": {"threshold_floor": None, "similarity_threshold": 0.80}})
    cache.store(chat(STORED, **tagged("code")), ANSWER)
    assert cache.lookup(chat(ASKED, **tagged("chat"))).outcome == SHADOW_HIT


def test_the_guard_of_either_side_applies(make_cache):
    cache = make_cache(categories={"code": {"threshold_floor": None, "similarity_threshold": 0.70},
                                   "chat": {"threshold_floor": None, "similarity_threshold": 0.70, "guard": False}})
    cache.store(chat("How do I reverse a list in Python?", **tagged("code")), ANSWER)
    decision = cache.lookup(chat("How do I reverse a list in JavaScript?", **tagged("chat")))
    assert decision.outcome == MISS and decision.reason == "guard"


def test_an_unlabelled_paraphrase_is_found_whichever_category_the_classifier_picks(make_cache):
    cache = make_cache()
    pairs = [("Can you write me a haiku about my cat Python?", "write a haiku about my cat Python"),
             ("hey, what's a good way to flatten a nested list in python?",
              "what's a good way to flatten a nested list in python")]
    for stored, asked in pairs:
        cache.store(chat(stored), ANSWER)
        decision = cache.lookup(chat(asked))
        assert decision.outcome == HIT, (stored, asked, decision)


def test_tenants_stay_apart_across_categories(make_cache):
    cache = make_cache(categories={"code": {"threshold_floor": None, "similarity_threshold": 0.80},
                                   "chat": {"threshold_floor": None, "similarity_threshold": 0.80}})
    tenant_a = {"user_api_key_hash": "key-a", "semcache_category": "code"}
    tenant_b = {"user_api_key_hash": "key-b", "semcache_category": "chat"}
    cache.store(chat(STORED, metadata=tenant_a), ANSWER)
    assert cache.lookup(chat(ASKED, metadata=tenant_b)).outcome == MISS
