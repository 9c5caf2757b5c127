"""One PNG per benchmark, written next to its JSON (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first


def peers(rows: list[dict[str, Any]], path: Path) -> None:
    """Miss cost (log scale) and RAM per entry, grouped by size, one bar per system."""
    sizes = sorted({row["entries"] for row in rows})
    systems = list(dict.fromkeys(row["system"] for row in rows))
    figure, (miss_axis, ram_axis) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / max(1, len(systems))
    for offset, system in enumerate(systems):
        by_size = {row["entries"]: row for row in rows if row["system"] == system}
        xs = [i + offset * width for i, size in enumerate(sizes) if size in by_size]
        miss_axis.bar(xs, [by_size[s]["miss_excluding_embedding"]["p50_ms"] for s in sizes
                           if s in by_size], width, label=system)
        ram_axis.bar(xs, [by_size[s]["ram_bytes_per_entry"] / 1024 for s in sizes
                          if s in by_size], width, label=system)
    for axis, title in ((miss_axis, "miss p50 excl. embedding (ms, log)"),
                        (ram_axis, "RAM per entry (KiB)")):
        axis.set_xticks([i + 0.4 - width / 2 for i in range(len(sizes))],
                        [f"{size:,} entries" for size in sizes])
        axis.set_title(title)
    miss_axis.set_yscale("log")
    ram_axis.axhline(2, color="grey", linestyle="--", linewidth=1)
    miss_axis.legend()
    _save(figure, path)


def replay(results: dict[str, Any], path: Path) -> None:
    """Per category: share of traffic, hit rate and break-even hit rate at each latency."""
    categories = [c for c, row in results["by_category"].items() if row["requests"]]
    latencies = results["upstream_latencies_ms"]
    figure, axis = plt.subplots(figsize=(10, 4.5))
    xs = range(len(categories))
    rows = [results["by_category"][c] for c in categories]
    width = 0.8 / (2 + len(latencies))
    axis.bar([x for x in xs], [r["share"] for r in rows], width, label="share of traffic")
    axis.bar([x + width for x in xs], [r["hit_rate"] for r in rows], width, label="hit rate")
    for i, latency in enumerate(latencies):
        axis.bar([x + (2 + i) * width for x in xs],
                 [r["break_even_hit_rate"][str(latency)] or 0.0 for r in rows], width,
                 label=f"break-even at {latency} ms", alpha=0.7)
    axis.set_xticks([x + width * (1 + len(latencies)) / 2 for x in xs], categories)
    axis.set_ylabel("fraction")
    axis.set_title(f"ShareGPT replay: {results['prompts']:,} first user turns")
    axis.legend(fontsize=8)
    _save(figure, path)


def hit_quality(results: dict[str, Any], path: Path) -> None:
    """Hit rate against false-hit rate while the global threshold sweeps, guard on and off."""
    figure, axis = plt.subplots(figsize=(7, 5))
    for name, rows in results.items():
        for guard, style in (("with_guard", "-o"), ("without_guard", "--x")):
            sweep = rows["sweep"]
            axis.plot([sweep[t][guard]["false_hit_rate"] for t in sweep],
                      [sweep[t][guard]["hit_rate"] for t in sweep], style, markersize=3,
                      label=f"{name}: global threshold, {guard.replace('_', ' ')}")
        shipped = rows["shipped"]["with_guard"]
        axis.plot([shipped["false_hit_rate"]], [shipped["hit_rate"]], "*", markersize=14,
                  label=f"{name}: shipped per-category + guard")
        for key, marker, label in (("gptcache_default", "s", "GPTCache default (exact match)"),
                                   ("gptcache_search_distance", "D",
                                    "GPTCache SearchDistanceEvaluation 0.8")):
            if key in rows:
                axis.plot([rows[key]["false_hit_rate"]], [rows[key]["hit_rate"]], marker,
                          markersize=8, label=f"{name}: {label}")
    axis.set_xlabel("false-hit rate (different-answer pairs served)")
    axis.set_ylabel("hit rate (same-answer pairs served)")
    axis.legend(fontsize=7)
    _save(figure, path)


def _save(figure: Any, path: Path) -> None:
    figure.tight_layout()
    path.parent.mkdir(exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    print(f"wrote {path}")


def lookup(rows: list[dict[str, Any]], path: Path) -> None:
    """Per size: start-up (rebuild vs snapshot, log scale) and RSS per entry after each."""
    labels = [f"{row['entries']:,}" for row in rows]
    xs = range(len(rows))
    figure, (start_axis, ram_axis) = plt.subplots(1, 2, figsize=(11, 4.5))
    start_axis.bar([x - 0.2 for x in xs], [row["startup_rebuild_s"] for row in rows], 0.4,
                   label="rebuild from the vector log")
    start_axis.bar([x + 0.2 for x in xs], [row["startup_from_snapshot_s"] for row in rows], 0.4,
                   label="from the snapshot")
    start_axis.set_yscale("log")
    start_axis.set_title("start-up (s, log)")
    for offset, (key, name) in enumerate((("ram_bytes_per_entry", "rebuilt"),
                                          ("ram_bytes_per_entry_after_snapshot_start", "snapshot"),
                                          ("ram_bytes_per_entry_after_store_check", "checked"))):
        ram_axis.bar([x + (offset - 1) * 0.27 for x in xs], [row[key] for row in rows], 0.27,
                     label=name)
    ram_axis.axhline(2048, color="grey", linestyle="--", linewidth=1)
    ram_axis.set_title("RSS per entry (bytes; dashed: 2 KB)")
    for axis in (start_axis, ram_axis):
        axis.set_xticks(list(xs), [f"{label} entries" for label in labels])
        axis.legend()
    _save(figure, path)


def cluster(results: dict[str, Any], path: Path) -> None:
    """Convergence lag of replica B (sorted samples) over a real Redis Cluster."""
    lags = sorted(results["convergence"].get("samples_ms", []))
    figure, axis = plt.subplots(figsize=(7, 4))
    axis.plot([100 * (i + 1) / max(1, len(lags)) for i in range(len(lags))], lags)
    axis.set_yscale("symlog", linthresh=0.1)
    axis.set_xlabel("percentile of writes")
    axis.set_ylabel("ms until replica B holds the entry")
    failover = results["failover"]
    axis.set_title(f"cluster: {failover['acknowledged']} acknowledged, "
                   f"{failover['acknowledged_lost']} lost, {failover['wrong_answers']} wrong")
    _save(figure, path)
