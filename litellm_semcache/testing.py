"""Local stand-ins for demos, tests and benchmarks: an OpenAI-compatible model, and helpers
that run the real LiteLLM proxy process and a real vLLM server (CPU) on 127.0.0.1.

It answers ``/v1/chat/completions`` and ``/v1/completions`` (streaming too) with
``"answer to: <last user prompt>"``, counts calls and can be slowed down, so a test can prove
that a hit never reached the model. It listens on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml


class StandInModel:
    """``with StandInModel(latency_ms=50) as model: ... model.url, model.calls``"""

    def __init__(self, latency_ms: float = 0.0, port: int = 0) -> None:
        self.latency_ms = latency_ms
        self.fail_streams = False  # True: streams break off with an error event mid-way
        self.calls = 0
        self.prompts: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> "StandInModel":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "StandInModel":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _answer(self, body: dict[str, Any]) -> str:
        with self._lock:
            self.calls += 1
        prompt = _last_prompt(body)
        with self._lock:
            self.prompts.append(prompt)
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        return f"answer to: {prompt}"


def _last_prompt(body: dict[str, Any]) -> str:
    if isinstance(body.get("prompt"), str):
        return body["prompt"]
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            return str(content)
    return ""


def _handler_for(model: StandInModel) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            if self.path.rstrip("/").endswith("/models"):
                self._json({"object": "list", "data": [{"id": "stand-in", "object": "model"}]})
            else:
                self._json({"status": "ok"})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("content-length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError:
                self._json({"error": {"message": "invalid JSON"}}, status=400)
                return
            text = model._answer(body)
            chat = self.path.rstrip("/").endswith("/chat/completions")
            if body.get("stream"):
                self._stream(body, text, chat)
            else:
                self._json(_completion(body, text, chat))

        def _json(self, payload: dict[str, Any], status: int = 200) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, body: dict[str, Any], text: str, chat: bool) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("connection", "close")
            self.end_headers()
            ident = f"cmpl-{uuid.uuid4().hex[:12]}"
            words = text.split(" ")
            for position, word in enumerate(words):
                if model.fail_streams and position == 2:
                    self._event({"error": {"message": "stand-in failed mid-stream",
                                           "type": "server_error"}})
                    self.close_connection = True
                    return
                piece = word if position == 0 else " " + word
                choice = ({"index": 0, "delta": {"role": "assistant", "content": piece},
                           "finish_reason": None} if chat else
                          {"index": 0, "text": piece, "finish_reason": None})
                self._event({"id": ident, "object": "chat.completion.chunk" if chat else "text_completion",
                             "created": int(time.time()), "model": body.get("model", "stand-in"),
                             "choices": [choice]})
            final = ({"index": 0, "delta": {}, "finish_reason": "stop"} if chat else
                     {"index": 0, "text": "", "finish_reason": "stop"})
            self._event({"id": ident, "object": "chat.completion.chunk" if chat else "text_completion",
                         "created": int(time.time()), "model": body.get("model", "stand-in"),
                         "choices": [final]})
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

        def _event(self, payload: dict[str, Any]) -> None:
            self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
            self.wfile.flush()

    return Handler


def _completion(body: dict[str, Any], text: str, chat: bool) -> dict[str, Any]:
    usage = {"prompt_tokens": 8, "completion_tokens": len(text.split()),
             "total_tokens": 8 + len(text.split())}
    if chat:
        return {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion",
                "created": int(time.time()), "model": body.get("model", "stand-in"),
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": text}}],
                "usage": usage}
    return {"id": f"cmpl-{uuid.uuid4().hex[:12]}", "object": "text_completion",
            "created": int(time.time()), "model": body.get("model", "stand-in"),
            "choices": [{"index": 0, "finish_reason": "stop", "text": text}], "usage": usage}


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
        _wait_until_live(base, process, log_path, start_timeout)
        yield RunningProxy(base, log_path, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_until_live(base: str, process: subprocess.Popen[bytes], log: Path, timeout: float,
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
                start_timeout: float = 240.0) -> Iterator[RunningVllm]:
    """Run the tiny random-weight Llama under vLLM (CPU build from scripts/bootstrap-vllm).

    The stat-logger plugin loads by itself (entry point); pass ``SEMCACHE_VLLM_PUSH`` in ``env``
    to make it push. The server runs in its own process group, all of it is stopped at the end.
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
            [str(venv / "bin" / "python"), "-m", "vllm.entrypoints.openai.api_server",
             "--model", str(venv / "tiny-llama"), "--served-model-name", served_name,
             "--host", "127.0.0.1", "--port", str(port), *extra_args],
            cwd=workdir, env={**os.environ, **settings, **(env or {})}, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_live(base, process, log_path, start_timeout, path="/health", what="vLLM")
        yield RunningVllm(base, served_name, log_path, process)
    finally:
        _stop_group(process)


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


class RedisServer:
    """A private ``redis-server`` on a free loopback port with its own data directory.

    ``appendonly yes`` with ``appendfsync always``: a write is on disk before Redis acknowledges
    it, so a test can kill Redis with SIGKILL and still expect every acknowledged entry back.
    ``stop()`` / ``start()`` restart it on the same port and data.
    """

    def __init__(self, workdir: Path, port: int | None = None, password: str | None = None) -> None:
        self.binary = shutil.which("redis-server")
        self.password = password
        if self.binary is None:
            raise RuntimeError("redis-server is not installed (scripts/bootstrap-redis)")
        self.port = port or free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20.0) -> "RedisServer":
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.workdir), "--appendonly", "yes", "--appendfsync", "always",
                "--save", "", "--protected-mode", "yes", "--daemonize", "no",
                "--logfile", str(self.workdir / "redis.log")]
        if self.password:
            args += ["--requirepass", self.password]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited:\n{self._log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith((b"+PONG", b"-NOAUTH")):
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"redis-server did not start in {timeout:.0f} s:\n{self._log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown save, only what the append-only file already holds survives."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _log_tail(self) -> str:
        log = self.workdir / "redis.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else ""
