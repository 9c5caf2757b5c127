"""A writer process for the kill -9 test: stores answers as fast as it can and prints
``ack <n>`` once ``store()`` has returned "stored" for prompt n (an acknowledged write).

Usage: python tests/burst_writer.py SETTINGS_JSON COUNT
"""

from __future__ import annotations

import json
import sys

from litellm_semcache.engine import SemanticCache
from litellm_semcache.config import CacheSettings


def prompt(n: int) -> str:
    return f"burst question {n}: what is {n} plus {n * 7 + 3}?"


def answer(n: int) -> dict[str, str]:
    return {"n": str(n), "body": f"{n:06d}" * 8000}  # ~48 KB: diskcache keeps it in a file


def main() -> None:
    settings = CacheSettings(**json.loads(sys.argv[1]))
    cache = SemanticCache(settings)
    print("ready", flush=True)
    for n in range(int(sys.argv[2])):
        request = {"model": "gpt-test", "messages": [{"role": "user", "content": prompt(n)}],
                   "metadata": {"category": "default"}}
        if cache.store(request, answer(n)).outcome == "stored":
            print(f"ack {n}", flush=True)


if __name__ == "__main__":
    main()
