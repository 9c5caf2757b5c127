"""A set that forgets its oldest members: for "have we seen this call?" questions about a
stream of requests, where remembering everything would grow without end. Thread-safe."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable


class RecentSet:
    """Remembers at most ``limit`` members, the most recently added."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._members: OrderedDict[Hashable, None] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, member: Hashable) -> bool:
        """Add ``member``; False when it was already there."""
        with self._lock:
            if member in self._members:
                return False
            self._members[member] = None
            while len(self._members) > self._limit:
                self._members.popitem(last=False)
            return True

    def __contains__(self, member: object) -> bool:
        return member in self._members
