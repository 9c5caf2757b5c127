"""Regression guard on hit quality: the shipped policy on the labelled pair sets, and the
calibration that proposes thresholds from such sets."""

from __future__ import annotations

import json
import re

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


def _pairs_file(tmp_path, pairs: list[dict]) -> str:
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(p) for p in pairs) + "\n")
    return str(path)


def _labelled(category: str, count: int) -> list[dict]:
    """``count`` pairs per kind: greetings that share an answer, jokes that do not."""
    same = [{"a": f"hi, how are you today? ({n})", "b": f"hello, how are you doing? ({n})",
             "same_answer": True, "category": category} for n in range(count)]
    different = [{"a": f"Tell me a joke about cats ({n})", "b": f"Tell me a joke about dogs ({n})",
                  "same_answer": False, "category": category} for n in range(count)]
    return same + different


def _overlapping(count: int = 10) -> list[dict]:
    """Chat pairs whose similarities overlap (MiniLM, measured): same-answer greetings
    (0.84-0.88) and reworded API-key questions (0.66-0.70); different-answer jokes about cats
    and dogs (0.76-0.79) and capitals of France and Spain (0.64-0.68). A strict budget can only
    have the greetings; a loose one buys some API-key pairs with jokes served wrongly."""
    def pairs(a: str, b: str, same: bool) -> list[dict]:
        return [{"a": f"{a} ({n})", "b": f"{b} ({n})", "same_answer": same, "category": "chat"}
                for n in range(count)]
    return (pairs("hi, how are you today?", "hello, how are you doing?", True)
            + pairs("How do I rotate my API key?", "How can I regenerate my API key?", True)
            + pairs("Tell me a joke about cats", "Tell me a joke about dogs", False)
            + pairs("What is the capital of France?", "What is the capital of Spain?", False))


def _proposed(capsys, pairs_file: str, target: str) -> float:
    """The chat threshold ``semcache calibrate`` prints for a policy (cosine alone)."""
    assert cli.main(["calibrate", pairs_file, "--target-false-hit-rate", target,
                     "--no-guard"]) == 0
    out = capsys.readouterr().out
    found = re.search(r"categories:\n  chat:\n    similarity_threshold: ([0-9.]+)", out)
    assert found, out
    return float(found.group(1))


def _measured(results: list[calibration.PairResult], threshold: float) -> tuple[float, float]:
    """(hit rate, false-hit rate) of a global threshold (cosine alone)."""
    measured = calibration.rates(results, lambda _: threshold, guard=False)
    return measured["hit_rate"], measured["false_hit_rate"]


def test_calibrate_proposes_thresholds_within_the_target(tmp_path, capsys):
    pairs = _overlapping()
    threshold = _proposed(capsys, _pairs_file(tmp_path, pairs), "0")
    hits, false_hits = _measured(calibration.observe(pairs, load_settings(None)), threshold)
    assert false_hits == 0.0  # the printed threshold, pasted into a policy, serves no trap
    assert hits == 0.5  # and every greeting: the best a zero budget allows on these pairs


def test_a_looser_target_proposes_a_looser_threshold_within_it(tmp_path, capsys):
    pairs = _overlapping()
    pairs_file = _pairs_file(tmp_path, pairs)
    strict = _proposed(capsys, pairs_file, "0")
    loose = _proposed(capsys, pairs_file, "0.5")
    results = calibration.observe(pairs, load_settings(None))  # embedded once for both
    hits, false_hits = _measured(results, loose)
    assert loose < strict
    assert false_hits <= 0.5 and hits > _measured(results, strict)[0]


def test_calibrate_says_when_a_category_has_too_few_pairs(tmp_path, capsys):
    assert cli.main(["calibrate", _pairs_file(tmp_path, _labelled("chat", 2)),
                     "--target-false-hit-rate", "0"]) == 0
    out = capsys.readouterr().out
    assert "chat: too few pairs (2 same, 2 different; need 20" in out
    assert "similarity_threshold" not in out  # nothing to paste into a policy


def test_calibrate_never_loosens_a_sensitive_category(tmp_path, capsys):
    # paraphrases a lenient threshold would serve, no trap: the data alone says "loosen"
    pairs = [{"a": f"What are the symptoms of diabetes? ({n})",
              "b": f"Which symptoms does diabetes have? ({n})", "same_answer": True,
              "category": "medical"} for n in range(12)]
    pairs += [{"a": f"What is a normal blood pressure? ({n})",
               "b": f"How do I treat a sprained ankle? ({n})", "same_answer": False,
               "category": "medical"} for n in range(12)]
    # a policy stricter than any threshold the data needs: the data alone says "loosen"
    policy = tmp_path / "strict-medical.yaml"
    policy.write_text("categories:\n  medical:\n    similarity_threshold: 0.99\n"
                      "    verifier_threshold: 0.99\n")
    assert cli.main(["calibrate", _pairs_file(tmp_path, pairs), "--target-false-hit-rate",
                     "0.05", "--config", str(policy)]) == 0
    out = capsys.readouterr().out
    assert "medical:\n    similarity_threshold: 0.990\n    verifier_threshold: 0.99" in out
    assert "never loosened" in out


def test_calibrate_rejects_a_malformed_file(tmp_path, capsys):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"a": "x", "b": "y"}\n')
    assert cli.main(["calibrate", str(pairs)]) == 2
    assert "same_answer" in capsys.readouterr().err
