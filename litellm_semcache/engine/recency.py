"""Least-recently-used order per category: doubly linked lists threaded through two int32
arrays indexed by slot (8 bytes per entry, where an ``OrderedDict`` costs about 100).

Each category has its own list, oldest first; a hit moves its entry to the end, eviction takes
the head. All operations are O(1); callers hold the catalogue lock.
"""

from __future__ import annotations

import numpy as np

NONE = -1


class RecencyLists:
    def __init__(self, capacity: int) -> None:
        self.prev = np.full(capacity, NONE, dtype=np.int32)
        self.next = np.full(capacity, NONE, dtype=np.int32)
        self.head: dict[int, int] = {}  # category code -> oldest slot
        self.tail: dict[int, int] = {}  # category code -> newest slot
        self.length: dict[int, int] = {}

    def grow(self, capacity: int) -> None:
        """Make room for ``capacity`` slots (a no-op when there is room)."""
        if capacity <= len(self.prev):
            return
        capacity = max(capacity, len(self.prev) + len(self.prev) // 2)
        for name in ("prev", "next"):
            old = getattr(self, name)
            new = np.full(capacity, NONE, dtype=np.int32)
            new[:len(old)] = old
            setattr(self, name, new)

    def count(self, category: int) -> int:
        return self.length.get(category, 0)

    def oldest(self, category: int) -> int:
        return self.head.get(category, NONE)

    def append(self, slot: int, category: int) -> None:
        last = self.tail.get(category, NONE)
        self.prev[slot], self.next[slot] = last, NONE
        if last == NONE:
            self.head[category] = slot
        else:
            self.next[last] = slot
        self.tail[category] = slot
        self.length[category] = self.length.get(category, 0) + 1

    def unlink(self, slot: int, category: int) -> None:
        before, after = int(self.prev[slot]), int(self.next[slot])
        if before == NONE:
            self.head[category] = after
        else:
            self.next[before] = after
        if after == NONE:
            self.tail[category] = before
        else:
            self.prev[after] = before
        self.prev[slot] = self.next[slot] = NONE
        remaining = self.length[category] - 1
        if remaining:
            self.length[category] = remaining
        else:
            for table in (self.head, self.tail, self.length):
                table.pop(category, None)

    def move_to_end(self, slot: int, category: int) -> None:
        if self.tail.get(category) != slot:
            self.unlink(slot, category)
            self.append(slot, category)

    def link(self, category: int, slots: np.ndarray) -> None:
        """Make ``slots`` (oldest first) the whole list of ``category``, in one go."""
        if len(slots) == 0:
            return
        slots = slots.astype(np.int32)
        self.next[slots[:-1]] = slots[1:]
        self.next[slots[-1]] = NONE
        self.prev[slots[1:]] = slots[:-1]
        self.prev[slots[0]] = NONE
        self.head[category], self.tail[category] = int(slots[0]), int(slots[-1])
        self.length[category] = len(slots)

    def order(self, category: int) -> np.ndarray:
        """The slots of ``category``, oldest first."""
        slots = np.empty(self.count(category), dtype=np.int32)
        slot = self.head.get(category, NONE)
        for position in range(len(slots)):
            slots[position] = slot
            slot = int(self.next[slot])
        return slots
