"""``semcache warm``: load prompt/response pairs into the cache."""

from __future__ import annotations

import argparse
import json
import os
import urllib.request
from pathlib import Path
from typing import Any

from rich.progress import track

from litellm_semcache.jsonl import read_records


def warm(args: argparse.Namespace) -> int:
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
