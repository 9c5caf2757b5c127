"""Development-only harness: launchers for the real LiteLLM proxy, vLLM and redis-server
processes used by the test suites and benchmarks of this repository. Not shipped: the
package's in-process helpers for users are :mod:`litellm_semcache.testing`."""

from harness.proxy import (
    RunningProxy,
    free_port,
    litellm_proxy,
    tenant_proxy_config,
    wait_until_live,
)
from harness.redis import RedisServer
from harness.redis_cluster import RedisClusterNodes
from harness.vllm import (
    VLLM_PRESSURE_ARGS,
    VLLM_VENV,
    RunningVllm,
    proxy_config_for,
    vllm_missing_reason,
    vllm_server,
)

__all__ = ["VLLM_PRESSURE_ARGS", "VLLM_VENV", "RedisClusterNodes", "RedisServer", "RunningProxy", "RunningVllm",
           "free_port", "litellm_proxy", "proxy_config_for", "tenant_proxy_config",
           "vllm_missing_reason", "vllm_server", "wait_until_live"]
