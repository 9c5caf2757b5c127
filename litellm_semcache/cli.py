"""``semcache`` command line. Errors are one clear message and exit status 2, never a traceback."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from rich.console import Console
from rich.table import Table

from litellm_semcache.config import CacheSettings, load_settings
from litellm_semcache.errors import SemcacheError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="semcache", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check-config", help="validate a policy file, print the effective policy")
    check.add_argument("file", nargs="?",
                       help="YAML policy (default: $SEMCACHE_CONFIG, ./semcache.yaml, built-in)")
    demo = commands.add_parser("demo", help="replay mixed prompts through litellm.completion with the cache")
    demo.add_argument("--requests", type=int, default=400)
    demo.add_argument("--upstream-ms", type=float, default=200.0, help="stand-in model latency")
    args = parser.parse_args(argv)
    try:
        if args.command == "check-config":
            return _check_config(args.file)
        from litellm_semcache import demo as demo_module

        return demo_module.run(requests=args.requests, upstream_ms=args.upstream_ms)
    except SemcacheError as exc:
        print(f"semcache: {exc}", file=sys.stderr)
        return 2


def _check_config(path: str | None) -> int:
    settings = load_settings(path)
    Console(width=None if sys.stdout.isatty() else 120).print(policy_table(settings))
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


if __name__ == "__main__":
    sys.exit(main())
