"""The proxy configuration every e2e suite starts (harness.tenant_proxy_config: the two test
API keys of harness/tenants.py), and small helpers to talk to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness import tenant_proxy_config

ROOT = Path(__file__).resolve().parents[2]


def proxy_config(upstream_url: str, workdir: Path) -> dict[str, Any]:
    return tenant_proxy_config(upstream_url, workdir, master_key_prefix="sk-e2e")


def client(base_url: str, key: str) -> Any:
    """An OpenAI client for the proxy at ``base_url`` with API key ``key`` (no retries)."""
    import openai

    return openai.OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0, timeout=30)


def metric(metrics_url: str, name: str, **labels: str) -> float:
    """One sample of the proxy's own Prometheus endpoint (0 when absent)."""
    import urllib.request

    wanted = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
                     if labels else "")
    with urllib.request.urlopen(metrics_url, timeout=5) as reply:
        for line in reply.read().decode().splitlines():
            if line.startswith(wanted + " "):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def wait_for_metric(metrics_url: str, name: str, above: float, timeout: float = 10.0,
                    **labels: str) -> float:
    """LiteLLM writes the cache in a background task after answering: wait for the count."""
    import time

    deadline = time.monotonic() + timeout
    while (value := metric(metrics_url, name, **labels)) <= above:
        assert time.monotonic() < deadline, f"{name}{labels} stayed at {value}"
        time.sleep(0.05)
    return value
