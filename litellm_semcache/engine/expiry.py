"""Which entry expires next: a binary min-heap in two NumPy arrays.

``heapq`` over ``(expires_at, label)`` tuples costs about 100 bytes per entry; this heap costs
16 (a float64 key and an int64 label). Removal is lazy, as with ``heapq``: a forgotten entry's
item stays until it reaches the top, where the caller sees its label is no longer held and
drops it. So the heap cannot fill with dead items under churn, it is rebuilt from the live
entries (a sorted array is a valid heap) whenever it holds more than twice as many items as
there are entries.
"""

from __future__ import annotations

import numpy as np


class ExpiryHeap:
    def __init__(self, capacity: int = 1024) -> None:
        self._keys = np.empty(capacity, dtype=np.float64)
        self._labels = np.empty(capacity, dtype=np.int64)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def peek(self) -> tuple[float, int] | None:
        if self._size == 0:
            return None
        return float(self._keys[0]), int(self._labels[0])

    def push(self, key: float, label: int) -> None:
        if self._size == len(self._keys):
            self._grow(2 * self._size)
        keys, labels = self._keys, self._labels
        position = self._size
        self._size += 1
        while position > 0:  # sift up; new entries usually expire last and stop at once
            parent = (position - 1) >> 1
            if keys[parent] <= key:
                break
            keys[position], labels[position] = keys[parent], labels[parent]
            position = parent
        keys[position], labels[position] = key, label

    def pop(self) -> tuple[float, int]:
        keys, labels = self._keys, self._labels
        top = float(keys[0]), int(labels[0])
        self._size -= 1
        size = self._size
        if size == 0:
            return top
        key, label = float(keys[size]), int(labels[size])
        position = 0
        while True:  # sift the last item down from the root
            child = 2 * position + 1
            if child >= size:
                break
            if child + 1 < size and keys[child + 1] < keys[child]:
                child += 1
            if keys[child] >= key:
                break
            keys[position], labels[position] = keys[child], labels[child]
            position = child
        keys[position], labels[position] = key, label
        return top

    def needs_rebuild(self, live: int) -> bool:
        return self._size > 2 * live + 1024

    def rebuild(self, keys: np.ndarray, labels: np.ndarray) -> None:
        """Replace the contents with exactly these items (sorted, hence a heap)."""
        order = np.lexsort((labels, keys))
        size = len(order)
        self._keys = np.empty(max(1024, size + size // 4), dtype=np.float64)
        self._labels = np.empty(len(self._keys), dtype=np.int64)
        self._keys[:size] = keys[order]
        self._labels[:size] = labels[order]
        self._size = size

    def _grow(self, capacity: int) -> None:
        keys = np.empty(max(capacity, 1024), dtype=np.float64)
        labels = np.empty(len(keys), dtype=np.int64)
        keys[:self._size] = self._keys[:self._size]
        labels[:self._size] = self._labels[:self._size]
        self._keys, self._labels = keys, labels
