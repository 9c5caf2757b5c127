"""Hit quality on labelled prompt pairs: does the cache serve `a`'s answer to `b` when it should?

For each pair, `a` is stored and `b` looked up in a scope of its own (a per-pair namespace), in
the pair's category. One pass runs with every threshold at 0, so each lookup reports the best
candidate's similarity and the guard's verdict; hit rates at any threshold, with and without the
guard, follow from those. Same-answer pairs should hit; different-answer pairs must not.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from litellm_semcache.cache import SemanticCache
from litellm_semcache.config import load_settings
from litellm_semcache.embedding import load_embedder
from litellm_semcache.logs import configure_logging

DATA = Path(__file__).parent / "data" / "pairs.jsonl"
SWEEP = (0.75, 0.80, 0.85, 0.88, 0.90, 0.92, 0.94, 0.96, 0.98, 0.99)


def _messages(side: Any) -> list[dict[str, Any]]:
    return [{"role": "user", "content": side}] if isinstance(side, str) else side


def observe(path: Path = DATA) -> list[dict[str, Any]]:
    """One row per pair: category, label, similarity (None = no candidate in scope), guard veto."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    settings = load_settings(None).model_copy(deep=True)
    settings.log_level = "warning"
    configure_logging("warning")
    settings.store.path = tempfile.mkdtemp(prefix="semcache-quality-")
    for policy in settings.categories.values():
        policy.threshold_floor = None
        policy.similarity_threshold = 0.0
    cache = SemanticCache(settings, embedder=load_embedder(settings.embedding))
    rows = []
    for number, line in enumerate(path.read_text().splitlines()):
        pair = json.loads(line)
        category = pair.get("category", "default")
        shared = {"model": "quality", "metadata": {"semcache_category": category},
                  "cache": {"namespace": f"pair-{number}"}}
        cache.store({**shared, "messages": _messages(pair["a"])}, {"answer": number})
        decision = cache.lookup({**shared, "messages": _messages(pair["b"])})
        rows.append({"category": category, "same": bool(pair["same_answer"]),
                     "similarity": decision.similarity if decision.reason != "no_candidate" else None,
                     "guard": decision.reason.removeprefix("guard:")
                     if decision.reason.startswith("guard:") else None})
    cache.close()
    return rows


def served(row: dict[str, Any], threshold: float, guard: bool) -> bool:
    return (row["similarity"] is not None and row["similarity"] >= threshold
            and not (guard and row["guard"]))


def rates(rows: list[dict[str, Any]], threshold_of: Any, guard: bool) -> dict[str, Any]:
    same = [r for r in rows if r["same"]]
    different = [r for r in rows if not r["same"]]
    hits = sum(served(r, threshold_of(r), guard) for r in same)
    false_hits = sum(served(r, threshold_of(r), guard) for r in different)
    return {"hit_rate": round(hits / len(same), 3) if same else None,
            "false_hit_rate": round(false_hits / len(different), 3) if different else None,
            "same_pairs": len(same), "different_pairs": len(different)}


def run(path: Path = DATA) -> dict[str, Any]:
    rows = observe(path)
    shipped = load_settings(None)

    def shipped_threshold(row: dict[str, Any]) -> float:
        return shipped.policy(row["category"]).similarity_threshold

    by_category = {}
    for category in sorted({r["category"] for r in rows}):
        subset = [r for r in rows if r["category"] == category]
        by_category[category] = {
            "threshold": shipped.policy(category).similarity_threshold,
            "with_guard": rates(subset, shipped_threshold, True),
            "without_guard": rates(subset, shipped_threshold, False)}
    sweep = {f"{t:.2f}": {"with_guard": rates(rows, lambda r, t=t: t, True),
                          "without_guard": rates(rows, lambda r, t=t: t, False)} for t in SWEEP}
    return {"pairs": len(rows), "shipped": {
        "with_guard": rates(rows, shipped_threshold, True),
        "without_guard": rates(rows, shipped_threshold, False)},
        "by_category": by_category, "sweep": sweep,
        "guard_vetoes": {reason: sum(r["guard"] == reason for r in rows)
                         for reason in sorted({r["guard"] for r in rows if r["guard"]})}}
