"""Hit quality on labelled prompt pairs: the shipped policy, swept global thresholds, with and
without the guard (the pair evaluation itself is ``litellm_semcache.calibration``), per
category, per trap type where a file tags pairs with ``trap``, and GPTCache's own evaluation
of the same pairs."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from bench.gptcache_setup import gptcache
from litellm_semcache import calibration
from litellm_semcache.config import load_settings
from litellm_semcache.embedding import MemoEmbedder, load_embedder
from litellm_semcache.observability.logs import configure_logging

DATA = Path(__file__).parent / "data" / "pairs.jsonl"
SWEEP = (0.75, 0.80, 0.85, 0.88, 0.90, 0.92, 0.94, 0.96, 0.98, 0.99)


def observe(path: Path = DATA, limit: int | None = None) -> list[calibration.PairResult]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    configure_logging("warning")
    return calibration.observe(calibration.read_pairs(path)[:limit], load_settings(None))


def run(path: Path = DATA, gptcache: bool = True, limit: int | None = None) -> dict[str, Any]:
    """Every pair of ``path`` (or the first ``limit``: the CI smoke)."""
    pairs = calibration.read_pairs(path)[:limit]
    results = observe(path, limit)
    shipped = load_settings(None)

    def shipped_threshold(row: calibration.PairResult) -> float:
        return shipped.policy(row.category).similarity_threshold

    def point(row: calibration.PairResult) -> float:
        return shipped.policy(row.category).verifier_threshold

    def both(subset: list[calibration.PairResult], threshold: Any) -> dict[str, Any]:
        shipped_point = point if threshold is shipped_threshold else None
        return {"with_guard": calibration.rates(subset, threshold, True, shipped_point),
                "without_guard": calibration.rates(subset, threshold, False)}

    def groups(key: str) -> dict[str, list[calibration.PairResult]]:
        out: dict[str, list[calibration.PairResult]] = {}
        for pair, row in zip(pairs, results):
            if pair.get(key) or key == "category":
                out.setdefault(pair.get(key) or row.category, []).append(row)
        return dict(sorted(out.items()))

    by_category = {name: {"threshold": shipped.policy(name).similarity_threshold,
                          **both(rows, shipped_threshold)}
                   for name, rows in groups("category").items()}
    report = {"pairs": len(results), "shipped": both(results, shipped_threshold),
              "by_category": by_category,
              "by_trap": {name: both(rows, shipped_threshold)
                          for name, rows in groups("trap").items()},
              "sweep": {f"{t:.2f}": both(results, lambda r, t=t: t) for t in SWEEP},
              "guard_vetoes": {reason: sum(r.guard == reason for r in results)
                               for reason in sorted({r.guard for r in results if r.guard})}}
    if gptcache:
        report.update(gptcache_evaluations(pairs))
    return report


def gptcache_evaluations(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    """GPTCache 0.1.44 on the same pairs, same MiniLM: ``put(a)`` then ``get(b)`` in a fresh
    cache per pair. Two set-ups: ``Cache()``'s default evaluation (exact match, threshold 0.8)
    and its documented semantic one (``SearchDistanceEvaluation``, threshold 0.8, which over
    unit vectors means cosine >= 0.6). A chat pair is embedded as GPTCache's chat adapter does
    it: the last message's content only."""
    from gptcache.similarity_evaluation import ExactMatchEvaluation, SearchDistanceEvaluation

    embedder = load_embedder(load_settings(None).embedding)
    out = {}
    for name, evaluation in (("gptcache_default", ExactMatchEvaluation),
                             ("gptcache_search_distance", SearchDistanceEvaluation)):
        served = [gptcache_serves(pair, evaluation(), embedder) for pair in pairs]
        same = [s for s, p in zip(served, pairs) if p["same_answer"]]
        different = [s for s, p in zip(served, pairs) if not p["same_answer"]]
        out[name] = {"hit_rate": round(sum(same) / len(same), 3) if same else None,
                     "false_hit_rate": round(sum(different) / len(different), 3)
                     if different else None,
                     "same_pairs": len(same), "different_pairs": len(different)}
    return out


def gptcache_serves(pair: dict[str, Any], evaluation: Any, embedder: MemoEmbedder,
                    threshold: float = 0.8) -> bool:
    """Whether GPTCache, holding only ``a``, serves it for ``b`` (``evaluation`` scores)."""
    from gptcache.adapter.api import get, put

    with tempfile.TemporaryDirectory(prefix="semcache-gptcache-") as workdir:
        cache, manager = gptcache(Path(workdir), embedder, evaluation, threshold=threshold,
                                  max_elements=16)
        put(_last_content(pair["a"]), "answer", cache_obj=cache)
        served = get(_last_content(pair["b"]), cache_obj=cache) is not None
        manager.close()
    return served


def _last_content(side: Any) -> str:
    return side if isinstance(side, str) else str(side[-1]["content"])
