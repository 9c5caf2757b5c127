"""``semcache`` command line. Errors are one clear message and exit status 2, never a traceback.

    semcache check-config [FILE]            validate a policy, print the effective policy
    semcache stats [--metrics URL [--api-key K]]
                                            per-category table (store contents, or live counters)
    semcache inspect PROMPT [--top N]       stored entries most similar to a prompt
    semcache flush [--category C] [--yes]   delete entries (all, or one category)
    semcache warm FILE [--proxy URL --api-key K] [--model M]
                                            load prompt/response pairs (JSONL)
    semcache calibrate PAIRS.jsonl [--target-false-hit-rate 0.01] [--overload-false-hit-rate 0.02]
                                            propose per-category thresholds (and floors under
                                            overload) from labelled pairs
    semcache demo                           the demo replay
    semcache --version
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Sequence
from typing import Any

from litellm_semcache.cli import calibrate, policy, store, warm
from litellm_semcache.cli.policy import policy_table
from litellm_semcache.errors import SemcacheError

__all__ = ["main", "policy_table"]


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
    except sqlite3.Error as exc:  # a damaged or read-only diskcache store
        print(f"semcache: the store cannot be read ({exc}); move the damaged directory away "
              f"or fix its permissions", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="semcache", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, run: Any, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.set_defaults(run=run)
        if name != "check-config":
            sub.add_argument("--config", help="policy file (default: $SEMCACHE_CONFIG, "
                                              "./semcache.yaml, built-in)")
        return sub

    check_args = command("check-config", policy.check_config, "validate a policy file")
    check_args.add_argument("file", nargs="?", help="YAML policy (default: $SEMCACHE_CONFIG, "
                                               "./semcache.yaml, built-in)")
    stats_args = command("stats", store.stats, "per-category table")
    stats_args.add_argument("--metrics", help="a running proxy's semcache metrics URL for live counters")
    stats_args.add_argument("--api-key", default=os.environ.get("LITELLM_API_KEY"),
                            help="sent as a bearer token with --metrics (LiteLLM's /metrics may "
                                 "require one)")
    inspect_args = command("inspect", store.inspect, "stored entries most similar to a prompt")
    inspect_args.add_argument("prompt")
    inspect_args.add_argument("--top", type=int, default=5)
    flush_args = command("flush", store.flush, "delete stored entries")
    flush_args.add_argument("--category")
    flush_args.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    warm_args = command("warm", warm.warm, "load prompt/response pairs from a JSONL file")
    warm_args.add_argument("file", help='JSONL: {"prompt": "...", "response": "..."} per line '
                                   '(optional "model", "category")')
    warm_args.add_argument("--model", default="gpt-4o-mini", help="model (group) the answers are for")
    warm_args.add_argument("--proxy", help="warm a running proxy at this base URL (its tenants, its keys)")
    warm_args.add_argument("--api-key", default=os.environ.get("LITELLM_API_KEY"))
    calibrate_args = command("calibrate", calibrate.calibrate, "propose thresholds from labelled pairs")
    calibrate_args.add_argument("pairs", help='JSONL: {"a", "b", "same_answer": bool, "category"?}; '
                                         "a/b a prompt or a list of chat messages")
    calibrate_args.add_argument("--target-false-hit-rate", type=float, default=0.01)
    calibrate_args.add_argument("--overload-false-hit-rate", type=float, default=0.02,
                                help="false-hit budget while the model is overloaded: the "
                                     "proposed threshold_floor / verifier_floor")
    calibrate_args.add_argument("--no-guard", action="store_true", help="calibrate cosine alone")
    demo_args = command("demo", _demo, "replay mixed prompts through litellm.completion")
    demo_args.add_argument("--requests", type=int, default=400)
    demo_args.add_argument("--upstream-ms", type=float, default=100.0, help="stand-in model latency")
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("litellm-semcache")
    except PackageNotFoundError:  # a checkout on PYTHONPATH, not installed
        from litellm_semcache import __version__

        return __version__


def _demo(args: argparse.Namespace) -> int:
    from litellm_semcache import demo

    return demo.run(requests=args.requests, upstream_ms=args.upstream_ms)
