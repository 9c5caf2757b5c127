"""``semcache`` command line. Errors are one clear message and exit status 2, never a traceback.

    semcache check-config [FILE]            validate a policy, print the effective policy
    semcache stats [--metrics URL]          per-category table (store contents, or live counters)
    semcache inspect PROMPT [--top N]       stored entries most similar to a prompt
    semcache flush [--category C] [--yes]   delete entries (all, or one category)
    semcache warm FILE [--proxy URL --api-key K] [--model M]
                                            load prompt/response pairs (JSONL)
    semcache calibrate PAIRS.jsonl [--target-false-hit-rate 0.01]
                                            propose per-category thresholds from labelled pairs
    semcache demo                           the demo replay
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import track
from rich.table import Table

from litellm_semcache.config import CacheSettings, load_settings
from litellm_semcache.errors import SemcacheError
from litellm_semcache.jsonl import read_records


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except SemcacheError as exc:
        print(f"semcache: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"semcache: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="semcache", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, run: Any, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.set_defaults(run=run)
        if name != "check-config":
            sub.add_argument("--config", help="policy file (default: $SEMCACHE_CONFIG, "
                                              "./semcache.yaml, built-in)")
        return sub

    check = command("check-config", _check_config, "validate a policy file")
    check.add_argument("file", nargs="?", help="YAML policy (default: $SEMCACHE_CONFIG, "
                                               "./semcache.yaml, built-in)")
    stats = command("stats", _stats, "per-category table")
    stats.add_argument("--metrics", help="a running proxy's semcache metrics URL for live counters")
    inspect = command("inspect", _inspect, "stored entries most similar to a prompt")
    inspect.add_argument("prompt")
    inspect.add_argument("--top", type=int, default=5)
    flush = command("flush", _flush, "delete stored entries")
    flush.add_argument("--category")
    flush.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    warm = command("warm", _warm, "load prompt/response pairs from a JSONL file")
    warm.add_argument("file", help='JSONL: {"prompt": "...", "response": "..."} per line '
                                   '(optional "model", "category")')
    warm.add_argument("--model", default="gpt-4o-mini", help="model (group) the answers are for")
    warm.add_argument("--proxy", help="warm a running proxy at this base URL (its tenants, its keys)")
    warm.add_argument("--api-key", default=os.environ.get("LITELLM_API_KEY"))
    calibrate = command("calibrate", _calibrate, "propose thresholds from labelled pairs")
    calibrate.add_argument("pairs", help='JSONL: {"a", "b", "same_answer": bool, "category"?}; '
                                         "a/b a prompt or a list of chat messages")
    calibrate.add_argument("--target-false-hit-rate", type=float, default=0.01)
    calibrate.add_argument("--no-guard", action="store_true", help="calibrate cosine alone")
    demo = command("demo", _demo, "replay mixed prompts through litellm.completion")
    demo.add_argument("--requests", type=int, default=400)
    demo.add_argument("--upstream-ms", type=float, default=100.0, help="stand-in model latency")
    return parser


def _console() -> Console:
    return Console(width=None if sys.stdout.isatty() else 140)


def _check_config(args: argparse.Namespace) -> int:
    settings = load_settings(args.file)
    _console().print(policy_table(settings))
    print(f"{len(settings.categories)} categories, {len(settings.rules)} rules: OK")
    return 0


def policy_table(settings: CacheSettings) -> Table:
    table = Table(title="effective policy")
    for column in ("category", "mode", "threshold", "floor", "ttl s", "ttl cap", "max entries",
                   "sensitive", "guard", "examples"):
        table.add_column(column)
    for name, policy in settings.categories.items():
        table.add_row(
            name, policy.mode.value, f"{policy.similarity_threshold:.2f}",
            "-" if policy.threshold_floor is None else f"{policy.threshold_floor:.2f}",
            str(policy.ttl_seconds), "-" if policy.ttl_cap is None else str(policy.ttl_cap),
            str(policy.max_entries), "yes" if policy.sensitive else "no",
            "on" if policy.guard else "off", str(len(policy.examples)),
        )
    return table


def _open_store(settings: CacheSettings) -> Any:
    """The policy's store. On Redis, deletions made here reach every running replica."""
    from litellm_semcache.storage import open_store

    if settings.store.backend == "diskcache" and not Path(settings.store.path).is_dir():
        raise SemcacheError(f"no cache store at {settings.store.path} (store.path in the policy)")
    return open_store(settings.store)


