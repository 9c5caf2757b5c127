"""README blocks of the quality suites: hit quality, the same-budget report, the ShareGPT
replay, and the mutation check of the tests (``bench/readme_tables.py`` registers them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.readme_format import count, ms, percent, table

# ---------------------------------------------------------------------- hit quality, replay


_QUALITY_FILES = ("pairs.jsonl", "pairs_holdout.jsonl", "pairs_traps.jsonl")


def hit_quality(results: dict[str, Any]) -> list[str]:
    files = [name for name in _QUALITY_FILES if name in results]

    def cell(row: dict[str, Any]) -> str:
        return f"{percent(row['hit_rate'])} / {percent(row['false_hit_rate'])}"

    policies: list[tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]] = [
        ("shipped policy (thresholds, verifier)", lambda r: r["shipped"]["with_guard"]),
        ("shipped thresholds, cosine alone", lambda r: r["shipped"]["without_guard"])]
    for threshold in ("0.80", "0.90", "0.94"):
        policies.append((f"global {threshold} + guard",
                         lambda r, t=threshold: r["sweep"][t]["with_guard"]))
        policies.append((f"global {threshold}, cosine alone",
                         lambda r, t=threshold: r["sweep"][t]["without_guard"]))
    policies += [("GPTCache default (`Cache()`: exact-match evaluation)",
                  lambda r: r["gptcache_default"]),
                 ("GPTCache `SearchDistanceEvaluation`, threshold 0.8 (cosine ≥ 0.6)",
                  lambda r: r["gptcache_search_distance"])]
    header = ["policy: hits / false hits", *[
        f"`{name}` ({results[name]['pairs']})" for name in files]]
    return table(header, [[label, *[cell(pick(results[name])) for name in files]]
                          for label, pick in policies])


def hit_quality_traps(results: dict[str, Any]) -> list[str]:
    traps = results["pairs_traps.jsonl"]["by_trap"]
    return table(["trap", "same / different", "hits, shipped", "false hits, shipped",
                  "false hits, cosine alone"],
                 [[name.replace("_", " "),
                   f"{row['with_guard']['same_pairs']} / {row['with_guard']['different_pairs']}",
                   percent(row["with_guard"]["hit_rate"]) if row["with_guard"]["same_pairs"] else "-",
                   percent(row["with_guard"]["false_hit_rate"]) if row["with_guard"]["different_pairs"] else "-",
                   percent(row["without_guard"]["false_hit_rate"]) if row["without_guard"]["different_pairs"] else "-"]
                  for name, row in traps.items()])


def operating_points(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for name, result in results["files"].items():
        evaluated = "test" if result["pairs"]["test"] else "chosen"
        pairs = result["pairs"]
        where = (f"threshold chosen on dev ({pairs['dev']} pairs), rates on test ({pairs['test']})"
                 if evaluated == "test" else f"{pairs['dev']} pairs, no split: the best threshold "
                                              "for the file itself")
        lines += [f"`{name}`: {where}.", ""]
        lines += table(["system", *[f"≤ {budget} false hits: hits / false hits (threshold)"
                                    for budget in results["budgets"]]],
                       [[system, *[_point(row[budget], evaluated) for budget in results["budgets"]]]
                        for system, row in result["systems"].items()])
        lines.append("")
    return lines[:-1]


def _point(point: dict[str, Any], evaluated: str) -> str:
    rates = point[evaluated]
    threshold = "serve nothing" if point["threshold"] is None else f"{point['threshold']:.3f}"
    return f"{percent(rates['hit_rate'])} / {percent(rates['false_hit_rate'])} ({threshold})"


def replay(results: dict[str, Any]) -> list[str]:
    latencies = [str(latency) for latency in results["upstream_latencies_ms"]]
    rows = [*results["by_category"].items(), ("overall", results["overall"] | {"share": 1.0})]
    lines = table(
        ["category", "share", "requests", "hit rate", "exact hits", "guard vetoes",
         "miss cost p50 ms", *[f"break-even @{latency} ms" for latency in latencies],
         "pays for itself at"],
        [[name, percent(row["share"]), count(row["requests"]), percent(row["hit_rate"]),
          count(row["exact_hits"]), count(row["guard_vetoes"]), ms(row["miss_cost_ms"]["p50"], 1),
          *[percent(row["break_even_hit_rate"][latency]) for latency in latencies],
          ", ".join(f"{latency} ms" for latency in row["pays_at_ms"])
          or ("never" if row["miss_cost_ms"]["p50"] is not None else "-")] for name, row in rows])
    overall = results["overall"]
    lines += ["", (f"Hit cost (median over all hits): {overall['hit_cost_ms']:.2f} ms; "
                   f"{overall['exact_hits']} of {overall['hits']} hits were exact repeats.")]
    policies = results["policies"]
    best = policies["best_global_threshold"]["threshold"]
    lines += ["", *table(
        ["policy", "labelled pairs: hit rate", "labelled pairs: false-hit rate",
         "ShareGPT replay hit rate"],
        [[label, percent(row["labelled_pairs"]["hit_rate"]),
          percent(row["labelled_pairs"]["false_hit_rate"]), percent(row["replay_hit_rate"])]
         for label, row in (("category-aware (shipped)", policies["category_aware"]),
                            (f"best global threshold within that budget ({best:.2f})",
                             policies["best_global_threshold"]))])]
    budget = percent(policies["false_hit_budget_on_labelled_pairs"])
    lines += ["", f"False-hit budget: the shipped policy's {budget} on the labelled pairs."]
    return lines + _replay_checks(results)


def _replay_checks(results: dict[str, Any]) -> list[str]:
    if "served_answers" not in results:
        return ["", "(This run predates the exact-only baseline and the served-answer check.)"]
    base, served = results["exact_only_baseline"], results["served_answers"]
    lines = ["", *table(["what serves the replay", "hits", "hit rate"], [
        ["a plain response cache (exact text, as LiteLLM keys it)",
         count(base["exact_text"]["hits"]), percent(base["exact_text"]["hit_rate"])],
        ["... with whitespace collapsed (this cache's exact fast path)",
         count(base["whitespace_collapsed"]["hits"]), percent(base["whitespace_collapsed"]["hit_rate"])],
        ["this cache (shipped policy)", count(results["overall"]["hits"]),
         percent(results["overall"]["hit_rate"])]])]
    lines += ["", f"Semantic hits judged against `bench/data/replay_served_labels.jsonl`: "
              f"{served['semantic_hits']} semantic hits, {served['labelled']} of them on labelled "
              f"pairs: {served['right']} right, {served['wrong']} wrong"
              + (f" ({percent(served['wrong_rate_of_labelled'])} of the labelled)"
                 if served["labelled"] else "")
              + f"; {served['unlabelled']} on pairs nobody labelled (not counted as right)."]
    return lines


# ---------------------------------------------------------------------- mutation check


def mutations(results: dict[str, Any]) -> list[str]:
    runs = list(results.items())
    names = list(dict.fromkeys(row["name"] for _, run in runs for row in run["mutations"]))
    by_run = [{row["name"]: row for row in run["mutations"]} for _, run in runs]

    def cell(row: dict[str, Any] | None) -> str:
        if row is None:
            return "-"
        if row["result"] != "killed":
            return f"**{row['result']}**"
        if not row.get("by"):
            return "killed"
        test = row["by"].split("::")[-1]
        if "[" in test and not test.endswith("]"):  # pytest's id cut at a space in a parameter
            test = test.split("[")[0]
        return f"killed by `{test}`"

    header = ["mutation", "breaks", *[f"{label} (`{run['commit']}`)" for label, run in runs]]
    rows = [[f"`{name}`", next(r[name]["breaks"] for r in by_run if name in r),
             *[cell(r.get(name)) for r in by_run]] for name in names]
    totals = ["", "killed", *[f"{sum(row['result'] == 'killed' for row in r.values())} of {len(r)}"
                              for r in by_run]]
    loads = "; ".join(f"{label}: {run['when'].replace('T', ' ')}, load average "
                      f"{run['load_average']['start'][0]:.1f} → {run['load_average']['end'][0]:.1f}"
                      for label, run in runs)
    return table(header, rows + [totals]) + ["", f"Runs: {loads}."]
