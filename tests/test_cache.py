"""Engine behaviour with the real embedding model, real hnswlib and real diskcache."""

from __future__ import annotations

import pickle
import sqlite3
from pathlib import Path

import pytest
from helpers import chat
from structlog.testing import capture_logs

from helpers import BYPASS, HIT, MISS, SHADOW_HIT, wait_for
from litellm_semcache.request import view_request
from litellm_semcache.store.diskcache_store import DiskcacheStore

ANSWER = {"timestamp": 1.0, "response": '{"id": "r1", "choices": [{"index": 0, '
          '"finish_reason": "stop", "message": {"role": "assistant", "content": "an answer"}}]}'}
PARAPHRASE_CHAT = ("hi, how are you today?", "hello, how are you doing?")


def test_paraphrase_hits_in_a_loose_category(make_cache):
    cache = make_cache()
    first = cache.lookup(chat(PARAPHRASE_CHAT[0]))
    assert first.outcome == MISS and first.category == "chat"
    cache.store(chat(PARAPHRASE_CHAT[0]), ANSWER)

    second = cache.lookup(chat(PARAPHRASE_CHAT[1]))

    assert second.outcome == HIT and second.reason == "semantic"
    assert second.response == ANSWER
    shipped = cache.settings.policy("chat").similarity_threshold
    assert second.category == "chat" and second.threshold == shipped
    assert shipped <= second.similarity < 1.0


def test_same_paraphrase_misses_in_a_strict_category(make_cache):
    cache = make_cache(categories={"legal": {"similarity_threshold": 0.96}})
    strict = {"metadata": {"semcache_category": "legal"}}
    cache.store(chat(PARAPHRASE_CHAT[0], **strict), ANSWER)

    decision = cache.lookup(chat(PARAPHRASE_CHAT[1], **strict))

    assert decision.outcome == MISS and decision.reason == "below_threshold"
    assert decision.category == "legal" and decision.similarity < 0.96


@pytest.mark.parametrize("stored, asked, reason", [
    ("Please cancel my subscription", "Please don't cancel my subscription", "negation"),
    ("What is the 2023 tax rate for freelancers?", "What is the 2024 tax rate for freelancers?", "number"),
    ("Turn on dark mode in the settings app", "Turn off dark mode in the settings app", "antonym"),
    ("Book a flight from Paris to London", "Book a flight from London to Paris", "entity_order"),
])
def test_guard_rejects_traps_that_pass_the_threshold(make_cache, stored, asked, reason):
    cache = make_cache(categories={"chat": {"similarity_threshold": 0.80}})
    tagged = {"metadata": {"semcache_category": "chat"}}
    cache.store(chat(stored, **tagged), ANSWER)

    decision = cache.lookup(chat(asked, **tagged))

    assert decision.similarity >= 0.80, "the trap must pass the threshold for the guard to matter"
    assert decision.outcome == MISS and decision.label == f"guard:{reason}"
    assert cache.stats_snapshot()["chat"]["guard_rejections"] == 1


def test_guard_can_be_switched_off_per_category(make_cache):
    cache = make_cache(categories={"chat": {"similarity_threshold": 0.80, "guard": False}})
    tagged = {"metadata": {"semcache_category": "chat"}}
    cache.store(chat("Please cancel my subscription", **tagged), ANSWER)

    assert cache.lookup(chat("Please don't cancel my subscription", **tagged)).outcome == HIT


def test_exact_repeat_is_served_without_embedding(make_cache, embedder, monkeypatch):
    cache = make_cache()
    cache.store(chat("Tell me a joke about cats"), ANSWER)
    monkeypatch.setattr(embedder, "embed_one", lambda text: pytest.fail("embedded on exact path"))

    decision = cache.lookup(chat("Tell  me a joke about cats "))

    assert decision.outcome == HIT and decision.reason == "exact" and decision.similarity == 1.0


