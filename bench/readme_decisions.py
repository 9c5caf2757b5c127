"""README blocks of issue 14's decision suite (``results/decision_quality.json``, written by
``python -m bench quality``): hits and false hits per policy and per family on the labelled
real-traffic pairs, the categories of the labelled ShareGPT first turns, and the split loss.
``bench/readme_tables.py`` registers them."""

from __future__ import annotations

from typing import Any

from bench.readme_format import percent, table

_SPLITS = ("dev", "test")


def decisions(results: dict[str, Any]) -> list[str]:
    """Both pair sets: the policy table, then the families, dev and test side by side."""
    lines: list[str] = []
    for kind, title, gptcache in (
            ("single_turn", "Single-turn pairs", ("GPTCache 0.1.44 `SearchDistanceEvaluation`, "
                                                 "threshold 0.8")),
            ("multi_turn", "Multi-turn pairs", ("GPTCache `SearchDistanceEvaluation` 0.8 (embeds "
                                               "the last message only)"))):
        data = results[kind]
        same = sum(data[split]["shipped"]["same_pairs"] for split in _SPLITS)
        different = sum(data[split]["shipped"]["different_pairs"] for split in _SPLITS)
        policies = [("shipped: cosine gate, spelling alignment, guard, verifier score", "shipped"),
                    ((f"best single global cosine threshold from dev at ≤ 2% false hits "
                     f"({data['global_threshold_from_dev']}), no guard"), "global_cosine")]
        if "gptcache" in data["dev"]:
            policies.append((gptcache, "gptcache"))
        lines += [(f"**{title}** ({same + different:,}: {same} same answer / {different} "
                  "different), hits / false hits:"), ""]
        lines += table(["policy", *_SPLITS],
                       [[label, *[_rates(data[split][key]) for split in _SPLITS]]
                        for label, key in policies])
        lines += ["", ("Per family, shipped policy (hit rate of a same-answer family, false-hit "
                      "rate of the others; pairs dev / test):"), ""]
        lines += table(["family", "same answer", "pairs", "dev", "test"],
                       [[family, "yes" if row["same_answer"] else "no",
                         f"{row['pairs']} / {data['test']['families'].get(family, {}).get('pairs', 0)}",
                         percent(row["shipped"]),
                         percent(data["test"]["families"].get(family, {}).get("shipped"))]
                        for family, row in sorted(data["dev"]["families"].items(),
                                                  key=lambda item: not item[1]["same_answer"])])
        lines.append("")
    return lines[:-1]


def categories(results: dict[str, Any]) -> list[str]:
    """The category head on the labelled first turns; dev is what it was trained on."""
    rows = results["categories"]
    lines = table(["split", "prompts", "right", "right on named categories", "code recall",
                   "everything `default`"],
                  [[split + (" (trained on it: in-sample)" if split == "dev" else ""),
                    str(row["prompts"]), percent(row["right"]), percent(row["right_on_named"]),
                    percent(row["code_recall"]), percent(row["all_default_baseline"])]
                   for split, row in rows.items()])
    loss = results["split_loss"]
    lines += ["", "**Split loss**: " + "; ".join(
        f"{row['sides_in_different_categories']} of {row['same_answer_pairs']} same-answer "
        f"pairs ({split}) have sides the classifier puts in two categories: at most "
        f"{percent(row['lost_without_split_proof_lookup_at_most'])} lost with one index per "
        f"category, {percent(row['lost_with_it'])} with one index for every category"
        for split, row in loss.items()) + "."]
    return lines


def _rates(row: dict[str, Any]) -> str:
    return f"{percent(row['hit_rate'])} / {percent(row['false_hit_rate'])}"