def _stats(args: argparse.Namespace) -> int:
    if args.metrics:
        return _live_stats(args.metrics)
    settings = load_settings(args.config)
    store = _open_store(settings)
    now = time.time()
    rows: dict[str, dict[str, float]] = {}
    for document in track(list(store.scan()), description="reading store", transient=True):
        if isinstance(document, str):
            row = rows.setdefault("(undecodable)", {"entries": 0, "expired": 0, "bytes": 0})
            row["entries"] += 1
            continue
        row = rows.setdefault(document.category, {"entries": 0, "expired": 0, "bytes": 0})
        row["entries"] += 1
        row["expired"] += document.expires_at <= now
        row["bytes"] += len(document.to_bytes())
    store.close()
    table = Table(title=f"store {settings.store.path}")
    for column in ("category", "entries", "expired", "MB", "quota"):
        table.add_column(column, justify="left" if column == "category" else "right")
    for name, row in sorted(rows.items()):
        quota = settings.categories[name].max_entries if name in settings.categories else "-"
        table.add_row(name, str(int(row["entries"])), str(int(row["expired"])),
                      f"{row['bytes'] / 2**20:.2f}", str(quota))
    _console().print(table)
    print("live hit/miss counters: semcache stats --metrics http://HOST:PORT/metrics")
    return 0


def _live_stats(url: str) -> int:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=10) as reply:
        text = reply.read().decode()
    wanted = ("lookups", "hits", "misses", "bypasses", "shadow_hits", "guard_rejections",
              "fail_opens", "entries", "hit_rate", "break_even_hit_rate")
    table: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        name = family.name.removeprefix("semcache_")
        if name in wanted:
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                table.setdefault(sample.labels.get("category", "?"), {})[name] = sample.value
    view = Table(title=f"live counters from {url}")
    view.add_column("category")
    for name in wanted:
        view.add_column(name.replace("_", " "), justify="right")
    for category, values in sorted(table.items()):
        view.add_row(category, *(_number(values.get(name)) for name in wanted))
    _console().print(view)
    return 0


def _number(value: float | None) -> str:
    if value is None or value != value:
        return "-"
    return f"{value:.3f}" if value % 1 else str(int(value))


def _inspect(args: argparse.Namespace) -> int:
    import numpy as np

    from litellm_semcache.embedding import load_embedder

    settings = load_settings(args.config)
    store = _open_store(settings)
    documents = [d for d in store.scan() if not isinstance(d, str)]
    store.close()
    if not documents:
        print("the store is empty")
        return 0
    vector = load_embedder(settings.embedding).embed_one(args.prompt)
    scores = np.vstack([d.vector for d in documents]) @ vector
    now = time.time()
    table = Table(title=f"entries nearest to {args.prompt!r}")
    for column in ("similarity", "category", "threshold", "expires in s", "scope", "prompt"):
        table.add_column(column)
    for position in np.argsort(scores)[::-1][:args.top]:
        document = documents[int(position)]
        policy = settings.policy(document.category)
        table.add_row(f"{scores[position]:.4f}", document.category,
                      f"{policy.similarity_threshold:.2f}", f"{document.expires_at - now:.0f}",
                      document.scope[:8], document.prompt[:80])
    _console().print(table)
    print("a hit also needs the same scope (tenant, model, parameters, context) and the guard")
    return 0


