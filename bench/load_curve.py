"""The curve of traffic cut vs added false hits for several verifier floors, and the plot of
the load-adaptation bench.

A live pass against vLLM per floor would not fit a 2-core box, so the curve replays the live
run's request sequence in-process: the cache engine with the shipped store and embedder, a
virtual clock that follows the sequence's timestamps, the model's load simulated by the live
schedule (overloaded in the bursts, calm between) and an upstream that answers at once. It is
a figure of the policy alone; the live static / adaptive pair is the figure of the system.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench.load_workload import DEPLOYMENT, Request, Workload

FLOORS = (0.6, 0.55, 0.5, 0.45, 0.4, 0.35, 0.3, 0.25)  # 0.6: the shipped operating point


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def sweep(workload: Workload) -> dict[str, Any]:
    """Static, the shipped adaptive policy, stale only, and every floor in ``FLOORS`` (with
    the stale grace), each compared with static on the same sequence."""
    from bench.load_adaptation import compare, policy_yaml, summarise
    from litellm_semcache.config import load_settings
    from litellm_semcache.embedding import load_embedder

    variants: dict[str, dict[str, Any]] = {"static": policy_yaml("static"),
                                           "shipped floors": policy_yaml("adaptive")}
    for floor in FLOORS:
        variants[f"floor {floor}"] = policy_yaml("adaptive", verifier_floor=floor)
    no_stale = policy_yaml("adaptive")
    no_stale["load_policy"]["stale_grace_seconds"] = 0
    variants["shipped floors, no stale"] = no_stale
    embedder = load_embedder(load_settings(None).embedding)
    rows = {name: summarise(workload, replay(workload, policy, embedder))
            for name, policy in variants.items()}
    return {name: {**row, "vs_static": compare(rows["static"], row)}
            for name, row in rows.items()}


def replay(workload: Workload, policy: dict[str, Any], embedder: Any) -> list[dict[str, Any]]:
    """Every request looked up in turn at its (virtual) time; a miss is answered at once and
    stored, with the prompt's key as its answer, so a hit names the prompt it was stored for."""
    from litellm_semcache.config import load_settings
    from litellm_semcache.engine import SemanticCache
    from litellm_semcache.load.adaptive import LoadPolicy
    from litellm_semcache.observability.logs import configure_logging
    from vllm_hooks import LoadSnapshot

    configure_logging("warning")
    clock = _Clock(1_000_000.0)
    settings = load_settings({**policy, "log_level": "warning",
                              "store": {"path": tempfile.mkdtemp(prefix="semcache-curve-")}})
    load = LoadPolicy(settings.load_policy, clock=clock)
    cache = SemanticCache(settings, embedder=embedder, clock=clock, load_policy=load)
    start = clock.now
    outcomes = []
    try:
        for request in workload.requests:
            clock.now = start + request.at
            busy = workload.phase_at(request.at) == "burst"
            load.board.update(LoadSnapshot(DEPLOYMENT, waiting=16 if busy else 0,
                                           kv_usage=1.0 if busy else 0.1))
            asked = _request(request)
            decision = cache.lookup(asked)
            if decision.served:
                outcomes.append({"hit": True, "source": decision.response["prompt"],
                                 "stale": decision.stale, "relaxed": decision.relaxed,
                                 "load": decision.load_state})
                continue
            cache.store(asked, {"prompt": request.key})
            outcomes.append({"hit": False, "source": request.key, "load": decision.load_state})
    finally:
        cache.close()
    return outcomes


def _request(request: Request) -> dict[str, Any]:
    messages = request.prompt if isinstance(request.prompt, list) else [
        {"role": "user", "content": request.prompt}]
    return {"model": "tiny", "messages": messages, "max_tokens": 16,
            "metadata": {"user_api_key_team_id": f"team-{request.tenant}", "model_group": "tiny"},
            "model_info": {"id": DEPLOYMENT}}


def plot(results: dict[str, Any], path: Path) -> None:
    """Left: vLLM queue and KV usage over time with the bursts shaded (live); middle: requests
    reaching the model per 5 s, static vs adaptive (live); right: the curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    live = "adaptive" in results
    figure, axes = plt.subplots(1, 3 if live else 1, figsize=(16 if live else 6, 4.2))
    axes = list(axes) if live else [axes]
    if live:
        queue, traffic = axes[0], axes[1]
        for name, colour in (("static", "#888888"), ("adaptive", "#2a7ab0")):
            timeline = results[name]["timeline"]
            queue.plot([s["t"] for s in timeline], [s["waiting"] for s in timeline],
                       color=colour, label=f"{name}: vLLM queue")
            queue.plot([s["t"] for s in timeline], [8 * s["kv_usage"] for s in timeline],
                       color=colour, linestyle=":", label=f"{name}: KV usage x 8")
            bins: dict[int, int] = {}
            for at, reached in results[name]["reached"]:
                bins[int(at // 5)] = bins.get(int(at // 5), 0) + int(reached)
            traffic.step([5 * b for b in sorted(bins)], [bins[b] for b in sorted(bins)],
                         where="post", color=colour, label=name)
        for axis in (queue, traffic):
            for phase in results.get("phases", []):
                if phase["name"] == "burst":
                    axis.axvspan(phase["start"], phase["end"], color="#f0d0d0", alpha=0.5)
            axis.set_xlabel("seconds")
            axis.legend(fontsize=7)
        queue.set_title("vLLM queue depth, KV usage (bursts shaded)")
        traffic.set_title("requests reaching vLLM per 5 s")
    curve = axes[-1]
    labels: dict[tuple[float, float], list[str]] = {}  # floors that land on one point share it
    for name, row in results["curve"].items():
        if name != "static":
            versus = row["vs_static"]
            point = (100 * versus["burst_traffic_cut"], versus["false_hit_rate_change_points"])
            labels.setdefault(point, []).append(name.removeprefix("floor "))
    curve.scatter([x for x, _ in labels], [y for _, y in labels], color="#b0602a")
    for (x, y), names in labels.items():
        curve.annotate(", ".join(names), (x, y), fontsize=7, xytext=(3, 3),
                       textcoords="offset points")
    curve.set_ylim(bottom=min(-0.1, *(y for _, y in labels)), top=max(1.2, *(y for _, y in labels)))
    curve.axhline(1.0, color="#cc0000", linewidth=0.8, linestyle="--")
    curve.axvline(10.0, color="#cc0000", linewidth=0.8, linestyle="--")
    curve.set_xlabel("traffic cut in the bursts vs static (%)")
    curve.set_ylabel("false-hit rate vs static (points)")
    curve.set_title("in-process replay, same sequence")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
