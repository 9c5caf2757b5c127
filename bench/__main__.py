"""``python -m bench``: run the benchmarks, print tables, write JSON under bench/results/.

    python -m bench                         # every suite, full size
    python -m bench lookup --entries 1000000 --vectors random
    python -m bench peers --entries 10000 100000   # ours vs Milvus Lite variant, GPTCache, NumPy
    python -m bench replay --prompts 3000          # ShareGPT first turns through the cache
    python -m bench proxy --requests 500
    python -m bench concurrency --clients 1 50 200   # proxies with and without the cache
    python -m bench quality                 # labelled pairs: hit and false-hit rates
    python -m bench budgets                 # every system at the same false-hit budgets only
    python -m bench load                    # static vs adaptive policy on a real vLLM (CPU)
    python -m bench soak --minutes 5        # two replicas over one redis-server (not in "all")
    python -m bench faults                  # a Redis SIGKILL and restart under load (not in "all")
    python -m bench cluster                 # Redis Cluster: convergence, a master failover (not in "all")
    python -m bench --smoke                 # seconds-long run of every suite, for CI

Tools, not benchmarks (never in "all"): ``python -m bench readme [--check]`` renders the README
figures from bench/results/*.json; ``python -m bench mutations`` (``scripts/mutate``) checks
that the fast suite catches behaviour-breaking edits.
"""

from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import lookup_cost, plots
from bench.peers import SYSTEMS as PEERS

RESULTS = Path(__file__).parent / "results"


TOOLS = {"readme": "bench.readme", "mutations": "bench.mutations"}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] in TOOLS:  # tools parse their own arguments
        return importlib.import_module(TOOLS[sys.argv[1]]).main(sys.argv[2:])
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("suite", nargs="?",
                        choices=["all", "lookup", "peers", "replay", "proxy", "concurrency",
                                 "quality", "budgets", "load", "soak", "faults", "cluster"],
                        default="all")
    parser.add_argument("--entries", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--vectors", choices=["mixed", "random"], default="mixed",
                        help="stored vectors: mixtures of real embeddings, or random (worst case)")
    parser.add_argument("--requests", type=int, default=200, help="proxy suite: requests per series")
    parser.add_argument("--minutes", type=float, default=5.0, help="soak suite: duration")
    parser.add_argument("--systems", nargs="+", default=list(PEERS),
                        help="peers suite: systems to compare")
    parser.add_argument("--time-box", type=float, default=120.0,
                        help="peers suite: seconds of lookups per pass")
    parser.add_argument("--rounds", type=int, default=5,
                        help="peers suite: interleaved rounds per size (median and spread)")
    parser.add_argument("--cpus", type=int, nargs="+",
                        help="peers suite: CPUs every system is pinned to (default: the last one)")
    parser.add_argument("--prompts", type=int, default=3000, help="replay suite: ShareGPT prompts")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 50, 200],
                        help="concurrency suite: concurrent clients per series")
    parser.add_argument("--upstream-ms", type=float, default=200.0,
                        help="concurrency suite: stand-in upstream latency")
    parser.add_argument("--compare-with", default=None, metavar="CHECKOUT",
                        help="concurrency suite: also run the cache of another checkout")
    parser.add_argument("--distinct", type=float, default=0.3,
                        help="concurrency suite: distinct ShareGPT prompts per request")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for CI")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    # Every system searches on one thread (hnswlib queries do); BLAS threads would only fight
    # the embedder and the other processes on a small box. Inherited by the worker processes.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if args.suite in ("all", "lookup"):
        _lookup(args)
    if args.suite in ("all", "peers"):
        _peers(args)
    if args.suite in ("all", "replay"):
        _replay(args)
    if args.suite in ("all", "quality"):
        _quality(args)
    if args.suite == "budgets":
        _budgets(args)
    if args.suite in ("all", "proxy"):
        _proxy(args)
    if args.suite in ("all", "concurrency"):
        _concurrency(args)
    if args.suite in ("all", "load"):
        _load(args)
    if args.suite == "soak" or (args.suite == "all" and args.smoke):
        _soak(args)
    if args.suite == "faults" or (args.suite == "all" and args.smoke):
        _faults(args)
    if args.suite == "cluster" or (args.suite == "all" and args.smoke):
        _cluster(args)
    return 0


