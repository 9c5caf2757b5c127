"""The scoped index keeps every retained vector findable through any add/remove churn, in both
shard kinds (exact matrix and hnswlib HNSW), and never returns another scope's vector."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from litellm_semcache.index import IndexParams
from litellm_semcache.index.hnsw import CategoryIndex

DIM = 32


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


operations = st.lists(
    st.tuples(st.sampled_from(["add", "remove"]), st.sampled_from(["a", "b"]), st.integers(0, 10_000)),
    min_size=1, max_size=300,
)


@settings(max_examples=40, deadline=None)
@given(operations, st.sampled_from([4, 1024]))
def test_retained_vectors_stay_findable_in_their_scope_only(ops, flat_limit):
    index = CategoryIndex(IndexParams(dim=DIM, flat_limit=flat_limit, initial_capacity=16))
    live: dict[int, tuple[str, np.ndarray]] = {}
    next_label = 1
    for action, scope, seed in ops:
        in_scope = [label for label, (s, _) in live.items() if s == scope]
        if action == "remove" and in_scope:
            victim = in_scope[seed % len(in_scope)]
            index.remove(scope, victim)
            del live[victim]
        else:
            vector = unit(next_label * 7919 + seed)
            index.add(scope, next_label, vector)
            live[next_label] = (scope, vector)
            next_label += 1

    assert len(index) == len(live)
    for label, (scope, vector) in live.items():
        found = index.nearest(scope, vector)
        assert found is not None and found[0] == label and found[1] > 0.999
    for scope in ("a", "b"):
        probe = unit(123456)
        found = index.nearest(scope, probe)
        if found is None:
            assert not any(s == scope for s, _ in live.values())
        else:
            assert live[found[0]][0] == scope


def test_promoted_shard_grows_and_reuses_freed_slots():
    index = CategoryIndex(IndexParams(dim=DIM, flat_limit=8, initial_capacity=16))
    vectors = {label: unit(label) for label in range(1, 200)}
    for label, vector in vectors.items():
        index.add("s", label, vector)          # grows past 16 with resize_index
    for label in range(1, 150):
        index.remove("s", label)               # mark_deleted
    for label in range(1000, 1100):
        vectors[label] = unit(label)
        index.add("s", label, vectors[label])  # replace_deleted refills freed slots
    survivors = [label for label in vectors if label >= 150]
    assert len(index) == len(survivors)
    assert all(index.nearest("s", vectors[label])[0] == label for label in survivors)
