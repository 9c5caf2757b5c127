"""README blocks of the peers suite (``results/peers_mixed.json``, ``python -m bench peers``):
every system's lookup cost side by side, the ratios, Milvus Lite's index check, issue 4's
targets. ``bench/readme_tables.py`` registers them."""

from __future__ import annotations

from typing import Any

from bench.readme_format import count, met, spread, table


def peers(results: dict[str, Any]) -> list[str]:
    rows = [row for row in results["systems"] if "error" not in row]
    rounds = "settings" in results  # files before the interleaved rounds hold one pass
    lines = table(
        ["entries", "system", "miss p50 excl. embed", "miss p99 excl. embed",
         "miss p50 incl. embed", "exact hit p50", "lookups per pass", "RAM B/entry",
         "disk B/entry", "load s", "load average"],
        [[count(row["entries"]), row["system"],
          _figure(row["miss_excluding_embedding"], "p50_ms", 3),
          _figure(row["miss_excluding_embedding"], "p99_ms", 2),
          _figure(row["miss_including_embedding"], "p50_ms", 2),
          _figure(row["hit_exact"], "p50_ms", 3), str(row["miss_excluding_embedding"]["n"]),
          count(row["ram_bytes_per_entry"]), count(row["disk_bytes_per_entry"]),
          f"{row['load_s']:.0f}", "{:.1f}–{:.1f}".format(*row["load_average_range"])
          if "load_average_range" in row else "not recorded"]
         for row in rows])
    lines += ["", _peers_method(results, rows) if rounds else _PEERS_SINGLE_PASS]
    lines += ["", *table(["entries", "peer", "miss p50 excl. embed", "miss p99 excl. embed",
                          "miss p50 incl. embed", "exact hit p50", "RAM/entry", "disk/entry"],
                         [[count(pair["entries"]), pair["peer"], *[_ratio(pair[key]) for key in (
                             "miss_excluding_embedding_p50_ms", "miss_excluding_embedding_p99_ms",
                             "miss_including_embedding_p50_ms", "hit_exact_p50_ms",
                             "ram_bytes_per_entry", "disk_bytes_per_entry")]]
                          for pair in results["ratios_ours_over_peer"]])]
    lines += ["", ("Ratios are ours / peer of the medians (below 1: ours is cheaper; "
                   "\"22× less\" = 1/22).")]
    evidence = [(row["entries"], name, check) for row in rows
                for name, check in (row.get("index_evidence") or {}).items()]
    if evidence:
        lines += ["", "Milvus Lite's index, checked after each bulk load: "
                  + "; ".join(f"{count(entries)} entries: {check['with_hnsw']} of "
                              f"{check['segments']} segments with {', '.join(check['index_classes'])}, "
                              f"{check['ef_probes_differing']} of {check['ef_probes']} probes "
                              "differ between ef 1 and ef 2048"
                              for entries, _, check in evidence) + "."]
    return lines


# What a file written before the interleaved rounds and the Milvus Lite index fix can claim.
_PEERS_SINGLE_PASS = (
    "**An older run**: one measurement pass per system, one system after the other, no pinning "
    "and no load average recorded, and Milvus Lite searched before its segments' HNSW indexes "
    "were loaded (so its miss figures include exhaustive scans of unindexed segments). It is "
    "shown because it is the committed file; `python -m bench peers --entries 10000 100000` "
    "(5 interleaved rounds, the index checked) replaces it.")


def _peers_method(results: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    settings = results["settings"]
    return (f"Milliseconds: the median over {settings['rounds']} interleaved rounds of each "
            "round's percentile, the lowest and highest round in brackets. Every system pinned "
            f"to CPU {', '.join(map(str, settings['cpus']))} of {settings['box_cpus']}, BLAS and "
            "OpenMP pools at one thread; threads seen per worker: "
            + ", ".join(f"{row['system']} {row['threads']['worker']['threads']}"
                        for row in rows if row["entries"] == rows[-1]["entries"]) + ".")


def _figure(figure: dict[str, Any], stat: str, digits: int) -> str:
    """The median with the rounds' spread, or the single pass of an older file."""
    if f"{stat}_range" in figure:
        return spread(figure, stat, digits)
    return f"{figure[stat]:.{digits}f}"


def peers_targets(results: dict[str, Any]) -> list[str]:
    """Issue 4's targets, at the largest size measured."""
    rows = [row for row in results["systems"] if "error" not in row]
    size = max(row["entries"] for row in rows)
    at = {row["system"]: row for row in rows if row["entries"] == size}
    ours = at["ours"]

    def faster(peer: str) -> float | None:
        if peer not in at:
            return None
        return at[peer]["miss_excluding_embedding"]["p50_ms"] / ours["miss_excluding_embedding"]["p50_ms"]

    miss = ours["miss_excluding_embedding"]
    gpt, milvus = faster("gptcache"), faster("milvus_lite")
    how = "medians of the rounds" if "settings" in results else "one pass, the older run above"
    return table(["target", f"measured at {count(size)} entries ({how})", "met"], [
        ["miss excl. embedding ≤ 0.5 ms p50", _miss_measured(miss), _miss_met(miss)],
        ["≥ 5× faster than GPTCache (miss excl. embedding)",
         "-" if gpt is None else f"{gpt:.1f}×", "-" if gpt is None else met(gpt >= 5)],
        ["≥ 10× lower miss cost than the Milvus Lite variant",
         "-" if milvus is None else f"{milvus:.1f}×", "-" if milvus is None else met(milvus >= 10)],
        ["≤ 2 KB RAM per entry", f"{ours['ram_bytes_per_entry']:,} B",
         met(ours["ram_bytes_per_entry"] <= 2048)],
    ])


def _miss_measured(miss: dict[str, Any]) -> str:
    if "p50_ms_range" not in miss:
        return f"{miss['p50_ms']:.3f} ms (one pass)"
    low, high = miss["p50_ms_range"]
    return f"{miss['p50_ms']:.3f} ms (rounds {low:.3f}–{high:.3f})"


def _miss_met(miss: dict[str, Any]) -> str:
    if miss["p50_ms"] > 0.5:
        return "no"
    if miss.get("p50_ms_range", [0, miss["p50_ms"]])[1] <= 0.5:
        return "yes"
    return "the median, not every round"


def _ratio(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3g} ({1 / value:.3g}× less)" if value < 1 else f"{value:.3g}"
