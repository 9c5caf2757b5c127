"""The compact catalogue (columns, array hash table, array LRU lists, array expiry heap) against
a plain-Python model: churn, eviction, expiry and quotas stay exact, a stale label never finds
an entry, and a snapshot of the columns restores the same catalogue."""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from litellm_semcache.engine.catalogue import Catalogue
from litellm_semcache.engine.id_table import EMPTY, IdTable
from litellm_semcache.index import IndexParams
from litellm_semcache.index.base import default_index_factory
from litellm_semcache.store.document import Document

DIM = 16
CATEGORIES = ["chat", "code"]
SCOPES = ["a" * 32, "b" * 32]


def ident(key: int) -> str:
    if key % 7 == 0:
        return f"hand-made id {key}"  # not a digest: the hashed path
    return hashlib.blake2b(str(key).encode(), digest_size=16).hexdigest()


def vector(seed: int) -> np.ndarray:
    values = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return values / np.linalg.norm(values)


class Model:
    """What the catalogue must hold: entries by id and an LRU order per category."""

    def __init__(self) -> None:
        self.entries: dict[str, Document] = {}
        self.lru: dict[str, OrderedDict[str, None]] = {name: OrderedDict() for name in CATEGORIES}

    def add(self, document: Document) -> None:
        self.forget(document.id)
        self.entries[document.id] = document
        self.lru[document.category][document.id] = None

    def forget(self, entry_id: str) -> None:
        document = self.entries.pop(entry_id, None)
        if document is not None:
            del self.lru[document.category][entry_id]


operations = st.lists(st.one_of(
    st.tuples(st.just("add"), st.sampled_from(CATEGORIES), st.sampled_from(SCOPES),
              st.integers(0, 60), st.integers(1, 50)),
    st.tuples(st.just("touch"), st.integers(0, 60)),
    st.tuples(st.just("forget"), st.integers(0, 60)),
    st.tuples(st.just("expire"), st.integers(0, 30), st.integers(1, 5)),
    st.tuples(st.just("retire"), st.integers(0, 60), st.integers(-1, 1)),
    st.tuples(st.just("clear"), st.sampled_from(CATEGORIES)),
), min_size=1, max_size=250)


@settings(max_examples=60, deadline=None)
@given(operations, st.sampled_from([3, 8]), st.sampled_from([4, 1024]))
def test_the_compact_catalogue_behaves_exactly_like_the_model(ops, quota, flat_limit):
    catalogue = Catalogue(IndexParams(dim=DIM, flat_limit=flat_limit, initial_capacity=16),
                          default_index_factory)
    model, now, seed = Model(), 1000.0, 0
    stale_labels: list[int] = []
    for op in ops:
        if op[0] == "add":
            _, category, scope, key, ttl = op
            seed += 1
            document = Document(ident(key), category, scope, "", "", vector(seed), None, now,
                                now + ttl)
            held = catalogue.get(document.id)
            if held is not None:  # the writer: a rewrite takes its own place
                stale_labels.append(held.label)
                catalogue.forget(held)
                model.forget(document.id)
            victims = catalogue.evict_for(document, quota)
            expected = list(model.lru[category])[:max(0, len(model.lru[category]) - quota + 1)]
            assert victims == expected  # exactly the least recently used, oldest first
            for victim in victims:
                model.forget(victim)
            catalogue.add(document)
            model.add(document)
        elif op[0] == "touch":
            entry = catalogue.get(ident(op[1]))
            assert (entry is None) == (ident(op[1]) not in model.entries)
            if entry is not None:
                catalogue.touch(entry)
                model.lru[entry.category].move_to_end(entry.id)
        elif op[0] == "forget":
            entry = catalogue.get(ident(op[1]))
            if entry is not None:
                stale_labels.append(entry.label)
                assert catalogue.forget(entry) and not catalogue.forget(entry)
                model.forget(entry.id)
        elif op[0] == "expire":
            now += op[1]
            due = sorted(doc.expires_at for doc in model.entries.values() if doc.expires_at <= now)
            gone = catalogue.pop_expired(now, limit=op[2])
            assert len(gone) == min(op[2], len(due))
            assert sorted(entry.expires_at for entry in gone) == due[:len(gone)]  # soonest first
            for entry in gone:
                stale_labels.append(entry.label)
                model.forget(entry.id)
        elif op[0] == "retire":
            entry = catalogue.get(ident(op[1]))
            if entry is not None:
                newer_held = op[2] < 0  # the removal names an older version: keep ours
                assert catalogue.retire(entry.id, entry.expires_at + op[2]) == (not newer_held)
                if not newer_held:
                    stale_labels.append(entry.label)
                    model.forget(entry.id)
        else:
            gone = catalogue.clear(op[1])
            assert sorted(e.id for e in gone) == sorted(model.lru[op[1]])
            stale_labels.extend(e.label for e in gone)
            for entry in gone:
                model.forget(entry.id)
        assert len(catalogue) == len(model.entries)
    _assert_same(catalogue, model)
    assert all(catalogue.by_label(label) is None for label in stale_labels)  # never reused
    restored = Catalogue(catalogue.params, default_index_factory)
    restored.restore(catalogue.columns())
    for category, index in catalogue.indexes.items():  # vectors come from the snapshot files
        index.export_exact(lambda scope, labels, vectors, category=category:
                           restored.index().add_many(scope, labels, vectors))
        index.save_shards(lambda scope, shard, category=category: _copy_graph(
            shard, restored, category, scope))
    _assert_same(restored, model)
    for category in CATEGORIES:  # the LRU order survived: eviction takes the same victims
        probe = Document(ident(999), category, SCOPES[0], "", "", vector(0), None, now, now + 1)
        assert restored.evict_for(probe, 1) == list(model.lru[category])


