"""``python -m bench mutations`` (or ``scripts/mutate``): does the fast suite catch what it claims?

Each mutation is one behaviour-breaking edit of the code (``MUTATIONS``): an exact snippet of one
file replaced by another. For each, a copy of the tree gets the edit, then

1. the tests named for it run (``targeted``: the tests meant to catch exactly this break), and,
   unless they already failed,
2. the fast suite runs (``pytest -x -m "not e2e and not redis and not redis_cluster and not
   vllm"``) until its first failure.

A mutation is *killed* when a test fails, *survived* when everything passed. A snippet that no
longer occurs exactly once in its file is *stale* (the code moved: update the mutation), never a
silent pass. Before any mutation, the targeted tests run on the unedited copy: a targeted test
that fails there says nothing about its mutation (*baseline fails*).

    python -m bench mutations                      # the working tree
    python -m bench mutations --rev main           # a commit (git archive), e.g. before a fix
    python -m bench mutations --only ttl_ignored_at_store s_maxage_ignored
    python -m bench mutations --label after        # key of the run in results/mutations.json

Not part of CI or ``python -m bench``'s default run: it runs the fast suite once per surviving
mutation (minutes each on a small box). Results: a table, and ``results/mutations.json`` (one
entry per label, with the commit, time and load average).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "mutations.json"
FAST_SUITE = ("-m", "not e2e and not redis and not redis_cluster and not vllm")
RUN_TIMEOUT_S = 1800  # a hung suite counts as a kill (it would fail CI), but is reported so


@dataclass(frozen=True)
class Mutation:
    """One behaviour-breaking edit: ``old`` (exactly once in ``path``) becomes ``new``."""

    name: str
    path: str
    old: str
    new: str
    breaks: str  # the behaviour the edit breaks, in words
    targeted: tuple[str, ...]  # pytest node ids meant to catch it


MUTATIONS: tuple[Mutation, ...] = (
    Mutation("ttl_ignored_at_store", "litellm_semcache/engine/writer.py",
             "self._ttl(policy, view, view.controls.ttl if ttl is None else ttl)",
             "self._ttl(policy, view, None)",
             "the caller's ttl is ignored when an answer is stored",
             ("tests/test_cache.py::test_caller_ttl_shortens_but_cannot_exceed_the_cap",)),
    Mutation("ttl_only_lengthens", "litellm_semcache/engine/writer.py",
             "return float(min(requested, max(policy.ttl_seconds, policy.ttl_cap or 0)))",
             "return float(min(max(requested, effective_ttl),"
             " max(policy.ttl_seconds, policy.ttl_cap or 0)))",
             "a caller's ttl below the category's is not applied (it may only lengthen)",
             ("tests/test_cache.py::test_caller_ttl_shortens_but_cannot_exceed_the_cap",)),
    Mutation("ttl_cap_ignored", "litellm_semcache/engine/writer.py",
             "return float(min(requested, max(policy.ttl_seconds, policy.ttl_cap or 0)))",
             "return float(requested)",
             "a caller's ttl above the category's ttl_cap is not capped",
             ("tests/test_cache.py::test_caller_ttl_shortens_but_cannot_exceed_the_cap",)),
    Mutation("s_maxage_ignored", "litellm_semcache/engine/pipeline.py",
             "max_age = view.controls.s_maxage", "max_age = None",
             "a request's s-maxage does not refuse older entries",
             ("tests/test_verification.py::test_s_maxage_refuses_entries_older_than_it",)),
    Mutation("document_scope_unchecked", "litellm_semcache/engine/pipeline.py",
             "if document is None or document.scope != scope or document.expires_at <= now:",
             "if document is None or document.expires_at <= now:",
             "a document of another scope under a candidate's id is served",
             ("tests/test_verification.py::test_a_document_of_another_scope_under_the_entrys_id_is_never_served",)),
    Mutation("index_scope_unchecked", "litellm_semcache/engine/pipeline.py",
             "if entry is None or entry.scope != scope:", "if entry is None:",
             "an index candidate of another scope is verified as if it were this one's",
             ("tests/test_cache.py::test_tenants_never_share_entries",)),
    Mutation("calibrate_ignores_target", "litellm_semcache/calibration.py",
             "if (measured[\"false_hit_rate\"] or 0.0) <= target_false_hit_rate:",
             "if (measured[\"false_hit_rate\"] or 0.0) <= 1.0:",
             "calibration proposes thresholds whatever the false-hit target",
             ("tests/test_hit_quality.py::test_calibrate_proposes_thresholds_within_the_target",
              "tests/test_hit_quality.py::test_a_looser_target_proposes_a_looser_threshold_within_it")),
    Mutation("calibrate_cli_drops_target", "litellm_semcache/cli/calibrate.py",
             "calibration.propose(results, args.target_false_hit_rate,",
             "calibration.propose(results, 0.01,",
             "semcache calibrate ignores --target-false-hit-rate",
             ("tests/test_hit_quality.py::test_calibrate_proposes_thresholds_within_the_target",)),
    Mutation("team_not_in_identity", "litellm_semcache/request.py",
             "\"user_api_key_hash\", \"user_api_key\", \"user_api_key_team_id\", \"user_api_key_org_id\",",
             "\"user_api_key_hash\", \"user_api_key\", \"user_api_key_org_id\",",
             "two teams behind one key share entries",
             ("tests/test_cache.py::test_tenants_never_share_entries",)),
    Mutation("tenant_not_in_scope", "litellm_semcache/request.py",
             "scope = _digest(tenant, namespace, params, history, turn)",
             "scope = _digest(namespace, params, history, turn)",
             "every category serves every tenant, as if shared",
             ("tests/test_cache.py::test_a_shared_category_serves_every_tenant_but_still_needs_the_same_request",)),
    Mutation("hits_counted_as_miss_cost", "litellm_semcache/observability/metrics.py",
             "self.costs.lookup(category, decision.latency_ms, missed=missed)",
             "self.costs.lookup(category, decision.latency_ms, missed=True)",
             "hits are averaged into the miss cost (break-even too low)",
             ("tests/test_cache.py::test_stats_measure_break_even",
              "tests/test_counters.py::test_break_even_is_the_mean_miss_cost_over_the_mean_upstream_latency")),
    Mutation("break_even_inverted", "litellm_semcache/observability/stats.py",
             "return min(1.0, self.miss_cost_ms / self.saved_ms)",
             "return min(1.0, self.saved_ms / self.miss_cost_ms)",
             "break-even is saved latency over miss cost",
             ("tests/test_cache.py::test_stats_measure_break_even",
              "tests/test_counters.py::test_break_even_is_the_mean_miss_cost_over_the_mean_upstream_latency")),
    Mutation("pickle_fallback", "litellm_semcache/store/document.py",
             "        body = _verified_body(bytes(raw))\n",
             "        if raw[:1] == b\"\\x80\":  # a pickle's first byte\n"
             "            import pickle\n            return pickle.loads(raw)\n"
             "        body = _verified_body(bytes(raw))\n",
             "stored bytes that are a pickle are unpickled instead of refused",
             ("tests/test_cache.py::test_a_pickled_row_in_the_store_is_refused_not_executed",)),
    Mutation("pickled_row_read", "litellm_semcache/store/diskcache_store.py",
             "if mode == diskcache.core.MODE_PICKLE:", "if False:",
             "diskcache unpickles a row stored in pickle mode",
             ("tests/test_cache.py::test_a_pickled_row_in_the_store_is_refused_not_executed",)),
    Mutation("guard_ignored", "litellm_semcache/engine/pipeline.py",
             "rule = self._verifier.veto(candidate, policy)", "rule = None",
             "the verifier's veto is ignored",
             ("tests/test_cache.py::test_guard_rejects_traps_that_pass_the_threshold",)),
    Mutation("expiry_ignored", "litellm_semcache/engine/pipeline.py",
             "if entry.expired(now) or (max_age", "if False or (max_age",
             "an expired index entry is still a candidate",
             ("tests/test_cache.py::test_ttl_expiry_is_absolute_and_swept",)),
    Mutation("lru_not_refreshed", "litellm_semcache/engine/pipeline.py",
             "self._catalogue.touch(entry)", "pass",
             "a hit does not refresh the entry's recency (eviction is FIFO)",
             ("tests/test_cache.py::test_quota_evicts_least_recently_used_inside_the_category_only",)),
    Mutation("no_store_ignored", "litellm_semcache/engine/writer.py",
             "if view.controls.no_store:", "if False:",
             "a no-store request's answer is stored",
             ("tests/test_cache.py::test_no_cache_skips_lookup_and_no_store_skips_write",)),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench mutations", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rev", help="run on this commit instead of the working tree")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="these mutations only")
    parser.add_argument("--label", help="key of this run in results/mutations.json "
                                        "(default: the commit)")
    parser.add_argument("--no-write", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only]
    unknown = set(args.only or ()) - {m.name for m in MUTATIONS}
    if unknown:
        parser.error(f"unknown mutation(s): {', '.join(sorted(unknown))}")
    commit = _git("rev-parse", "--short", args.rev or "HEAD")
    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="semcache-mutations-") as scratch:
        base = Path(scratch) / "base"
        _copy_tree(base, args.rev)
        tests = _collected(base)
        baselines: dict[tuple[str, ...], dict[str, Any]] = {}
        rows = [_run_one(mutation, base, Path(scratch), tests, baselines) for mutation in chosen]
    _print(rows, commit if args.rev is None else f"{args.rev} ({commit})")
    if not args.no_write:
        _record(args.label or commit, commit, args.rev is None, load_before, rows)
    return 0


def _run_one(mutation: Mutation, base: Path, scratch: Path, tests: set[str],
             baselines: dict[tuple[str, ...], dict[str, Any]]) -> dict[str, Any]:
    """Copy ``base``, apply ``mutation``, run its tests, then the fast suite if they passed.
    ``tests``: the node ids the tree has; ``baselines``: the targeted runs on the unedited
    tree, shared between mutations."""
    row: dict[str, Any] = {"name": mutation.name, "file": mutation.path, "breaks": mutation.breaks,
                           "targeted": list(mutation.targeted)}
    tree = scratch / mutation.name
    shutil.copytree(base, tree, symlinks=True)
    try:
        source = tree / mutation.path
        text = source.read_text() if source.is_file() else ""
        if text.count(mutation.old) != 1:
            return row | {"result": "stale", "detail": f"snippet found {text.count(mutation.old)}x"}
        present = [test for test in mutation.targeted
                   if test in tests or any(t.startswith(test + "[") for t in tests)]
        row["targeted_present"] = present
        if present:
            if tuple(present) not in baselines:
                baselines[tuple(present)] = _pytest(tree, present)
            baseline = baselines[tuple(present)]
            if baseline["rc"] != 0:
                return row | {"result": "baseline fails", "detail": baseline["first_failure"]}
        source.write_text(text.replace(mutation.old, mutation.new))
        started = time.monotonic()
        if present:
            targeted = _pytest(tree, present)
            row["targeted_result"] = "killed" if targeted["rc"] != 0 else "survived"
            if targeted["rc"] != 0:
                return row | {"result": "killed", "by": targeted["first_failure"],
                              "seconds": round(time.monotonic() - started)}
        else:
            row["targeted_result"] = "absent"
        suite = _pytest(tree, ["tests", *FAST_SUITE])
        return row | {"result": "killed" if suite["rc"] != 0 else "survived",
                      "by": suite["first_failure"], "seconds": round(time.monotonic() - started)}
    finally:
        shutil.rmtree(tree, ignore_errors=True)


def _pytest(tree: Path, args: list[str]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree), "HF_HUB_OFFLINE": "1",
           "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-x", *args]
    try:
        done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True,
                              timeout=RUN_TIMEOUT_S, check=False)  # a failure is a kill
    except subprocess.TimeoutExpired:
        return {"rc": 124, "first_failure": f"timeout after {RUN_TIMEOUT_S} s"}
    failed = re.search(r"^(?:FAILED|ERROR) (\S+)", done.stdout, re.MULTILINE)
    return {"rc": done.returncode, "first_failure": failed.group(1) if failed else None}


def _collected(tree: Path) -> set[str]:
    """Every test node id of the tree (an older commit may lack a targeted test)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                           "--collect-only", "tests"], cwd=tree, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    return {line.strip() for line in done.stdout.splitlines() if "::" in line}


