"""Hit quality at the same false-hit budget: each system's threshold swept, not its default.

Comparing systems at their default thresholds compares operating points, not systems (GPTCache's
documented ``SearchDistanceEvaluation`` default serves almost every trap; a strict cosine serves
almost nothing). Here every system's threshold is swept over every value that changes a decision
on the labelled pairs, and each system is reported at its best hit rate within the same
false-hit budgets (1%, 2%, 5%). On the sets split into ``dev`` and ``test``
(``bench/data/LABELLING.md``) the threshold is chosen on dev and the test figures are at that
threshold; the older sets have no split, so theirs is the best possible threshold for the set
itself (an upper bound for every system alike).

Systems, each scoring a pair by the threshold at which it stops serving it:
- ours, cosine + guard: the lookup's best cosine similarity in the pair's scope, none when the
  guard vetoes (``litellm_semcache.calibration.observe``);
- ours, cosine only: the same without the guard;
- GPTCache 0.1.44 ``SearchDistanceEvaluation`` (same MiniLM, the last message embedded as its
  chat adapter does): ``put(a)``, ``get(b)``, the rank its evaluation gives; it serves at
  threshold ``t`` when the rank reaches ``4 t`` (its adapter's ``rank_threshold``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import hit_quality
from litellm_semcache import calibration
from litellm_semcache.config import load_settings
from litellm_semcache.embedding import MemoEmbedder, load_embedder
from litellm_semcache.observability.logs import configure_logging

BUDGETS = (0.01, 0.02, 0.05)
DATA = Path(__file__).parent / "data"
FILES = ("pairs.jsonl", "pairs_holdout.jsonl", "pairs_traps.jsonl", "eval_pairs.jsonl",
         "eval_multiturn.jsonl")
Scored = list[tuple[bool, float | None]]  # (same answer, score: served at thresholds <= it)


def best_at_budgets(dev: Scored, test: Scored | None = None,
                    budgets: tuple[float, ...] = BUDGETS) -> dict[str, Any]:
    """Per budget: the threshold with the most hits on ``dev`` whose false-hit rate stays
    within the budget (the strictest on ties), its rates there (``chosen``) and, if given, on
    ``test``. ``threshold`` None: serving nothing is the only way to stay within it."""
    candidates = sorted({score for _, score in dev if score is not None}) + [float("inf")]
    measured = [(threshold, rates(dev, threshold)) for threshold in candidates]
    out = {}
    for budget in budgets:
        allowed = [(m["hit_rate"], threshold, m) for threshold, m in measured
                   if m["false_hit_rate"] <= budget + 1e-12]
        _, threshold, chosen = max(allowed, key=lambda row: (row[0], row[1]))
        row = {"threshold": None if threshold == float("inf") else round(threshold, 4),
               "chosen": chosen}
        if test is not None:
            row["test"] = rates(test, threshold)
        out[f"{budget:.0%}"] = row
    return out


def rates(scored: Scored, threshold: float) -> dict[str, Any]:
    same = [score for is_same, score in scored if is_same]
    different = [score for is_same, score in scored if not is_same]

    def served(scores: list[float | None]) -> float:
        return round(sum(s is not None and s >= threshold for s in scores) / len(scores), 4) \
            if scores else 0.0
    return {"hit_rate": served(same), "false_hit_rate": served(different),
            "same_pairs": len(same), "different_pairs": len(different)}


def scores(pairs: list[dict[str, Any]], embedder: MemoEmbedder) -> dict[str, Scored]:
    """Every system's score for every pair."""
    observed = calibration.observe(pairs, load_settings(None), embedder)
    return {
        "ours: cosine + guard": [(r.same, None if r.guard else r.similarity) for r in observed],
        "ours: cosine only": [(r.same, r.similarity) for r in observed],
        "GPTCache SearchDistanceEvaluation": [(pair["same_answer"], _gptcache_rank(pair, embedder))
                                              for pair in pairs],
    }


def _gptcache_rank(pair: dict[str, Any], embedder: MemoEmbedder) -> float | None:
    """GPTCache's own score of ``b`` against a cache holding only ``a``, as a threshold."""
    from gptcache.similarity_evaluation.distance import SearchDistanceEvaluation

    ranks: list[float] = []

    class Recording(SearchDistanceEvaluation):  # type: ignore[misc]
        def evaluation(self, src_dict: Any, cache_dict: Any, **kwargs: Any) -> float:
            rank = super().evaluation(src_dict, cache_dict, **kwargs)
            ranks.append(rank)
            return rank

    hit_quality.gptcache_serves(pair, Recording(), embedder, threshold=0.0)
    low, high = Recording().range()
    return max(ranks) / (high - low) if ranks else None


def run(limit: int | None = None, files: tuple[str, ...] = FILES) -> dict[str, Any]:
    """Every file: pairs counted, then each system's operating points."""
    configure_logging("warning")
    embedder = load_embedder(load_settings(None).embedding)
    report: dict[str, Any] = {"budgets": [f"{b:.0%}" for b in BUDGETS], "files": {}}
    for name in files:
        pairs = calibration.read_pairs(DATA / name)
        dev = [p for p in pairs if p.get("split", "dev") == "dev"][:limit]
        test = [p for p in pairs if p.get("split") == "test"][:limit]
        dev_scores = scores(dev, embedder)
        test_scores = scores(test, embedder) if test else {}
        report["files"][name] = {
            "pairs": {"dev": len(dev), "test": len(test)},
            "chosen_on": "dev" if test else "the file itself",
            "systems": {system: best_at_budgets(scored, test_scores.get(system))
                        for system, scored in dev_scores.items()}}
    return report


def print_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    for name, result in report["files"].items():
        evaluated = "test" if result["pairs"]["test"] else "chosen"
        table = Table(title=f"{name}: best hits within each false-hit budget (threshold chosen "
                            f"on {result['chosen_on']}, rates on {evaluated})")
        table.add_column("system")
        for budget in report["budgets"]:
            table.add_column(f"<= {budget} false hits", justify="right")
        for system, row in result["systems"].items():
            table.add_row(system, *[
                f"{row[b][evaluated]['hit_rate']:.1%} / {row[b][evaluated]['false_hit_rate']:.1%}"
                f" @ {row[b]['threshold']}" for b in report["budgets"]])
        Console(width=180).print(table)
