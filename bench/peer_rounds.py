"""Runs the peers benchmark as interleaved rounds, so that no system gets a quieter machine.

For each size, one worker process per system (spawned, so RSS per entry is its own) loads its
system, one at a time; then every round runs one measurement pass of each system in turn, the
order rotated by one system per round, so machine state that drifts (other jobs, page cache,
thermal) falls on every system alike. Figures are the median over rounds of each round's
percentile, with the spread (lowest and highest round) next to it.

Threads: every worker, and therefore the servers it starts (Milvus Lite's is its child and
inherits the affinity), is pinned to the same CPUs (``cpus``; the default is one CPU, the
box's last, so a multi-threaded server cannot use more cores than hnswlib's single-threaded
search); BLAS and OpenMP pools get one thread. Each worker reports its affinity and the thread
counts of itself and its children, and every round records the load average at its start and end.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import statistics
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

_FIGURES = ("miss_excluding_embedding", "miss_including_embedding", "hit_exact")
_ONE_THREAD = {name: "1" for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                      "MKL_NUM_THREADS")}


def run(sizes: list[int], systems: list[str], queries: int, vectors: str, rounds: int,
        time_box_s: float, cpus: set[int]) -> dict[str, Any]:
    """Every size: load each system in its worker, then ``rounds`` interleaved rounds."""
    os.environ.update(_ONE_THREAD)  # inherited by the spawned workers
    rows = []
    for entries in sizes:
        rows.extend(_one_size(entries, systems, queries, vectors, rounds, time_box_s, cpus))
    return {"settings": {"rounds": rounds, "queries": queries, "stored_vectors": vectors,
                         "time_box_s": time_box_s, "cpus": sorted(cpus),
                         "box_cpus": os.cpu_count(), "thread_env": _ONE_THREAD},
            "systems": rows}


def _one_size(entries: int, systems: list[str], queries: int, vectors: str, rounds: int,
              time_box_s: float, cpus: set[int]) -> list[dict[str, Any]]:
    context = multiprocessing.get_context("spawn")
    workers: dict[str, tuple[Any, Connection]] = {}
    rows: dict[str, dict[str, Any]] = {}
    try:
        for system in systems:  # loads one at a time: a load never competes with another
            parent, child = context.Pipe()
            process = context.Process(target=_worker, args=(child, system, entries, vectors, cpus),
                                      daemon=True)
            process.start()
            reply = parent.recv()
            print(f"peers: {system} at {entries:,} entries: "
                  + (f"loaded in {reply['load_s']} s" if "error" not in reply else reply["error"]))
            rows[system] = {"system": system, "entries": entries, "stored_vectors": vectors,
                            **reply, "rounds": []}
            if "error" not in reply:
                workers[system] = (process, parent)
        for number in range(rounds):
            names = list(workers)
            shift = number % len(names) if names else 0
            for system in names[shift:] + names[:shift]:
                process, pipe = workers[system]
                pipe.send(("round", queries, time_box_s))
                measured = pipe.recv()
                rows[system]["rounds"].append({"round": number + 1, **measured})
            print(f"peers: round {number + 1} of {rounds} at {entries:,} entries done, "
                  f"load average {os.getloadavg()[0]:.2f}")
    finally:
        for process, pipe in workers.values():
            pipe.send(("close",))
            process.join(120)
    return [_summarise(row) for row in rows.values()]


def _worker(pipe: Connection, system: str, entries: int, vectors: str, cpus: set[int]) -> None:
    """One system, loaded once, measured a round at a time on request."""
    os.sched_setaffinity(0, cpus)
    from bench import peers  # after pinning: the embedder and the servers start pinned

    workdir = Path(tempfile.mkdtemp(prefix=f"semcache-peer-{system}-"))
    try:
        try:
            under_test, embedder, info = peers.load(system, entries, vectors, workdir)
        except Exception as exc:  # noqa: BLE001 - one peer failing must not hide the rest
            pipe.send({"error": repr(exc)[:300]})
            return
        pipe.send(info | {"threads": _threads(os.getpid()),
                          "index_evidence": under_test.index_evidence})
        while True:
            command = pipe.recv()
            if command[0] != "round":
                break
            pipe.send(peers.measure_round(under_test, embedder, command[1], command[2]))
        under_test.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _threads(pid: int) -> dict[str, Any]:
    """Affinity and thread count of ``pid`` and of its child processes (Milvus Lite's server)."""
    def one(process: int) -> dict[str, Any]:
        status = Path(f"/proc/{process}/status").read_text()
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        return {"pid": process, "name": fields.get("Name", "").strip(),
                "threads": int(fields.get("Threads", "0")),
                "cpus": sorted(os.sched_getaffinity(process))}

    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(child) for child in (task / "children").read_text().split()]
    return {"worker": one(pid), "children": [one(child) for child in children]}


