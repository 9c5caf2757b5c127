"""The vector log: what the index needs of every stored document, apart from the answers.

Decoding every JSON document to rebuild the index took 36 s at 100k entries and kept 1.3 KB
per entry allocated afterwards. The local store therefore also appends, on every write and
delete, one fixed-size binary record to ``vectors.v1.log`` in the store directory: the id,
scope, category, lifetime and vector, nothing of the prompt or the answer. A start reads the
records in bulk (a memory map, no decoding), and a start from a snapshot reads only the
records written after it (the snapshot keeps the log position, like a Redis replica keeps its
stream position).

The store stays the source of truth; the log only has to be good enough to find candidates,
because every candidate's document is read before it is served. So: a record whose checksum
fails is skipped, a torn record at the end (a crash mid-append) is cut off, and what the log
missed (an append that failed, a process that wrote without it) is found by the background
check of the store's keys (:mod:`litellm_semcache.engine.verify`).

File format (version 1, little endian): a 64-byte header (magic ``SEMCVLOG``, format, vector
dimension, a random log id that changes whenever the file is rewritten), then records of
``64 + 4 * dim`` bytes (see :data:`record_dtype`). Several processes may append (``O_APPEND``,
one ``write`` per record, a shared ``flock``); compaction rewrites the file under an exclusive
``flock`` and renames it over the old one, and appenders that find the file replaced reopen it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import structlog

from litellm_semcache.store.document import Document

log = structlog.get_logger("litellm_semcache")

MAGIC = b"SEMCVLOG"
FORMAT = 1
FILE_NAME = f"vectors.v{FORMAT}.log"
HEADER = struct.Struct("<8sII16s32x")  # magic, format, dim, log id
ADD, REMOVE = 1, 2
_CHUNK = 65_536


def record_dtype(dim: int) -> np.dtype:
    """One record: ``op`` (1 add, 2 remove), a checksum of the rest, the id and scope as two
    uint64 words each (both are 128-bit hex digests), a hash of the category name, the
    lifetime and the float32 vector (zeros in a removal)."""
    return np.dtype([("op", "u1"), ("pad", "u1", (3,)), ("check", "<u4"), ("id", "<u8", (2,)),
                     ("scope", "<u8", (2,)), ("category", "<u8"), ("created", "<f8"),
                     ("expires", "<f8"), ("vector", "<f4", (dim,))])


def category_hash(name: str) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


def digest_words(text: str) -> tuple[int, int] | None:
    """A 32-hex digest as two uint64 words, None for anything else (not loggable)."""
    if len(text) != 32:
        return None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return None
    if raw.hex() != text:
        return None  # upper case: would not round-trip
    return int.from_bytes(raw[:8], "little"), int.from_bytes(raw[8:], "little")


def to_records(documents: Iterable[Document], dim: int) -> np.ndarray:
    """Add records of the documents that can be logged: a digest id and scope (every id the
    engine makes), a ``dim``-long vector. The others are left to the store's key check."""
    rows = []
    for document in documents:
        ident, scope = digest_words(document.id), digest_words(document.scope)
        if ident is not None and scope is not None and document.vector.shape == (dim,):
            rows.append((ADD, (0, 0, 0), 0, ident, scope, category_hash(document.category),
                         document.created_at, document.expires_at, document.vector))
    return np.array(rows, dtype=record_dtype(dim)) if rows else np.zeros(0, record_dtype(dim))


def checksums(records: np.ndarray) -> np.ndarray:
    """A weighted word sum per record (mod 2^32), the checksum field counted as zero: any
    single changed word, and a torn (zero-filled) tail, change it."""
    words = records.view(np.uint32).reshape(len(records), -1)
    weights = (np.arange(words.shape[1], dtype=np.uint32) * 2 + 1) * np.uint32(2654435761)
    weights[1] = 0  # the checksum word itself
    out = np.empty(len(records), dtype=np.uint32)
    for start in range(0, len(records), _CHUNK):
        block = words[start:start + _CHUNK]
        out[start:start + _CHUNK] = (block * weights).sum(axis=1, dtype=np.uint32)
    return out


