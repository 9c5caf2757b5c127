"""``semcache check-config``: validate a policy file and print the effective policy."""

from __future__ import annotations

import argparse

from rich.table import Table

from litellm_semcache.cli.output import console
from litellm_semcache.config import CacheSettings, load_settings


def check_config(args: argparse.Namespace) -> int:
    settings = load_settings(args.file)
    console().print(policy_table(settings))
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
