"""Load signals from vLLM deployments for litellm-semcache's adaptive load policy.

Two ways in, one schema out (:class:`LoadSnapshot`), so the policy cannot tell them apart:

- **push**: ``vllm_hooks.vllm_plugin.LoadSignalStatLogger``, a vLLM stat-logger plugin that
  ``vllm serve`` loads through the ``vllm.stat_logger_plugins`` entry point; it sends small UDP
  datagrams to a :class:`PushReceiver` next to the proxy.
- **pull**: :class:`MetricsScraper` reads each deployment's Prometheus ``/metrics``.

Both land on a :class:`LoadBoard` (latest per deployment and engine, stale entries expire).
Importing this package never requires vLLM.
"""

from vllm_hooks.board import LoadBoard
from vllm_hooks.receiver import PushReceiver
from vllm_hooks.schema import LoadSnapshot
from vllm_hooks.scraper import MetricsScraper, ScrapeTarget, parse_metrics

__all__ = ["LoadBoard", "LoadSnapshot", "MetricsScraper", "PushReceiver", "ScrapeTarget",
           "parse_metrics"]
