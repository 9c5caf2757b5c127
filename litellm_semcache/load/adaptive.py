"""Adaptive load policy: more cache hits for the categories of an overloaded model.

Per deployment, a load score from normalised queue depth, KV usage, TTFT against a target and
the preemption rate (GIE-style: the max of the terms, 1.0 = saturated), smoothed by an EWMA. The
state enters overload above ``enter_at`` and leaves below ``exit_at`` (hysteresis), each state
held at least ``min_dwell_seconds``. While overloaded a ramp goes 0 -> 1 between ``exit_at`` and
``full_at``; a category then gets

    threshold = max(threshold_floor, base - relax * ramp)
    ttl       = min(ttl_cap, base * (1 + (ttl_stretch - 1) * ramp))

and the verifier's operating point (``verifier_threshold``, what decides since the cosine gate
became a wide pre-filter) drops the same way, by up to ``verifier_relax``, down to
``verifier_floor``. A category relaxes only within bounds it declares (no ``threshold_floor`` /
``verifier_floor`` = gate / operating point never relaxed, no ``ttl_cap`` = TTL never
stretched) and never when ``sensitive``. A deployment
with no fresh signal is "unknown" and served the static policy: a dead exporter can never keep
a model "overloaded forever".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import structlog

from litellm_semcache.config import CategoryPolicy, LoadDeployment, LoadPolicySettings
from litellm_semcache.load.base import NORMAL, OVERLOADED, UNKNOWN, Effective
from vllm_hooks import LoadBoard, LoadSnapshot, MetricsScraper, PushReceiver, ScrapeTarget

log = structlog.get_logger("litellm_semcache")



@dataclass
class _Health:
    """The smoothed score and the hysteresis state of one deployment."""

    score: float | None = None
    state: str = UNKNOWN
    since: float = 0.0


class LoadPolicy:
    """Turns load signals into effective thresholds and TTLs. Thread-safe; cheap per call
    (dict lookups and a few float operations, no I/O). Built only when the policy is enabled
    (``make_load_policy``): it imports the signal readers of ``vllm_hooks``."""

    def __init__(self, settings: LoadPolicySettings, board: LoadBoard | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.board = board or LoadBoard(settings.stale_after_seconds, clock=clock)
        self._clock = clock
        self._health: dict[str, _Health] = {}
        self._routes: dict[str, str] = {}  # request deployment (id or api_base) -> board key
        self._groups: dict[str, set[str]] = {}  # model group -> board keys
        self._targets: dict[str, ScrapeTarget] = {}
        self._scraper: MetricsScraper | None = None
        self._receiver: PushReceiver | None = None
        self._lock = threading.Lock()
        self.add_deployments(settings.deployments)
        self.board.subscribe(self._fold)

    # ------------------------------------------------------------------ deployments

    def add_deployments(self, deployments: Iterable[LoadDeployment]) -> None:
        for deployment in deployments:
            key = deployment.push_id or deployment.id
            self._routes[deployment.id] = key
            if deployment.model_group:
                self._groups.setdefault(deployment.model_group, set()).add(key)
            if deployment.metrics_url:
                self._targets[key] = ScrapeTarget(key, deployment.metrics_url, deployment.model_name)

    def add_model_list(self, model_list: Iterable[Mapping[str, Any]]) -> int:
        """Follow the proxy's deployments: ``model_info.id`` and ``api_base`` both route to one
        board key, scraped at ``<api_base without /v1>/metrics``. Returns how many were added."""
        found = [d for d in (_from_model_entry(entry) for entry in model_list) if d is not None]
        self.add_deployments(found)
        for deployment in found:  # a request may carry the api_base instead of the id
            self._routes.setdefault(deployment.metrics_url.rsplit("/metrics", 1)[0], deployment.id)
        return len(found)

    def scrape_targets(self) -> dict[str, ScrapeTarget]:
        """The /metrics endpoints followed, by board key."""
        return dict(self._targets)

    def start(self) -> None:
        """Start the receiver (``push_listen``) and the scraper (deployments with a URL)."""
        if not self.settings.enabled:
            return
        with self._lock:
            if self._receiver is None and self.settings.push_listen:
                host, _, port = self.settings.push_listen.rpartition(":")
                self._receiver = PushReceiver(self.board, host, int(port)).start()
            if self._targets and (self._scraper is None
                                  or set(self._targets) != {t.deployment for t in self._scraper.targets}):
                if self._scraper is not None:
                    self._scraper.close()
                self._scraper = MetricsScraper(self._targets.values(), self.board,
                                               interval=self.settings.scrape_interval_seconds).start()
                log.info("semcache.load_scraper", targets=sorted(self._targets))

    def close(self) -> None:
        for part in (self._scraper, self._receiver):
            if part is not None:
                part.close()
        self._scraper = self._receiver = None

    # ------------------------------------------------------------------ decisions

    def effective(self, policy: CategoryPolicy, deployment: str | None,
                  model_group: str | None) -> Effective:
        """Gate, TTL and operating point for ``policy`` given the load of the model a request
        is routed to."""
        base = Effective(policy.similarity_threshold, policy.ttl_seconds,
                         verifier_threshold=policy.verifier_threshold)
        if not self.settings.enabled:
            return base
        health = self._health_of(deployment, model_group)
        if health is None:
            return replace(base, state=UNKNOWN)
        ramp = self._ramp(health)
        if policy.sensitive or ramp == 0:
            return replace(base, state=health.state, score=health.score)
        settings = self.settings
        threshold, point, ttl = base.threshold, policy.verifier_threshold, base.ttl_seconds
        if policy.threshold_floor is not None:
            threshold = round(max(policy.threshold_floor, threshold - settings.relax * ramp), 4)
        if policy.verifier_floor is not None:
            point = round(max(policy.verifier_floor, point - settings.verifier_relax * ramp), 4)
        if policy.ttl_cap is not None:
            ttl = min(policy.ttl_cap, int(ttl * (1 + (settings.ttl_stretch - 1) * ramp)))
        relaxed = (threshold < base.threshold or point < policy.verifier_threshold
                   or ttl > base.ttl_seconds)
        return Effective(threshold, ttl, health.state, health.score, ramp, relaxed, point)

    def states(self) -> dict[str, tuple[str, float | None]]:
        """(state, smoothed score) per followed deployment, refreshed now (for metrics)."""
        keys = set(self._routes.values()) | set(self.board.deployments())
        result = {}
        for key in sorted(keys):
            health = self._refresh(key)
            result[key] = (health.state, health.score)
        return result

    def _health_of(self, deployment: str | None, model_group: str | None) -> _Health | None:
        if deployment:
            key = self._routes.get(deployment, deployment)
            health = self._refresh(key)
            return health if health.state != UNKNOWN else None
        keys = self._groups.get(model_group or "", ())
        # Before routing only the group is known: relax only when every deployment is loaded.
        healths = [self._refresh(key) for key in keys]
        if not healths or any(h.state == UNKNOWN for h in healths):
            return None
        return min(healths, key=lambda h: (h.state == OVERLOADED, h.score or 0.0))

    def _fold(self, key: str) -> None:
        """EWMA over every snapshot as it arrives (not only those a lookup happens to see)."""
        snapshot = self.board.get(key)
        if snapshot is None:
            return
        raw = self.score(snapshot)
        with self._lock:
            health = self._health.setdefault(key, _Health(since=self._clock()))
            alpha = self.settings.smoothing
            health.score = raw if health.score is None else alpha * raw + (1 - alpha) * health.score

    def _refresh(self, key: str) -> _Health:
        """Step the hysteresis state machine; a deployment with no fresh signal is unknown."""
        fresh = self.board.get(key) is not None
        with self._lock:
            now = self._clock()
            health = self._health.setdefault(key, _Health(since=now))
            if not fresh or health.score is None:  # stale or never heard of: normal load
                if health.state != UNKNOWN:
                    log.info("semcache.load_state", deployment=key, state=UNKNOWN,
                             previous=health.state)
                health.score, health.state, health.since = None, UNKNOWN, now
                return health
            self._step(key, health, now)
            return health

    def _step(self, key: str, health: _Health, now: float) -> None:
        score, settings = health.score or 0.0, self.settings
        dwelt = now - health.since >= settings.min_dwell_seconds
        if health.state == UNKNOWN:
            target = OVERLOADED if score >= settings.enter_at else NORMAL
        elif health.state == NORMAL and score >= settings.enter_at and dwelt:
            target = OVERLOADED
        elif health.state == OVERLOADED and score < settings.exit_at and dwelt:
            target = NORMAL
        else:
            return
        log.info("semcache.load_state", deployment=key, state=target, previous=health.state,
                 score=round(score, 3))
        health.state, health.since = target, now

    def _ramp(self, health: _Health) -> float:
        if health.state != OVERLOADED or health.score is None:
            return 0.0
        low, high = self.settings.exit_at, self.settings.full_at
        return min(1.0, max(0.0, (health.score - low) / (high - low)))

    def score(self, snapshot: LoadSnapshot) -> float:
        """Raw load score of one snapshot: the largest normalised pressure term (missing
        metrics contribute nothing)."""
        settings = self.settings
        terms = [0.0]
        if snapshot.waiting is not None:
            terms.append(snapshot.waiting / settings.queue_depth_full)
        if snapshot.kv_usage is not None:
            terms.append(snapshot.kv_usage / settings.kv_usage_full)
        if settings.ttft_target_seconds and snapshot.ttft_p50 is not None:
            terms.append(snapshot.ttft_p50 / settings.ttft_target_seconds)
        if settings.preemptions_per_second_full and snapshot.preemption_rate is not None:
            terms.append(snapshot.preemption_rate / settings.preemptions_per_second_full)
        return max(terms)


def metrics_url_for(api_base: str) -> str:
    """``http://host:8000/v1`` -> ``http://host:8000/metrics`` (vLLM serves both)."""
    parts = urlsplit(api_base.rstrip("/"))
    path = parts.path[:-3] if parts.path.endswith("/v1") else parts.path
    return urlunsplit((parts.scheme, parts.netloc, path.rstrip("/") + "/metrics", "", ""))


def _from_model_entry(entry: Mapping[str, Any]) -> LoadDeployment | None:
    params = entry.get("litellm_params") or {}
    api_base = params.get("api_base")
    if not isinstance(api_base, str) or not api_base.startswith(("http://", "https://")):
        return None
    info = entry.get("model_info") or {}
    model = str(params.get("model", ""))
    return LoadDeployment(
        id=str(info.get("id") or api_base), model_group=entry.get("model_name"),
        metrics_url=metrics_url_for(api_base), model_name=model.split("/", 1)[-1] or None)
