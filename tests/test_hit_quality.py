"""Regression guard on hit quality: the shipped policy on the labelled pair sets, and the
calibration that proposes thresholds from such sets."""

from __future__ import annotations

import json

import pytest

from bench import hit_quality
from litellm_semcache import calibration, cli
from litellm_semcache.config import load_settings


@pytest.mark.parametrize("name", ["pairs.jsonl", "pairs_holdout.jsonl"])
def test_shipped_policy_serves_paraphrases_and_refuses_traps(name):
    results = hit_quality.observe(hit_quality.DATA.with_name(name))
    shipped = load_settings(None)

    def threshold(row):
        return shipped.policy(row.category).similarity_threshold

    def point(row):
        return shipped.policy(row.category).verifier_threshold

    guarded = calibration.rates(results, threshold, guard=True, point_of=point)
    assert guarded["false_hit_rate"] <= 0.02, guarded
    # The verifier's operating points were fitted on bench/data/eval_pairs.jsonl (dev), where
    # traps are half the pairs: on these older sets it gives up a few paraphrases (0.725 and
    # 0.70 here, 0.80 and 0.85 with cosine thresholds tuned on them) for no false hit at all.
    assert guarded["hit_rate"] >= 0.65, guarded


def test_cosine_alone_falls_for_the_traps_and_context_swaps_never_match():
    results = hit_quality.observe()
    shipped = load_settings(None)
    unguarded = calibration.rates(
        results, lambda row: shipped.policy(row.category).similarity_threshold, guard=False)
    assert unguarded["false_hit_rate"] > 0.2
    context_swaps = [r for r in results if r.similarity is None]
    assert context_swaps and not any(r.same for r in context_swaps)


def test_calibrate_proposes_thresholds_within_the_target(tmp_path, capsys):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("\n".join(json.dumps(p) for p in [
        {"a": "hi, how are you today?", "b": "hello, how are you doing?", "same_answer": True,
         "category": "chat"},
        {"a": "Tell me a joke about cats", "b": "Tell me a joke about dogs", "same_answer": False,
         "category": "chat"},
        {"a": "Write a poem about the sea", "b": "Write a poem about the sea, please",
         "same_answer": True, "category": "chat"},
    ]) + "\n")
    assert cli.main(["calibrate", str(pairs), "--target-false-hit-rate", "0"]) == 0
    out = capsys.readouterr().out
    assert "chat" in out and "similarity_threshold" in out and "verifier_threshold" in out


def test_calibrate_rejects_a_malformed_file(tmp_path, capsys):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"a": "x", "b": "y"}\n')
    assert cli.main(["calibrate", str(pairs)]) == 2
    assert "same_answer" in capsys.readouterr().err
