"""README blocks of the lookup-cost suite (``results/lookup_cost_*.json``, ``python -m bench
lookup``): cost per size, issue 16's targets, one replica's scaling figures in the top-level
README. ``bench/readme_tables.py`` registers them."""

from __future__ import annotations

from typing import Any

from bench.readme_format import count, met, percent, table


def lookup_cost(rows: list[dict[str, Any]]) -> list[str]:
    return table(
        ["entries", "miss p50 / p99 excl. embed (rebuilt)", "excl. embed (snapshot start)",
         "miss p50 / p99 incl. embed", "exact hit p50", "near-dup recall@1", "paraphrase hits",
         "start-up rebuild / snapshot", "store check (background)",
         "RAM B/entry rebuilt / snapshot / checked", "disk B/entry", "fill", "run",
         "load average (start → end)"],
        [[count(row["entries"]), _pair(row["miss_excluding_embedding"], 3),
          _pair(row["miss_excluding_embedding_after_snapshot_start"], 3),
          _pair(row["miss_including_embedding"], 1), f"{row['hit_exact_fast_path']['p50_ms']:.3f} ms",
          f"{row['near_duplicate_recall']:.4f}", percent(row["paraphrase_hit_rate"], 0),
          f"{row['startup_rebuild_s']:.0f} s / {row['startup_from_snapshot_s']:.1f} s",
          f"{row['store_check_after_snapshot_s']:.1f} s",
          " / ".join(count(row[key]) for key in (
              "ram_bytes_per_entry", "ram_bytes_per_entry_after_snapshot_start",
              "ram_bytes_per_entry_after_store_check")),
          count(row["disk_bytes_per_entry"]), f"{row['store_fill_s']:.0f} s",
          f"{row['run_s'] / 60:.0f} min", str(row.get("load_average", "-")).replace("->", "→")]
         for row in rows])


def _pair(figure: dict[str, float], digits: int) -> str:
    return f"{figure['p50_ms']:.{digits}f} / {figure['p99_ms']:.1f} ms"


def lookup_targets(rows: list[dict[str, Any]]) -> list[str]:
    """Issue 16's targets against the largest run in the file."""
    row = max(rows, key=lambda r: r["entries"])
    snapshot = min(rows, key=lambda r: r["entries"])
    misses = [row["miss_excluding_embedding"]["p50_ms"],
              row["miss_excluding_embedding_after_snapshot_start"]["p50_ms"]]
    ram = [row[key] for key in ("ram_bytes_per_entry", "ram_bytes_per_entry_after_snapshot_start",
                                "ram_bytes_per_entry_after_store_check")]
    at = count(row["entries"])
    return table(["target", "measured", "met"], [
        [f"{at}: miss p50 ≤ 0.5 ms excl. embedding",
         " and ".join(f"{m:.3f} ms" for m in misses) + " (rebuilt, snapshot start)",
         met(sum(m <= 0.5 for m in misses), len(misses))],
        [f"{at}: near-duplicate recall ≥ 0.99", f"{row['near_duplicate_recall']:.4f}",
         met(row["near_duplicate_recall"] >= 0.99)],
        [f"{at}: RSS ≤ 2 KB per entry", " / ".join(f"{r:,} B" for r in ram)
         + " (rebuilt, snapshot start, store checked)", met(sum(r <= 2048 for r in ram), 3)],
        ["start-up from the snapshot ≤ 15 s at 1M, ≤ 3 s at 100k",
         (f"{row['startup_from_snapshot_s']:.1f} s at {at}; "
          f"{snapshot['startup_from_snapshot_s']:.1f} s at {count(snapshot['entries'])}"),
         met(row["startup_from_snapshot_s"] <= 15 and snapshot["startup_from_snapshot_s"] <= 3)],
    ])


def lookup_one_run(rows: list[dict[str, Any]]) -> list[str]:
    """A lookup-cost file of one run per size, its latencies as p50 / p99."""
    return table(
        ["entries", "miss excl. embed", "miss incl. embed", "semantic hit incl. embed",
         "exact hit", "near-dup recall@1", "start-up rebuild / snapshot", "RAM B/entry",
         "disk B/entry"],
        [[count(row["entries"]), _pair(row["miss_excluding_embedding"], 3),
          _pair(row["miss_including_embedding"], 1),
          _pair(row["hit_semantic_including_embedding"], 1), _pair(row["hit_exact_fast_path"], 3),
          f"{row['near_duplicate_recall']:.4f}",
          f"{row['startup_rebuild_s']:.0f} s / {row['startup_from_snapshot_s']:.1f} s",
          count(row["ram_bytes_per_entry"]), count(row["disk_bytes_per_entry"])]
         for row in rows])


def scaling(rows: list[dict[str, Any]]) -> list[str]:
    """The top-level README's Scaling figures: what one replica holds, measured, and 10M
    entries scaled linearly from the largest run."""
    rows = sorted(rows, key=lambda r: r["entries"])
    figures = [
        ("RSS per entry: after a rebuild / after a start from the snapshot / after its store check",
         lambda r: " / ".join(count(r[k]) for k in (
             "ram_bytes_per_entry", "ram_bytes_per_entry_after_snapshot_start",
             "ram_bytes_per_entry_after_store_check")) + " B"),
        ("disk per entry: the diskcache document + the vector log record",
         lambda r: f"{count(r['disk_bytes_per_entry'])} B"),
        ("start-up from the snapshot (then the background store check, while it serves)",
         lambda r: f"{r['startup_from_snapshot_s']:.1f} s ({r['store_check_after_snapshot_s']:.1f} s)"),
        ("start-up rebuilding the graphs from the vector log (no snapshot)",
         lambda r: f"{r['startup_rebuild_s']:.0f} s"),
        ("miss p50 excluding the embedding: rebuilt / started from the snapshot",
         lambda r: f"{r['miss_excluding_embedding']['p50_ms']:.3f} / "
                   f"{r['miss_excluding_embedding_after_snapshot_start']['p50_ms']:.3f} ms"),
        ("near-duplicate recall@1 against an exact search", lambda r: f"{r['near_duplicate_recall']:.4f}"),
        ("load average during the run (start → end)",
         lambda r: str(r.get("load_average", "-")).replace("->", "→")),
    ]
    largest = rows[-1]
    return table(["measured", *[f"{count(r['entries'])} entries" for r in rows]],
                 [[label, *[show(r) for r in rows]] for label, show in figures]) + [
        "", _on_paper(largest)]


def _on_paper(largest: dict[str, Any]) -> str:
    scale = 10_000_000 / largest["entries"]
    ram_gb = largest["ram_bytes_per_entry_after_store_check"] * 1e7 / 1e9
    disk_gb = largest["disk_bytes_per_entry"] * 1e7 / 1e9
    return (f"**10M entries on one replica, on paper**, scaled linearly from the "
            f"{count(largest['entries'])}-entry run: RSS ≈ {ram_gb:.0f} GB for the index and "
            f"catalogue, plus the process; the local store ≈ {disk_gb:.0f} GB (documents at this "
            "benchmark's size, and the vector log), plus the snapshot; a start from the snapshot "
            f"≈ {largest['startup_from_snapshot_s'] * scale:.0f} s, a rebuild without one ≈ "
            f"{largest['startup_rebuild_s'] * scale / 60:.0f} min.")
