"""Run the real LiteLLM proxy process on a free loopback port (development only)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class RunningProxy:
    base_url: str
    log: Path
    process: subprocess.Popen[bytes]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def litellm_proxy(config: dict[str, Any], workdir: Path, env: dict[str, str] | None = None,
                  start_timeout: float = 120.0) -> Iterator[RunningProxy]:
    """Run ``litellm --config`` with ``config`` on a free loopback port until the block ends."""
    binary = Path(sys.executable).with_name("litellm")
    if not binary.exists():
        raise RuntimeError("the LiteLLM proxy is not installed (pip install 'litellm-semcache[proxy]')")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "proxy.yaml").write_text(yaml.safe_dump(config))
    port = free_port()
    quiet = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "HF_HUB_OFFLINE": "1", "LITELLM_LOG": "ERROR",
             "LITELLM_DONT_SHOW_FEEDBACK_BOX": "true"}
    log_path = workdir / "proxy.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(binary), "--config", str(workdir / "proxy.yaml"), "--host", "127.0.0.1",
             "--port", str(port)], cwd=workdir, env={**os.environ, **quiet, **(env or {})},
            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_live(base, process, log_path, start_timeout)
        yield RunningProxy(base, log_path, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_until_live(base: str, process: subprocess.Popen[bytes], log: Path, timeout: float,
                     path: str = "/health/liveliness", what: str = "the proxy") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited:\n{log.read_text(errors='replace')[-4000:]}")
        try:
            with urllib.request.urlopen(f"{base}{path}", timeout=1) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"{what} did not start in {timeout:.0f} s:\n"
                       f"{log.read_text(errors='replace')[-4000:]}")


def tenant_proxy_config(upstream_url: str, workdir: Path, master_key_prefix: str = "sk-dev"
                        ) -> dict[str, Any]:
    """``proxy.example.yaml`` pointed at ``upstream_url``, with the two test API keys of
    :mod:`harness.tenants` (copied into ``workdir``, where the proxy loads it) and a random
    master key."""
    import secrets
    import shutil

    shutil.copy(Path(__file__).with_name("tenants.py"), workdir / "proxy_auth.py")
    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "proxy.example.yaml")
                            .read_text())
    for deployment in config["model_list"]:
        deployment["litellm_params"]["api_base"] = upstream_url
    config["general_settings"] = {"custom_auth": "proxy_auth.user_api_key_auth",
                                  "master_key": f"{master_key_prefix}-{secrets.token_hex(16)}"}
    return config
