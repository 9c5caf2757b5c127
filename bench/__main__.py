"""``python -m bench``: run the benchmarks, print a table, write JSON under bench/results/.

    python -m bench                     # lookup cost at 10k and 100k entries
    python -m bench --entries 1000000   # any sizes
    python -m bench --smoke             # seconds-long run for CI
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench import lookup_cost

RESULTS = Path(__file__).parent / "results"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--entries", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--vectors", choices=["mixed", "random"], default="mixed",
                        help="stored vectors: mixtures of real embeddings, or random (worst case)")
    parser.add_argument("--smoke", action="store_true", help="1,000 entries, 20 queries")
    args = parser.parse_args()
    sizes, queries = ([1_000], 20) if args.smoke else (args.entries, args.queries)
    rows = []
    for entries in sizes:
        # A fresh process per size, so RSS per entry is not blurred by the previous run.
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            rows.append(pool.submit(lookup_cost.run, entries, queries, args.vectors).result())
    table = Table(title=f"lookup cost (ms; one category, one scope, 384-d, {args.vectors} vectors)")
    for column in ("entries", "miss p50 excl. embed", "miss p99 excl. embed", "miss p50 incl. embed",
                   "miss p99 incl. embed", "exact hit p50", "semantic hit p50", "recall",
                   "start-up s (rebuild / snapshot)", "RAM B/entry", "disk B/entry"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            f"{row['entries']:,}", f"{row['miss_excluding_embedding']['p50_ms']:.3f}",
            f"{row['miss_excluding_embedding']['p99_ms']:.3f}",
            f"{row['miss_including_embedding']['p50_ms']:.2f}",
            f"{row['miss_including_embedding']['p99_ms']:.2f}",
            f"{row['hit_exact_fast_path']['p50_ms']:.3f}",
            f"{row['hit_semantic_including_embedding']['p50_ms']:.2f}",
            f"{row['near_duplicate_recall']:.0%}",
            f"{row['startup_rebuild_s']:.1f} / {row['startup_from_snapshot_s']:.1f}",
            str(row["ram_bytes_per_entry"]),
            str(row["disk_bytes_per_entry"]))
    Console(width=160).print(table)
    RESULTS.mkdir(exist_ok=True)
    name = "lookup_cost_smoke.json" if args.smoke else f"lookup_cost_{args.vectors}.json"
    payload = {"when": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": platform.processor() or
               platform.machine(), "cpus": multiprocessing.cpu_count(), "results": rows}
    (RESULTS / name).write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {RESULTS / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