def test_ttl_expiry_is_absolute_and_swept(make_cache, clock):
    cache = make_cache(categories={"finance": {"ttl_seconds": 300}})
    request = chat("What is the current price of Apple stock?")
    cache.store(request, ANSWER)

    clock.advance(299)
    assert cache.lookup(request).outcome == HIT  # a hit never extends the lifetime
    clock.advance(2)
    expired = cache.lookup(chat("What's the current price of Apple stock?"))

    assert (expired.outcome, expired.reason) == (MISS, "expired")  # x-semcache-reason says why
    assert cache.stats_snapshot()["finance"]["expirations"] == 1  # counted as an expiry
    assert len(cache) == 0 and cache.sweep() == 0  # expired on read, already gone


def test_sweep_removes_expired_entries_from_index_and_store(make_cache, clock):
    cache = make_cache()
    cache.store(chat("What is the current price of Apple stock?"), ANSWER)  # finance: 300 s
    cache.store(chat("How do I merge two dictionaries in Python?"), ANSWER)  # code: 1 day
    clock.advance(301)

    assert cache.sweep() == 1
    assert len(cache) == 1
    assert cache.stats_snapshot()["finance"]["expirations"] == 1


def test_ttl_zero_never_stores(make_cache):
    cache = make_cache(categories={"chat": {"ttl_seconds": 0}})
    stored = cache.store(chat("Tell me a joke"), ANSWER)
    assert stored.outcome == BYPASS and stored.reason == "ttl_zero" and len(cache) == 0


def test_caller_ttl_shortens_but_cannot_exceed_the_cap(make_cache, clock):
    cache = make_cache(categories={"chat": {"ttl_seconds": 100, "ttl_cap": 200}})
    short, long = chat("Tell me a joke about cats", **CHAT), chat("Recommend a good book", **CHAT)
    assert cache.store({**short, "cache": {"ttl": 10}}, ANSWER).ttl_seconds == 10
    assert cache.store({**long, "cache": {"ttl": 10_000}}, ANSWER).ttl_seconds == 200

    clock.advance(9)
    assert cache.lookup(short).outcome == HIT
    clock.advance(2)  # 11 s: past the caller's 10 s, well within the category's 100 s
    assert cache.lookup(short).outcome == MISS
    clock.advance(150 - 11)  # past the category's 100 s, within the cap
    assert cache.lookup(long).outcome == HIT
    clock.advance(51)  # 201 s: the caller asked for 10,000, the cap is 200
    assert cache.lookup(long).outcome == MISS


def test_quota_evicts_least_recently_used_inside_the_category_only(make_cache):
    cache = make_cache(categories={"chat": {"max_entries": 3}})
    chat_tag = {"metadata": {"semcache_category": "chat"}}
    code_tag = {"metadata": {"semcache_category": "code"}}
    cache.store(chat("How do I sort a list in Python?", **code_tag), ANSWER)
    topics = ["cats", "dogs", "owls", "bees"]
    for topic in topics[:3]:
        cache.store(chat(f"Tell me a fact about {topic}", **chat_tag), ANSWER)
    # a hit makes "cats" the most recently used, so "dogs" is the least recently used
    assert cache.lookup(chat(f"Tell me a fact about {topics[0]}", **chat_tag)).outcome == HIT

    cache.store(chat(f"Tell me a fact about {topics[3]}", **chat_tag), ANSWER)

    outcomes = {t: cache.lookup(chat(f"Tell me a fact about {t}", **chat_tag)).outcome for t in topics}
    assert outcomes == {"cats": HIT, "dogs": MISS, "owls": HIT, "bees": HIT}
    assert cache.lookup(chat("How do I sort a list in Python?", **code_tag)).outcome == HIT
    assert cache.stats_snapshot()["chat"]["evictions"] == 1


def test_survivors_stay_findable_after_heavy_eviction_and_expiry_churn(make_cache, clock, embedder):
    """Regression guard for peers whose eviction wiped or corrupted the ANN index."""
    limit = 40
    cache = make_cache(categories={"chat": {"max_entries": limit, "ttl_seconds": 1000}})
    tagged = {"metadata": {"semcache_category": "chat"}}
    prompts = [f"Remind me about errand number {i} on my list of {i * 7 % 13} things" for i in range(300)]
    embedder.remember(prompts)  # warm the memo in one batch
    for step, prompt in enumerate(prompts):
        cache.store(chat(prompt, **tagged), {"answer": step})
        clock.advance(7)  # entries older than 1000 s expire while the quota evicts the rest
        if step % 50 == 49:
            cache.sweep()

    survivors = [p for p in prompts if cache.lookup(chat(p, **tagged)).outcome == HIT]
    assert len(survivors) == len(cache) > 0
    assert survivors == prompts[-len(survivors):]
    for prompt in survivors:  # found through the vector index too, not only the exact map
        entry = cache.catalogue.get(_exact_id(prompt, tagged))
        [(found, similarity)] = cache.catalogue.nearest((entry.scope,), embedder.embed_one(prompt))
        assert similarity > 0.999 and found == entry  # entries are views: equal, not identical


