"""The README blocks ``python -m bench readme`` renders, one :class:`Section` per block name.

Each render function takes a result file's ``results`` and returns Markdown lines; nothing here
measures or rounds differently from what the JSON holds, beyond formatting. The latency and
operations suites are here, the quality ones in ``bench/readme_quality.py``. Adding a block: a
function and one line in :data:`SECTIONS`, then the two markers in a README.
"""

from __future__ import annotations

from typing import Any

from bench.readme_format import Section, count, met, ms, percent, spread, table
from bench.readme_quality import (
    hit_quality,
    hit_quality_traps,
    mutations,
    operating_points,
    replay,
)

# ---------------------------------------------------------------------- peers


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


# ---------------------------------------------------------------------- lookup cost


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


# ---------------------------------------------------------------------- proxy, soak, faults, cluster


_PROXY_SERIES = {"no_cache_proxy": "proxy without cache",
                 "no_cache_proxy_with_no_cache_field": "proxy without cache, body `cache: {no-cache: true}`",
                 "hit_exact": "cache: exact hit", "hit_semantic": "cache: semantic hit (embedding each time)",
                 "miss": "cache: miss (to the 0 ms upstream)", "bypass_no_cache": "cache: `no-cache` bypass"}


def proxy_latency(results: dict[str, Any]) -> list[str]:
    return table(["series", "p50 ms", "p99 ms", "n", "vs proxy without cache (p50)",
                  "cache lookup p50 ms (`x-semcache-lookup-ms`)"],
                 [[_PROXY_SERIES.get(name, name), ms(row["p50_ms"]), ms(row["p99_ms"]), str(row["n"]),
                   f"{row.get('vs_no_cache_proxy_p50', 1.0):.2f}x",
                   ms(row.get("cache_lookup_p50_ms"), 3)] for name, row in results.items()])


def soak(results: dict[str, Any]) -> list[str]:
    replicas = sorted(results["replicas"], key=lambda r: r["replica"])
    deadlines = sum(r["reasons"].get("deadline", 0) for r in replicas)
    lag = results["convergence"]
    return table(
        ["run", "req/s (" + " + ".join(r["replica"].upper() for r in replicas) + ")",
         "lookup p50 / p99 ms", "fail-opens (lookup deadlines)", "exceptions",
         "entries at end", "RSS warm → end MB", "B sees A's entry, p50 / p99 / max ms"],
        [[f"`--minutes {results['minutes']:g}`", " + ".join(str(r["throughput_rps"]) for r in replicas),
          " and ".join(f"{r['lookup_p50_ms']:.1f} / {r['lookup_p99_ms']:.0f}" for r in replicas),
          f"{sum(r['fail_opens'] for r in replicas)} ({deadlines})", str(results["errors_raised"]),
          " / ".join(count(r["entries_end"]) for r in replicas),
          " / ".join(f"{r['rss_warm_mb']:.0f} → {r['rss_end_mb']:.0f}" for r in replicas),
          f"{lag['p50_ms']} / {lag['p99_ms']} / {lag['max_ms']}"]]) + [
        "", "RSS per replica through the run (MB, ten samples): " + "; ".join(
            f"{r['replica'].upper()} " + ", ".join(f"{mb:.0f}" for mb in r["rss_samples_mb"])
            for r in replicas) + "."]


def faults(results: dict[str, Any]) -> list[str]:
    names = {"before": "before", "outage": "Redis down", "after": "after restart"}
    lines = table(["phase", "lookups", "hits", "p50 ms", "max ms"],
                  [[names.get(phase, phase), count(row["requests"]), count(row["hits"]),
                    ms(row["p50_ms"]), ms(row["max_ms"], 1)] for phase, row in results["phases"].items()])
    first_hit_ms = results["seconds_to_first_hit_after_restart"] * 1000
    return lines + ["", (f"Exceptions reaching the caller: {results['exceptions_raised']}; "
                         f"fail-opens counted: {results['fail_opens']:,}; the breaker opened "
                         f"{results['breaker_opened']}×; first hit {first_hit_ms:.0f} ms after "
                         "Redis answered again; entries committed before the kill found after "
                         f"it: {results['found_after_restart']} of {results['committed_before_kill']}.")]


