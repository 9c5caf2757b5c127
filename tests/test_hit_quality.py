"""Regression guard on hit quality: the shipped policy on the labelled dev set."""

from __future__ import annotations

from bench import hit_quality
from litellm_semcache.config import load_settings


def test_shipped_policy_serves_paraphrases_and_refuses_traps():
    rows = hit_quality.observe()
    shipped = load_settings(None)

    def threshold(row):
        return shipped.policy(row["category"]).similarity_threshold

    guarded = hit_quality.rates(rows, threshold, guard=True)
    unguarded = hit_quality.rates(rows, threshold, guard=False)
    assert guarded["false_hit_rate"] <= 0.02, guarded
    assert guarded["hit_rate"] >= 0.75, guarded
    assert unguarded["false_hit_rate"] > 0.2  # the traps are real: cosine alone falls for them
    context_swaps = [r for r in rows if r["similarity"] is None]
    assert context_swaps and not any(r["same"] for r in context_swaps)