def _exact_id(prompt, tagged):
    return view_request(chat(prompt, **tagged)).exact_key


@pytest.mark.parametrize("writer, reader", [
    ({"user_api_key_hash": "tenant-a"}, {"user_api_key_hash": "tenant-b"}),
    # one key, two teams: only the team tells the requests apart
    ({"user_api_key_hash": "k", "user_api_key_team_id": "team-a"},
     {"user_api_key_hash": "k", "user_api_key_team_id": "team-b"}),
    ({"user_api_key_hash": "k", "user_api_key_org_id": "org-a"},
     {"user_api_key_hash": "k", "user_api_key_org_id": "org-b"}),
], ids=["key", "team", "org"])
def test_tenants_never_share_entries(make_cache, writer, reader):
    cache = make_cache()
    cache.store(chat("Tell me a joke", metadata=writer), ANSWER)

    assert cache.lookup(chat("Tell me a joke", metadata=reader)).outcome == MISS
    assert cache.lookup(chat("Tell me a joke", metadata=writer)).outcome == HIT


@pytest.mark.parametrize("variant", [
    {"model": "another-model"},
    {"system": "You answer in French."},
    {"history": [{"role": "user", "content": "Let's talk about pirates"},
                 {"role": "assistant", "content": "Arr!"}]},
    {"temperature": 1.5},
    {"tools": [{"type": "function", "function": {"name": "lookup"}}]},
    {"response_format": {"type": "json_object"}},
    {"stream": True},
    {"cache": {"namespace": "other"}},
])
def test_compatibility_key_separates_requests_with_different_answers(make_cache, variant):
    cache = make_cache()
    cache.store(chat("Tell me a joke"), ANSWER)
    assert cache.lookup(chat("Tell me a joke", **variant)).outcome == MISS


