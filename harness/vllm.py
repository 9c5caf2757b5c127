"""Run a real vLLM server (CPU build, tiny local model) for the ``vllm`` suite and the load
benchmark (development only: it points at ``.venv-vllm`` of this checkout)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.proxy import free_port, wait_until_live


VLLM_VENV = Path(__file__).resolve().parents[1] / ".venv-vllm"
# KV pressure on purpose: 12 blocks of 32 tokens, at most 8 sequences in a batch.
VLLM_PRESSURE_ARGS = ("--max-model-len", "256", "--block-size", "32",
                      "--num-gpu-blocks-override", "12", "--max-num-seqs", "8")


def vllm_missing_reason(venv: Path = VLLM_VENV) -> str | None:
    """Why a real vLLM server cannot be started here, or None when it can."""
    if not (venv / "bin" / "python").exists() or not (venv / "tiny-llama" / "config.json").exists():
        return f"no vLLM environment at {venv} (run scripts/bootstrap-vllm)"
    return None


@dataclass(frozen=True)
class RunningVllm:
    base_url: str  # http://127.0.0.1:PORT (OpenAI API under /v1, Prometheus under /metrics)
    served_name: str
    log: Path
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def vllm_server(workdir: Path, *, served_name: str = "tiny", env: dict[str, str] | None = None,
                extra_args: tuple[str, ...] = VLLM_PRESSURE_ARGS, venv: Path = VLLM_VENV,
                start_timeout: float = 240.0, yield_cpus: bool = True) -> Iterator[RunningVllm]:
    """Run the tiny random-weight Llama under vLLM (CPU build from scripts/bootstrap-vllm).

    The stat-logger plugin loads by itself (entry point); pass ``SEMCACHE_VLLM_PUSH`` in ``env``
    to make it push. The server runs in its own process group, all of it is stopped at the end.
    With ``yield_cpus`` (tests) it runs at the lowest priority, so that the proxy and the test
    beside it keep the CPU they need to observe it.
    """
    missing = vllm_missing_reason(venv)
    if missing:
        raise RuntimeError(missing)
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = workdir / "vllm.log"
    settings = {"HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1", "TOKENIZERS_PARALLELISM": "false"}
    with open(log_path, "wb") as log:
        # The module entry point: `vllm serve` fails under the vllm-cpu distribution's name.
        process = subprocess.Popen(
            [*(_lower_priority() if yield_cpus else ()), str(venv / "bin" / "python"), "-m",
             "vllm.entrypoints.openai.api_server",
             "--model", str(venv / "tiny-llama"), "--served-model-name", served_name,
             "--host", "127.0.0.1", "--port", str(port), *extra_args],
            cwd=workdir, env={**os.environ, **settings, **(env or {})}, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_live(base, process, log_path, start_timeout, path="/health", what="vLLM")
        yield RunningVllm(base, served_name, log_path, process)
    finally:
        _stop_group(process)


def _lower_priority() -> tuple[str, ...]:
    """A command prefix that runs vLLM under SCHED_IDLE: it computes only when the proxy and
    the test beside it have nothing to run. Measured on a 2-core box (vLLM CPU, a burst of 96):
    at nice 10 a sleeping process beside it woke up to 4 s late, under SCHED_IDLE under 1 s.
    (A prefix, not a preexec_fn: the test process has threads by then.)"""
    chrt = shutil.which("chrt")
    return (chrt, "--idle", "0") if chrt else ("nice", "-n", "19")


def proxy_config_for(vllm: RunningVllm, deployment_id: str, master_key: str) -> dict[str, Any]:
    """A LiteLLM proxy config with the cache, one model group routed to ``vllm``."""
    return {"model_list": [{"model_name": vllm.served_name,
                            "litellm_params": {"model": f"openai/{vllm.served_name}", "api_key": "none",
                                               "api_base": f"{vllm.base_url}/v1"},
                            "model_info": {"id": deployment_id}}],
            "litellm_settings": {"callbacks": "litellm_semcache.proxy_handler"},
            "general_settings": {"master_key": master_key}}


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (API server, engine core, workers), then SIGKILL
    whatever of the group is left."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            time.sleep(0.5)  # let the engine core and workers follow
        except subprocess.TimeoutExpired:
            continue