def _cluster(args: argparse.Namespace) -> None:
    from bench import cluster

    results = cluster.run(args.smoke)
    lag, failover = results["convergence"], results["failover"]
    table = Table(title="two replicas over a 3-master Redis Cluster (redis_wait_replicas: 1)")
    for column in ("convergence p50 / p99 / max ms", "writes (acknowledged)", "acknowledged lost",
                   "wrong answers", "exceptions", "failover s", "lookup while down p50 / max ms",
                   "replica converged s"):
        table.add_column(column, justify="right")
    table.add_row(f"{lag['p50_ms']} / {lag['p99_ms']} / {lag['max_ms']}",
                  f"{failover['writes']} ({failover['acknowledged']})",
                  str(failover["acknowledged_lost"]), str(failover["wrong_answers"]),
                  str(failover["exceptions"]), str(failover["failover_s"]),
                  f"{failover['lookup_while_down_p50_ms']} / {failover['lookup_while_down_max_ms']}",
                  str(failover["replica_converged_s"]))
    Console(width=180).print(table)
    name = "cluster_smoke" if args.smoke else "cluster"
    _write(f"{name}.json", results)
    plots.cluster(results, RESULTS / f"{name}.png")


def _load(args: argparse.Namespace) -> None:
    from bench import load_adaptation, load_curve

    results = load_adaptation.run(args.smoke)
    shape = results["shape"]
    print(f"load adaptation: {results['mode']}; {shape['requests']} requests over "
          f"{shape['topics']} topics, {shape['cycles']} bursts; load average "
          f"{shape['load_average_start']:.2f} -> {shape['load_average_end']:.2f}")
    columns = ("policy", "reached the model in bursts", "reached overall", "hits (stale / relaxed)",
               "labelled hit rate", "false hits", "false-hit rate (labelled)", "burst p50 / p95 ms",
               "cut in bursts vs static", "false-hit rate vs static")
    rows = {name: results[name] for name in load_adaptation.POLICIES if name in results}
    for title, table_rows in (("live, real vLLM + proxy", rows),
                              ("in-process replay of the same sequence", results["curve"])):
        if not table_rows:
            continue
        table = Table(title=f"load adaptation: {title}")
        for column in columns:
            table.add_column(column, justify="left" if column == "policy" else "right")
        for name, row in table_rows.items():
            versus = row.get("vs_static") or (results["comparison"] if name == "adaptive" else None)
            table.add_row(name, f"{row['burst_reached_model']}/{row['burst_requests']}",
                          f"{row['reached_model']}/{row['requests']}",
                          f"{row['hits']} ({row['stale_hits']} / {row['relaxed_hits']})",
                          _share(row["labelled_hit_rate"]), str(row["false_hits"]),
                          _share(row["false_hit_rate"]),
                          f"{row['burst_p50_ms'] or '-'} / {row['burst_p95_ms'] or '-'}",
                          _share(versus["burst_traffic_cut"]) if versus else "-",
                          f"{versus['false_hit_rate_change_points']:+.2f} pt" if versus else "-")
        Console(width=200).print(table)
    name = "load_adaptation_smoke" if args.smoke else "load_adaptation"
    _write(f"{name}.json", results)
    load_curve.plot(results, RESULTS / f"{name}.png")


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _quality(args: argparse.Namespace) -> None:
    from bench import hit_quality

    files = sorted(hit_quality.DATA.parent.glob("pairs*.jsonl"))
    if args.smoke:
        files = [hit_quality.DATA.with_name("pairs_traps.jsonl")]
    limit = 12 if args.smoke else None
    everything = {path.name: hit_quality.run(path, limit=limit) for path in files}
    for name, results in everything.items():
        _quality_tables(name, results)
    name = "hit_quality_smoke" if args.smoke else "hit_quality"
    _write(f"{name}.json", everything)
    plots.hit_quality(everything, RESULTS / f"{name}.png")
    from bench import decision_quality

    labelled = decision_quality.run(limit=24 if args.smoke else None, gptcache=not args.smoke)
    decision_quality.print_tables(labelled)
    _write("decision_quality_smoke.json" if args.smoke else "decision_quality.json", labelled)
    _budgets(args)


