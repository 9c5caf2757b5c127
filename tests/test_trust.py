"""Never a wrong, broken or foreign answer (issue 11), at the engine: what is stored, which
requests share a key, who may write a shared category, and what a damaged store does."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import BYPASS, HIT, MISS, chat, exposition
from structlog.testing import capture_logs

from litellm_semcache.engine import Reason
from litellm_semcache.request import normalize, view_request
from litellm_semcache.store.diskcache_store import DiskcacheStore
from litellm_semcache.store.document import Document

TESTS = Path(__file__).resolve().parent


def answer(content: str | None = "an answer", finish: str | None = "stop", **message) -> dict:
    """What LiteLLM hands a cache backend: the response as JSON text under ``response``."""
    choice = {"index": 0, "finish_reason": finish,
              "message": {"role": "assistant", "content": content, **message}}
    return {"timestamp": 1.0, "response": json.dumps({"id": "r1", "choices": [choice]})}


TOOL_CALL = [{"id": "c1", "type": "function",
              "function": {"name": "get_weather", "arguments": "{}"}}]


# ---------------------------------------------------------------- broken answers (finding 2)

@pytest.mark.parametrize("broken, why", [
    (answer(finish="content_filter"), "finish_content_filter"),
    (answer(finish="length"), "length"),
    (answer(content=None, finish="tool_calls", tool_calls=TOOL_CALL), "tool_calls"),
    (answer(content=None), "no_content"),
    (answer(content="   "), "no_content"),
    (answer(finish="error"), "finish_error"),
    ({"timestamp": 1.0, "response": json.dumps({"id": "r1", "choices": []})}, "no_choices"),
])
def test_a_broken_answer_is_never_stored(make_cache, broken, why):
    cache = make_cache()
    request = chat("Tell me a joke about penguins")

    stored = cache.store(request, broken)

    assert stored.outcome == BYPASS and stored.reason == Reason.INCOMPLETE_ANSWER
    assert stored.detail == why and len(cache) == 0
    assert cache.stats_snapshot()["chat"]["refused_stores"] == 1
    assert cache.lookup(request).outcome == MISS


def test_length_and_tool_call_answers_are_stored_where_the_category_allows_them(make_cache):
    cache = make_cache(categories={"chat": {"store_length_limited": True,
                                            "store_tool_calls": True}})
    tagged = {"metadata": {"semcache_category": "chat"}}
    cut = cache.store(chat("Tell me a long story about penguins", **tagged),
                      answer(finish="length"))
    tools = cache.store(chat("What is the weather in Paris today, friend?", **tagged),
                        answer(content=None, finish="tool_calls", tool_calls=TOOL_CALL))
    empty = cache.store(chat("Tell me a joke about owls"), answer(content=None))

    assert cut.reason == Reason.STORED and tools.reason == Reason.STORED
    assert empty.reason == Reason.INCOMPLETE_ANSWER  # null content: never


def test_a_caller_known_defect_is_never_stored(make_cache):
    cache = make_cache()
    stored = cache.store(chat("Tell me a joke about cats"), answer(), incomplete="stream_cut_off")
    assert stored.reason == Reason.INCOMPLETE_ANSWER and stored.detail == "stream_cut_off"
    assert len(cache) == 0


# ---------------------------------------------------------------- one key, one request (3, 4)

@pytest.mark.parametrize("first, second", [
    ("What is 2⁵?", "What is 25?"),
    ("def f(x):\n    return x\nprint(f(1))", "def f(x):\nreturn x\nprint(f(1))"),
    ('print("a    b")', 'print("a b")'),
    ("Say 'Hello World' in French", "Say 'hello world' in French"),
    ("What does `Foo` do?", "What does `foo` do?"),
])
def test_prompts_that_can_mean_different_things_never_share_an_exact_key(first, second):
    assert view_request(chat(first)).exact_key != view_request(chat(second)).exact_key


@pytest.mark.parametrize("first, second", [
    ("What is the capital of France?", "what is the capital of France?  "),
    ("Tell me  a joke", "Tell me a joke"),
    ("caf\u00e9 near me", "cafe\u0301 near me"),
])
def test_what_cannot_change_the_answer_is_folded(first, second):
    assert view_request(chat(first)).exact_key == view_request(chat(second)).exact_key


@pytest.mark.parametrize("stored, asked", [
    ("Fix this:\ndef f(x):\n    return x", "Fix this:\ndef f(x):\nreturn x"),
    ('What does print("a    b") show?', 'What does print("a b") show?'),
    ("What is x² + 1?", "What is x2 + 1?"),
    ("Explain `git reset --hard`", "Explain `git reset --soft`"),
])
def test_code_quotes_and_notation_must_match_for_a_semantic_hit(make_cache, stored, asked):
    loose = {"similarity_threshold": 0.5, "threshold_floor": None}
    cache = make_cache(categories={"default": loose, "code": loose})
    cache.store(chat(stored), answer())

    decision = cache.lookup(chat(asked))

    assert decision.outcome == MISS and decision.label == "guard:literal"


def test_the_last_turns_name_and_the_call_type_are_part_of_the_scope():
    plain = view_request(chat("Tell me a joke"))
    named = view_request({"model": "gpt-test", "messages": [
        {"role": "user", "content": "Tell me a joke", "name": "alice"}]})
    text = view_request({"model": "gpt-test", "prompt": "Tell me a joke"})

    assert len({plain.exact_key, named.exact_key, text.exact_key}) == 3
    assert len({plain.shared_scope, named.shared_scope, text.shared_scope}) == 3


def test_prompts_that_differ_as_written_always_face_the_guard(monkeypatch):
    from litellm_semcache.classify import guard
    from litellm_semcache.classify.verifier import Candidate, GuardVerifier
    from litellm_semcache.config import CategoryPolicy

    monkeypatch.setattr(guard, "check", lambda asked, stored: "probe")
    asked, stored = "What is the price of Apple stock?", "What is the price of apple stock?"
    same_key = Candidate(asked, normalize(asked), stored, normalize(stored), 1.0)
    identical = Candidate(asked, normalize(asked), asked + " ", normalize(asked), 1.0)

    assert same_key.asked_normalized == same_key.stored_normalized
    assert GuardVerifier().veto(same_key, CategoryPolicy()) == "probe"
    assert GuardVerifier().veto(identical, CategoryPolicy()) is None


@pytest.mark.parametrize("param", [
    {"guided_choice": ["yes"]}, {"guided_regex": "[0-9]+"}, {"guided_json": {"type": "object"}},
    {"top_k": 3}, {"repetition_penalty": 1.3}, {"min_tokens": 50}, {"some_future_parameter": 1},
])
def test_every_parameter_that_can_change_the_answer_splits_the_scope(param):
    plain, shaped = view_request(chat("Tell me a joke")), view_request(chat("Tell me a joke", **param))
    assert plain.scope != shaped.scope and plain.shared_scope != shaped.shared_scope


def test_a_mocked_answer_is_kept_apart_from_real_ones_in_a_shared_scope():
    plain, mocked = view_request(chat("Tell me a joke")), view_request(
        chat("Tell me a joke", mock_response="EVIL"))
    assert plain.shared_scope != mocked.shared_scope
    assert plain.scope == mocked.scope  # as LiteLLM's own key: a test stand-in for the model


@pytest.mark.parametrize("param", [
    {"litellm_call_id": "x1"}, {"timeout": 30}, {"max_retries": 2}, {"api_key": "sk-x"},
    {"metadata": {"tags": ["a"]}}, {"stream_options": {"include_usage": True}},
    {"input_cost_per_token": 0.1},
])
def test_parameters_that_cannot_change_the_answer_do_not_split_it(param):
    plain, other = view_request(chat("Tell me a joke")), view_request(chat("Tell me a joke", **param))
    assert plain.scope == other.scope and plain.shared_scope == other.shared_scope


# ---------------------------------------------------------------- shared categories (1)

SHARED_DOCS = {"categories": {"docs": {"shared": True}}}


def tenant(name: str, **metadata) -> dict:
    return {"user_api_key_hash": f"hash-{name}", "user_api_key_team_id": f"team-{name}",
            **metadata}


def test_a_client_label_never_writes_a_shared_category(make_cache):
    cache = make_cache(**SHARED_DOCS)
    planted = chat("Tell me a joke about cats",
                   metadata=tenant("b", semcache_category="docs"))
    tagged = chat("Tell me a joke about dogs", metadata=tenant("b", tags=["semcache:docs"]))

    for request in (planted, tagged):
        stored = cache.store(request, answer("EVIL"))
        assert stored.outcome == BYPASS and stored.reason == Reason.SHARED_WRITE_DENIED

    for prompt in ("Tell me a joke about cats", "Tell me a joke about dogs"):
        victim = cache.lookup(chat(prompt, metadata=tenant("a")))
        assert victim.outcome == MISS and victim.response is None
    assert len(cache) == 0


def test_a_shared_category_takes_what_the_cache_categorised_itself(make_cache):
    cache = make_cache(**SHARED_DOCS)
    asked = "How do I authenticate with the REST API?"  # a docs example the cache recognises
    miss = cache.lookup(chat(asked, metadata=tenant("a")))
    assert miss.category == "docs" and miss.category_source in ("centroid", "classifier")
    cache.store(chat(asked, metadata=tenant("a")), answer("use a bearer token"))

    other = cache.lookup(chat(asked, metadata=tenant("b")))
    labelled = cache.lookup(chat(asked, metadata=tenant("b", semcache_category="docs")))

    assert other.outcome == HIT and labelled.outcome == HIT


def test_writers_grant_the_right_to_write_a_shared_category(make_cache):
    cache = make_cache(categories={"docs": {"shared": True, "writers": ["team:team-a"]}})
    label = {"semcache_category": "docs"}

    allowed = cache.store(chat("How do I rotate my API key?", metadata=tenant("a", **label)),
                          answer("rotate it in the dashboard"))
    refused = cache.store(chat("How do I delete my API key?", metadata=tenant("b", **label)),
                          answer("EVIL"))
    unlabelled = cache.store(chat("How do I authenticate with the REST API?",
                                  metadata=tenant("b")), answer("EVIL"))

    assert allowed.reason == Reason.STORED
    assert refused.reason == unlabelled.reason == Reason.SHARED_WRITE_DENIED
    served = cache.lookup(chat("How do I rotate my API key?", metadata=tenant("c", **label)))
    assert served.outcome == HIT


def test_the_exact_path_never_serves_a_labelled_entry_to_an_unlabelled_request(make_cache):
    cache = make_cache(categories={"docs": {"shared": True, "writers": ["team:team-a"]}})
    prompt = "Tell me a joke about cats"  # chat by its embedding, docs only by the label
    cache.store(chat(prompt, metadata=tenant("a", semcache_category="docs")), answer("docs joke"))

    unlabelled = cache.lookup(chat(prompt, metadata=tenant("c")))

    assert unlabelled.outcome == MISS and unlabelled.category == "chat"


def test_a_miss_among_shared_entries_does_not_show_their_similarity(make_cache):
    cache = make_cache(**SHARED_DOCS)
    cache.store(chat("How do I authenticate with the REST API?", metadata=tenant("a")), answer())

    near = cache.lookup(chat("How do I authenticate with the GraphQL API?",
                             metadata=tenant("b")))

    assert near.outcome == MISS and near.shared_candidate
    assert near.similarity is not None and near.visible_similarity is None


# ---------------------------------------------------------------- damaged stores (5, 6, 7)

def test_a_flipped_byte_in_a_stored_document_is_a_miss_and_the_entry_is_dropped(make_cache,
                                                                                 tmp_path):
    store_dir = tmp_path / "flip"
    cache = make_cache(store_dir=store_dir)
    request = chat("Tell me a joke about cats")
    cache.store(request, answer("the true answer"))
    key = view_request(request).exact_key
    raw = bytearray(cache.deployment.store.inner._cache.get(key))
    raw[raw.index(b"the true answer")] ^= 0x01  # "uhe true answer", a valid JSON string
    cache.deployment.store.inner._cache.set(key, bytes(raw))

    with capture_logs() as events:
        decision = cache.lookup(request)

    # the exact path drops it, then the semantic path finds nothing else
    assert decision.outcome == MISS and decision.response is None
    assert len(cache) == 0 and cache.deployment.store.get(key) is None
    assert any(e["event"] == "semcache.document_corrupt" for e in events)
    assert 'semcache_store_faults_total{fault="document_corrupt"} 1.0' in exposition(cache)


def test_an_older_or_foreign_document_never_decodes():
    document = Document("i", "chat", "s", "p", "p", __import__("numpy").ones(4, "float32"),
                        {"a": 1}, 1.0, 2.0)
    raw = document.to_bytes()
    assert Document.from_bytes(raw).response == {"a": 1}
    for damaged in (raw[:-1], raw.replace(b'"a":1', b'"a":2'), b'{"id": "i", "v": 1}'):
        with pytest.raises(Exception, match="checksum|no checksum"):
            Document.from_bytes(damaged)


def test_the_size_limit_holds_by_evicting_the_fullest_category_first(make_cache, tmp_path):
    cache = make_cache(store_dir=tmp_path / "small", store={"size_limit_mb": 1},
                       categories={"chat": {"max_entries": 1000}, "code": {"max_entries": 20}})
    big = "x" * 40_000  # each document lands in its own value file
    for n in range(60):
        category = "code" if n % 3 == 0 else "chat"
        cache.store(chat(f"question number {n}", metadata={"semcache_category": category}),
                    answer(f"{n} {big}"))

    assert cache.deployment.store.inner.volume() <= 2**20
    stats = cache.stats_snapshot()
    assert stats["code"]["evictions"] > 0 and stats["chat"]["evictions"] > 0
    last = cache.lookup(chat("question number 59", metadata={"semcache_category": "chat"}))
    assert last.outcome == HIT  # the newest entry always stays


@pytest.mark.parametrize("damage", ["malformed_db", "not_a_directory"])
def test_a_store_that_cannot_be_opened_means_a_bypassing_cache_not_a_crash(make_cache, tmp_path,
                                                                             damage):
    store_dir = tmp_path / "broken"
    if damage == "malformed_db":
        store_dir.mkdir()
        (store_dir / "cache.db").write_bytes(b"SQLite format 3\x00" + b"\x17" * 8192)
    else:
        store_dir.write_text("a file where the store directory should be")

    with capture_logs() as events:
        cache = make_cache(store_dir=store_dir)
    lookup = cache.lookup(chat("Tell me a joke"))
    stored = cache.store(chat("Tell me a joke"), answer())

    assert not cache.available and lookup.outcome == BYPASS and stored.outcome == BYPASS
    assert lookup.reason == stored.reason == Reason.STORE_UNAVAILABLE
    assert any(e["event"] == "semcache.store_unavailable" and e["log_level"] == "error"
               for e in events)
    assert 'semcache_store_faults_total{fault="store_unavailable"} 1.0' in exposition(cache)


def test_a_read_only_store_means_a_bypassing_cache(make_cache, tmp_path):
    store_dir = tmp_path / "read-only"
    DiskcacheStore(store_dir).close()
    frozen = _freeze(store_dir)
    try:
        cache = make_cache(store_dir=store_dir)
        assert not cache.available
        assert cache.lookup(chat("Tell me a joke")).reason == Reason.STORE_UNAVAILABLE
    finally:
        _thaw(store_dir, frozen)


def _freeze(directory: Path) -> bool:
    """Make ``directory`` read-only, for root too (chattr +i); False when only chmod works."""
    paths = [directory, *directory.iterdir()]
    if subprocess.run(["chattr", "+i", *map(str, paths)], capture_output=True).returncode == 0:
        return True
    if hasattr(__import__("os"), "geteuid") and __import__("os").geteuid() == 0:
        pytest.skip("running as root without chattr: a directory cannot be made read-only")
    for path in paths:
        path.chmod(0o500 if path.is_dir() else 0o400)
    return False


def _thaw(directory: Path, frozen: bool) -> None:
    paths = [directory, *directory.iterdir()]
    if frozen:
        subprocess.run(["chattr", "-i", *map(str, paths)], check=True)
    else:
        for path in paths:
            path.chmod(0o700 if path.is_dir() else 0o600)


SMALL_SHARDS = {"exact_search_limit": 4, "initial_capacity": 16, "m": 16,
                "ef_construction": 100, "ef_search": 64}


def test_a_damaged_index_snapshot_is_rebuilt_instead_of_crashing_the_process(make_cache, tmp_path,
                                                                             clock):
    clock.now = time.time()  # the restart below runs on the wall clock
    store_dir = tmp_path / "snap"
    first = make_cache(store_dir=store_dir, index=SMALL_SHARDS)
    prompts = [f"Remind me to water plant number {i} on the balcony" for i in range(12)]
    for prompt in prompts:
        first.store(chat(prompt, metadata={"semcache_category": "chat"}), answer(prompt))
    first.close()
    graph = next((store_dir / "index-snapshot").glob("snapshot-*/*.hnsw"))
    data = bytearray(graph.read_bytes())
    data[3] ^= 0x5A  # a header byte: hnswlib's loader dies of SIGSEGV on this one
    graph.write_bytes(bytes(data))

    restart = subprocess.run([sys.executable, "-c", _RESTART, str(store_dir),
                              json.dumps(SMALL_SHARDS), prompts[5]],
                             capture_output=True, text=True, timeout=120, cwd=TESTS.parent,
                             env={**__import__("os").environ,
                                  "PYTHONPATH": f"{TESTS.parent}:{TESTS}"})

    assert restart.returncode == 0, restart.stderr[-2000:]
    assert "semcache.snapshot_corrupt" in restart.stdout
    # the result goes to stderr: the logs on stdout come from the background store check too
    assert restart.stderr.strip().splitlines()[-1] == "hit 12 1.0", restart.stderr[-2000:]


_RESTART = """
import json, sys
from helpers import chat
from litellm_semcache.config import BUILTIN_DEFAULTS, load_settings
from litellm_semcache.engine import SemanticCache
data = load_settings(BUILTIN_DEFAULTS).model_dump(mode="json")
data["store"] = {"path": sys.argv[1]}
data["index"] = json.loads(sys.argv[2])
cache = SemanticCache(load_settings(data))
decision = cache.lookup(chat(sys.argv[3], metadata={"semcache_category": "chat"}))
fault = cache.recorder.registry.get_sample_value("semcache_store_faults_total",
                                                 {"fault": "snapshot_corrupt"})
print(decision.outcome.value, len(cache), fault, file=sys.stderr)
"""


def test_sqlite_really_rejects_the_malformed_database_used_above(tmp_path):
    path = tmp_path / "cache.db"
    path.write_bytes(b"SQLite format 3\x00" + b"\x17" * 8192)
    with pytest.raises(sqlite3.DatabaseError):
        sqlite3.connect(path).execute("PRAGMA journal_mode=wal").fetchall()