def _summarise(row: dict[str, Any]) -> dict[str, Any]:
    """Median over rounds of each percentile, with the lowest and highest round."""
    rounds = row["rounds"]
    if not rounds:
        return row
    for figure in _FIGURES:
        stats: dict[str, Any] = {}
        for stat in ("p50_ms", "p99_ms"):
            values = [r[figure][stat] for r in rounds]
            stats[stat] = round(statistics.median(values), 4)
            stats[f"{stat}_range"] = [min(values), max(values)]
        stats["n"] = min(r[figure]["n"] for r in rounds)
        stats["served"] = max(r[figure]["served"] for r in rounds)
        row[figure] = stats
    loads = [value for r in rounds for value in r["load_average"]]
    row["load_average_range"] = [min(loads), max(loads)]
    row["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    return row


def print_tables(rows: list[dict[str, Any]], ratios: list[dict[str, Any]], vectors: str,
                 rounds: int) -> None:
    """The run's tables on the terminal: every system per size, then ours / peer."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"lookup side by side (ms; {vectors} stored vectors, same queries; "
                        f"median of {rounds} interleaved rounds [lowest - highest round])")
    for column in ("entries", "system", "miss p50 excl. embed", "miss p99 excl. embed",
                   "miss p50 incl. embed", "exact hit p50", "n", "RAM B/entry", "disk B/entry",
                   "load s", "load average"):
        table.add_column(column, justify="left" if column == "system" else "right")
    for row in rows:
        if "error" in row:
            table.add_row(f"{row['entries']:,}", row["system"], row["error"][:60], *[""] * 8)
            continue
        table.add_row(f"{row['entries']:,}", row["system"],
                      *[_median_and_range(row[figure], stat) for figure, stat in (
                          ("miss_excluding_embedding", "p50_ms"),
                          ("miss_excluding_embedding", "p99_ms"),
                          ("miss_including_embedding", "p50_ms"), ("hit_exact", "p50_ms"))],
                      str(row["miss_excluding_embedding"]["n"]), f"{row['ram_bytes_per_entry']:,}",
                      f"{row['disk_bytes_per_entry']:,}" if row["disk_bytes_per_entry"] else "-",
                      f"{row['load_s']:.0f}",
                      "{:.1f} - {:.1f}".format(*row["load_average_range"]))
    Console(width=200).print(table)
    table = Table(title="ours / peer, medians (below 1: ours is cheaper)")
    for column in ("entries", "peer", "miss p50 excl.", "miss p99 excl.", "miss p50 incl.",
                   "exact hit p50", "RAM/entry", "disk/entry"):
        table.add_column(column, justify="left" if column == "peer" else "right")
    for pair in ratios:
        table.add_row(f"{pair['entries']:,}", pair["peer"], *[
            "-" if pair[key] is None else f"{pair[key]:.3g}" for key in (
                "miss_excluding_embedding_p50_ms", "miss_excluding_embedding_p99_ms",
                "miss_including_embedding_p50_ms", "hit_exact_p50_ms", "ram_bytes_per_entry",
                "disk_bytes_per_entry")])
    Console(width=180).print(table)


def _median_and_range(figure: dict[str, Any], stat: str) -> str:
    low, high = figure[f"{stat}_range"]
    return f"{figure[stat]:.3f} [{low:.3f} - {high:.3f}]"
