"""The last check before a candidate is served: are the two prompts the same request?

A candidate reaches the verifier only after it passed its category's similarity threshold and
the store confirmed it (same scope, not expired). The verifier sees both prompts and can veto.
Another verifier is passed to the engine, never patched in.

The default, :class:`ScoredVerifier`, first lines the prompts up so that spelling does not count
(:mod:`.spelling`: regional spellings, typos), then

1. vetoes what the lexical guard (:mod:`.guard`) finds: negation, antonyms in any inflection,
   flipped prefixes, numbers and dates, names, operators, roles and scope;
2. scores the rest with a small logistic model over cosine similarity and the word differences
   (:mod:`.match`: same words, overlap, substituted, added), and vetoes a score below the
   category's ``verifier_threshold`` (its operating point; ``semcache calibrate`` fits it).

Why a score and not cosine alone: a prompt full of typos sits at cosine 0.6-0.8 from its
intended prompt while a one-noun swap ("... for a dog grooming business" / "... cat ...") sits
at 0.85; the words tell them apart, cosine does not. The weights are ``data/verifier.json``,
produced by ``python -m bench.train_verifier`` from the ``dev`` pairs only, read once.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from litellm_semcache.classify import guard, literals, match
from litellm_semcache.classify.spelling import normalised
from litellm_semcache.config import CategoryPolicy

WEIGHTS_FILE = Path(__file__).with_name("data") / "verifier.json"
FEATURES = ("cosine", "same_words", "overlap", "substituted", "added", "cosine_if_same_words")
SCORE_VETO = "score"
HISTORY_VETO = "history"
# Two conversations whose earlier user turns differ must be at least this close as a whole
# (their user turns embedded together) before the guard compares those turns.
HISTORY_MIN_SIMILARITY = 0.9


@dataclass(frozen=True)
class Candidate:
    """What the verifier compares: the asked and the stored prompt, and how close they are."""

    asked: str
    asked_normalized: str
    stored: str
    stored_normalized: str
    similarity: float
    asked_history: tuple[str, ...] = ()  # the user's earlier turns (conversation.user_turns)
    stored_history: tuple[str, ...] = ()

    @property
    def same_history(self) -> bool:
        return [normalised(t) for t in self.asked_history] == \
            [normalised(t) for t in self.stored_history]


class Verifier(Protocol):
    def veto(self, candidate: Candidate, policy: CategoryPolicy) -> str | None:
        """None to serve; else the rule that rejected the candidate (e.g. ``negation``)."""
        ...


class GuardVerifier:
    """The lexical guard alone, where the category enables it, after the literal parts (code,
    quoted strings, indentation, notation) were found equal; identical prompts always pass.
    Earlier user turns must be the same once normalised.

    "Identical" means as written (surrounding whitespace aside), not equal exact keys: the
    exact key folds the case of plain prose, and "Apple" is not always "apple"."""

    def veto(self, candidate: Candidate, policy: CategoryPolicy) -> str | None:
        if not candidate.same_history:
            return HISTORY_VETO
        if not policy.guard or candidate.asked.strip() == candidate.stored.strip():
            return None
        if literals.differ(candidate.asked, candidate.stored):
            return "literal"  # code, quoted strings, indentation or notation differ
        return guard.check(candidate.asked, candidate.stored)


def features(similarity: float, comparison: match.Comparison) -> list[float]:
    """The model's inputs, in the order of :data:`FEATURES`."""
    same = float(comparison.same_words)
    return [similarity, same, comparison.overlap, float(comparison.substituted),
            float(comparison.added), similarity * same]


@dataclass(frozen=True)
class ScoreModel:
    weights: tuple[float, ...]
    bias: float

    @classmethod
    def load(cls, path: Path = WEIGHTS_FILE) -> "ScoreModel":
        data = json.loads(path.read_text(encoding="utf-8"))
        if tuple(data["features"]) != FEATURES:
            raise ValueError(f"{path}: features {data['features']} are not {list(FEATURES)}")
        return cls(tuple(float(w) for w in data["weights"]), float(data["bias"]))

    def score(self, values: list[float]) -> float:
        """Probability-like score in (0, 1) that the two prompts want the same answer."""
        z = self.bias + sum(w * x for w, x in zip(self.weights, values))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


@lru_cache(maxsize=1)
def default_model() -> ScoreModel:
    return ScoreModel.load()


def _histories_differ(candidate: Candidate) -> bool:
    """The guard finds an answer-changing difference between the earlier user turns: turn by
    turn when both have as many ("leaning towards QQQ" / "... VOO" after naming both), else
    all of them together."""
    asked, stored = candidate.asked_history, candidate.stored_history
    if len(asked) == len(stored):
        return any(match.compare(a, b).veto for a, b in zip(asked, stored))
    return match.compare("\n".join(asked), "\n".join(stored)).veto is not None


class ScoredVerifier:
    """Guard veto, then the score against the category's operating point (the default)."""

    def __init__(self, model: ScoreModel | None = None) -> None:
        self._model = model or default_model()

    def veto(self, candidate: Candidate, policy: CategoryPolicy) -> str | None:
        if not candidate.same_history and (candidate.similarity < HISTORY_MIN_SIMILARITY
                                           or _histories_differ(candidate)):
            return HISTORY_VETO  # even with the guard off: another history, another request
        if not policy.guard or candidate.asked.strip() == candidate.stored.strip():
            return None  # identical as written (not merely equal exact keys: see GuardVerifier)
        if literals.differ(candidate.asked, candidate.stored):
            return "literal"  # code, quoted strings, indentation or notation differ
        comparison = match.compare(candidate.asked, candidate.stored)
        if comparison.veto:
            return comparison.veto
        if self.score(candidate.similarity, comparison) < policy.verifier_threshold:
            return SCORE_VETO
        return None

    def score(self, similarity: float, comparison: match.Comparison) -> float:
        return self._model.score(features(similarity, comparison))