@dataclass(frozen=True)
class LogPosition:
    """Where a reader stopped: the file's id and how many records it had read."""

    log_id: str
    records: int

    def as_json(self) -> dict[str, object]:
        return {"log_id": self.log_id, "records": self.records}


class VectorLog:
    """The log file of one store directory. Thread-safe; safe for several processes."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / FILE_NAME
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._inode: int | None = None
        self.dim: int | None = None
        self.log_id: str | None = None
        self.failures = 0  # appends that failed (the background check finds their documents)
        self._open_existing()

    # ------------------------------------------------------------------ writing

    def append(self, documents: Iterable[Document]) -> int:
        """Append an add record per loggable document; returns how many were written."""
        documents = list(documents)
        if not documents:
            return 0
        dim = documents[0].vector.shape[0]
        return self._write(to_records(documents, dim), dim)

    def append_removal(self, key: str) -> None:
        ident = digest_words(key)
        if ident is None or self.dim is None:
            return
        rows = np.zeros(1, dtype=record_dtype(self.dim))
        rows[0]["op"], rows[0]["id"] = REMOVE, ident
        self._write(rows, self.dim)

    def reset(self, dim: int | None = None) -> None:
        """Start an empty file (a new log id): the store was cleared, or is being rescanned."""
        with self._lock:
            try:
                self._replace_file(dim or self.dim, np.empty(0))
            except OSError as exc:  # a read-only store: the start scans, writes are not logged
                self.failures += 1
                log.warning("semcache.vector_log_unavailable", error=str(exc)[:200])

    # ------------------------------------------------------------------ reading

    def position(self) -> LogPosition | None:
        with self._lock:
            if self.log_id is None or self.dim is None:
                return None
            return LogPosition(self.log_id, self._record_count())

    def read(self, after: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """The records after the first ``after`` (a read-only memory map: nothing is copied
        until the caller indexes it) and a mask of the valid ones (checksum and op)."""
        with self._lock:
            dtype = record_dtype(self.dim or 1)
            count = self._record_count() if self.dim is not None else 0
            if count <= after:
                return np.empty(0, dtype=dtype), np.empty(0, dtype=bool)
            mapped = np.memmap(self.path, dtype=dtype, mode="r", offset=HEADER.size, shape=(count,))
        records = mapped[after:]
        valid = (checksums(records) == records["check"]) & np.isin(records["op"], (ADD, REMOVE))
        if not valid.all():
            log.warning("semcache.vector_log_records_skipped", count=int((~valid).sum()))
        return records, valid

    def compact(self, now: float) -> int:
        """Rewrite the file with only the latest add of each id still live at ``now``;
        returns how many records were dropped."""
        records, valid = self.read()
        keep = live_records(records, valid, now)
        with self._lock:
            if self.dim is None or self._fd is None:
                return 0
            try:
                self._replace_file(self.dim, records, keep, tail_from=len(records))
            except OSError as exc:
                log.warning("semcache.vector_log_compaction_failed", error=str(exc)[:200])
                return 0
        return len(records) - len(keep)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    # ------------------------------------------------------------------ internals

    def _open_existing(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
        except FileNotFoundError:
            return
        except OSError as exc:  # e.g. a read-only store: run without the log (starts scan)
            log.warning("semcache.vector_log_unavailable", path=str(self.path), error=str(exc)[:200])
            return
        try:
            header = os.pread(fd, HEADER.size, 0)
            magic, version, dim, ident = HEADER.unpack(header)
            if magic != MAGIC or version != FORMAT or not 0 < dim <= 65_536:
                raise ValueError("not a vector log")
        except (OSError, ValueError, struct.error) as exc:
            os.close(fd)
            log.warning("semcache.vector_log_ignored", path=str(self.path), reason=str(exc)[:200])
            return
        self._fd, self._inode, self.dim, self.log_id = fd, os.fstat(fd).st_ino, dim, ident.hex()
        size = os.fstat(fd).st_size - HEADER.size
        record = record_dtype(dim).itemsize
        if size % record:
            with _flock(fd, fcntl.LOCK_EX):  # no append is in flight now: a crash left it torn
                size = os.fstat(fd).st_size - HEADER.size
                os.ftruncate(fd, HEADER.size + size - size % record)

    def _record_count(self) -> int:
        assert self.dim is not None
        size = os.stat(self.path).st_size - HEADER.size
        return max(0, size // record_dtype(self.dim).itemsize)

    def _write(self, rows: np.ndarray, dim: int) -> int:
        if not len(rows):
            return 0
        rows["check"] = checksums(rows)
        payload = rows.tobytes()
        with self._lock:
            try:
                if self.dim != dim:  # first write, or the embedding model changed
                    self._replace_file(dim, np.empty(0))
                for _ in range(3):
                    assert self._fd is not None
                    with _flock(self._fd, fcntl.LOCK_SH):
                        if os.stat(self.path).st_ino == self._inode:
                            os.write(self._fd, payload)
                            return len(rows)
                    self._reopen()  # compacted by another process: append to the new file
            except OSError as exc:
                self.failures += 1
                log.warning("semcache.vector_log_append_failed", error=str(exc)[:200])
        return 0

    def _reopen(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.dim = None
        self._open_existing()
        if self._fd is None:
            raise OSError("the vector log disappeared")

    def _replace_file(self, dim: int | None, source: np.ndarray,
                      keep: np.ndarray | None = None, tail_from: int | None = None) -> None:
        """Write a new file (header + ``source[keep]`` + records appended meanwhile) and
        rename it over the old one, so readers and appenders never see a half-written log."""
        if dim is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        ident = os.urandom(16)
        with open(partial, "wb") as out:
            out.write(HEADER.pack(MAGIC, FORMAT, dim, ident))
            if keep is not None:
                for start in range(0, len(keep), _CHUNK):
                    out.write(np.ascontiguousarray(source[keep[start:start + _CHUNK]]).tobytes())
            out.flush()
            old = self._fd
            lock = _flock(old, fcntl.LOCK_EX) if old is not None else _NoLock()
            with lock:
                if tail_from is not None and old is not None:  # appended since we read
                    record = record_dtype(dim).itemsize
                    end = os.fstat(old).st_size
                    start = HEADER.size + tail_from * record
                    if end > start:
                        out.write(os.pread(old, end - start, start))
                    out.flush()
                os.fsync(out.fileno())
                os.replace(partial, self.path)
        if old is not None:
            os.close(old)
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
        self._inode, self.dim, self.log_id = os.fstat(self._fd).st_ino, dim, ident.hex()


def live_records(records: np.ndarray, valid: np.ndarray, now: float) -> np.ndarray:
    """Positions of the latest valid record of each id, where that record is an add still
    live at ``now``, in log order."""
    latest = latest_records(records, valid)
    keep = (records["op"][latest] == ADD) & (records["expires"][latest] > now)
    return latest[keep]


def latest_records(records: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Positions of the latest valid record of each id (adds and removals), in log order."""
    positions = np.flatnonzero(valid)
    if not len(positions):
        return positions
    ids = np.ascontiguousarray(records["id"][positions]).view("V16").ravel()
    newest_first = np.arange(len(positions) - 1, -1, -1)
    _, first = np.unique(ids[newest_first], return_index=True)
    return positions[np.sort(newest_first[first])]


class _flock:
    def __init__(self, fd: int, mode: int) -> None:
        self._fd, self._mode = fd, mode

    def __enter__(self) -> None:
        fcntl.flock(self._fd, self._mode)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
