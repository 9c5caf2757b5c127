"""The background check after a fast start: does the catalogue agree with the store?

A start from a snapshot or the vector log trusts files written beside the store; the store
itself may have changed without them (a document deleted by a process that wrote no log, an
append that failed, a crash between the write and its log record). Serving is safe without
this check, because every candidate's document is read before it is served; the check only
frees entries whose document is gone and picks up documents the files missed. It reads the
store's keys (not the documents) once, in a thread, after the cache already serves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np
import structlog

from litellm_semcache.engine.catalogue import Catalogue
from litellm_semcache.engine.id_table import pack
from litellm_semcache.store.base import DocumentStore
from litellm_semcache.store.document import Document

log = structlog.get_logger("litellm_semcache")
_YIELD_EVERY = 20_000


class StoreCheck:
    """Compares the catalogue with the store's keys once; ``done`` is set when it finished."""

    def __init__(self, catalogue: Catalogue, store: DocumentStore,
                 adopt: Callable[[Document], bool]) -> None:
        self._catalogue = catalogue
        self._store = store
        self._adopt = adopt
        self.done = threading.Event()
        self.forgotten = 0
        self.adopted = 0

    def start(self) -> "StoreCheck":
        threading.Thread(target=self.run, name="semcache-store-check", daemon=True).start()
        return self

    def run(self) -> None:
        started = time.perf_counter()
        try:
            self._check()
            log.info("semcache.store_checked", forgotten=self.forgotten, adopted=self.adopted,
                     seconds=round(time.perf_counter() - started, 2))
        except Exception as exc:  # noqa: BLE001 - the check is an optimisation, never a fault
            log.warning("semcache.store_check_failed", error=type(exc).__name__,
                        detail=str(exc)[:200])
        finally:
            self.done.set()

    def _check(self) -> None:
        with self._catalogue.lock:  # what was held before the keys were read
            slots = self._catalogue.live_slots()
            labels = self._catalogue.labels_of(slots)
            held = np.ascontiguousarray(self._catalogue.slots.words[slots]).view("V16").ravel()
        keys: list[str] = []
        for key in self._store.keys():
            keys.append(key)
            if len(keys) % _YIELD_EVERY == 0:
                time.sleep(0.001)  # let request threads have the GIL: the check is not urgent
        words = np.empty((len(keys), 2), dtype=np.uint64)
        for position, key in enumerate(keys):
            words[position] = pack(key)[:2]
            if position % _YIELD_EVERY == 0:
                time.sleep(0.001)
        present = np.ascontiguousarray(words).view("V16").ravel()
        for label in labels[~np.isin(held, present)].tolist():
            entry = self._catalogue.by_label(label)
            # Gone from the keys read, and still gone now (not rewritten meanwhile).
            if entry is not None and self._store.get(entry.id, category=entry.category) is None:
                self.forgotten += self._catalogue.forget(entry)
        for position in np.flatnonzero(~np.isin(present, held)).tolist():
            key = keys[position]
            if self._catalogue.get(key) is not None:
                continue  # written since the check began
            try:
                document = self._store.get(key)
            except Exception:  # noqa: BLE001 - an unreadable document is a lookup's problem
                continue
            if document is not None and self._adopt(document):
                self.adopted += 1
