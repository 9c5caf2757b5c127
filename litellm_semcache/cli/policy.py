"""``semcache check-config``: validate a policy and print it as it is merged (the built-in
policy, the file over it, the environment over both), with the files and variables it read."""

from __future__ import annotations

import argparse

from rich.table import Table

from litellm_semcache.cli.output import console
from litellm_semcache.config import CacheSettings, load_settings


def check_config(args: argparse.Namespace) -> int:
    settings = load_settings(args.file)
    print("read:")
    for source in settings.sources:
        print(f"  {source}")
    console().print(policy_table(settings))
    for line in settings_lines(settings):
        print(line)
    print(f"{len(settings.categories)} categories, {len(settings.rules)} rules: OK")
    return 0


def policy_table(settings: CacheSettings) -> Table:
    table = Table(title="effective policy")
    for column in ("category", "mode", "threshold", "floor", "ttl s", "ttl cap", "max entries",
                   "shared", "sensitive", "guard", "examples"):
        table.add_column(column)
    for name, policy in settings.categories.items():
        table.add_row(
            name, policy.mode.value, f"{policy.similarity_threshold:.2f}",
            "-" if policy.threshold_floor is None else f"{policy.threshold_floor:.2f}",
            str(policy.ttl_seconds), "-" if policy.ttl_cap is None else str(policy.ttl_cap),
            str(policy.max_entries), "YES" if policy.shared else "no",
            "yes" if policy.sensitive else "no", "on" if policy.guard else "off",
            str(len(policy.examples)),
        )
    return table


def settings_lines(settings: CacheSettings) -> list[str]:
    """The settings outside the categories that decide where answers live and who sees them."""
    store, embedding = settings.store, settings.embedding
    if store.backend == "redis":
        from litellm_semcache.config import _redact

        where = f"redis {_redact(store.redis_url)} (prefix {store.redis_prefix!r})"
    else:
        where = f"diskcache {store.path} (limit {store.size_limit_mb} MB)"
    shared = [name for name, policy in settings.categories.items() if policy.shared]
    metrics = (f"http://{settings.metrics_host}:{settings.metrics_port}/metrics"
               if settings.metrics_port else "not served on a port of its own (LiteLLM's /metrics "
                                             "shows them when its Prometheus callback is on)")
    return [
        f"store:      {where}",
        f"shared:     {', '.join(shared) if shared else 'none'} (served to every tenant)",
        (f"embedding:  {embedding.model or 'bundled all-MiniLM-L6-v2'}, backend "
         f"{embedding.backend}"),
        f"metrics:    {metrics}",
        (f"lookups:    deadline {settings.lookup_deadline_ms:g} ms, single-flight "
         f"{settings.single_flight_wait_ms:g} ms, log level {settings.log_level}"),
        f"load:       {'adaptive' if settings.load_policy.enabled else 'off (static policy)'}",
    ]
