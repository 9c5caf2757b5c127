"""The main job: replay mixed prompts through ``litellm.completion`` with the cache installed.

A local stand-in model answers ``answer to: <prompt>``; each prompt belongs to an *intent*
(phrasings that deserve the same answer), so the demo can count false hits: a hit whose stored
answer was written for a different intent. Near-miss traps (negations, other numbers, other
entities) share categories with the intents they resemble.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

# intent -> phrasings; the category is decided by the cache (rules / centroids), not by us.
INTENTS: dict[str, list[str]] = {
    "py-reverse": ["How do I reverse a list in Python?", "How can I reverse a list in python",
                   "What is the best way to reverse a Python list?", "Python: how to reverse a list"],
    "js-reverse": ["How do I reverse an array in JavaScript?", "How can I reverse a JavaScript array?"],
    "py-merge": ["How do I merge two dictionaries in Python?", "How can I merge two dicts in Python?",
                 "What is the way to merge two Python dictionaries?"],
    "palindrome": ["Write a function to check if a string is a palindrome",
                   "Write a function that checks whether a string is a palindrome"],
    "py-read-file": ["How do I read a file line by line in Python?",
                     "How can I read a file line by line in Python?"],
    "api-auth": ["How do I authenticate with the REST API?", "How do I authenticate to the REST API?",
                 "How does authentication with the REST API work?"],
    "api-rate": ["What is the rate limit of the API?", "What's the API rate limit?",
                 "How many requests per minute does the API allow?"],
    "api-webhooks": ["How do I configure webhooks?", "How can I set up webhooks?"],
    "greeting": ["hi, how are you today?", "hello, how are you doing?", "Hi! How are you?"],
    "joke": ["Tell me a joke", "Tell me a funny joke", "Can you tell me a joke?"],
    "book": ["Can you recommend a good book?", "Could you recommend a good book to read?",
             "Recommend me a good book"],
    "dinner": ["What should I cook for dinner tonight?", "What should I make for dinner tonight?"],
    "aapl": ["What is the current price of Apple stock?", "What's the current price of Apple stock?",
             "Current Apple stock price?"],
    "tsla": ["What is the current price of Tesla stock?", "What's the current Tesla stock price?"],
    "usd-eur": ["What is the exchange rate from USD to EUR?", "What's the USD to EUR exchange rate?"],
    "eur-usd": ["What is the exchange rate from EUR to USD?"],
    "diabetes": ["What are the symptoms of diabetes?", "What are the common symptoms of diabetes?",
                 "What symptoms does diabetes cause?"],
    "ibuprofen": ["Is it safe to take ibuprofen with alcohol?",
                  "Is it safe to drink alcohol with ibuprofen?"],
    "ibuprofen-not": ["Is it not safe to take ibuprofen with alcohol?"],
    "evict": ["Can my landlord evict me without notice?",
              "Can a landlord evict me without giving notice?"],
    "contract": ["Is a verbal contract legally binding?", "Are verbal contracts legally binding?"],
    "tax-2023": ["What is the 2023 income tax rate for freelancers?"],
    "tax-2024": ["What is the 2024 income tax rate for freelancers?"],
    "dark-on": ["How do I turn on dark mode in the settings?"],
    "dark-off": ["How do I turn off dark mode in the settings?"],
    "capital-fr": ["What is the capital of France?", "Which city is the capital of France?",
                   "Tell me the capital of France"],
    "capital-de": ["What is the capital of Germany?"],
}


def workload(requests: int, seed: int = 7) -> list[tuple[str, str]]:
    """(intent, prompt) pairs: Zipf-like intent popularity plus one-off prompts that never repeat."""
    rng = random.Random(seed)
    names = list(INTENTS)
    weights = [1.0 / (rank + 1) ** 0.6 for rank in range(len(names))]
    rng.shuffle(weights)
    items: list[tuple[str, str]] = []
    for _ in range(requests):
        if rng.random() < 0.2:
            prompt = f"What is {rng.randint(2, 99)} multiplied by {rng.randint(2, 99)}?"
            items.append((prompt, prompt))  # its own intent: only an exact repeat may hit
            continue
        intent = rng.choices(names, weights)[0]
        items.append((intent, rng.choice(INTENTS[intent])))
    return items


def run(requests: int = 400, upstream_ms: float = 100.0) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    import litellm_semcache
    from litellm_semcache.config import load_settings
    from litellm_semcache.testing import StandInModel

    console = Console(width=None if console_is_tty() else 190)
    settings = load_settings(None).model_copy(deep=True)
    settings.log_level = "warning"
    settings.store.path = tempfile.mkdtemp(prefix="semcache-demo-")
    started = time.perf_counter()
    engine = litellm_semcache.install(settings)
    console.print(f"cache ready in {time.perf_counter() - started:.1f} s "
                  f"(embedding: {engine.embedder.name}); store: {settings.store.path}")
    intent_of_prompt = {p: name for name, phrasings in INTENTS.items() for p in phrasings}
    false_hits: dict[str, int] = {}
    items = workload(requests)
    with StandInModel(latency_ms=upstream_ms) as model, Progress(console=console) as progress:
        task = progress.add_task("replaying", total=len(items))
        wall = time.perf_counter()
        for intent, prompt in items:
            response = litellm.completion(
                model="openai/stand-in", api_base=model.url, api_key="sk-local",
                messages=[{"role": "user", "content": prompt}])
            if response._hidden_params.get("cache_hit"):
                served_for = response.choices[0].message.content.removeprefix("answer to: ")
                if intent_of_prompt.get(served_for, served_for) != intent:
                    category, _ = engine.categorize({"messages": [{"role": "user",
                                                                   "content": prompt}]})
                    false_hits[category] = false_hits.get(category, 0) + 1
            progress.advance(task)
        wall = time.perf_counter() - wall
    console.print(_table(engine.stats_snapshot(), false_hits))
    saved = len(items) - model.calls
    console.print(f"{len(items)} requests, {model.calls} reached the model, {saved} served from "
                  f"the cache ({saved / len(items):.0%}); wall time {wall:.1f} s with a "
                  f"{upstream_ms:.0f} ms stand-in model.")
    return 0


def console_is_tty() -> bool:
    import sys

    return sys.stdout.isatty()


def _table(stats: dict[str, dict[str, Any]], false_hits: dict[str, int]) -> Table:
    table = Table(title="litellm-semcache demo: per-category results")
    columns = ("category", "lookups", "hits", "exact", "misses", "bypass", "guard vetoes",
               "false hits", "hit rate", "miss cost ms", "upstream ms", "break-even", "pays off",
               "lookup p50 ms", "lookup p99 ms", "entries")
    for column in columns:
        table.add_column(column, justify="left" if column == "category" else "right")
    for name, row in stats.items():
        if not row["lookups"]:
            continue
        table.add_row(
            name, str(row["lookups"]), str(row["hits"]), str(row["exact_hits"]), str(row["misses"]),
            str(row["bypasses"]), str(row["guard_rejections"]), str(false_hits.get(name, 0)),
            f"{row['hit_rate']:.0%}", _fmt(row["miss_cost_ms"]), _fmt(row["saved_ms"]),
            "-" if row["break_even_hit_rate"] is None else f"{row['break_even_hit_rate']:.1%}",
            {True: "yes", False: "no", None: "-"}[row["pays_off"]],
            _fmt(row["lookup_p50_ms"]), _fmt(row["lookup_p99_ms"]), str(row["entries"]),
        )
    return table


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    raise SystemExit(run())
