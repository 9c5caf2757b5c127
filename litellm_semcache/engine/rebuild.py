"""Start-up: fill the catalogue from a snapshot, the vector log or a scan of the store.

Fastest first:

1. **Snapshot** (:mod:`~litellm_semcache.engine.snapshots`): the catalogue's table and the HNSW
   graphs, then only the vector-log records written after it (:meth:`Rebuilder.replay`).
2. **Vector log** (:mod:`~litellm_semcache.store.vector_log`): every record read in bulk from
   a memory map; the graphs are built, but no document is decoded.
3. **Scan** of the store, streamed in batches: a batch's documents are reduced to log records
   (and written to a fresh vector log when there is one) and dropped, so no start ever holds
   every document (answers included) at once.

The document store stays the source of truth: what the log missed is found by the background
check of the store's keys (:mod:`~litellm_semcache.engine.verify`), and a candidate whose
document is gone is never served (the lookup reads every candidate's document first).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from litellm_semcache.config import CacheSettings
from litellm_semcache.engine.catalogue import Catalogue
from litellm_semcache.engine.snapshots import load_snapshot
from litellm_semcache.engine.verify import StoreCheck
from litellm_semcache.store.base import DocumentStore, Stored
from litellm_semcache.store.document import Document
from litellm_semcache.store.vector_log import (
    ADD,
    LogPosition,
    VectorLog,
    category_hash,
    digest_words,
    latest_records,
    record_dtype,
    to_records,
)

log = structlog.get_logger("litellm_semcache")
_SCAN_BATCH = 5_000
_WORD = np.dtype("<u8")
_EMPTY = np.zeros(0, dtype=record_dtype(1))


class Rebuilder:
    """Fills a catalogue at start; also adopts single documents later (replay, checks)."""

    def __init__(self, catalogue: Catalogue, store: DocumentStore, settings: CacheSettings,
                 embedder_name: str, dim: int, clock: Callable[[], float],
                 snapshot_dir: Path | None,
                 on_fault: Callable[[str], None] | None = None) -> None:
        self._catalogue = catalogue
        self._store = store
        self._settings = settings
        self._embedder_name = embedder_name
        self._dim = dim
        self._clock = clock
        self._snapshot_dir = snapshot_dir
        self._by_hash = {category_hash(name): name for name in settings.categories}
        self._on_fault = on_fault  # counts a store fault the start survived (by kind)
        self.source = "empty"  # how the last start filled the catalogue (for logs and tests)

    # ------------------------------------------------------------------ the three starts

    def load_snapshot(self) -> dict[str, Any] | None:
        """Load the saved snapshot; returns the change-feed position saved with it."""
        started = time.perf_counter()
        manifest = load_snapshot(self._catalogue, self._snapshot_dir, self._embedder_name,
                                 self._on_fault)
        if manifest is None:
            return None
        self.source = "snapshot"
        removed = self._settle()
        log.info("semcache.snapshot_loaded", entries=len(self._catalogue), removed=removed,
                 graphs=len(manifest["graphs"]), seconds=round(time.perf_counter() - started, 2))
        return manifest.get("position") or {}

    def _settle(self) -> int:
        """After loading a snapshot: drop what expired since it was saved and what the
        quotas no longer allow (a quota may have shrunk, a category may be gone)."""
        gone = self._catalogue.pop_expired(self._clock())
        for category in list(self._catalogue.slots.category_names):
            known = category in self._settings.categories
            gone += self._catalogue.trim(
                category, self._settings.policy(category).max_entries if known else 0)
        for entry in gone:
            self._store.delete(entry.id, category=entry.category)
        return len(gone)

    def rebuild(self, vector_log: VectorLog | None = None) -> None:
        """Fill the (empty) catalogue from ``vector_log``, or from a scan of the store when
        there is no usable log or it knows less than half the store (a store written without
        one, e.g. by an older version); a scan also writes a fresh log."""
        started = time.perf_counter()
        records, latest = _EMPTY, np.empty(0, dtype=np.int64)
        if vector_log is not None and vector_log.position() is not None:
            records, valid = vector_log.read()
            latest = latest_records(records, valid)
        logged = int((records["op"][latest] == ADD).sum())
        if vector_log is not None and len(latest) and 2 * logged >= len(self._store):
            self.source = "vector_log"
            stale = self._load(records, latest)
        else:
            self.source = "scan"
            records, stale = self._scan_to_records(vector_log)
            if vector_log is not None:
                records, valid = vector_log.read()
                stale += self._load(records, latest_records(records, valid))
            else:
                stale += self._load(records, np.arange(len(records)))
        for key, category in stale:
            self._store.delete(key, category=category)
        if len(self._catalogue) or stale:
            log.info("semcache.rebuilt", source=self.source, entries=len(self._catalogue),
                     removed=len(stale), seconds=round(time.perf_counter() - started, 2))

    def replay(self, vector_log: VectorLog, saved: dict[str, Any] | None) -> bool:
        """Apply the log records written after the snapshot's position. False when the log
        is not the one the snapshot saw (rewritten since): the caller must reconcile."""
        position = _position(saved)
        if position is None or position.log_id != vector_log.log_id:
            return False
        records, valid = vector_log.read(after=position.records)
        self._apply(records, latest_records(records, valid))
        return True

    def reconcile(self, vector_log: VectorLog) -> None:
        """Make a snapshot-loaded catalogue agree with a whole log it did not see being
        written: entries the log does not hold are forgotten, the rest is applied."""
        records, valid = vector_log.read()
        latest = latest_records(records, valid)
        held = np.ascontiguousarray(records["id"][latest]).view("V16").ravel()
        with self._catalogue.lock:
            slots = self._catalogue.live_slots()
            ours = np.ascontiguousarray(self._catalogue.slots.words[slots]).view("V16").ravel()
            for slot in slots[~np.isin(ours, held)].tolist():
                entry = self._catalogue.at(slot)
                if entry is not None:
                    self._catalogue.forget(entry)
            self._apply(records, latest)

    def check_store(self) -> StoreCheck | None:
        """After a start from files beside the store, compare with the store's keys in the
        background (a scan just read the store: nothing to compare)."""
        if self.source not in ("snapshot", "vector_log"):
            return None
        return StoreCheck(self._catalogue, self._store, self.adopt).start()

    # ------------------------------------------------------------------ single documents

    def usable(self, document: Document, now: float) -> bool:
        return (document.expires_at > now and document.category in self._settings.categories
                and document.vector.shape == (self._dim,))

    def adopt(self, document: Document) -> bool:
        """Hold ``document`` within its category's quota (the least recently used make room,
        their documents are deleted), unless this exact version is already held."""
        if not self.usable(document, self._clock()):
            return False
        with self._catalogue.lock:
            held = self._catalogue.get(document.id)
            if held is not None and held.expires_at == document.expires_at:
                return False
            if held is not None:
                self._catalogue.forget(held)
            quota = self._settings.policy(document.category).max_entries
            for victim in self._catalogue.evict_for(document, quota):
                self._store.delete(victim, category=document.category)
            self._catalogue.add(document)
        return True

    # ------------------------------------------------------------------ internals

    def _apply(self, records: np.ndarray, positions: np.ndarray) -> None:
        for position in positions.tolist():
            record = records[position]
            entry_id = _hex(record["id"])
            if record["op"] != ADD:
                held = self._catalogue.get(entry_id)
                if held is not None:
                    self._catalogue.forget(held)
                continue
            category = self._by_hash.get(int(record["category"]))
            if category is not None:
                self.adopt(Document(entry_id, category, _hex(record["scope"]), "", "",
                                    np.array(record["vector"], dtype=np.float32), None,
                                    float(record["created"]), float(record["expires"])))

    def _load(self, records: np.ndarray, positions: np.ndarray) -> list[tuple[str, str | None]]:
        """Book-keep and index the records at ``positions`` (one per id) into the empty
        catalogue, newest ``max_entries`` per category; returns the documents to delete
        (expired, unknown category, over quota)."""
        now = self._clock()
        positions = positions[records["op"][positions] == ADD]  # removed: nothing to do
        hashes = records["category"][positions]
        known = np.isin(hashes, np.fromiter(self._by_hash, dtype=_WORD, count=len(self._by_hash)))
        live = known & (records["expires"][positions] > now)
        stale = [(_hex(w), self._by_hash.get(int(h)))
                 for w, h in zip(records["id"][positions[~live]], hashes[~live])]
        positions = positions[live]
        kept = []
        for code in np.unique(records["category"][positions]).tolist():
            members = positions[records["category"][positions] == code]
            members = members[np.argsort(records["created"][members], kind="stable")]
            quota = self._settings.policy(self._by_hash[code]).max_entries  # it may have shrunk
            stale += [(_hex(w), self._by_hash[code]) for w in records["id"][members[:-quota]]]
            kept.append(members[-quota:])
        positions = np.concatenate(kept) if kept else positions
        positions = positions[np.argsort(records["created"][positions], kind="stable")]
        category_hashes, category_codes = np.unique(records["category"][positions],
                                                    return_inverse=True)
        names = [self._by_hash[int(code)] for code in category_hashes]
        scope_words = np.ascontiguousarray(records["scope"][positions])
        scopes, scope_codes = np.unique(scope_words.view("V16").ravel(), return_inverse=True)
        labels = self._catalogue.extend(
            np.ascontiguousarray(records["id"][positions]), names, category_codes,
            [_hex(np.frombuffer(scope.tobytes(), dtype=_WORD)) for scope in scopes],
            scope_codes, records["created"][positions], records["expires"][positions])
        groups = scope_codes.astype(np.int64)  # one index for every category: shards by scope
        order = np.argsort(groups, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(groups[order]) != 0])
        for rows in np.split(order, starts[1:]):
            if not len(rows):
                continue
            self._catalogue.index().add_many(
                _hex(scope_words[rows[0]]), labels[rows],
                np.asarray(records["vector"][positions[rows]], np.float32))
        return stale

    def _scan_to_records(self, vector_log: VectorLog | None
                         ) -> tuple[np.ndarray, list[tuple[str, str | None]]]:
        """Stream the store: usable documents become log records (appended to a fresh
        ``vector_log``, or returned), the rest is returned for deletion. Documents whose id or
        scope is not a digest (hand-made stores) are adopted one by one."""
        now = self._clock()
        stale: list[tuple[str, str | None]] = []
        parts: list[np.ndarray] = []
        odd: list[Document] = []
        if vector_log is not None:
            vector_log.reset(self._dim)
        batch: list[Document] = []
        for item in itertools.chain(self._store.scan(), [None]):
            if isinstance(item, Stored):
                document = item.document
                if not self.usable(document, now):
                    stale.append((document.id, document.category))
                elif digest_words(document.id) and digest_words(document.scope):
                    batch.append(document)
                else:
                    odd.append(document)
            elif item is not None:
                stale.append((item.key, None))  # undecodable: never served, removed
            if batch and (item is None or len(batch) >= _SCAN_BATCH):
                if vector_log is not None:
                    vector_log.append(batch)
                else:
                    parts.append(to_records(batch, self._dim))
                batch = []  # the documents (answers included) are dropped here
        for document in sorted(odd, key=lambda doc: doc.created_at):
            self.adopt(document)
        return (np.concatenate(parts) if parts else _EMPTY), stale


def _hex(words: Any) -> str:
    low, high = (int(word) for word in words)
    return (low.to_bytes(8, "little") + high.to_bytes(8, "little")).hex()


def _position(saved: dict[str, Any] | None) -> LogPosition | None:
    found = (saved or {}).get("log")
    if not isinstance(found, dict):
        return None
    try:
        return LogPosition(str(found["log_id"]), int(found["records"]))
    except (KeyError, TypeError, ValueError):
        return None
