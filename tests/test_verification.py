"""What the verification step refuses even when the index offers a candidate: an entry older than
the request's ``s-maxage``, and a document in the store whose scope is not the request's (the
store is the source of truth; the index's copy of the scope is not enough)."""

from __future__ import annotations

from helpers import HIT, MISS, chat

from litellm_semcache.store import Document
from litellm_semcache.store.diskcache_store import DiskcacheStore

# a complete answer: the writer stores nothing else (issue 11), so an empty one proves nothing
ANSWER = {"timestamp": 1.0, "response": '{"id": "r1", "choices": [{"index": 0, '
          '"finish_reason": "stop", "message": {"role": "assistant", "content": "purr"}}]}'}
CHAT = {"metadata": {"semcache_category": "chat"}}


def test_s_maxage_refuses_entries_older_than_it(make_cache, clock):
    cache = make_cache()
    stored, paraphrase = "hi, how are you today?", "hello, how are you doing?"
    cache.store(chat(stored, **CHAT), ANSWER)
    clock.advance(31)

    def ask(prompt, max_age):
        return cache.lookup(chat(prompt, cache={"s-maxage": max_age}, **CHAT))

    exact_too_old = ask(stored, 30)
    paraphrase_too_old = ask(paraphrase, 30)
    exact_young_enough = ask(stored, 60)
    paraphrase_young_enough = ask(paraphrase, 60)

    assert (exact_too_old.outcome, exact_too_old.reason) == (MISS, "expired")
    assert (paraphrase_too_old.outcome, paraphrase_too_old.reason) == (MISS, "expired")
    # refused for this request only: the entry stays for requests that accept its age
    assert exact_young_enough.outcome == HIT and exact_young_enough.response == ANSWER
    assert paraphrase_young_enough.outcome == HIT and paraphrase_young_enough.reason == "semantic"


def test_a_document_of_another_scope_under_the_entrys_id_is_never_served(make_cache, tmp_path,
                                                                          clock):
    """Someone who can write the store directory (or another deployment sharing it) replaces an
    entry's document with one of another scope: the index still says "your scope", the store
    says otherwise, and the store wins."""
    cache = make_cache()
    request = chat("Tell me a joke about cats", **CHAT)
    stored = cache.store(request, ANSWER)
    original = cache.deployment.store.get(stored.entry_id)
    planted = Document(id=original.id, category=original.category, scope="another-tenant's-scope",
                       prompt=original.prompt, normalized=original.normalized,
                       vector=original.vector, response={"answer": "someone else's"},
                       created_at=clock(), expires_at=clock() + 3600)
    DiskcacheStore(tmp_path / "store").put(planted)

    decision = cache.lookup(request)

    assert decision.outcome == MISS and decision.response is None
    assert len(cache) == 0  # the entry is dropped with its document, never served
