"""Document id -> slot, in two NumPy arrays instead of a Python dict.

A dict of a million ``str -> int`` pairs costs about 150 bytes per entry (the id string, the
int, the hash slot); a million entries must fit in 2 KB each, of which hnswlib takes 1.8 KB.
Document ids are 128-bit digests written as 32 hex characters, so an id packs into two uint64
words; the table is open addressing with linear probing over int32 slot numbers (8 to 16 bytes
per entry at a load factor of at most one half), and the words themselves live once, in the
catalogue's (n, 2) id column. Ids of any other shape (a hand-made store) are
hashed into the same two words and remembered in a small side dict, so they still work.

Reads take no lock: a reader that races a writer can only miss (it then reports no entry),
never return another id's slot, because every hit is confirmed against the id column.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

EMPTY = -1
_HEX_ID = re.compile(r"[0-9a-f]{32}")


def pack(entry_id: str) -> tuple[int, int, bool]:
    """The two words of an id, and whether it was hashed (not a 32-hex digest)."""
    if len(entry_id) == 32 and _HEX_ID.fullmatch(entry_id):
        raw, hashed = bytes.fromhex(entry_id), False
    else:
        raw, hashed = hashlib.blake2b(entry_id.encode("utf-8", "surrogatepass"),
                                      digest_size=16).digest(), True
    return int.from_bytes(raw[:8], "little"), int.from_bytes(raw[8:], "little"), hashed


def pack_many(ids: list[str]) -> tuple[np.ndarray, list[int]]:
    """(n, 2) uint64 words of ``ids``, and the positions of the hashed ones."""
    words = np.empty((len(ids), 2), dtype=np.uint64)
    hashed: list[int] = []
    for position, entry_id in enumerate(ids):
        low, high, was_hashed = pack(entry_id)
        words[position] = (low, high)
        if was_hashed:
            hashed.append(position)
    return words, hashed


def unpack(low: int, high: int) -> str:
    return (int(low).to_bytes(8, "little") + int(high).to_bytes(8, "little")).hex()


class IdTable:
    """Open-addressing hash table: packed id -> slot. ``words`` is the catalogue's (n, 2) id
    column, read to confirm a probe; the table itself holds only slot numbers."""

    def __init__(self, capacity: int = 1024) -> None:
        self._cells = np.full(_power_of_two(capacity), EMPTY, dtype=np.int32)
        self._used = 0

    def __len__(self) -> int:
        return self._used

    def find(self, low: int, high: int, words: np.ndarray) -> int:
        """The slot holding id (low, high), or EMPTY."""
        cells = self._cells  # one reference: a concurrent rebuild swaps the array whole
        mask = len(cells) - 1
        position = low & mask
        while True:
            slot = int(cells[position])
            if slot == EMPTY:
                return EMPTY
            if slot < len(words) and int(words[slot, 0]) == low and int(words[slot, 1]) == high:
                return slot
            position = (position + 1) & mask

    def insert(self, slot: int, low: int, words: np.ndarray) -> None:
        """Add ``slot`` (whose id words are already in ``words``); the id must be absent."""
        if 2 * (self._used + 1) > len(self._cells):
            self.rebuild(words, self._live_slots(), 4 * (self._used + 1))
        cells = self._cells
        mask = len(cells) - 1
        position = low & mask
        while cells[position] != EMPTY:
            position = (position + 1) & mask
        cells[position] = slot
        self._used += 1

    def remove(self, slot: int, low: int, words: np.ndarray) -> None:
        """Take ``slot`` out, shifting later members of its probe run back (no tombstones)."""
        cells = self._cells
        mask = len(cells) - 1
        hole = low & mask
        while int(cells[hole]) != slot:
            if cells[hole] == EMPTY:
                return
            hole = (hole + 1) & mask
        cells[hole] = EMPTY
        self._used -= 1
        probe = hole
        while True:
            probe = (probe + 1) & mask
            moved = int(cells[probe])
            if moved == EMPTY:
                return
            home = int(words[moved, 0]) & mask
            # ``moved`` may fill the hole unless its home lies cyclically in (hole, probe]
            if (probe > hole and hole < home <= probe) or (probe < hole and (home > hole or home <= probe)):
                continue
            cells[hole] = moved
            cells[probe] = EMPTY
            hole = probe

    def rebuild(self, words: np.ndarray, slots: np.ndarray, capacity: int | None = None) -> None:
        """Fill a fresh table with ``slots`` in bulk (vectorised rounds of linear probing)."""
        slots = np.asarray(slots, dtype=np.int32)
        cells = np.full(_power_of_two(max(capacity or 0, 2 * len(slots), 1024)), EMPTY,
                        dtype=np.int32)
        mask = np.uint64(len(cells) - 1)
        position = (words[slots, 0] & mask).astype(np.int64)
        pending = np.arange(len(slots))
        while pending.size:
            wanted = position[pending]
            free = cells[wanted] == EMPTY
            cells_free, first = np.unique(wanted[free], return_index=True)
            winners = pending[free][first]
            cells[cells_free] = slots[winners]
            placed = np.zeros(len(slots), dtype=bool)
            placed[winners] = True
            pending = pending[~placed[pending]]
            position[pending] = (position[pending] + 1) & int(mask)
        self._cells = cells
        self._used = len(slots)

    def _live_slots(self) -> np.ndarray:
        return self._cells[self._cells != EMPTY]


def _power_of_two(value: int) -> int:
    return 1 << max(4, int(value - 1).bit_length())
