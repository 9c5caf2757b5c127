"""The benchmark's own checks, on inputs whose answers are known: operating points at a
false-hit budget, the exact-only baseline and the served-answer tally of the replay, and the
Milvus Lite variant's proof that its HNSW index is in use after a bulk load."""

from __future__ import annotations

import pytest

from bench import operating_points, replay_checks


def test_each_budget_gets_the_threshold_with_most_hits_within_it():
    # same-answer pairs at 0.9, 0.8, 0.7, 0.6; traps at 0.85 and 0.65 (one trap in 50 allowed
    # at 2%, none at 1%); None: vetoed, never served
    same = [(True, s) for s in (0.9, 0.8, 0.7, 0.6)]
    traps = [(False, 0.85), (False, 0.65)] + [(False, None)] * 48
    points = operating_points.best_at_budgets(same + traps, budgets=(0.01, 0.02, 0.05))

    assert points["1%"]["threshold"] == 0.9 and points["1%"]["chosen"]["hit_rate"] == 0.25
    assert points["2%"]["threshold"] == 0.7 and points["2%"]["chosen"]["false_hit_rate"] == 0.02
    assert points["5%"]["threshold"] == 0.6 and points["5%"]["chosen"]["hit_rate"] == 1.0


def test_a_threshold_chosen_on_dev_is_reported_on_test_as_it_falls():
    dev = [(True, 0.9), (False, 0.8)]
    test = [(True, 0.85), (False, 0.95)]
    point = operating_points.best_at_budgets(dev, test, budgets=(0.0,))["0%"]
    assert point["threshold"] == 0.9
    assert (point["test"]["hit_rate"], point["test"]["false_hit_rate"]) == (0.0, 1.0)


def test_when_every_threshold_serves_a_trap_the_budget_serves_nothing():
    point = operating_points.best_at_budgets([(True, 0.5), (False, 0.9)], budgets=(0.01,))["1%"]
    assert point["threshold"] is None and point["chosen"]["hit_rate"] == 0.0


def test_the_exact_only_baseline_counts_repeats_only():
    texts = ["hi", "hi", "Hi", "hello  world", "hello world", "hi"]
    baseline = replay_checks.exact_only_baseline(texts)
    assert baseline["exact_text"]["hits"] == 2  # the second and third "hi"
    assert baseline["whitespace_collapsed"]["hits"] == 3  # and "hello world"


def test_semantic_hits_are_judged_by_the_labels_and_unlabelled_ones_never_count_as_right():
    ids = ["a", "b", "c", "d", "e"]
    rows = [{"reason": "miss", "served": None}, {"reason": "exact", "served": 0},
            {"reason": "semantic", "served": 0}, {"reason": "semantic", "served": 1},
            {"reason": "semantic", "served": 2}]
    labels = {("c", "a"): True, ("d", "b"): False}
    tally = replay_checks.served_answers(rows, ids, labels)
    assert (tally["exact_hits"], tally["semantic_hits"]) == (1, 3)
    assert (tally["right"], tally["wrong"], tally["unlabelled"]) == (1, 1, 1)
    assert tally["wrong_pairs"] == [["d", "b"]] and tally["wrong_rate_of_labelled"] == 0.5


def test_the_committed_replay_labels_name_pairs_of_sharegpt_ids():
    labels = replay_checks.read_labels()
    assert len(labels) >= 100 and any(labels.values()) and not all(labels.values())
    assert all(asked != served for asked, served in labels)


def test_a_bulk_load_into_milvus_lite_proves_its_hnsw_index_is_in_use(tmp_path, make_cache):
    pytest.importorskip("pymilvus")
    from helpers import HIT, chat

    from bench.milvus_index import MilvusCategoryIndex, milvus_variant

    tagged = {"metadata": {"semcache_category": "chat"}}
    prompts = [f"Tell me a fact about the planet number {n}" for n in range(3)]
    store = tmp_path / "store"
    with milvus_variant(tmp_path / "milvus.db") as index_factory:
        first = make_cache(store_dir=store, lookup_deadline_ms=60_000, index_factory=index_factory)
        for prompt in prompts:
            first.store(chat(prompt, **tagged), {"answer": prompt})
        first.close()
        MilvusCategoryIndex.evidence.clear()
        second = make_cache(store_dir=store, lookup_deadline_ms=60_000, index_factory=index_factory)
        (evidence,) = MilvusCategoryIndex.evidence.values()  # the rebuild's bulk load
        decision = second.lookup(chat(prompts[1], **tagged))
        second.close()
    assert evidence["segments"] == evidence["with_hnsw"] >= 1
    assert evidence["index_classes"] == ["FaissHnswIndex"] and evidence["hnsw_used"]
    assert not evidence["ef_probe_conclusive"]  # 3 rows: a graph walk is exact there too
    assert decision.outcome == HIT and decision.response == {"answer": prompts[1]}
