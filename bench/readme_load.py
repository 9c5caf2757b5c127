"""README blocks of the load-adaptation bench (``python -m bench load``): the live static /
adaptive pair against the real vLLM, and the in-process curve of traffic cut vs added false
hits per verifier floor, both from one result file."""

from __future__ import annotations

from typing import Any

from bench.readme_format import ms, percent, table


def _cut(versus: dict[str, Any] | None) -> list[str]:
    if not versus:
        return ["", ""]
    return [percent(versus["burst_traffic_cut"]),
            f"{versus['false_hit_rate_change_points']:+.2f} pt"]


def load_live(results: dict[str, Any]) -> list[str]:
    """Static and adaptive through the proxy on the real vLLM, same sequence."""
    shape = results["shape"]
    if "adaptive" not in results:
        return [f"No live run in this file: {results['mode']}."]
    rows = []
    for name in ("static", "adaptive"):
        row = results[name]
        versus = results["comparison"] if name == "adaptive" else None
        rows.append([name, f"{row['burst_reached_model']}/{row['burst_requests']}",
                     f"{row['reached_model']}/{row['requests']}",
                     f"{row['hits']} ({row['stale_hits']} / {row['relaxed_hits']})",
                     str(row["false_hits"]), str(row["overloaded_lookups"]),
                     f"{ms(row['burst_p50_ms'], 0)} / {ms(row['burst_p95_ms'], 0)}",
                     str(row["requests_counted_by_vllm"]), *_cut(versus)])
    lines = table(["policy", "reached vLLM in bursts", "overall", "hits (stale / relaxed)",
                   "false hits", "lookups seen overloaded", "burst p50 / p95 ms",
                   "counted by vLLM", "cut in bursts", "false-hit rate vs static"], rows)
    summary = (f"{shape['requests']} requests over {shape['topics']} topics, "
               f"{shape['cycles']} bursts of {shape['burst']:g} s; load average "
               f"{shape['load_average_start']:.2f} when the run started, "
               f"{shape['load_average_end']:.2f} when it ended.")
    return [*lines, "", summary]


def load_curve(results: dict[str, Any]) -> list[str]:
    """The in-process replay of the same sequence, per verifier floor."""
    rows = [[name, f"{row['burst_reached_model']}/{row['burst_requests']}",
             f"{row['reached_model']}/{row['requests']}",
             f"{row['hits']} ({row['stale_hits']} / {row['relaxed_hits']})",
             percent(row["labelled_hit_rate"]), str(row["false_hits"]),
             percent(row["false_hit_rate"], 2), *_cut(row["vs_static"] if name != "static" else None)]
            for name, row in results["curve"].items()]
    return table(["policy", "reached the model in bursts", "overall", "hits (stale / relaxed)",
                  "labelled hit rate", "false hits", "false-hit rate (labelled)", "cut in bursts",
                  "false-hit rate vs static"], rows)
