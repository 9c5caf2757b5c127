"""``semcache calibrate``: propose per-category thresholds from labelled pairs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.table import Table

from litellm_semcache.cli.output import console, percent
from litellm_semcache.config import load_settings


def calibrate(args: argparse.Namespace) -> int:
    from litellm_semcache import calibration
    from litellm_semcache.observability.logs import configure_logging

    configure_logging("warning")  # one probe decision per pair would bury the proposal on stdout
    settings = load_settings(args.config)
    pairs = calibration.read_pairs(Path(args.pairs))
    results = calibration.observe(pairs, settings)
    proposals = calibration.propose(results, args.target_false_hit_rate, guard=not args.no_guard,
                                    policies=settings.categories)
    table = Table(title=f"thresholds for a false-hit rate <= {args.target_false_hit_rate:.1%} "
                        f"({'cosine alone' if args.no_guard else 'with the guard'}, {len(pairs)} pairs)")
    for column in ("category", "current", "proposed", "hit rate", "false-hit rate",
                   "pairs (same/diff)", "note"):
        table.add_column(column, justify="left" if column in ("category", "note") else "right")
    for category, row in proposals.items():
        proposed = "-" if row["threshold"] is None else f"{row['threshold']:.3f}"
        table.add_row(category, f"{settings.policy(category).similarity_threshold:.2f}",
                      proposed, percent(row["hit_rate"]), percent(row["false_hit_rate"]),
                      f"{row['same_pairs']}/{row['different_pairs']}", row["note"])
    console().print(table)
    ready = {category: row for category, row in proposals.items() if row["threshold"] is not None}
    if ready:
        print("categories:")
        for category, row in ready.items():
            print(f"  {category}:\n    similarity_threshold: {row['threshold']:.3f}")
            if not args.no_guard:
                print(f"    verifier_threshold: {row['verifier_threshold']:.2f}")
    for category, row in proposals.items():
        if row["threshold"] is None:
            print(f"{category}: {row['note']}")
    if not args.no_guard:
        _print_floors(calibration.propose_floors(results, args.overload_false_hit_rate,
                                                 settings.categories),
                      args.overload_false_hit_rate)
    return 0


def _print_floors(floors: dict[str, dict[str, Any]], budget: float) -> None:
    """The load policy's floors: how far a category may relax while its model is overloaded."""
    table = Table(title=f"floors under overload, for a false-hit rate <= {budget:.1%} "
                        "(load_policy: how far a category may relax)")
    for column in ("category", "threshold_floor", "verifier_floor", "hit rate", "false-hit rate",
                   "note"):
        table.add_column(column, justify="left" if column in ("category", "note") else "right")
    for category, row in floors.items():
        shown = ["-" if row[key] is None else f"{row[key]:.2f}"
                 for key in ("threshold_floor", "verifier_floor")]
        table.add_row(category, *shown, percent(row.get("hit_rate")),
                      percent(row.get("false_hit_rate")), row["note"])
    console().print(table)
    ready = {name: row for name, row in floors.items() if row["verifier_floor"] is not None}
    if ready:
        print("categories:  # floors under overload")
        for category, row in ready.items():
            print(f"  {category}:\n    threshold_floor: {row['threshold_floor']:.2f}\n"
                  f"    verifier_floor: {row['verifier_floor']:.2f}")
