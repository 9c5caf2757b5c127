"""The catalogue's columns: one slot per held entry, in NumPy arrays instead of one Python
object per entry (about 60 bytes a slot, where an object with its strings cost 400).

A slot holds the id (two uint64 words: ids are 128-bit hex digests), the category and scope as
small codes into name tables, the lifetime, and a generation. A label is
``generation << 32 | slot``; a freed slot is reused with the next generation, so labels are
still never reused. Readers take no lock: :meth:`Slots.view` reads a slot's generation before
and after its fields and reports no entry when the slot changed in between.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from litellm_semcache.engine.id_table import unpack

FREE = np.iinfo(np.uint16).max  # category code of an empty slot
SLOT_BITS = 32
SLOT_MASK = (1 << SLOT_BITS) - 1
COLUMNS = ("words", "generation", "category", "scope", "created", "expires")


@dataclass(frozen=True, slots=True)
class Entry:
    """One held entry, as read from the columns (a copy: it does not change afterwards)."""

    id: str
    category: str
    scope: str
    label: int
    created_at: float
    expires_at: float

    def expired(self, now: float) -> bool:
        return self.expires_at <= now


class Slots:
    """Columns, free list and name tables. Writers hold the catalogue lock."""

    def __init__(self, capacity: int = 1024) -> None:
        self.words = np.zeros((capacity, 2), dtype=np.uint64)
        self.generation = np.zeros(capacity, dtype=np.uint32)
        self.category = np.full(capacity, FREE, dtype=np.uint16)
        self.scope = np.zeros(capacity, dtype=np.int32)
        self.created = np.zeros(capacity, dtype=np.float64)
        self.expires = np.zeros(capacity, dtype=np.float64)
        self._free = np.empty(capacity, dtype=np.int32)
        self._free_count = 0
        self.high = 0  # slots below this were used at least once
        self.hashed: dict[int, str] = {}  # slot -> an id that is not a 32-hex digest
        self.category_names: list[str] = []
        self.category_codes: dict[str, int] = {}
        self.scope_names: list[str | None] = []
        self._scope_codes: dict[str, int] = {}
        self._scope_refs = np.zeros(1024, dtype=np.int32)
        self._free_scopes: list[int] = []

    @property
    def capacity(self) -> int:
        return len(self.created)

    def live(self, category: str | None = None) -> np.ndarray:
        codes = self.category[:self.high]
        if category is None:
            return np.flatnonzero(codes != FREE).astype(np.int32)
        code = self.category_codes.get(category)
        if code is None:
            return np.empty(0, dtype=np.int32)
        return np.flatnonzero(codes == code).astype(np.int32)

    def labels_of(self, slots: np.ndarray) -> np.ndarray:
        return (self.generation[slots].astype(np.int64) << SLOT_BITS) | slots.astype(np.int64)

    def label(self, slot: int) -> int:
        return (int(self.generation[slot]) << SLOT_BITS) | slot

    def holds(self, slot: int, label: int) -> bool:
        return (0 <= slot < self.high and self.category[slot] != FREE
                and int(self.generation[slot]) == label >> SLOT_BITS)

    def view(self, slot: int, generation: int | None = None) -> Entry | None:
        """An :class:`Entry` of ``slot`` (of that generation), or None."""
        if slot < 0 or slot >= self.high:
            return None
        seen = int(self.generation[slot])
        if (generation is not None and seen != generation) or self.category[slot] == FREE:
            return None
        try:
            entry = Entry(self.hashed.get(slot) or unpack(self.words[slot, 0], self.words[slot, 1]),
                          self.category_names[int(self.category[slot])],
                          self.scope_names[int(self.scope[slot])] or "",
                          (seen << SLOT_BITS) | slot, float(self.created[slot]),
                          float(self.expires[slot]))
        except IndexError:
            return None  # a name table grew under us: treat as not held
        if int(self.generation[slot]) != seen or self.category[slot] == FREE:
            return None
        return entry

    # ------------------------------------------------------------------ writing

    def allocate(self) -> int:
        if self._free_count:
            self._free_count -= 1
            return int(self._free[self._free_count])
        self.ensure(self.high + 1)
        self.high += 1
        return self.high - 1

    def fill(self, slot: int, low: int, high: int, category: str, scope: str, created: float,
             expires: float, hashed_id: str | None) -> None:
        if self.generation[slot] == 0:
            self.generation[slot] = 1
        self.words[slot] = (low, high)
        self.scope[slot] = self._scope_code(scope, 1)
        self.created[slot], self.expires[slot] = created, expires
        if hashed_id is not None:
            self.hashed[slot] = hashed_id
        self.category[slot] = self.category_code(category)  # last: the slot is now in use

    def release(self, slot: int) -> None:
        """Return ``slot`` to the free list; its next user gets the next generation."""
        code = int(self.scope[slot])
        self._scope_refs[code] -= 1
        if self._scope_refs[code] == 0:
            self._scope_codes.pop(self.scope_names[code] or "", None)
            self.scope_names[code] = None
            self._free_scopes.append(code)
        self.generation[slot] += 1  # first: a reader checking the generation sees the change
        self.category[slot] = FREE
        self.hashed.pop(slot, None)
        self._free[self._free_count] = slot
        self._free_count += 1

    def append(self, words: np.ndarray, categories: list[str], category_of: np.ndarray,
               scopes: list[str], scope_of: np.ndarray, created: np.ndarray,
               expires: np.ndarray) -> np.ndarray:
        """Fill ``len(created)`` new slots at the end in one go; returns them."""
        count = len(created)
        self.ensure(self.high + count)
        slots = np.arange(self.high, self.high + count, dtype=np.int32)
        category_codes = np.array([self.category_code(n) for n in categories], dtype=np.uint16)
        scope_codes = np.array([self._scope_code(n, 0) for n in scopes], dtype=np.int32)
        self.words[slots] = words
        self.generation[slots] = np.maximum(self.generation[slots], 1)
        self.scope[slots] = scope_codes[scope_of] if count else 0
        np.add.at(self._scope_refs, self.scope[slots], 1)
        self.created[slots], self.expires[slots] = created, expires
        self.category[slots] = category_codes[category_of] if count else FREE
        self.high += count
        return slots

    def ensure(self, capacity: int) -> None:
        if capacity <= self.capacity:
            return
        size = max(capacity, self.capacity + self.capacity // 2)
        for name in (*COLUMNS, "_free"):
            old = getattr(self, name)
            new = np.full((size, *old.shape[1:]), FREE if name == "category" else 0, old.dtype)
            new[:len(old)] = old
            setattr(self, name, new)

    def category_code(self, name: str) -> int:
        code = self.category_codes.get(name)
        if code is None:
            code = self.category_codes[name] = len(self.category_names)
            self.category_names.append(name)
        return code

    # ------------------------------------------------------------------ snapshots

    def columns(self) -> dict[str, object]:
        arrays = {name: getattr(self, name)[:self.high].copy() for name in COLUMNS}
        return {"arrays": arrays, "categories": list(self.category_names),
                "scopes": list(self.scope_names), "hashed": dict(self.hashed)}

    def restore(self, saved: dict[str, object]) -> None:
        arrays: dict[str, np.ndarray] = saved["arrays"]  # type: ignore[assignment]
        high = len(arrays["created"])
        self.ensure(high + 1024)
        for name in COLUMNS:
            getattr(self, name)[:high] = arrays[name]
        self.high = high
        self.category_names = list(saved["categories"])  # type: ignore[call-overload]
        self.category_codes = {name: code for code, name in enumerate(self.category_names)}
        self.scope_names = list(saved["scopes"])  # type: ignore[call-overload]
        self._scope_codes = {name: code for code, name in enumerate(self.scope_names)
                             if name is not None}
        self._free_scopes = [code for code, name in enumerate(self.scope_names) if name is None]
        self.hashed = {int(slot): str(i) for slot, i in saved["hashed"].items()}  # type: ignore[union-attr]
        self._scope_refs = np.zeros(max(1024, len(self.scope_names)), dtype=np.int32)
        np.add.at(self._scope_refs, self.scope[self.live()], 1)
        free = np.flatnonzero(self.category[:high] == FREE).astype(np.int32)
        self._free[:len(free)] = free
        self._free_count = len(free)

    def _scope_code(self, name: str, references: int) -> int:
        code = self._scope_codes.get(name)
        if code is None:
            code = self._free_scopes.pop() if self._free_scopes else len(self.scope_names)
            if code == len(self.scope_names):
                self.scope_names.append(name)
            else:
                self.scope_names[code] = name
            self._scope_codes[name] = code
            if code >= len(self._scope_refs):
                self._scope_refs = np.concatenate([self._scope_refs,
                                                   np.zeros(len(self._scope_refs), np.int32)])
        self._scope_refs[code] += references
        return code