@pytest.mark.parametrize("messages, reason", [
    ([{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "1", "content": "42"}],
     "last_turn_not_user"),
    ([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:x"}}]}],
     "non_text_content"),
    ([{"role": "user", "content": "   "}], "empty_prompt"),
])
def test_requests_without_text_bypass(make_cache, messages, reason):
    decision = make_cache().lookup({"model": "m", "messages": messages})
    assert decision.outcome == BYPASS and decision.reason == reason


def test_restart_rebuilds_the_index_and_never_serves_stale_entries(make_cache, tmp_path, clock):
    store_dir = tmp_path / "shared-store"
    first = make_cache(store_dir=store_dir)
    first.store(chat(PARAPHRASE_CHAT[0]), ANSWER)
    first.store(chat("What is the current price of Apple stock?"), ANSWER)  # 300 s
    first.close()
    clock.advance(301)

    second = make_cache(store_dir=store_dir)

    assert len(second) == 1
    assert second.lookup(chat(PARAPHRASE_CHAT[1])).outcome == HIT
    assert second.lookup(chat("What is the current price of Apple stock?")).outcome == MISS


def test_an_index_entry_whose_document_is_gone_is_never_served(make_cache):
    cache = make_cache()
    cache.store(chat("Tell me a joke"), ANSWER)
    entry_id = cache.catalogue.entries()[0].id
    cache.deployment.store.delete(entry_id)

    decision = cache.lookup(chat("Tell me a joke please"))
    assert decision.outcome == MISS and len(cache) == 0
    assert cache.lookup(chat("Tell me a joke")).outcome == MISS


@pytest.mark.parametrize("mode", [4, 1], ids=["pickle-row", "pickle-bytes"])
def test_a_pickled_row_in_the_store_is_refused_not_executed(make_cache, tmp_path, mode):
    """A tampered store directory: a row in diskcache's pickle mode (4, refused by the store),
    or pickle bytes stored as plain bytes (1, MODE_RAW: only the document decoder stands
    between them and ``pickle.loads``)."""
    cache = make_cache()
    cache.store(chat("Tell me a joke"), ANSWER)
    cache.close()
    marker = tmp_path / "unpickled"

    class Exploit:
        def __reduce__(self):
            return (Path.touch, (marker,))

    db = sqlite3.connect(tmp_path / "store" / "cache.db")
    db.execute("UPDATE Cache SET value = ?, mode = ?", (pickle.dumps(Exploit()), mode))
    db.commit()
    db.close()

    reopened = make_cache()
    assert reopened.lookup(chat("Tell me a joke")).outcome == MISS
    assert not marker.exists()
    assert len(reopened) == 0  # the entry is dropped at first sight of its undecodable row
    assert len(reopened.deployment.store) == 0  # and the row is deleted


def test_a_fault_inside_the_cache_is_a_miss_not_an_error(make_cache, monkeypatch):
    cache = make_cache()
    cache.store(chat("Tell me a joke"), ANSWER)

    def broken(*args, **kwargs):
        raise OSError("disk on fire")

    monkeypatch.setattr(cache.deployment.store, "get", broken)
    monkeypatch.setattr(cache.deployment.store, "put", broken)

    assert cache.lookup(chat("Tell me a joke")).reason == "fail_open"
    assert cache.store(chat("Tell me another joke"), ANSWER).reason == "fail_open"
    assert cache.stats_snapshot()["uncategorised"]["fail_opens"] == 2


def test_shadow_mode_records_would_be_hits_without_serving(make_cache):
    cache = make_cache(categories={"chat": {"mode": "shadow"}})
    cache.store(chat(PARAPHRASE_CHAT[0]), ANSWER)

    decision = cache.lookup(chat(PARAPHRASE_CHAT[1]))

    assert decision.outcome == SHADOW_HIT and decision.response is None
    assert cache.stats_snapshot()["chat"]["shadow_hits"] == 1


def test_mode_off_neither_stores_nor_looks_up(make_cache):
    cache = make_cache(categories={"chat": {"mode": "off"}})
    assert cache.store(chat("Tell me a joke"), ANSWER).reason == "mode_off"
    assert cache.lookup(chat("Tell me a joke")).outcome == BYPASS


def test_no_cache_skips_lookup_and_no_store_skips_write(make_cache):
    cache = make_cache()
    assert cache.store(chat("Tell me a joke", cache={"no-store": True}), ANSWER).reason == "no-store"
    cache.store(chat("Tell me a joke"), ANSWER)
    assert cache.lookup(chat("Tell me a joke", cache={"no-cache": True})).reason == "no-cache"


def test_invalid_cache_controls_bypass_with_a_clear_reason(make_cache):
    decision = make_cache().lookup(chat("Tell me a joke", cache={"ttl": "soon"}))
    assert decision.outcome == BYPASS and decision.reason == "invalid_request"
    assert "cache.ttl must be a number" in decision.detail


@pytest.mark.parametrize("request_kwargs, category, source", [
    (chat("anything at all", metadata={"semcache_category": "legal"}), "legal", "metadata"),
    (chat("anything at all", metadata={"tags": ["team-x", "semcache:medical"]}), "medical", "metadata"),
    (chat("What is the NVDA share price?"), "finance", "rule"),
    (chat("Why does my Rust borrow checker complain about this loop?"), "code", "classifier"),
    (chat("What are the side effects of aspirin?"), "medical", "classifier"),
    (chat("Write a poem about autumn leaves"), "default", "classifier"),  # fits nothing named
])
def test_categorisation_cheapest_signal_first(make_cache, request_kwargs, category, source):
    decision = make_cache().lookup(request_kwargs)
    assert (decision.category, decision.category_source) == (category, source)


def test_a_category_the_policy_adds_is_matched_by_its_examples_before_the_head(make_cache):
    cache = make_cache(categories={"travel": {"examples": [
        "Plan a 3-day itinerary for Rome", "What should I pack for a week in Iceland?",
        "Best time of year to visit Japan", "Cheap ways to get around Barcelona"]}})
    decision = cache.lookup(chat("Plan a four day trip to Lisbon for me"))
    assert (decision.category, decision.category_source) == ("travel", "centroid")
    assert cache.lookup(chat("How do I reverse a list in Python?")).category == "code"


def test_classifier_centroids_brings_back_the_example_centroids(make_cache):
    cache = make_cache(classifier="centroids")
    decision = cache.lookup(chat("What are the side effects of aspirin?"))
    assert decision.category_source in ("centroid", "default")


def test_unknown_explicit_category_is_reported(make_cache):
    decision = make_cache().lookup(chat("hi", metadata={"semcache_category": "sports"}))
    assert decision.outcome == BYPASS and decision.reason == "invalid_request"
    assert "unknown semcache category 'sports'" in decision.detail


def test_stats_measure_break_even(make_cache, embedder, monkeypatch):
    """What the engine feeds the break-even figures: a miss's lookup time (its embedding
    included) as the miss cost, the time from that miss to the store of its answer as what a hit
    saves, and nothing of the hits. (The arithmetic itself: tests/test_counters.py.)"""
    import time as _time

    cache = make_cache()
    real = embedder.embed_one
    monkeypatch.setattr(embedder, "embed_one", lambda text: (_time.sleep(0.03), real(text))[1])
    assert cache.lookup(chat("Tell me a joke")).outcome == MISS  # embeds: >= 30 ms
    _time.sleep(0.1)  # the model answering
    cache.store(chat("Tell me a joke"), ANSWER)
    after_the_miss = cache.stats_snapshot()["chat"]
    for _ in range(5):  # exact hits: no embedding, fast
        assert cache.lookup(chat("Tell me a joke")).outcome == HIT

    stats = cache.stats_snapshot()["chat"]
    assert stats["hits"] == 5 and stats["misses"] == 1 and stats["hit_rate"] == pytest.approx(5 / 6, abs=1e-4)
    assert after_the_miss["miss_cost_ms"] >= 30 and stats["saved_ms"] >= 100
    assert stats["miss_cost_ms"] == after_the_miss["miss_cost_ms"]  # hits cost no miss


def test_decision_logs_carry_no_secret_and_no_prompt_unless_configured(make_cache):
    secret = "sk-live-SECRET-123"
    request = chat("Tell me a joke about penguins", api_key=secret,
                   metadata={"user_api_key": secret, "user_api_key_hash": "h"})
    quiet = make_cache()
    with capture_logs() as events:
        quiet.lookup(request)
        quiet.store(request, ANSWER)
        quiet.lookup(request)
    text = repr(events)
    assert any(e["event"] == "semcache.decision" for e in events)
    assert secret not in text and "penguins" not in text

    verbose = make_cache(log_prompts=True)
    with capture_logs() as events:
        verbose.lookup(request)
    assert "penguins" in repr(events) and secret not in repr(events)


def test_a_lookup_over_its_deadline_is_a_miss(make_cache, embedder, monkeypatch):
    import time as _time

    cache = make_cache(lookup_deadline_ms=50)
    cache.store(chat("Tell me a joke"), ANSWER)
    real = embedder.embed_one
    monkeypatch.setattr(embedder, "embed_one", lambda text: (_time.sleep(0.1), real(text))[1])

    decision = cache.lookup(chat("Tell me a joke, please"))

    assert decision.outcome == MISS and decision.reason == "deadline"
    assert cache.stats_snapshot()["chat"]["fail_opens"] == 1


def test_oversized_prompts_bypass_and_oversized_answers_are_not_stored(make_cache):
    cache = make_cache(max_prompt_chars=100, max_response_bytes=5000)
    assert cache.lookup(chat("x" * 101)).reason == "prompt_too_long"
    too_big = {"timestamp": 1.0, "response": "y" * 10_000}
    assert cache.store(chat("Tell me a joke"), too_big).reason == "response_too_large"
    assert len(cache) == 0


def test_restart_with_a_smaller_quota_keeps_the_newest_entries(make_cache, tmp_path, clock):
    store_dir = tmp_path / "quota-store"
    first = make_cache(store_dir=store_dir)
    tagged = {"metadata": {"semcache_category": "chat"}}
    for topic in ["cats", "dogs", "owls"]:
        first.store(chat(f"Tell me a fact about {topic}", **tagged), ANSWER)
        clock.advance(1)
    first.close()

    second = make_cache(store_dir=store_dir, categories={"chat": {"max_entries": 2}})

    outcomes = [second.lookup(chat(f"Tell me a fact about {t}", **tagged)).outcome
                for t in ["cats", "dogs", "owls"]]
    assert outcomes == [MISS, HIT, HIT]


def _snapshot_files(store_dir):
    return sorted(p.name.split("-")[0] for p in (store_dir / "index-snapshot").iterdir())


SMALL_SHARDS = {"index": {"exact_search_limit": 4, "initial_capacity": 16, "m": 16,
                          "ef_construction": 100, "ef_search": 64}}
CHAT = {"metadata": {"semcache_category": "chat"}}


def _stored_then_closed(make_cache, store_dir, prompts):
    """Store each prompt (answer = the prompt) with HNSW-sized shards, close: snapshot saved."""
    first = make_cache(store_dir=store_dir, **SMALL_SHARDS)
    for prompt in prompts:
        first.store(chat(prompt, **CHAT), {"answer": prompt})
    first.close()


@pytest.mark.parametrize("store_check", ["on", "off"])
def test_restart_loads_the_snapshot_and_never_serves_a_document_deleted_meanwhile(
        make_cache, tmp_path, monkeypatch, store_check):
    from litellm_semcache.engine.verify import StoreCheck

    if store_check == "off":  # only the lookup path stands between the snapshot and a client
        monkeypatch.setattr(StoreCheck, "start", lambda self: self)
    store_dir = tmp_path / "snap-store"
    prompts = [f"Remind me to water plant number {i} on the balcony" for i in range(30)]
    _stored_then_closed(make_cache, store_dir, prompts)
    assert _snapshot_files(store_dir) == ["manifest.v3.json", "snapshot"]
    removed = view_request(chat(prompts[3], **CHAT)).exact_key
    DiskcacheStore(store_dir).delete(removed)  # a plain store: no vector log record, no event

    with capture_logs() as events:
        second = make_cache(store_dir=store_dir, **SMALL_SHARDS)

    names = [e["event"] for e in events]
    assert "semcache.snapshot_loaded" in names and "semcache.rebuilt" not in names
    paraphrase = second.lookup(chat(prompts[3].replace("Remind me", "Please remind me"), **CHAT))
    assert paraphrase.response != {"answer": prompts[3]}
    for prompt in prompts:
        decision = second.lookup(chat(prompt, **CHAT))
        if prompt == prompts[3]:
            assert decision.outcome == MISS
        else:
            assert decision.outcome == HIT and decision.response == {"answer": prompt}
    assert wait_for(lambda: len(second) == 29)  # the lookup or the background check dropped it


def test_writes_after_the_snapshot_are_replayed_from_the_vector_log(make_cache, tmp_path, embedder, clock):
    from litellm_semcache.store import Document, open_store

    store_dir = tmp_path / "replay-store"
    prompts = [f"Tell me a story about a dragon named number {i}" for i in range(12)]
    _stored_then_closed(make_cache, store_dir, prompts[:8])
    other_process = open_store(make_cache(store_dir=tmp_path / "x").settings.store.model_copy(
        update={"path": str(store_dir)}))  # writes after the snapshot, then dies without one
    for prompt in prompts[8:]:
        view = view_request(chat(prompt, **CHAT))
        other_process.put(Document(view.exact_key, "chat", view.scope, prompt, view.normalized,
                                   embedder.embed_one(prompt), {"answer": prompt}, clock(),
                                   clock() + 1000))
    other_process.delete(view_request(chat(prompts[0], **CHAT)).exact_key)
    other_process.close()

    with capture_logs() as events:
        second = make_cache(store_dir=store_dir, **SMALL_SHARDS)

    assert "semcache.snapshot_loaded" in [e["event"] for e in events]
    assert len(second) == 11  # 8 - 1 deleted + 4 written, before any store check
    for prompt in prompts[1:]:
        decision = second.lookup(chat(prompt + "?", **CHAT))
        assert decision.outcome == HIT and decision.response == {"answer": prompt}
    assert second.lookup(chat(prompts[0], **CHAT)).outcome == MISS


def test_without_a_snapshot_the_start_reads_the_vector_log_and_decodes_no_document(
        make_cache, tmp_path, monkeypatch):
    import shutil

    from litellm_semcache.store.document import Document

    store_dir = tmp_path / "log-store"
    prompts = [f"Explain how tide number {i} works at the harbour" for i in range(10)]
    _stored_then_closed(make_cache, store_dir, prompts)
    shutil.rmtree(store_dir / "index-snapshot")
    decoded = []
    real = Document.from_bytes.__func__
    monkeypatch.setattr(Document, "from_bytes",
                        classmethod(lambda cls, raw: decoded.append(1) or real(cls, raw)))

    with capture_logs() as events:
        second = make_cache(store_dir=store_dir, **SMALL_SHARDS)

    rebuilt = next(e for e in events if e["event"] == "semcache.rebuilt")
    assert rebuilt["source"] == "vector_log" and len(second) == 10 and not decoded
    for prompt in prompts:
        decision = second.lookup(chat(prompt + "?", **CHAT))
        assert decision.outcome == HIT and decision.response == {"answer": prompt}


@pytest.mark.parametrize("damage", ["graph", "table", "manifest"])
def test_a_damaged_snapshot_is_ignored_and_the_start_rebuilds(make_cache, tmp_path, damage):
    store_dir = tmp_path / "bad-snap-store"
    prompts = [f"Tell me a story about a dragon named number {i}" for i in range(12)]
    _stored_then_closed(make_cache, store_dir, prompts)
    snapshot_dir = store_dir / "index-snapshot"
    target = {"graph": next(snapshot_dir.glob("snapshot-*/*.hnsw")),
              "table": next(snapshot_dir.glob("snapshot-*/table.npz")),
              "manifest": snapshot_dir / "manifest.v3.json"}[damage]
    raw = bytearray(target.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one flipped byte: hnswlib's loader would trust it
    target.write_bytes(bytes(raw))

    with capture_logs() as events:
        second = make_cache(store_dir=store_dir, **SMALL_SHARDS)

    assert any(e["event"] == "semcache.snapshot_corrupt" for e in events)
    for prompt in prompts:
        decision = second.lookup(chat(prompt + "?", **CHAT))
        assert decision.outcome == HIT and decision.response == {"answer": prompt}


def test_a_shared_category_serves_every_tenant_but_still_needs_the_same_request(make_cache):
    cache = make_cache(categories={"docs": {"shared": True, "writers": ["key:a"]}})
    docs = {"semcache_category": "docs"}
    cache.store(chat("How do I configure webhooks?", metadata={**docs, "user_api_key_hash": "a"}),
                ANSWER)

    other_tenant = cache.lookup(chat("how do I configure webhooks",
                                     metadata={**docs, "user_api_key_hash": "b"}))
    other_model = cache.lookup(chat("How do I configure webhooks?", model="other",
                                    metadata={**docs, "user_api_key_hash": "b"}))
    # a category that is not shared: the same prompt, stored by "a", is not served to "b"
    chat_tag = {"semcache_category": "chat"}
    cache.store(chat("Tell me a joke", metadata={**chat_tag, "user_api_key_hash": "a"}),
                {"answer": "a's joke"})
    not_shared = cache.lookup(chat("Tell me a joke", metadata={**chat_tag, "user_api_key_hash": "b"}))
    own = cache.lookup(chat("Tell me a joke", metadata={**chat_tag, "user_api_key_hash": "a"}))

    assert other_tenant.outcome == HIT and other_tenant.response == ANSWER
    assert other_model.outcome == MISS and not_shared.outcome == MISS
    assert own.outcome == HIT and own.response == {"answer": "a's joke"}


def test_writes_sweep_expired_entries_without_a_timer(make_cache, clock):
    cache = make_cache()
    for n in range(5):
        cache.store(chat(f"What is the current price of stock number {n}?"), ANSWER)  # 300 s
    clock.advance(301)

    cache.store(chat("How do I merge two dictionaries in Python?"), ANSWER)

    assert len(cache) == 1
    assert cache.stats_snapshot()["finance"]["expirations"] == 5
