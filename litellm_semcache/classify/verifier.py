"""The last check before a candidate is served: are the two prompts the same request?

A candidate reaches the verifier only after it passed its category's similarity threshold and
the store confirmed it (same scope, not expired). The verifier sees both prompts and can veto;
the default one runs the lexical guard (negation, antonyms, numbers, entities, roles, scope).
Another verifier is passed to the engine, never patched in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from litellm_semcache.classify import guard, literals
from litellm_semcache.config import CategoryPolicy


@dataclass(frozen=True)
class Candidate:
    """What the verifier compares: the asked and the stored prompt, and how close they are."""

    asked: str
    asked_normalized: str
    stored: str
    stored_normalized: str
    similarity: float


class Verifier(Protocol):
    def veto(self, candidate: Candidate, policy: CategoryPolicy) -> str | None:
        """None to serve; else the rule that rejected the candidate (e.g. ``negation``)."""
        ...


class GuardVerifier:
    """The lexical guard, where the category enables it, after the literal parts (code,
    quoted strings, indentation, notation) were found equal; identical prompts always pass.

    "Identical" means as written (surrounding whitespace aside), not equal exact keys: the
    exact key folds the case of plain prose, and "Apple" is not always "apple"."""

    def veto(self, candidate: Candidate, policy: CategoryPolicy) -> str | None:
        if not policy.guard or candidate.asked.strip() == candidate.stored.strip():
            return None
        if literals.differ(candidate.asked, candidate.stored):
            return "literal"  # code, quoted strings, indentation or notation differ
        return guard.check(candidate.asked, candidate.stored)
