"""Hit quality on labelled prompt pairs: the shipped policy, swept global thresholds, with and
without the guard (the pair evaluation itself is ``litellm_semcache.calibration``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from litellm_semcache import calibration
from litellm_semcache.config import load_settings
from litellm_semcache.logs import configure_logging

DATA = Path(__file__).parent / "data" / "pairs.jsonl"
SWEEP = (0.75, 0.80, 0.85, 0.88, 0.90, 0.92, 0.94, 0.96, 0.98, 0.99)


def observe(path: Path = DATA) -> list[calibration.PairResult]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    configure_logging("warning")
    return calibration.observe(calibration.read_pairs(path), load_settings(None))


def run(path: Path = DATA) -> dict[str, Any]:
    results = observe(path)
    shipped = load_settings(None)

    def shipped_threshold(row: calibration.PairResult) -> float:
        return shipped.policy(row.category).similarity_threshold

    by_category = {}
    for category in sorted({r.category for r in results}):
        subset = [r for r in results if r.category == category]
        by_category[category] = {
            "threshold": shipped.policy(category).similarity_threshold,
            "with_guard": calibration.rates(subset, shipped_threshold, True),
            "without_guard": calibration.rates(subset, shipped_threshold, False)}
    sweep = {f"{t:.2f}": {"with_guard": calibration.rates(results, lambda r, t=t: t, True),
                          "without_guard": calibration.rates(results, lambda r, t=t: t, False)}
             for t in SWEEP}
    return {"pairs": len(results), "shipped": {
        "with_guard": calibration.rates(results, shipped_threshold, True),
        "without_guard": calibration.rates(results, shipped_threshold, False)},
        "by_category": by_category, "sweep": sweep,
        "guard_vetoes": {reason: sum(r.guard == reason for r in results)
                         for reason in sorted({r.guard for r in results if r.guard})}}
