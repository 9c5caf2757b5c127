"""What the cache decided for one request, built once and frozen.

``outcome`` and ``reason`` are enums whose values are the strings headers and logs carry
(``Outcome.HIT == "hit"``). ``detail`` says more for logs (the guard rule that vetoed, an
exception type, a validation message) and is never put in a response header as free text.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from enum import Enum
from typing import Any


class Outcome(str, Enum):
    HIT = "hit"
    MISS = "miss"
    BYPASS = "bypass"  # not looked up / not stored
    SHADOW_HIT = "shadow-hit"  # would have hit; shadow mode never serves
    STORED = "stored"

    def __str__(self) -> str:
        return self.value


class Reason(str, Enum):
    # hits
    EXACT = "exact"
    SEMANTIC = "semantic"
    SINGLE_FLIGHT = "exact+single_flight"  # an identical request's fresh answer
    SHADOW = "shadow"
    # misses
    NO_CANDIDATE = "no_candidate"
    BELOW_THRESHOLD = "below_threshold"
    GUARD = "guard"  # detail: the rule
    EXPIRED = "expired"
    DOCUMENT_MISSING = "document_missing"
    DOCUMENT_CORRUPT = "document_corrupt"  # checksum mismatch: the entry was dropped
    INDEX_OUT_OF_SYNC = "index_out_of_sync"
    DEADLINE = "deadline"
    FAIL_OPEN = "fail_open"  # detail: the exception type
    OVERLOADED = "overloaded"  # the embedding queue was full: answered at once, not queued
    # bypasses (lookup and store)
    NO_MESSAGES = "no_messages"
    MALFORMED_MESSAGES = "malformed_messages"
    LAST_TURN_NOT_USER = "last_turn_not_user"
    NON_TEXT_CONTENT = "non_text_content"
    EMPTY_PROMPT = "empty_prompt"
    NO_PROMPT = "no_prompt"
    PROMPT_TOO_LONG = "prompt_too_long"
    NO_CACHE = "no-cache"
    MODE_OFF = "mode_off"
    INVALID_REQUEST = "invalid_request"  # detail: what is wrong (also the HTTP 400 text)
    NOT_LOOKED_UP = "not_looked_up"  # LiteLLM did not ask the cache (e.g. caching off, embeddings)
    STORE_UNAVAILABLE = "store_unavailable"  # the store could not be opened: the cache is off
    BELOW_BREAK_EVEN = "below_break_even"  # auto-bypass: lookups cost more than they save
    # store
    STORED = "stored"
    NOT_STORABLE = "not_storable"
    NO_STORE = "no-store"
    TTL_ZERO = "ttl_zero"
    RESPONSE_TOO_LARGE = "response_too_large"
    INCOMPLETE_ANSWER = "incomplete_answer"  # detail: length, content_filter, stream_cut_off, ...
    SHARED_WRITE_DENIED = "shared_write_denied"  # a shared category this writer may not write

    def __str__(self) -> str:
        return self.value


FAULTS = frozenset({Reason.DEADLINE, Reason.FAIL_OPEN, Reason.OVERLOADED})  # counted as fail-opens
EXACT_HITS = frozenset({Reason.EXACT, Reason.SINGLE_FLIGHT})


@dataclass(frozen=True)
class Decision:
    """One request's decision and the policy in force (hit provenance)."""

    outcome: Outcome
    reason: Reason
    detail: str | None = None
    category: str | None = None
    category_source: str | None = None
    similarity: float | None = None
    threshold: float | None = None
    ttl_seconds: int | None = None
    entry_id: str | None = None
    model_group: str | None = None
    deployment: str | None = None
    request_key: str | None = None  # scope + normalised prompt of the request (single-flight)
    load_state: str | None = None  # of the routed model: off | unknown | normal | overloaded
    load_score: float | None = None
    relaxed: bool = False  # served only because the load policy lowered the gate or verifier
    verifier_threshold: float | None = None  # the verifier's operating point in force
    stale: bool = False  # an expired answer, served because the routed model is overloaded
    age_seconds: float | None = None  # of a stale answer: seconds since it was stored
    # The candidate came from a shared scope, so it may be another tenant's entry: on a miss its
    # similarity and the reason are kept for logs and metrics but never shown to the client.
    shared_candidate: bool = False
    latency_ms: float = 0.0
    response: Any = None

    @property
    def served(self) -> bool:
        return self.outcome is Outcome.HIT

    @property
    def visible_similarity(self) -> float | None:
        """The similarity a client may see: none for a miss among other tenants' entries."""
        return None if self.shared_candidate and not self.served else self.similarity

    @property
    def label(self) -> str:
        """The reason as headers show it: ``guard:negation`` for a guard veto."""
        if self.reason is Reason.GUARD and self.detail:
            return f"guard:{self.detail}"
        return self.reason.value

    def but(self, **changes: Any) -> "Decision":
        """A copy with ``changes`` (decisions are never mutated)."""
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """Everything but the response, as plain JSON values (logs, metadata, headers)."""
        values = {name: getattr(self, name) for name in _FIELDS}
        values["outcome"], values["reason"] = self.outcome.value, self.reason.value
        values["label"] = self.label
        return values


_FIELDS = tuple(f.name for f in fields(Decision) if f.name != "response")
