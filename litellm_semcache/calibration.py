"""Thresholds from labelled prompt pairs: how often each policy serves the right answer.

A pairs file is JSONL: ``{"a": ..., "b": ..., "same_answer": bool, "category": optional}``,
where ``a`` and ``b`` are a prompt string or a list of chat messages. For each pair, ``a`` is
stored and ``b`` looked up in a scope of its own, with every threshold at 0, so the lookup
reports the best candidate's similarity and the guard's verdict; hit and false-hit rates at any
threshold, with or without the guard, follow from those.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litellm_semcache.engine import Reason, SemanticCache
from litellm_semcache.config import DEFAULT_CATEGORY, CacheSettings, CategoryPolicy
from litellm_semcache.embedding import MemoEmbedder, load_embedder
from litellm_semcache.errors import SemcacheError
from litellm_semcache.jsonl import read_records


MIN_PAIRS = 20  # per category, below which a proposed threshold is noise


@dataclass(frozen=True)
class PairResult:
    category: str
    same: bool
    similarity: float | None  # None: no candidate in scope (e.g. another conversation)
    guard: str | None  # the guard's veto reason, if any

    def served(self, threshold: float, guard: bool = True) -> bool:
        return (self.similarity is not None and self.similarity >= threshold
                and not (guard and self.guard))


def read_pairs(path: Path) -> list[dict[str, Any]]:
    return read_records(
        path, lambda pair: all(k in pair for k in ("a", "b", "same_answer"))
        and isinstance(pair["same_answer"], bool), '{"a", "b", "same_answer": bool}')


def observe(pairs: list[dict[str, Any]], settings: CacheSettings,
            embedder: MemoEmbedder | None = None) -> list[PairResult]:
    probe = settings.model_copy(deep=True)
    probe.store.path = tempfile.mkdtemp(prefix="semcache-calibrate-")
    probe.log_level = "warning"
    for policy in probe.categories.values():
        policy.threshold_floor = None
        policy.similarity_threshold = 0.0
    cache = SemanticCache(probe, embedder=embedder or load_embedder(probe.embedding))
    results = []
    try:
        for number, pair in enumerate(pairs):
            category = pair.get("category") or DEFAULT_CATEGORY
            if category not in probe.categories:
                raise SemcacheError(f"pair {number + 1}: unknown category {category!r}")
            shared = {"model": "calibration", "metadata": {"semcache_category": category},
                      "cache": {"namespace": f"pair-{number}"}}
            cache.store({**shared, "messages": _messages(pair["a"])}, {"pair": number})
            decision = cache.lookup({**shared, "messages": _messages(pair["b"])})
            results.append(PairResult(
                category, pair["same_answer"],
                decision.similarity if decision.reason is not Reason.NO_CANDIDATE else None,
                decision.detail if decision.reason is Reason.GUARD else None))
    finally:
        cache.close()
    return results


def rates(results: list[PairResult], threshold_of: Callable[[PairResult], float],
          guard: bool = True) -> dict[str, Any]:
    same = [r for r in results if r.same]
    different = [r for r in results if not r.same]
    hits = sum(r.served(threshold_of(r), guard) for r in same)
    false_hits = sum(r.served(threshold_of(r), guard) for r in different)
    return {"hit_rate": round(hits / len(same), 3) if same else None,
            "false_hit_rate": round(false_hits / len(different), 3) if different else None,
            "same_pairs": len(same), "different_pairs": len(different)}


def propose(results: list[PairResult], target_false_hit_rate: float, guard: bool = True,
            policies: Mapping[str, CategoryPolicy] | None = None) -> dict[str, dict[str, Any]]:
    """Per category: among thresholds whose false-hit rate stays within the target, the
    strictest one that still reaches the best achievable hit rate (small labelled sets say
    little about unseen traps, so no looser than the data requires).

    ``threshold`` is None, with a ``note``, for a category with fewer than :data:`MIN_PAIRS`
    pairs or without both kinds (a rate needs pairs to be measured on). A ``sensitive``
    category of ``policies`` is never loosened: the proposal stays at its current threshold.
    """
    proposals = {}
    for category in sorted({r.category for r in results}):
        rows = [r for r in results if r.category == category]
        counted = rates(rows, lambda r: 1.0, guard)
        if (len(rows) < MIN_PAIRS or not counted["same_pairs"]
                or not counted["different_pairs"]):
            proposals[category] = {**counted, "threshold": None, "hit_rate": None,
                                   "false_hit_rate": None,
                                   "note": f"too few pairs ({counted['same_pairs']} same, "
                                           f"{counted['different_pairs']} different; need "
                                           f"{MIN_PAIRS} with both kinds): no proposal"}
            continue
        candidates = sorted({round(r.similarity, 4) for r in rows if r.similarity is not None}
                            | {round(0.70 + step / 100, 2) for step in range(31)})
        allowed = [(threshold, rates(rows, lambda r, t=threshold: t, guard))
                   for threshold in candidates]
        allowed = [(t, m) for t, m in allowed
                   if (m["false_hit_rate"] or 0.0) <= target_false_hit_rate]
        if not allowed:
            continue
        best = max(m["hit_rate"] or 0.0 for _, m in allowed)
        threshold, measured = max((t, m) for t, m in allowed if (m["hit_rate"] or 0.0) == best)
        note = ""
        policy = (policies or {}).get(category)
        if policy is not None and policy.sensitive and threshold < policy.similarity_threshold:
            threshold = policy.similarity_threshold
            measured = rates(rows, lambda r, t=threshold: t, guard)
            note = "sensitive: never loosened, kept at the current threshold"
        proposals[category] = {"threshold": threshold, **measured, "note": note}
    return proposals


def _messages(side: Any) -> list[dict[str, Any]]:
    return [{"role": "user", "content": side}] if isinstance(side, str) else side
