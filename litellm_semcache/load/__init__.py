"""Adaptive load policy: more cache hits for the categories of an overloaded model.

Off by default; then :class:`StaticLoad` serves every category its configured policy and none
of the vLLM signal readers (scraper, UDP receiver) is imported.
"""

from __future__ import annotations

from litellm_semcache.config import LoadPolicySettings
from litellm_semcache.errors import ConfigError
from litellm_semcache.load.base import NORMAL, OFF, OVERLOADED, UNKNOWN, Effective, Load, StaticLoad

__all__ = ["NORMAL", "OFF", "OVERLOADED", "UNKNOWN", "Effective", "Load", "StaticLoad",
           "make_load_policy"]


def make_load_policy(settings: LoadPolicySettings) -> Load:
    if not settings.enabled:
        return StaticLoad(settings)
    try:
        from litellm_semcache.load.adaptive import LoadPolicy
    except ImportError as exc:
        if "vllm_hooks" not in str(exc):
            raise
        raise ConfigError("load_policy.enabled needs the vLLM load-signal readers: "
                          "pip install 'litellm-semcache[vllm]'") from None
    return LoadPolicy(settings)