def _budgets(args: argparse.Namespace) -> None:
    """Every system at the same false-hit budgets (also alone: ``python -m bench budgets``)."""
    from bench import operating_points

    budgets = operating_points.run(limit=12 if args.smoke else None)
    operating_points.print_table(budgets)
    _write("operating_points_smoke.json" if args.smoke else "operating_points.json", budgets)


def _quality_tables(name: str, results: dict[str, Any]) -> None:
    def rates(row: dict[str, Any]) -> list[str]:
        return ["-" if row[key] is None else f"{row[key]:.1%}"
                for key in ("hit_rate", "false_hit_rate")]

    table = Table(title=f"hit quality on {results['pairs']} labelled pairs ({name})")
    for column in ("policy", "hit rate (same-answer pairs)", "false-hit rate (different-answer)"):
        table.add_column(column, justify="left" if column == "policy" else "right")
    table.add_row("shipped per-category thresholds + guard", *rates(results["shipped"]["with_guard"]))
    table.add_row("shipped per-category thresholds, no guard",
                  *rates(results["shipped"]["without_guard"]))
    for threshold, row in results["sweep"].items():
        table.add_row(f"global {threshold} + guard", *rates(row["with_guard"]))
        table.add_row(f"global {threshold}, no guard", *rates(row["without_guard"]))
    for key, label in (("gptcache_default", "GPTCache default (exact-match evaluation)"),
                       ("gptcache_search_distance",
                        "GPTCache SearchDistanceEvaluation, threshold 0.8 (cos >= 0.6)")):
        if key in results:
            table.add_row(label, *rates(results[key]))
    Console(width=180).print(table)
    for group in ("by_category", "by_trap"):
        if not results.get(group):
            continue
        table = Table(title=f"{name}, shipped thresholds, {group.replace('by_', 'per ')}")
        for column in ("group", "pairs (same / different)", "hit rate + guard",
                       "false-hit rate + guard", "hit rate, no guard", "false-hit rate, no guard"):
            table.add_column(column, justify="left" if column == "group" else "right")
        for label, row in results[group].items():
            guarded = row["with_guard"]
            table.add_row(label, f"{guarded['same_pairs']} / {guarded['different_pairs']}",
                          *rates(guarded), *rates(row["without_guard"]))
        Console(width=180).print(table)


def _lookup(args: argparse.Namespace) -> None:
    sizes, queries = ([1_000], 20) if args.smoke else (args.entries, args.queries)
    rows = []
    for entries in sizes:
        # A fresh process per size, so RSS per entry is not blurred by the previous run.
        rows.append(_in_fresh_process(lookup_cost.run, entries, queries, args.vectors))
    table = Table(title=f"lookup cost (ms; shipped categories, one scope each, 384-d, "
                        f"{args.vectors} vectors)")
    for column in ("entries", "miss p50 excl. embed", "miss p99 excl. embed", "miss p50 incl. embed",
                   "miss p99 incl. embed", "exact hit p50", "semantic hit p50",
                   "near-dup recall@1", "paraphrase hits", "start-up s (rebuild / snapshot)",
                   "RAM B/entry (rebuilt / snapshot / checked)", "disk B/entry", "run s"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            f"{row['entries']:,}", f"{row['miss_excluding_embedding']['p50_ms']:.3f}",
            f"{row['miss_excluding_embedding']['p99_ms']:.3f}",
            f"{row['miss_including_embedding']['p50_ms']:.2f}",
            f"{row['miss_including_embedding']['p99_ms']:.2f}",
            f"{row['hit_exact_fast_path']['p50_ms']:.3f}",
            f"{row['hit_semantic_including_embedding']['p50_ms']:.2f}",
            f"{row['near_duplicate_recall']:.3f}", f"{row['paraphrase_hit_rate']:.0%}",
            f"{row['startup_rebuild_s']:.1f} / {row['startup_from_snapshot_s']:.1f}",
            f"{row['ram_bytes_per_entry']} / {row['ram_bytes_per_entry_after_snapshot_start']} / "
            f"{row['ram_bytes_per_entry_after_store_check']}",
            str(row["disk_bytes_per_entry"]), f"{row['run_s']:.0f}")
    Console(width=200).print(table)
    name = "lookup_cost_smoke" if args.smoke else f"lookup_cost_{args.vectors}"
    _write(f"{name}.json", rows)
    plots.lookup(rows, RESULTS / f"{name}.png")


