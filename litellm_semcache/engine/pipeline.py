"""The lookup path: one request through a fixed list of small steps.

The request is parsed once into a :class:`~litellm_semcache.request.RequestView`. Each step
takes the :class:`LookupContext` and either returns the final :class:`Decision` or ``None`` to
pass to the next step. The cheap steps (:meth:`LookupPipeline.prepare`: parse, bypass,
categorise by metadata/rules, exact match) never embed; the rest
(:meth:`LookupPipeline.complete`: embed, categorise by embedding, mode, nearest candidate,
threshold, verification in the store, serve) do.

    prepare:  parse -> text? -> category (metadata, rules) -> no-cache? -> mode -> exact match?
              -> below break-even?
    complete: [exact match, deferred] -> embed -> category (head, centroids) -> mode
              -> below break-even? -> nearest in scope, any category -> threshold
              -> verify (expiry or stale, scope, document, verifier) -> serve

A caller on an event loop prepares with ``defer_reads`` when a document read is a network round
trip: an identical stored prompt is then verified in :meth:`LookupPipeline.complete`, off the
loop, and a caller that already has the embedding puts it in ``LookupContext.vector``.

Split-proof: the nearest entry of the scope is a candidate whatever its category (one index
holds every category), because two wordings of one request can land in different categories. A candidate from another category is judged by the
stricter of the two policies (the higher threshold, the guard if either has it, shadow if either
is shadow, shared only if both are); the decision stays counted under the request's category.

Under load (``load/``) the threshold and the verifier's operating point in force may be lower
than the category's own, and an answer past its TTL but within its stale grace may be served
while the routed model is overloaded (``load/stale.py``); a category whose lookups do not pay
off skips the search (``engine/break_even.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from litellm_semcache.classify.categories import Categorizer
from litellm_semcache.classify.verifier import Candidate, Verifier
from litellm_semcache.config import CacheSettings, CategoryPolicy, Mode
from litellm_semcache.engine.break_even import BreakEvenSwitch
from litellm_semcache.engine.catalogue import Catalogue, Entry
from litellm_semcache.engine.decision import Decision, Outcome, Reason
from litellm_semcache.engine.pending import PendingMiss, PendingMisses
from litellm_semcache.engine.removal import Remover
from litellm_semcache.engine.writer import ttl_to_store
from litellm_semcache.errors import CorruptDocument, InvalidRequest, StoreError
from litellm_semcache.load import stale
from litellm_semcache.load.base import Effective, Load
from litellm_semcache.request import RequestView, view_request
from litellm_semcache.store.base import DocumentStore
from litellm_semcache.store.document import PROMPT_SOURCES

Step = Callable[["LookupContext"], "Decision | None"]
_CANDIDATES_VERIFIED = 2  # the nearest of the tenant's scope and of the shared one


@dataclass
class LookupContext:
    """What the steps know so far about one request."""

    view: RequestView
    started: float
    category: str | None = None
    source: str = ""
    policy: CategoryPolicy | None = None
    served: Effective | None = None  # threshold and TTL in force (load policy applied)
    vector: np.ndarray | None = None  # set by a caller that embedded the prompt itself
    defer_reads: bool = False  # leave document reads to complete() (a remote store)
    exact: Entry | None = None  # an identical stored prompt whose document is still to be read
    gated: bool = False  # the break-even switch was asked (once per request)

    def decide(self, outcome: Outcome, reason: Reason, **fields: object) -> Decision:
        """The decision, carrying everything known about the request and its policy. Its TTL
        is the one an answer to this request would be stored with (the request's own ``ttl``
        within the category's cap) unless ``fields`` say otherwise (a hit: the entry's)."""
        served = self.served
        values: dict[str, object] = {
            "category": self.category, "category_source": self.source or None,
            "threshold": served.threshold if served else None,
            "verifier_threshold": served.verifier_threshold if served else None,
            "ttl_seconds": (round(ttl_to_store(self.policy, served.ttl_seconds,
                                               self.view.controls.ttl))
                            if served and self.policy else None),
            "model_group": self.view.model_group, "deployment": self.view.deployment,
            "request_key": self.view.exact_key, "load_state": served.state if served else None,
            "load_score": served.score if served else None,
            "shared_candidate": outcome is Outcome.MISS and self.policy is not None
            and self.policy.shared, **fields}
        return Decision(outcome, reason, **values)  # type: ignore[arg-type]


class LookupPipeline:
    """Decides hit / miss / bypass for one request. Counting is the caller's job."""

    def __init__(self, settings: CacheSettings, catalogue: Catalogue, store: DocumentStore,
                 categorizer: Categorizer, embed: Callable[[str], np.ndarray], load: Load,
                 verifier: Verifier, pending: PendingMisses, remover: Remover,
                 clock: Callable[[], float], break_even: BreakEvenSwitch | None = None) -> None:
        self._settings = settings
        self._catalogue = catalogue
        self._store = store
        self._categorizer = categorizer
        self._embed = embed
        self._load = load
        self._verifier = verifier
        self._pending = pending
        self._remover = remover
        self._clock = clock
        self._break_even = break_even
        self._cheap_steps: tuple[Step, ...] = (self._unusable, self._categorise_cheaply,
                                               self._no_cache, self._mode_off, self._exact,
                                               self._below_break_even)
        self._embedded_steps: tuple[Step, ...] = (self._deferred_exact, self._embed_prompt,
                                                  self._mode_off, self._below_break_even,
                                                  self._semantic)

    def prepare(self, request: dict, upstream_key: str | None, started: float,
                defer_reads: bool = False) -> Decision | LookupContext:
        """The steps that need no embedding; a context means "embed and go on"."""
        try:
            view = view_request(request, upstream_key=upstream_key,
                                max_prompt_chars=self._settings.max_prompt_chars)
        except InvalidRequest as exc:
            return Decision(Outcome.BYPASS, Reason.INVALID_REQUEST, detail=str(exc))
        context = LookupContext(view, started, defer_reads=defer_reads)
        return _run(self._cheap_steps, context) or context

    def complete(self, context: LookupContext) -> Decision:
        decision = _run(self._embedded_steps, context)
        assert decision is not None, "the last step always decides"
        return decision

    # ------------------------------------------------------------------ cheap steps

    def _unusable(self, ctx: LookupContext) -> Decision | None:
        view = ctx.view
        if view.prompt is None:  # includes a prompt over max_prompt_chars (prompt_too_long)
            return ctx.decide(Outcome.BYPASS, Reason(view.bypass_reason or Reason.NO_PROMPT))
        return None

    def _no_cache(self, ctx: LookupContext) -> Decision | None:
        return ctx.decide(Outcome.BYPASS, Reason.NO_CACHE) if ctx.view.controls.no_cache else None

    def _categorise_cheaply(self, ctx: LookupContext) -> Decision | None:
        try:
            category, source = self._categorizer.without_embedding(ctx.view)
        except InvalidRequest as exc:
            return ctx.decide(Outcome.BYPASS, Reason.INVALID_REQUEST, detail=str(exc))
        if category is not None:
            self._settle(ctx, category, source)
        return None

    def _mode_off(self, ctx: LookupContext) -> Decision | None:
        if ctx.policy is not None and ctx.policy.mode is Mode.OFF:
            return ctx.decide(Outcome.BYPASS, Reason.MODE_OFF)
        return None

    def _exact(self, ctx: LookupContext) -> Decision | None:
        """Serve an identical prompt without embedding it, under the checks of the semantic
        path: the entry's category must be the request's, and its scope the one that category
        gives the request. A request the cheap steps could not categorise only takes an entry
        whose category came from the prompt itself (rules, centroid), which the embedding would
        give this prompt too; never one a client labelled (that could be any category)."""
        view = ctx.view
        entry = self._catalogue.get(view.exact_key) or self._catalogue.get(view.entry_id(shared=True))
        if entry is None or (ctx.category is not None and entry.category != ctx.category):
            return None
        policy = self._settings.policy(entry.category)
        if policy.mode is Mode.OFF:
            return None
        if ctx.defer_reads:
            ctx.exact = entry
            return None
        return self._serve_identical(ctx, entry)

    def _serve_identical(self, ctx: LookupContext, entry: Entry) -> Decision | None:
        exact = LookupContext(ctx.view, ctx.started)
        self._settle(exact, entry.category, "exact")
        decision = self._verify(exact, entry, similarity=1.0,
                                prompt_category_only=ctx.category is None)
        return decision if decision.outcome is not Outcome.MISS else None

    def _below_break_even(self, ctx: LookupContext) -> Decision | None:
        """Skip the search of a category auto-bypassed below break-even (once the category is
        known: before the embedding when metadata or rules gave it). Its answer is still
        stored, and the upstream call measured, as for a miss. An identical stored prompt left
        for ``complete`` (``defer_reads``) is looked at first there: exact hits cost nothing."""
        if ctx.category is None or ctx.gated or self._break_even is None or ctx.exact is not None:
            return None
        ctx.gated = True
        if self._break_even.should_look_up(ctx.category):
            return None
        self._pending.remember(ctx.view.exact_key,
                               PendingMiss(ctx.started, ctx.category, ctx.source))
        return ctx.decide(Outcome.BYPASS, Reason.BELOW_BREAK_EVEN)

    # ------------------------------------------------------------------ embedded steps

    def _deferred_exact(self, ctx: LookupContext) -> Decision | None:
        entry, ctx.exact = ctx.exact, None  # looked at once; then the request goes on as a miss
        return self._serve_identical(ctx, entry) if entry is not None else None

    def _embed_prompt(self, ctx: LookupContext) -> Decision | None:
        if ctx.vector is None:
            ctx.vector = self._embed(ctx.view.embed_text)
        if ctx.category is None:
            category, source = self._categorizer.by_embedding(ctx.vector, ctx.view.prompt or "")
            self._settle(ctx, category, source)
        return None

    def _semantic(self, ctx: LookupContext) -> Decision:
        assert ctx.category is not None and ctx.policy is not None and ctx.served is not None
        self._pending.remember(ctx.view.exact_key, PendingMiss(ctx.started, ctx.category, ctx.source))
        view = ctx.view
        scopes = (view.scope, view.shared_scope) if ctx.policy.shared else (view.scope,)
        found = self._catalogue.nearest(scopes, ctx.vector)  # type: ignore[arg-type]
        if not found:
            return ctx.decide(Outcome.MISS, Reason.NO_CANDIDATE)
        vetoed: list[Decision] = []
        for entry, similarity in found:
            judged = self._under_stricter_policy(ctx, entry.category)
            if judged is None or similarity < judged.served.threshold:  # type: ignore[union-attr]
                continue
            decision = self._verify(judged, entry, similarity)
            if decision.outcome is not Outcome.MISS:
                return decision
            vetoed.append(decision)
            if len(vetoed) == _CANDIDATES_VERIFIED:
                break
        return vetoed[0] if vetoed else ctx.decide(Outcome.MISS, Reason.BELOW_THRESHOLD, similarity=found[0][1])

    def _under_stricter_policy(self, ctx: LookupContext, category: str) -> LookupContext | None:
        """The request's context judged under the stricter of its own policy and that of the
        candidate's ``category``; None when that category is off."""
        asked, served = ctx.policy, ctx.served
        assert asked is not None and served is not None
        if category == ctx.category:
            return ctx
        stored = self._settings.policy(category)
        if stored.mode is Mode.OFF:
            return None
        theirs = self._load.effective(stored, ctx.view.deployment, ctx.view.model_group)
        shadow = Mode.SHADOW in (asked.mode, stored.mode)
        load = self._settings.load_policy
        policy = asked.model_copy(update={
            "similarity_threshold": max(asked.similarity_threshold, stored.similarity_threshold),
            "guard": asked.guard or stored.guard, "shared": asked.shared and stored.shared,
            "sensitive": asked.sensitive or stored.sensitive,
            "verifier_threshold": max(asked.verifier_threshold, stored.verifier_threshold),
            "stale_grace_seconds": min(stale.grace_seconds(asked, load),
                                       stale.grace_seconds(stored, load)),
            "mode": Mode.SHADOW if shadow else Mode.ON})
        stricter = served if served.threshold >= theirs.threshold else theirs
        point = max(_point(served, asked), _point(theirs, stored))
        return replace(ctx, policy=policy, served=replace(
            stricter, ttl_seconds=served.ttl_seconds, verifier_threshold=point))

    # ------------------------------------------------------------------ verification

    def _verify(self, ctx: LookupContext, entry: Entry | None, similarity: float,
                prompt_category_only: bool = False) -> Decision:
        """Check the candidate against the clock, the document store and the verifier."""
        assert ctx.policy is not None and ctx.served is not None
        view, policy, now = ctx.view, ctx.policy, self._clock()
        scope = view.scope_for(policy.shared)
        if entry is None or entry.scope != scope:
            return ctx.decide(Outcome.MISS, Reason.INDEX_OUT_OF_SYNC, similarity=similarity)
        max_age = view.controls.s_maxage
        if entry.expired(now) or (max_age is not None and now - entry.created_at > max_age):
            if entry.expired(now):
                self._remover.drop(entry, expired=True)
            return ctx.decide(Outcome.MISS, Reason.EXPIRED, similarity=similarity)
        try:
            document = self._store.get(entry.id, category=entry.category)
        except CorruptDocument as exc:  # a flipped byte, a truncated file: never served
            self._remover.drop_corrupt(entry, str(exc))
            return ctx.decide(Outcome.MISS, Reason.DOCUMENT_CORRUPT, similarity=similarity)
        except StoreError:  # undecodable or tampered: never served, and dropped like a gone one
            document = None
        if document is None or document.scope != scope or document.expires_at <= now:
            self._remover.drop(entry)  # never serve an index entry without its document
            return ctx.decide(Outcome.MISS, Reason.DOCUMENT_MISSING, similarity=similarity)
        stale_for = now - document.fresh_until  # >= 0: expired, kept for its stale grace
        if stale_for >= 0 and not stale.may_serve(policy, ctx.served,
                                                  self._settings.load_policy, stale_for):
            return ctx.decide(Outcome.MISS, Reason.EXPIRED, similarity=similarity)
        if prompt_category_only and document.category_source not in PROMPT_SOURCES:
            return ctx.decide(Outcome.MISS, Reason.NO_CANDIDATE)  # the embedding decides
        if (policy.shared and entry.category != ctx.category
                and document.category_source not in PROMPT_SOURCES):
            # A shared entry its writer labelled into its category serves only requests of that
            # category: a writer's grant for one category reaches no prompt of another.
            return ctx.decide(Outcome.MISS, Reason.NO_CANDIDATE, similarity=similarity)
        candidate = Candidate(view.prompt or "", view.normalized, document.prompt,
                              document.normalized, similarity, view.history,
                              tuple(document.history))
        in_force = policy  # the operating point the load policy lowered, if it did
        point = ctx.served.verifier_threshold
        if point is not None and point < policy.verifier_threshold:
            in_force = policy.model_copy(update={"verifier_threshold": point})
        rule = self._verifier.veto(candidate, in_force)
        if rule:
            return ctx.decide(Outcome.MISS, Reason.GUARD, detail=rule, similarity=similarity,
                              entry_id=entry.id)
        if policy.mode is Mode.SHADOW:
            return ctx.decide(Outcome.SHADOW_HIT, Reason.SHADOW, similarity=similarity,
                              entry_id=entry.id)
        self._catalogue.touch(entry)
        exact = entry.id == view.entry_id(policy.shared)
        relaxed = similarity < policy.similarity_threshold or (
            in_force is not policy and self._verifier.veto(candidate, policy) is not None)
        return ctx.decide(Outcome.HIT, Reason.EXACT if exact else Reason.SEMANTIC,
                          similarity=similarity, entry_id=entry.id, response=document.response,
                          relaxed=relaxed, stale=stale_for >= 0,
                          age_seconds=round(now - document.created_at, 1) if stale_for >= 0
                          else None,
                          ttl_seconds=round(document.ttl_seconds))  # what it was stored with

    def _settle(self, ctx: LookupContext, category: str, source: str) -> None:
        ctx.category, ctx.source = category, source
        ctx.policy = self._settings.policy(category)
        ctx.served = self._load.effective(ctx.policy, ctx.view.deployment, ctx.view.model_group)


def _point(served: Effective, policy: CategoryPolicy) -> float:
    """The verifier's operating point in force: the load policy's, else the category's."""
    point = served.verifier_threshold
    return policy.verifier_threshold if point is None else point


def _run(steps: tuple[Step, ...], context: LookupContext) -> Decision | None:
    for step in steps:
        decision = step(context)
        if decision is not None:
            return decision
    return None


def elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