def _flush(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    what = f"category {args.category!r}" if args.category else "ALL categories"
    if not args.yes:
        if not sys.stdin.isatty():
            raise SemcacheError("refusing to flush without --yes when not run interactively")
        if input(f"delete every entry of {what} in {settings.store.path}? [y/N] ").lower() != "y":
            print("nothing deleted")
            return 1
    store = _open_store(settings)
    victims = [d if isinstance(d, str) else d.id for d in store.scan()
               if args.category is None or (not isinstance(d, str) and d.category == args.category)]
    for key in track(victims, description="deleting", transient=True):
        store.delete(key)
    store.close()
    # A running cache finds the documents gone: those entries become misses and are dropped.
    print(f"deleted {len(victims)} entries ({what})")
    return 0


def _warm(args: argparse.Namespace) -> int:
    pairs = _read_pairs(Path(args.file))
    if args.proxy:
        return _warm_proxy(args, pairs)
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    import litellm_semcache

    engine = litellm_semcache.install(args.config)
    for pair in track(pairs, description="warming"):
        litellm.completion(model=pair.get("model", args.model), mock_response=pair["response"],
                           messages=[{"role": "user", "content": pair["prompt"]}],
                           metadata=_category_metadata(pair))
    engine.close()
    print(f"stored {len(pairs)} answers in {engine.settings.store.path}")
    return 0


def _warm_proxy(args: argparse.Namespace, pairs: list[dict[str, Any]]) -> int:
    """Send each pair through the proxy with ``mock_response``: the entry lands under exactly
    the scope (tenant, model group, parameters) that the proxy computes for real requests."""
    for pair in track(pairs, description="warming"):
        body = {"model": pair.get("model", args.model), "mock_response": pair["response"],
                "messages": [{"role": "user", "content": pair["prompt"]}],
                "metadata": _category_metadata(pair)}
        request = urllib.request.Request(
            f"{args.proxy.rstrip('/')}/v1/chat/completions", data=json.dumps(body).encode(),
            headers={"content-type": "application/json",
                     "authorization": f"Bearer {args.api_key or ''}"})
        with urllib.request.urlopen(request, timeout=60) as reply:
            reply.read()
    print(f"sent {len(pairs)} answers to {args.proxy}")
    return 0


def _category_metadata(pair: dict[str, Any]) -> dict[str, str]:
    return {"semcache_category": pair["category"]} if pair.get("category") else {}


def _read_pairs(path: Path) -> list[dict[str, Any]]:
    return read_records(
        path, lambda pair: isinstance(pair.get("prompt"), str)
        and isinstance(pair.get("response"), str), '{"prompt": str, "response": str}')


def _calibrate(args: argparse.Namespace) -> int:
    from litellm_semcache import calibration
    from litellm_semcache.logs import configure_logging

    configure_logging("warning")  # one probe decision per pair would bury the proposal on stdout
    settings = load_settings(args.config)
    pairs = calibration.read_pairs(Path(args.pairs))
    results = calibration.observe(pairs, settings)
    proposals = calibration.propose(results, args.target_false_hit_rate, guard=not args.no_guard)
    table = Table(title=f"thresholds for a false-hit rate <= {args.target_false_hit_rate:.1%} "
                        f"({'cosine alone' if args.no_guard else 'with the guard'}, {len(pairs)} pairs)")
    for column in ("category", "current", "proposed", "hit rate", "false-hit rate", "pairs (same/diff)"):
        table.add_column(column, justify="left" if column == "category" else "right")
    for category, row in proposals.items():
        table.add_row(category, f"{settings.policy(category).similarity_threshold:.2f}",
                      f"{row['threshold']:.3f}", _percent(row["hit_rate"]),
                      _percent(row["false_hit_rate"]),
                      f"{row['same_pairs']}/{row['different_pairs']}")
    _console().print(table)
    print("categories:")
    for category, row in proposals.items():
        print(f"  {category}:\n    similarity_threshold: {row['threshold']:.3f}")
    if any(row["same_pairs"] + row["different_pairs"] < 20 for row in proposals.values()):
        print("note: fewer than 20 pairs in some categories; treat those proposals as rough")
    return 0


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _demo(args: argparse.Namespace) -> int:
    from litellm_semcache import demo

    return demo.run(requests=args.requests, upstream_ms=args.upstream_ms)


if __name__ == "__main__":
    sys.exit(main())
