"""Thresholds from labelled prompt pairs: how often each policy serves the right answer.

A pairs file is JSONL: ``{"a": ..., "b": ..., "same_answer": bool, "category": optional}``,
where ``a`` and ``b`` are a prompt string or a list of chat messages. For each pair, ``a`` is
stored and ``b`` looked up in a scope of its own, with every threshold at 0, so the lookup
reports the best candidate's similarity and the guard's verdict, and the verifier scores the
pair (operating point 0, so the score never vetoes there); hit and false-hit rates at any
threshold and operating point, with or without the guard, follow from those.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litellm_semcache.classify import match
from litellm_semcache.classify.verifier import ScoredVerifier
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
    score: float | None = None  # the verifier's score (None: no candidate, or vetoed)

    def served(self, threshold: float, guard: bool = True, point: float = 0.0) -> bool:
        """Served at cosine ``threshold`` and verifier operating ``point`` (0: score unused)."""
        return (self.similarity is not None and self.similarity >= threshold
                and not (guard and self.guard)
                and (not guard or point <= 0.0 or (self.score or 0.0) >= point))


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
        policy.threshold_floor = policy.verifier_floor = None  # first: floors bound the rest
        policy.similarity_threshold = 0.0
        policy.verifier_threshold = 0.0
    cache = SemanticCache(probe, embedder=embedder or load_embedder(probe.embedding))
    verifier = ScoredVerifier()
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
            similarity = decision.similarity if decision.reason is not Reason.NO_CANDIDATE else None
            vetoed = decision.detail if decision.reason is Reason.GUARD else None
            score = None
            if similarity is not None and vetoed is None:
                score = verifier.score(similarity, match.compare(_last_turn(pair["b"]),
                                                                 _last_turn(pair["a"])))
            results.append(PairResult(category, pair["same_answer"], similarity, vetoed, score))
    finally:
        cache.close()
    return results


def rates(results: list[PairResult], threshold_of: Callable[[PairResult], float],
          guard: bool = True, point_of: Callable[[PairResult], float] | None = None
          ) -> dict[str, Any]:
    same = [r for r in results if r.same]
    different = [r for r in results if not r.same]

    def served(row: PairResult) -> bool:
        return row.served(threshold_of(row), guard, point_of(row) if point_of else 0.0)

    hits = sum(served(r) for r in same)
    false_hits = sum(served(r) for r in different)
    return {"hit_rate": round(hits / len(same), 3) if same else None,
            "false_hit_rate": round(false_hits / len(different), 3) if different else None,
            "same_pairs": len(same), "different_pairs": len(different)}


def propose(results: list[PairResult], target_false_hit_rate: float, guard: bool = True,
            policies: Mapping[str, CategoryPolicy] | None = None) -> dict[str, dict[str, Any]]:
    """Per category: the (cosine threshold, verifier operating point) whose false-hit rate stays
    within the target and whose hit rate is the best achievable, the strictest such pair on
    ties (small labelled sets say little about unseen traps, so no looser than the data
    requires). Without the guard the operating point is not used (cosine alone).

    ``threshold`` is None, with a ``note``, for a category with fewer than :data:`MIN_PAIRS`
    pairs or without both kinds (a rate needs pairs to be measured on). A ``sensitive``
    category of ``policies`` is never loosened: the proposal stays at its current threshold
    and operating point.
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
        found = _best(rows, target_false_hit_rate, guard)
        if found is None:
            continue
        threshold, point, measured = found
        note = ""
        policy = (policies or {}).get(category)
        if policy is not None and policy.sensitive and (
                threshold < policy.similarity_threshold or point < policy.verifier_threshold):
            threshold = max(threshold, policy.similarity_threshold)
            point = max(point, policy.verifier_threshold)
            measured = rates(rows, lambda r, t=threshold: t, guard, lambda r, p=point: p)
            note = "sensitive: never loosened, kept at least at the current policy"
        proposals[category] = {"threshold": threshold, "verifier_threshold": point, **measured,
                               "note": note}
    return proposals


def _last_turn(side: Any) -> str:
    return side if isinstance(side, str) else str(side[-1].get("content", ""))


def _messages(side: Any) -> list[dict[str, Any]]:
    return [{"role": "user", "content": side}] if isinstance(side, str) else side


def propose_floors(results: list[PairResult], overload_false_hit_rate: float,
                   policies: Mapping[str, CategoryPolicy] | None = None
                   ) -> dict[str, dict[str, Any]]:
    """Per category: ``threshold_floor`` and ``verifier_floor``, the loosest the load policy
    may go while the routed model is overloaded, for a (larger) false-hit budget then.

    At full overload both bounds apply together, so they are chosen as one operating point:
    the best hit rate within ``overload_false_hit_rate`` among gates and points no higher than
    the category's own (a floor only bounds relaxation), the strictest on ties. A
    ``sensitive`` category gets none: it is never relaxed. No floor below :data:`MIN_PAIRS`
    pairs of both kinds, as for the thresholds."""
    floors: dict[str, dict[str, Any]] = {}
    for category, row in propose(results, overload_false_hit_rate).items():
        policy = (policies or {}).get(category)
        found = None
        if row["threshold"] is not None and not (policy is not None and policy.sensitive):
            rows = [r for r in results if r.category == category]
            found = _best(rows, overload_false_hit_rate, True,
                          policy.similarity_threshold if policy else 1.0,
                          policy.verifier_threshold if policy else 1.0)
        if found is None:
            note = row["note"] or ("sensitive: never relaxed, no floor"
                                   if policy is not None and policy.sensitive
                                   else "over the budget already: no floor")
            floors[category] = {"threshold_floor": None, "verifier_floor": None, "note": note}
            continue
        gate, point, measured = found
        floors[category] = {"threshold_floor": gate, "verifier_floor": point, **measured,
                            "note": ""}
    return floors


def _best(rows: list[PairResult], budget: float, guard: bool, gate_max: float = 1.0,
          point_max: float = 1.0) -> tuple[float, float, dict[str, Any]] | None:
    """The (gate, operating point) at most ``gate_max`` / ``point_max`` with the best hit rate
    whose false-hit rate is within ``budget``, the strictest on ties; None when none is."""
    points = sorted({round(step / 20, 2) for step in range(20)} | {point_max}) if guard else [0.0]
    gates = sorted({round(r.similarity, 4) for r in rows if r.similarity is not None}
                   | {round(0.50 + step / 100, 2) for step in range(51)} | {gate_max})
    allowed = []
    for gate in (g for g in gates if g <= gate_max):
        for point in (p for p in points if p <= point_max or not guard):
            measured = rates(rows, lambda r, t=gate: t, guard, lambda r, q=point: q)
            if (measured["false_hit_rate"] or 0.0) <= budget:
                allowed.append((measured["hit_rate"] or 0.0, gate, point, measured))
    if not allowed:
        return None
    best = max(hit for hit, *_ in allowed)
    _, gate, point, measured = max((row for row in allowed if row[0] == best),
                                   key=lambda row: (row[2], row[1]))
    return gate, point, measured