def _copy_tree(destination: Path, rev: str | None) -> None:
    """The files git knows (tracked, and untracked but not ignored), or a commit's tree."""
    destination.mkdir(parents=True)
    if rev:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(destination)], input=archive, check=True)
        return
    listed = _git("ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


def _print(rows: list[dict[str, Any]], tree: str) -> None:
    table = Table(title=f"mutations of {tree}: killed by the targeted tests, else the fast suite")
    for column in ("mutation", "breaks", "targeted tests", "result", "first failing test"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["name"], row["breaks"], row.get("targeted_result", "-"), row["result"],
                      row.get("by") or row.get("detail") or "-")
    Console(width=200).print(table)
    killed = sum(row["result"] == "killed" for row in rows)
    print(f"{killed} of {len(rows)} killed; survived: "
          f"{', '.join(r['name'] for r in rows if r['result'] == 'survived') or 'none'}")


def _record(label: str, commit: str, working_tree: bool, load_before: list[float],
            rows: list[dict[str, Any]]) -> None:
    results = json.loads(RESULTS.read_text())["results"] if RESULTS.is_file() else {}
    results[label] = {"commit": commit, "working_tree": working_tree,
                      "command": " ".join(["python -m bench mutations", *sys.argv[2:]]),
                      "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
                      "load_average": {"start": load_before,
                                       "end": [round(x, 2) for x in os.getloadavg()]},
                      "mutations": rows}
    RESULTS.parent.mkdir(exist_ok=True)
    payload = {"when": time.strftime("%Y-%m-%dT%H:%M:%S"),
               "command": "python -m bench mutations [--rev REV] --label LABEL (one run a label)",
               "results": results}
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {RESULTS} ({label})")


if __name__ == "__main__":
    raise SystemExit(main())
