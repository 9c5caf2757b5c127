"""The deployment a cache runs on when its store could not be opened.

A malformed ``cache.db`` ("database disk image is malformed"), a read-only or missing store
directory, a store that fails while its index is rebuilt: none of them may keep the proxy from
starting. The engine then runs on this deployment: it holds nothing, keeps nothing, and the
engine answers every request with a bypass (``store_unavailable``) until it is restarted on a
working store. The fault is logged loudly and counted once, at start.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from litellm_semcache.errors import StoreError
from litellm_semcache.store.base import ScanItem
from litellm_semcache.store.deployment import Holder
from litellm_semcache.store.document import Document
from litellm_semcache.store.replication import Replica


class UnavailableStore:
    """A :class:`DocumentStore` that holds nothing; a write is a :class:`StoreError`."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def get(self, key: str, category: str | None = None) -> Document | None:
        return None

    def put(self, document: Document, encoded: bytes | None = None) -> None:
        raise StoreError(f"the store is unavailable: {self.reason}")

    def delete(self, key: str, category: str | None = None) -> None:
        return None

    def scan(self) -> Iterator[ScanItem]:
        return iter(())

    def keys(self) -> Iterator[str]:
        return iter(())

    def clear(self) -> None:
        return None

    def close(self) -> None:
        return None

    def __len__(self) -> int:
        return 0


class UnavailableDeployment:
    """A :class:`Deployment` over :class:`UnavailableStore`: no snapshots, nothing to follow."""

    snapshot_dir: Path | None = None
    remote = False  # nothing is read

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.store = UnavailableStore(reason)
        self.followers: dict[str, object] = {}
        self.breakers: list[object] = []

    def write(self, document: Document, encoded: bytes, quota: int, holder: Holder) -> int:
        raise StoreError(f"the store is unavailable: {self.reason}")

    def start(self, starter: object, replica: Replica) -> None:
        return None

    def position(self, holder: Holder, now: float) -> dict[str, Any]:
        return {}

    def excess_bytes(self, headroom: float = 0.0) -> int:
        return 0

    def close(self) -> None:
        return None