def cluster(results: dict[str, Any]) -> list[str]:
    lag, fail = results["convergence"], results["failover"]
    return table(
        ["convergence p50 / p99 / max", "writes (acknowledged)", "acknowledged lost",
         "wrong answers", "exceptions", "failover", "lookup while the master was down p50 / max",
         "B served every acknowledged entry after"],
        [[f"{lag['p50_ms']} / {lag['p99_ms']} / {lag['max_ms']} ms",
          f"{fail['writes']} ({fail['acknowledged']})", str(fail["acknowledged_lost"]),
          str(fail["wrong_answers"]), str(fail["exceptions"]), f"{fail['failover_s']} s",
          f"{fail['lookup_while_down_p50_ms']} / {fail['lookup_while_down_max_ms']:.0f} ms",
          f"{fail['replica_converged_s']} s"]]) + [
        "", (f"Not acknowledged: {fail['not_acknowledged']} of {fail['writes']} writes. "
             f"Targets (issue 16): convergence p99 ≤ 20 ms on loopback: {lag['p99_ms']} ms, "
             f"{met(lag['p99_ms'] <= 20)}; no wrong answer and no acknowledged entry lost through "
             f"a master failover: "
             f"{met(fail['wrong_answers'] == 0 and fail['acknowledged_lost'] == 0)}.")]


_LOAD_POLICIES = {"static": "static", "adaptive": "adaptive (shipped floors, relax 0.05)",
                  "adaptive_wide": "adaptive_wide (floors = base - 0.10, relax 0.10)"}


def load_adaptation(results: dict[str, Any]) -> list[str]:
    rows = [(name, results[name]) for name in _LOAD_POLICIES if name in results]
    lines = table(["policy", "probes reaching the model", "hits (relaxed)", "hit rate same-answer",
                   "false-hit rate", "looked up while overloaded", "client p50 ms", "client p95 ms"],
                  [[_LOAD_POLICIES[name], f"{row['reached_model']}/{row['probes']}",
                    f"{row['hits']} ({row['relaxed_hits']})", percent(row["hit_rate_same_answer"]),
                    percent(row["false_hit_rate"]), str(row["overloaded_lookups"]),
                    ms(row["p50_ms"], 0), ms(row["p95_ms"], 0)] for name, row in rows])
    changes = "; ".join(
        f"{name}: traffic to the model {-change['traffic_reduction']:+.1%}, false-hit rate "
        f"{change['false_hit_rate_change_points']:+.2f} points"
        for name, change in results["comparison"].items())
    summary = f"{results['mode']}, {results['pairs']} labelled pairs. Against static: {changes}."
    return [*lines, "", summary]


SECTIONS: dict[str, Section] = {section.name: section for section in (
    Section("peers", "peers_mixed.json",
            "python -m bench peers --entries 10000 100000", peers, load_in_rows=True),
    Section("peers-targets", "peers_mixed.json",
            "python -m bench peers --entries 10000 100000", peers_targets, load_in_rows=True),
    Section("lookup-cost", "lookup_cost_mixed.json", "python -m bench lookup --entries N",
            lookup_cost, load_in_rows=True),
    Section("lookup-targets", "lookup_cost_mixed.json", "python -m bench lookup --entries N",
            lookup_targets, load_in_rows=True),
    Section("scaling", "lookup_cost_mixed.json", "python -m bench lookup --entries N",
            scaling, load_in_rows=True),
    Section("proxy-latency", "proxy_latency.json", "python -m bench proxy", proxy_latency),
    Section("soak", "soak.json", "python -m bench soak --minutes 6", soak),
    Section("faults", "faults.json", "python -m bench faults", faults),
    Section("cluster", "cluster.json", "python -m bench cluster", cluster),
    Section("load-adaptation", "load_adaptation.json", "python -m bench load", load_adaptation),
    Section("hit-quality", "hit_quality.json", "python -m bench quality", hit_quality),
    Section("hit-quality-traps", "hit_quality.json", "python -m bench quality",
            hit_quality_traps),
    Section("same-budget", "operating_points.json", "python -m bench budgets", operating_points),
    Section("replay", "replay.json", "python -m bench replay --prompts 3000", replay),
    Section("mutations", "mutations.json", "python -m bench mutations", mutations,
            load_in_rows=True),
)}