def _proxy(args: argparse.Namespace) -> None:
    from bench import proxy_latency

    results = proxy_latency.run(20 if args.smoke else args.requests)
    table = Table(title="LiteLLM proxy latency, 0 ms upstream (client-side ms)")
    for column in ("series", "p50", "p99", "n", "vs proxy without cache (p50)", "cache lookup p50"):
        table.add_column(column, justify="left" if column == "series" else "right")
    for name, row in results.items():
        table.add_row(name, f"{row['p50_ms']:.2f}", f"{row['p99_ms']:.2f}", str(row["n"]),
                      f"{row.get('vs_no_cache_proxy_p50', 1.0):.2f}x",
                      f"{row['cache_lookup_p50_ms']:.3f}" if "cache_lookup_p50_ms" in row else "-")
    Console(width=180).print(table)
    _write("proxy_latency_smoke.json" if args.smoke else "proxy_latency.json", results)


def _concurrency(args: argparse.Namespace) -> None:
    from bench import concurrency

    if args.smoke:
        results = concurrency.run((1, 8), args.upstream_ms, requests_per_client=4,
                                  minimum_requests=12, compare_with=args.compare_with)
    else:
        results = concurrency.run(tuple(args.clients), args.upstream_ms,
                                  compare_with=args.compare_with, distinct=args.distinct)
    load = ", ".join(f"{value:.2f}" for value in results["load_average"])
    table = Table(title=f"LiteLLM proxy under concurrent clients, {args.upstream_ms:g} ms "
                        f"upstream (load average at the end: {load})")
    for column in ("clients", "proxy", "req/s", "vs no cache", "p50 ms", "p99 ms",
                   "upstream calls / distinct prompts", "hit rate", "fail-open", "errors",
                   "proxy CPU ms/req", "proxy RSS MB"):
        table.add_column(column, justify="left" if column == "proxy" else "right")
    for row in results["rows"]:
        table.add_row(str(row["clients"]), row["proxy"], f"{row['throughput_rps']:.1f}",
                      f"{row['throughput_vs_no_cache']:.2f}x", f"{row['p50_ms']:.0f}",
                      f"{row['p99_ms']:.0f}",
                      f"{row['upstream_calls']:,} / {row['distinct_prompts']:,}",
                      f"{row['hit_rate']:.1%}", f"{row['fail_open_share']:.1%}",
                      str(row["errors"]), f"{row['proxy_cpu_ms_per_request']:.1f}",
                      str(row["proxy_rss_mb"]))
    Console(width=200).print(table)
    name = "concurrency_smoke" if args.smoke else (
        "concurrency" if args.distinct == 0.3 else f"concurrency_distinct{args.distinct:g}")
    _write(f"{name}.json", results)
    concurrency.plot(results, RESULTS / f"{name}.png")
    print(f"wrote {RESULTS / name}.png")


