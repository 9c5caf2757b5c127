"""Commands that read or change the store: ``stats``, ``inspect``, ``flush``."""

from __future__ import annotations

import argparse
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from rich.progress import track
from rich.table import Table

from litellm_semcache.cli.output import console, number
from litellm_semcache.config import CacheSettings, load_settings
from litellm_semcache.config_layers import suggest
from litellm_semcache.errors import SemcacheError
from litellm_semcache.store import Stored


def _open_store(settings: CacheSettings) -> Any:
    """The policy's store. On Redis, deletions made here reach every running replica."""
    from litellm_semcache.store import open_store

    if settings.store.backend == "diskcache" and not Path(settings.store.path).is_dir():
        raise SemcacheError(f"no cache store at {settings.store.path} (store.path in the policy)")
    return open_store(settings.store, settings.categories)


def stats(args: argparse.Namespace) -> int:
    if args.metrics:
        return _live_stats(args.metrics, args.api_key)
    settings = load_settings(args.config)
    store = _open_store(settings)
    now = time.time()
    rows: dict[str, dict[str, float]] = {}
    for item in track(list(store.scan()), description="reading store", transient=True):
        if not isinstance(item, Stored):
            row = rows.setdefault("(undecodable)", {"entries": 0, "expired": 0, "bytes": 0})
            row["entries"] += 1
            continue
        document = item.document
        row = rows.setdefault(document.category, {"entries": 0, "expired": 0, "bytes": 0})
        row["entries"] += 1
        row["expired"] += document.fresh_until <= now  # or kept for its stale grace
        row["bytes"] += len(document.to_bytes())
    store.close()
    table = Table(title=f"store {settings.store.path}")
    for column in ("category", "entries", "expired", "MB", "quota"):
        table.add_column(column, justify="left" if column == "category" else "right")
    for name, row in sorted(rows.items()):
        quota = settings.categories[name].max_entries if name in settings.categories else "-"
        table.add_row(name, str(int(row["entries"])), str(int(row["expired"])),
                      f"{row['bytes'] / 2**20:.2f}", str(quota))
    console().print(table)
    print("live hit/miss counters: semcache stats --metrics http://HOST:PORT/metrics")
    return 0


def _live_stats(url: str, api_key: str | None = None) -> int:
    from prometheus_client.parser import text_string_to_metric_families

    headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                    timeout=10) as reply:
            text = reply.read().decode()
    except urllib.error.HTTPError as exc:
        hint = " (pass --api-key)" if exc.code in (401, 403) and not api_key else ""
        raise SemcacheError(f"{url} answered HTTP {exc.code}{hint}") from None
    except urllib.error.URLError as exc:
        raise SemcacheError(f"cannot reach {url}: {exc.reason}") from None
    counted = ("lookups", "hits", "misses", "bypasses", "shadow_hits", "guard_rejections",
               "fail_opens", "stale_hits", "below_break_even", "auto_bypassed", "entries")
    wanted = (*counted, "hit_rate")
    table: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        name = family.name.removeprefix("semcache_")
        if name in counted:
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                table.setdefault(sample.labels.get("category", "?"), {})[name] = sample.value
    for values in table.values():  # as PromQL would: hits / (hits + misses + shadow hits)
        answered = sum(values.get(name, 0.0) for name in ("hits", "misses", "shadow_hits"))
        values["hit_rate"] = values.get("hits", 0.0) / answered if answered else float("nan")
    view = Table(title=f"live counters from {url}")
    view.add_column("category")
    for name in wanted:
        view.add_column(name.replace("_", " "), justify="right")
    for category, values in sorted(table.items()):
        view.add_row(category, *(number(values.get(name)) for name in wanted))
    console().print(view)
    return 0


def inspect(args: argparse.Namespace) -> int:
    import numpy as np

    from litellm_semcache.embedding import load_embedder

    settings = load_settings(args.config)
    store = _open_store(settings)
    documents = [item.document for item in store.scan() if isinstance(item, Stored)]
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
                      f"{policy.similarity_threshold:.2f}", f"{document.fresh_until - now:.0f}",
                      document.scope[:8], document.prompt[:80])
    console().print(table)
    print("a hit also needs the same scope (tenant, model, parameters, context) and the guard")
    return 0


def flush(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    if args.category is not None and args.category not in settings.categories:
        raise SemcacheError(f"--category: the policy has no category {args.category!r}"
                            f"{suggest(args.category, settings.categories)}; known: "
                            f"{', '.join(settings.categories)}")
    what = f"category {args.category!r}" if args.category else "ALL categories"
    if not args.yes:
        if not sys.stdin.isatty():
            raise SemcacheError("refusing to flush without --yes when not run interactively")
        if input(f"delete every entry of {what} in {settings.store.path}? [y/N] ").lower() != "y":
            print("nothing deleted")
            return 1
    store = _open_store(settings)
    victims = [(item.document.id, item.document.category) if isinstance(item, Stored)
               else (item.key, None) for item in store.scan()
               if args.category is None
               or (isinstance(item, Stored) and item.document.category == args.category)]
    for key, category in track(victims, description="deleting", transient=True):
        store.delete(key, category=category)
    store.close()
    # A running cache finds the documents gone: those entries become misses and are dropped.
    print(f"deleted {len(victims)} entries ({what})")
    return 0
