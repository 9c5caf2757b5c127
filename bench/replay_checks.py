"""Checks of the ShareGPT replay that do not depend on the cache's own decisions.

- :func:`exact_only_baseline`: what a plain response cache would serve on the same traffic (a
  hit only for a prompt seen before, character for character, as LiteLLM's own cache keys it;
  and with whitespace collapsed, as this cache's exact fast path does). Most replay hits are
  such repeats; the difference to this baseline is what the semantic part adds.
- :func:`served_answers`: were the semantic hits right? Every hit names the prompt whose answer
  it served; ``bench/data/replay_served_labels.jsonl`` says, for pairs of ShareGPT first turns
  (ids only: the dataset's text is never committed), whether the served prompt's answer answers
  the asked one (the labelling rule: ``bench/data/LABELLING.md``). Hits on pairs outside the
  labels are counted as unlabelled, never as right.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from litellm_semcache.jsonl import read_records

LABELS = Path(__file__).parent / "data" / "replay_served_labels.jsonl"
_SPACES = re.compile(r"\s+")


def exact_only_baseline(texts: list[str]) -> dict[str, Any]:
    """Hits of a cache keyed on the exact prompt, and on the whitespace-collapsed prompt."""
    out = {}
    for name, key in (("exact_text", lambda text: text),
                      ("whitespace_collapsed", lambda text: _SPACES.sub(" ", text).strip())):
        seen: set[str] = set()
        hits = 0
        for text in texts:
            hits += key(text) in seen
            seen.add(key(text))
        out[name] = {"hits": hits, "hit_rate": round(hits / len(texts), 4) if texts else 0.0}
    return out


def read_labels(path: Path = LABELS) -> dict[tuple[str, str], bool]:
    """(asked id, served id) -> whether the served answer answers the asked prompt."""
    rows = read_records(path, lambda row: isinstance(row, dict)
                        and {"asked", "served", "same_answer"} <= row.keys(),
                        'an object with "asked", "served" and "same_answer"')
    return {(row["asked"], row["served"]): bool(row["same_answer"]) for row in rows}


def served_answers(rows: Iterable[dict[str, Any]], ids: list[str],
                   labels: dict[tuple[str, str], bool] | None = None) -> dict[str, Any]:
    """Tally the replay's hits: ``rows`` in prompt order, a hit carrying ``served`` (the number
    of the prompt whose stored answer it got) and ``reason``. Exact hits of an identical prompt
    are right by construction; semantic hits are looked up in the labels."""
    labels = read_labels() if labels is None else labels
    tally = {"exact_hits": 0, "semantic_hits": 0, "labelled": 0, "right": 0, "wrong": 0,
             "unlabelled": 0, "wrong_pairs": []}
    for number, row in enumerate(rows):
        if row.get("served") is None:
            continue
        if row["reason"] != "semantic":
            tally["exact_hits"] += 1
            continue
        tally["semantic_hits"] += 1
        pair = (ids[number], ids[row["served"]])
        if pair not in labels:
            tally["unlabelled"] += 1
            continue
        tally["labelled"] += 1
        tally["right" if labels[pair] else "wrong"] += 1
        if not labels[pair]:
            tally["wrong_pairs"].append(list(pair))
    tally["wrong_rate_of_labelled"] = (round(tally["wrong"] / tally["labelled"], 4)
                                       if tally["labelled"] else None)
    return tally
