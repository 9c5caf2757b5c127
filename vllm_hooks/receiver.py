"""``PushReceiver``: a UDP socket on the proxy side that feeds plugin datagrams to a board.

UDP because the sender must never block vLLM: a lost datagram costs one update, the next one
arrives a few tens of milliseconds later. Malformed datagrams are counted and dropped.
"""

from __future__ import annotations

import logging
import socket
import threading


from vllm_hooks.board import LoadBoard
from vllm_hooks.schema import MAX_DATAGRAM, LoadSnapshot

log = logging.getLogger("vllm_hooks")  # stdlib only: this runs inside vLLM too


class PushReceiver:
    """Listens on ``host:port`` (port 0 = any free one, see :attr:`address`) in a daemon thread."""

    def __init__(self, board: LoadBoard, host: str = "127.0.0.1", port: int = 0) -> None:
        self.board = board
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind((host, port))
        self._socket.settimeout(0.5)
        self.address: tuple[str, int] = self._socket.getsockname()
        self.received = 0
        self.rejected = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vllm-hooks-receiver", daemon=True)

    def start(self) -> "PushReceiver":
        self._thread.start()
        log.info("vllm_hooks: receiving load snapshots on %s:%s", *self.address)
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._socket.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._socket.recv(MAX_DATAGRAM + 1)
            except (socket.timeout, OSError):
                continue
            try:
                snapshot = LoadSnapshot.from_bytes(data)  # the board stamps arrival
            except (ValueError, TypeError):
                self.rejected += 1
                continue
            self.received += 1
            self.board.update(snapshot)
