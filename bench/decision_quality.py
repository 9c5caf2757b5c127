"""Decisions on the labelled evaluation data (bench/data/LABELLING.md), per split and family.

For the single-turn and the multi-turn pairs of each split: hits on same-answer pairs and false
hits on the others, per family, for

- the shipped policy (each category's cosine gate, guard and verifier operating point);
- the best single global cosine threshold, no guard (what GPTCache, RedisVL and LiteLLM's
  built-in semantic caches do), chosen on ``dev`` as the threshold with the most hits at no more
  than 2% false hits, then applied unchanged to ``test``;
- GPTCache 0.1.44's own evaluation (``SearchDistanceEvaluation``, threshold 0.8);

the split loss (same-answer pairs whose two sides the classifier puts in different categories:
what one index per category would lose, and the split-proof lookup finds); and the categoriser
on the labelled ShareGPT first turns (right overall, right on named categories, code recall).
Pairs are stored as ``a`` and looked up as ``b`` under the pair's labelled category.
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import Any

from bench import datasets
from bench.hit_quality import gptcache_evaluations
from litellm_semcache import calibration
from litellm_semcache.classify.categories import Categorizer
from litellm_semcache.config import load_settings
from litellm_semcache.embedding import load_embedder
from litellm_semcache.observability.logs import configure_logging

BUDGET = 0.02
_SWEEP = [round(0.50 + step / 100, 2) for step in range(50)]


def run(limit: int | None = None, gptcache: bool = True) -> dict[str, Any]:
    """Every split (or the first ``limit`` rows of each: the CI smoke)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    configure_logging("warning")
    shipped = load_settings(None)
    embedder = load_embedder(shipped.embedding)
    report: dict[str, Any] = {}
    for kind, load in (("single_turn", datasets.eval_pairs),
                       ("multi_turn", datasets.multiturn_pairs)):
        observed = {split: (load(split)[:limit], None) for split in datasets.SPLITS}
        observed = {split: (rows, calibration.observe(rows, shipped, embedder))
                    for split, (rows, _) in observed.items()}
        dev_results = observed["dev"][1]
        global_threshold = _best_global(dev_results)
        report[kind] = {"global_threshold_from_dev": global_threshold}
        for split, (rows, results) in observed.items():
            report[kind][split] = _split_report(rows, results, shipped, global_threshold)
            if gptcache:
                report[kind][split]["gptcache"] = gptcache_evaluations(rows)[
                    "gptcache_search_distance"]
    report["split_loss"] = {split: _split_loss(datasets.eval_pairs(split)[:limit], shipped,
                                               embedder) for split in datasets.SPLITS}
    report["categories"] = {split: _categorisation(split, limit, shipped, embedder)
                            for split in datasets.SPLITS}
    return report


def _best_global(results: list[calibration.PairResult]) -> float:
    allowed = [(calibration.rates(results, lambda r, t=t: t, guard=False), t) for t in _SWEEP]
    allowed = [(m["hit_rate"] or 0.0, t) for m, t in allowed if (m["false_hit_rate"] or 0.0) <= BUDGET]
    return max(allowed)[1] if allowed else 1.0


def _split_report(rows: list[dict[str, Any]], results: list[calibration.PairResult],
                  shipped: Any, global_threshold: float) -> dict[str, Any]:
    def threshold(row: calibration.PairResult) -> float:
        return shipped.policy(row.category).similarity_threshold

    def point(row: calibration.PairResult) -> float:
        return shipped.policy(row.category).verifier_threshold

    families: dict[str, list[calibration.PairResult]] = defaultdict(list)
    for row, result in zip(rows, results):
        families[row["family"]].append(result)
    per_family = {}
    for family, members in sorted(families.items()):
        same = members[0].same
        key = "hit_rate" if same else "false_hit_rate"
        per_family[family] = {
            "same_answer": same, "pairs": len(members),
            "shipped": calibration.rates(members, threshold, True, point)[key],
            "global_cosine": calibration.rates(members, lambda r: global_threshold, False)[key]}
    return {"shipped": calibration.rates(results, threshold, True, point),
            "global_cosine": calibration.rates(results, lambda r: global_threshold, False),
            "families": per_family}


