"""The benchmark's own moving parts that the figures depend on: the ShareGPT reader and the
Milvus Lite variant of the cache (real Milvus Lite server, real MiniLM)."""

from __future__ import annotations

import hashlib

import pytest

from bench import replay


def test_sharegpt_first_turns_come_in_file_order_and_stop_at_the_limit():
    turns = list(replay.first_user_turns(5))
    assert len(turns) == 5 and all(turn.strip() for turn in turns)
    # the dataset has no licence: its text is never committed, so compare a digest
    assert hashlib.sha256(turns[0].encode()).hexdigest()[:16] == "232e243cc0a3f164"
    assert list(replay.first_user_turns(2)) == turns[:2]


def test_the_milvus_lite_variant_finds_what_the_cache_stored(tmp_path, make_cache):
    pytest.importorskip("pymilvus")
    from bench.milvus_index import MilvusCategoryIndex, milvus_variant
    from helpers import HIT, MISS

    ask = {"model": "m", "metadata": {"semcache_category": "chat"}}
    with milvus_variant(tmp_path / "milvus.db") as index_factory:
        # a slow first search is no deadline miss
        cache = make_cache(lookup_deadline_ms=60_000, index_factory=index_factory)
        cache.store({**ask, "messages": [{"role": "user", "content": "Tell me a joke about cats"}]},
                    {"answer": 1})
        assert all(isinstance(index, MilvusCategoryIndex) for index in cache.catalogue.indexes.values())
        hit = cache.lookup({**ask, "messages": [{"role": "user",
                                                 "content": "Please tell me a joke about cats!"}]})
        miss = cache.lookup({**ask, "messages": [{"role": "user",
                                                  "content": "How do volcanoes form?"}]})
        cache.close()
    assert (hit.outcome, miss.outcome) == (HIT, MISS), (hit.reason, hit.similarity)
