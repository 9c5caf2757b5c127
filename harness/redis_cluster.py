"""A private Redis Cluster for the ``redis_cluster`` suite (development only): three masters
and three replicas from Debian's ``redis-server`` on free loopback ports, joined with
``redis-cli --cluster create``."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

from harness.redis import RedisServer


class RedisClusterNodes:
    """Six ``redis-server --cluster-enabled yes`` processes, one cluster. ``node_timeout_ms``
    is how long a master may be silent before its replica takes over."""

    def __init__(self, workdir: Path, masters: int = 3, node_timeout_ms: int = 1000) -> None:
        if shutil.which("redis-cli") is None:
            raise RuntimeError("redis-cli is not installed (scripts/bootstrap-redis)")
        self.workdir = workdir
        self.node_timeout_ms = node_timeout_ms
        self.nodes = [_ClusterNode(workdir / f"node-{n}", node_timeout_ms)
                      for n in range(2 * masters)]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.nodes[0].port}/0"

    def start(self, timeout: float = 60.0) -> "RedisClusterNodes":
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(["redis-cli", "--cluster", "create", *addresses, "--cluster-replicas", "1",
                        "--cluster-yes"], check=True, capture_output=True, timeout=timeout)
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float = 60.0) -> None:
        """Until every running node reports ``cluster_state:ok`` and agrees on 3 masters."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self._healthy(node) for node in self.nodes if node.process is not None):
                return
            time.sleep(0.1)
        raise RuntimeError("the Redis Cluster did not become healthy")

    def wait_failover(self, key: str, old: "_ClusterNode", timeout: float = 60.0) -> float:
        """Seconds until a replica serves ``key``'s slot in place of the stopped ``old``."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            try:
                if self.master_of(key) is not old:
                    self.wait_healthy(timeout)
                    return time.monotonic() - started
            except (redis.RedisError, RuntimeError):
                pass
            time.sleep(0.05)
        raise RuntimeError("no replica took over")

    def master_of(self, key: str) -> "_ClusterNode":
        """The running node that currently serves ``key``'s slot as master."""
        running = next(node for node in self.nodes if node.process is not None)
        plain = redis.Redis(port=running.port, socket_timeout=2)
        slot = int(plain.execute_command("CLUSTER", "KEYSLOT", key))
        for start, end, master, *_ in plain.execute_command("CLUSTER", "SLOTS"):
            if int(start) <= slot <= int(end):
                port = int(master[1])
                return next(node for node in self.nodes if node.port == port)
        raise RuntimeError(f"no master serves slot {slot}")

    def client(self) -> "redis.cluster.RedisCluster":
        running = next(node for node in self.nodes if node.process is not None)
        return redis.cluster.RedisCluster(host="127.0.0.1", port=running.port)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> "RedisClusterNodes":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _healthy(self, node: "_ClusterNode") -> bool:
        """Cluster state ok with 3 masters, and a replica's link to its master is up (a
        replica that never synced cannot take over)."""
        try:
            client = redis.Redis(port=node.port, socket_timeout=1)
            info = client.execute_command("CLUSTER INFO")
            replication = client.info("replication")
        except redis.RedisError:
            return False
        if not isinstance(info, dict):
            info = dict(line.split(":", 1) for line in info.decode().split() if ":" in line)
        synced = replication.get("role") != "slave" or replication.get("master_link_status") == "up"
        return info.get("cluster_state") == "ok" and str(info.get("cluster_size")) == "3" and synced


class _ClusterNode(RedisServer):
    """One cluster member: a :class:`RedisServer` with cluster mode and its own nodes file."""

    def __init__(self, workdir: Path, node_timeout_ms: int) -> None:
        super().__init__(workdir, port=_free_cluster_port())
        self._node_timeout_ms = node_timeout_ms

    def extra_args(self) -> list[str]:
        return ["--cluster-enabled", "yes", "--cluster-config-file",
                str(self.workdir / f"nodes-{self.port}.conf"),
                "--cluster-node-timeout", str(self._node_timeout_ms),
                "--appendfsync", "everysec", "--repl-diskless-sync-delay", "0"]


def _free_cluster_port() -> int:
    """A free port whose cluster bus port (10000 higher) is free too; both at most 65535."""
    for _ in range(200):
        port = random.randint(20_000, 55_000)
        try:
            for candidate in (port, port + 10_000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a Redis Cluster node")