def _split_loss(rows: list[dict[str, Any]], shipped: Any, embedder: Any) -> dict[str, Any]:
    categorizer = Categorizer(shipped, embedder)
    same = [row for row in rows if row["same_answer"]]
    split = sum(categorizer.by_embedding(embedder.embed_one(row["a"]), row["a"])[0]
                != categorizer.by_embedding(embedder.embed_one(row["b"]), row["b"])[0]
                for row in same)
    return {"same_answer_pairs": len(same), "sides_in_different_categories": split,
            "lost_without_split_proof_lookup_at_most": round(split / len(same), 3) if same else None,
            "lost_with_it": 0.0}


def _categorisation(split: str, limit: int | None, shipped: Any, embedder: Any) -> dict[str, Any]:
    categorizer = Categorizer(shipped, embedder)
    rows = datasets.labelled_prompts(split)[:limit]
    predicted = [categorizer.by_embedding(embedder.embed_one(text), text)[0]
                 for _, text, _ in rows]
    truth = [label for _, _, label in rows]
    named = [(p, t) for p, t in zip(predicted, truth) if t != "default"]
    code = [(p, t) for p, t in zip(predicted, truth) if t == "code"]
    return {"prompts": len(rows),
            "right": round(sum(p == t for p, t in zip(predicted, truth)) / len(rows), 3),
            "right_on_named": round(sum(p == t for p, t in named) / len(named), 3) if named else None,
            "code_recall": round(sum(p == t for p, t in code) / len(code), 3) if code else None,
            "all_default_baseline": round(truth.count("default") / len(rows), 3)}


def print_tables(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=180)

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.1%}"

    for kind in ("single_turn", "multi_turn"):
        data = report[kind]
        name = kind.replace("_", "-")
        table = Table(title=f"{name} pairs: hits (same answer) / false hits (different answer)")
        for column in ("policy", "dev", "test"):
            table.add_column(column, justify="left" if column == "policy" else "right")
        policies = [("shipped (gate + guard + verifier)", "shipped"),
                    (f"best global cosine from dev ({data['global_threshold_from_dev']}), no "
                     "guard", "global_cosine")]
        if "gptcache" in data["dev"]:
            policies.append(("GPTCache SearchDistanceEvaluation 0.8", "gptcache"))
        for label, key in policies:
            table.add_row(label, *[f"{pct(data[s][key]['hit_rate'])} / "
                                   f"{pct(data[s][key]['false_hit_rate'])}"
                                   for s in datasets.SPLITS])
        console.print(table)
        table = Table(title=f"{name} pairs per family: hit rate (same-answer families) or "
                            "false-hit rate (the others)")
        for column in ("family", "same answer", "pairs dev/test", "dev shipped",
                       "dev global cosine", "test shipped", "test global cosine"):
            table.add_column(column, justify="left" if column == "family" else "right")
        for family, row in data["dev"]["families"].items():
            test = data["test"]["families"].get(family, {})
            table.add_row(family, "yes" if row["same_answer"] else "no",
                          f"{row['pairs']}/{test.get('pairs', 0)}", pct(row["shipped"]),
                          pct(row["global_cosine"]), pct(test.get("shipped")),
                          pct(test.get("global_cosine")))
        console.print(table)
    table = Table(title="categories of labelled ShareGPT first turns (the head is trained on "
                        "dev: dev is in-sample, see bench.train_categories for its CV figure)")
    for column in ("split", "prompts", "right", "right on named", "code recall", "all-default"):
        table.add_column(column, justify="right")
    for split, row in report["categories"].items():
        table.add_row(split, str(row["prompts"]), pct(row["right"]), pct(row["right_on_named"]),
                      pct(row["code_recall"]), pct(row["all_default_baseline"]))
    console.print(table)
    for split, row in report["split_loss"].items():
        print(f"split loss ({split}): {row['sides_in_different_categories']} of "
              f"{row['same_answer_pairs']} same-answer pairs land in two categories "
              f"({pct(row['lost_without_split_proof_lookup_at_most'])} lost with one index per "
              f"category); 0 lost with the split-proof lookup")