def _soak(args: argparse.Namespace) -> None:
    from bench import soak

    minutes = 0.1 if args.smoke else args.minutes
    results = soak.run(minutes)
    table = Table(title=f"soak: two replicas over one redis-server, {minutes:g} min mixed traffic")
    for column in ("replica", "requests", "req/s", "lookup p50 ms", "lookup p99 ms", "hits",
                   "cross-replica hits", "fail-opens", "errors", "entries", "RSS warm -> end MB"):
        table.add_column(column, justify="right")
    for row in results["replicas"]:
        table.add_row(row["replica"], str(row["requests"]), str(row["throughput_rps"]),
                      str(row["lookup_p50_ms"]), str(row["lookup_p99_ms"]), str(row["hits"]),
                      str(row["cross_replica_hits"]), str(row["fail_opens"]),
                      str(row["errors_raised"]), str(row["entries_end"]),
                      f"{row['rss_warm_mb']} -> {row['rss_end_mb']}")
    Console(width=180).print(table)
    lag = results["convergence"]
    print(f"replica B sees A's entry after: p50 {lag['p50_ms']} ms, p99 {lag['p99_ms']} ms, "
          f"max {lag['max_ms']} ms ({lag['samples']} samples)")
    _write("soak_smoke.json" if args.smoke else "soak.json", results)


def _faults(args: argparse.Namespace) -> None:
    from bench import faults

    results = faults.run(*((0.5, 1.0, 1.0) if args.smoke else (3.0, 5.0, 5.0)))
    table = Table(title="one replica while its redis-server is SIGKILLed, then restarted")
    for column in ("phase", "lookups", "hits", "p50 ms", "max ms"):
        table.add_column(column, justify="right")
    for phase, row in results["phases"].items():
        table.add_row(phase, str(row["requests"]), str(row["hits"]), str(row["p50_ms"]),
                      str(row["max_ms"]))
    Console(width=180).print(table)
    print(f"exceptions raised: {results['exceptions_raised']}; fail-opens: {results['fail_opens']}; "
          f"breaker opened {results['breaker_opened']}x; first hit "
          f"{results['seconds_to_first_hit_after_restart']} s after the restart; entries "
          f"committed before the kill found after it: {results['found_after_restart']}/"
          f"{results['committed_before_kill']}")
    _write("faults_smoke.json" if args.smoke else "faults.json", results)
def _in_fresh_process(function: Any, *args: Any) -> Any:
    """Run ``function(*args)`` in a new interpreter, so RSS deltas are its own."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def _peers(args: argparse.Namespace) -> None:
    from bench import peer_rounds, peers

    sizes, queries, box, rounds = (([1_000], 20, 10.0, 2) if args.smoke else
                                   (args.entries, args.queries, args.time_box, args.rounds))
    cpus = set(args.cpus) if args.cpus else {max(os.sched_getaffinity(0))}
    results = peer_rounds.run(sizes, args.systems, queries, args.vectors, rounds, box, cpus)
    measured = [row for row in results["systems"] if "error" not in row]
    ratios = peers.ratios(measured)
    peer_rounds.print_tables(results["systems"], ratios, args.vectors, rounds)
    name = "peers_smoke" if args.smoke else f"peers_{args.vectors}"
    _write(f"{name}.json", results | {"ratios_ours_over_peer": ratios})
    plots.peers(measured, RESULTS / f"{name}.png")


def _replay(args: argparse.Namespace) -> None:
    from bench import replay

    results = _in_fresh_process(replay.run, *((50, 12) if args.smoke else (args.prompts,)))
    replay.print_tables(results)
    name = "replay_smoke" if args.smoke else "replay"
    _write(f"{name}.json", results)
    plots.replay(results, RESULTS / f"{name}.png")


def _write(name: str, results: Any) -> None:
    RESULTS.mkdir(exist_ok=True)
    payload = {"when": time.strftime("%Y-%m-%dT%H:%M:%S"),
               "machine": platform.processor() or platform.machine(),
               "cpus": multiprocessing.cpu_count(),
               # what the README's source line names: the command to rerun, the box's state
               "command": " ".join(["python -m bench", *sys.argv[1:]]),
               "load_average": round(os.getloadavg()[0], 2), "results": results}
    (RESULTS / name).write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {RESULTS / name}")


if __name__ == "__main__":
    raise SystemExit(main())
