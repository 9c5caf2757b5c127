"""A private ``redis-server`` for the ``redis`` suite and benchmarks (development only)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from harness.proxy import free_port


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
        args += self.extra_args()
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

    def extra_args(self) -> list[str]:
        """More ``redis-server`` arguments (a cluster node adds its own)."""
        return []

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