def _copy_graph(shard, restored, category, scope):
    labels, vectors = shard.vectors()
    live = [int(label) for label in labels if restored.by_label(int(label)) is not None]
    keep = np.isin(labels, live)
    restored.index().add_many(scope, labels[keep], vectors[keep])


def _assert_same(catalogue: Catalogue, model: Model) -> None:
    assert len(catalogue) == len(model.entries)
    for category in CATEGORIES:
        assert catalogue.count(category) == len(model.lru[category])
    for entry_id, document in model.entries.items():
        entry = catalogue.get(entry_id)
        assert entry is not None and (entry.id, entry.category, entry.scope, entry.created_at,
                                      entry.expires_at) == (
            document.id, document.category, document.scope, document.created_at,
            document.expires_at)
        [(found, similarity)] = catalogue.nearest((document.scope,), document.vector)
        assert found == entry and similarity > 0.999
    assert sorted(e.id for e in catalogue.entries()) == sorted(model.entries)


def test_the_id_table_survives_heavy_churn_and_a_bulk_rebuild():
    rng = np.random.default_rng(3)
    words = rng.integers(0, 2**63, size=(5000, 2), dtype=np.int64).astype(np.uint64)
    words[:200, 0] = words[:200, 0] & ~np.uint64(0xFFFF)  # many share their low bits
    table, held = IdTable(16), set()
    for step in range(20_000):
        slot = int(rng.integers(0, len(words)))
        if slot in held:
            table.remove(slot, int(words[slot, 0]), words)
            held.discard(slot)
        else:
            table.insert(slot, int(words[slot, 0]), words)
            held.add(slot)
        if step % 5000 == 0:
            table.rebuild(words, np.array(sorted(held), dtype=np.int32))
    assert len(table) == len(held)
    for slot in range(len(words)):
        found = table.find(int(words[slot, 0]), int(words[slot, 1]), words)
        assert found == (slot if slot in held else EMPTY)


def test_entries_cost_about_a_hundred_bytes_of_bookkeeping():
    """The point of the columns: bookkeeping stays far below hnswlib's 1.8 KB per vector."""
    import tracemalloc

    def filled(count: int) -> Catalogue:
        catalogue = Catalogue(IndexParams(dim=4), lambda params: _NoIndex())
        ids = np.random.default_rng(0).integers(0, 2**63, size=(count, 2)).astype(np.uint64)
        catalogue.extend(ids, ["chat"], np.zeros(count, dtype=np.int64), SCOPES,
                         np.arange(count) % 2, np.full(count, 1.0), np.arange(count) + 10.0)
        return catalogue

    filled(10)  # NumPy imports some modules lazily on first use: not the catalogue's memory
    count = 20_000
    tracemalloc.start()
    catalogue = filled(count)
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(catalogue) == count
    assert held / count < 150, held / count
    assert catalogue.pop_expired(10.5) and catalogue.count("chat") == count - 1


class _NoIndex:
    def add(self, scope, label, vector):
        pass

    def remove(self, scope, label):
        pass


@pytest.mark.parametrize("count", [0, 1, 3000])
def test_bulk_loaded_entries_behave_like_added_ones(count):
    catalogue = Catalogue(IndexParams(dim=DIM, flat_limit=1024), default_index_factory)
    ids = [ident(key * 7 + 1) for key in range(count)]  # digests only (the log's ids)
    words = np.array([[int.from_bytes(bytes.fromhex(i)[:8], "little"),
                       int.from_bytes(bytes.fromhex(i)[8:], "little")] for i in ids],
                     dtype=np.uint64).reshape(-1, 2)
    labels = catalogue.extend(words, ["chat"], np.zeros(count, dtype=np.int64), SCOPES[:1],
                              np.zeros(count, dtype=np.int64), np.arange(count, dtype=float),
                              np.arange(count, dtype=float) + 100)
    catalogue.index().add_many(SCOPES[0], labels, np.array([vector(k) for k in range(count)]
                                                                    ).reshape(-1, DIM))
    assert len(catalogue) == count
    for position in range(0, count, 97):
        assert catalogue.get(ids[position]).created_at == position
    probe = Document(ident(1), "chat", SCOPES[0], "", "", vector(0), None, 0, 1)
    assert catalogue.evict_for(probe, count) == ids[:1]  # the oldest makes room
    assert len(catalogue) == max(count - 1, 0)
