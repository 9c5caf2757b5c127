"""``semcache warm``: load prompt/response pairs into the cache.

Locally the pairs go through ``litellm.completion`` with the installed cache. With ``--proxy``
they go to the proxy's ``/semcache/warm`` route, which stores them through the proxy's own
cache path for the tenant of ``--api-key`` (a chat request cannot do it: the proxy drops a
client's ``mock_response``, and granting mock responses to a key would let it answer itself).
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

from rich.progress import track

from litellm_semcache.errors import SemcacheError
from litellm_semcache.jsonl import read_records

BATCH = 100  # pairs per request to the proxy


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
    if not args.api_key:
        raise SemcacheError("--proxy needs --api-key (or $LITELLM_API_KEY): entries are stored "
                            "for that key's tenant")
    by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for pair in pairs:
        by_model[pair.get("model") or args.model].append(
            {name: pair[name] for name in ("prompt", "response", "category") if pair.get(name)})
    stored = 0
    batches = [(model, group[start:start + BATCH]) for model, group in by_model.items()
               for start in range(0, len(group), BATCH)]
    for model, batch in track(batches, description="warming"):
        stored += _post(args.proxy, args.api_key, {"model": model, "pairs": batch})["stored"]
    print(f"stored {stored} of {len(pairs)} answers through {args.proxy}")
    return 0 if stored == len(pairs) else 1


def _post(proxy: str, api_key: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{proxy.rstrip('/')}/semcache/warm", data=json.dumps(body).encode(), method="POST",
        headers={"content-type": "application/json", "authorization": f"Bearer {api_key}"})
    try:
        with urllib.request.urlopen(request, timeout=120) as reply:
            return json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        raise SemcacheError(f"{proxy} answered HTTP {exc.code}: {_detail(exc)}") from None
    except urllib.error.URLError as exc:
        raise SemcacheError(f"cannot reach {proxy}: {exc.reason}") from None


def _detail(error: urllib.error.HTTPError) -> str:
    text = error.read().decode(errors="replace")
    try:
        detail = json.loads(text).get("detail", text)
    except (ValueError, AttributeError):
        detail = text
    if error.code == 404:
        detail = ("no /semcache/warm route: is the proxy running with "
                  "`callbacks: litellm_semcache.proxy_handler`?")
    return str(detail)[:500]


def _category_metadata(pair: dict[str, Any]) -> dict[str, str]:
    return {"semcache_category": pair["category"]} if pair.get("category") else {}


def _read_pairs(path: Path) -> list[dict[str, Any]]:
    return read_records(
        path, lambda pair: isinstance(pair.get("prompt"), str)
        and isinstance(pair.get("response"), str), '{"prompt": str, "response": str}')
