"""The settings of load adaptation: what the cache does differently while a routed model is
overloaded (the adaptive load policy, stale-while-overloaded) and when a category stops paying
for lookups that do not pay off (break-even auto-bypass).

They live apart from :mod:`litellm_semcache.config` (which re-exports them) so that the policy
module stays one screenful per concept; each category's own bounds (``threshold_floor``,
``verifier_floor``, ``ttl_cap``, ``stale_grace_seconds``, ``auto_bypass``) stay on its
``CategoryPolicy``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LoadDeployment(_Section):
    """One routed deployment whose load the policy follows (explicit YAML; the proxy's model
    list adds the rest). ``id`` is what a request carries after routing: LiteLLM's
    ``model_info.id`` or the ``api_base``."""

    id: str = Field(min_length=1)
    model_group: str | None = None
    metrics_url: str | None = Field(None, description="pull: the server's /metrics URL")
    push_id: str | None = Field(None, description="push: SEMCACHE_VLLM_DEPLOYMENT of the "
                                                  "server's plugin (default: id)")
    model_name: str | None = Field(None, description="vLLM model_name label to read")


class LoadPolicySettings(_Section):
    """Adaptive policy: for the categories routed to an overloaded model, lower the verifier's
    operating point, relax the cosine gate and stretch TTLs within each category's
    ``verifier_floor`` / ``threshold_floor`` / ``ttl_cap``, and serve expired answers kept for
    their ``stale_grace_seconds``."""

    enabled: bool = False
    scrape_interval_seconds: float = Field(0.25, gt=0, le=60)
    stale_after_seconds: float = Field(2.0, gt=0)
    push_listen: str | None = Field(None, pattern=r"^[^:]+:\d+$",
                                    description="host:port of the UDP receiver for the plugin")
    from_proxy_model_list: bool = Field(True, description="follow every deployment of the "
                                                          "proxy's model list with an api_base")
    deployments: list[LoadDeployment] = Field(default_factory=list)
    queue_depth_full: float = Field(8.0, gt=0, description="waiting requests that count as 1.0")
    kv_usage_full: float = Field(0.9, gt=0, le=1.0, description="KV usage that counts as 1.0")
    ttft_target_seconds: float | None = Field(None, gt=0, description="TTFT at which the "
                                                                      "score reaches 1.0")
    preemptions_per_second_full: float | None = Field(None, gt=0)
    smoothing: float = Field(0.5, gt=0, le=1.0, description="EWMA weight of a new sample")
    enter_at: float = Field(0.8, gt=0, description="score that enters overload")
    exit_at: float = Field(0.5, ge=0, description="score that leaves it")
    full_at: float = Field(1.0, gt=0, description="score at which the ramp reaches 1")
    min_dwell_seconds: float = Field(3.0, ge=0, description="least time in a state")
    relax: float = Field(0.05, ge=0, le=1.0, description="cosine gate drop at full ramp")
    verifier_relax: float = Field(0.35, ge=0, le=1.0, description="drop of the verifier's "
                                  "operating point at full ramp (down to verifier_floor)")
    ttl_stretch: float = Field(2.0, ge=1.0, description="TTL factor at full ramp")
    stale_grace_seconds: int = Field(0, ge=0, description="for categories that set none: how "
                                     "long an expired answer is kept to be served while its "
                                     "model is overloaded; 0 = off")
    stale_min_ttl_seconds: int = Field(3600, ge=0, description="categories with a shorter TTL "
                                       "(volatile answers) get no stale_grace_seconds by "
                                       "default, only one they set themselves")

    @model_validator(mode="after")
    def _levels_are_ordered(self) -> "LoadPolicySettings":
        if not self.exit_at < self.enter_at <= self.full_at:
            raise ValueError(f"need exit_at < enter_at <= full_at, got {self.exit_at}, "
                             f"{self.enter_at}, {self.full_at}")
        return self


class AutoBypassSettings(_Section):
    """Break-even auto-bypass: a category whose measured hit rate stays below its break-even
    hit rate (miss cost / saved upstream latency) stops being looked up; a sample of its
    requests is still looked up, and switches it back on."""

    enabled: bool = Field(False, description="for every category that does not set "
                                             "auto_bypass itself")
    min_samples: int = Field(200, ge=10, description="lookups per measurement window")
    sample_rate: float = Field(0.1, gt=0, le=1.0, description="share of a bypassed category's "
                               "requests still looked up (and served when they hit)")
    resume_factor: float = Field(1.25, ge=1.0, description="a bypassed category is looked up "
                                 "again once its sampled hit rate reaches break-even x this")
