"""Regenerate the category head (``litellm_semcache/classify/data/category_head.npz``) from the
``dev`` split only, and report its 5-fold cross-validated accuracy on the dev ShareGPT prompts.

    python -m bench.train_categories            # fit, report, write the weights
    python -m bench.train_categories --report   # report only

Training data: the labelled ShareGPT first turns of ``dev`` (weight 1), the prompts of the dev
single- and multi-turn pairs and the shipped policy's examples (weight 0.3: short, hand-written,
spread evenly over the categories, unlike real traffic). A multinomial logistic regression
(scikit-learn, C=16) over the embedding and the hashed bag of words; then two decision offsets,
chosen on the cross-validated dev predictions: ``default`` -0.5 (it should only take what fits
nothing else) and ``code`` +0.5 (a code answer served for a prose question is the costlier
mistake on real traffic, and code is a third of it).
"""

from __future__ import annotations

import argparse
import os
from collections import Counter
from typing import Any

import numpy as np

from bench import datasets
from litellm_semcache.classify.head import HEAD_FILE, bag_of_words
from litellm_semcache.config import load_settings
from litellm_semcache.embedding import load_embedder

C = 16.0
EXTRA_WEIGHT = 0.3
BUCKETS = 1024
OFFSETS = {"default": -0.5, "code": 0.5}


def training_data() -> tuple[list[str], list[str], list[str], list[str]]:
    """(ShareGPT texts, their labels, extra texts, their labels), all from dev."""
    real = datasets.labelled_prompts("dev")
    extra: dict[str, str] = {}
    for row in datasets.eval_pairs("dev"):
        extra.setdefault(row["a"], row["category"])
        extra.setdefault(row["b"], row.get("category_b") or row["category"])
    for row in datasets.multiturn_pairs("dev"):
        for side in ("a", "b"):
            extra.setdefault(row[side][-1]["content"], row["category"])
    for name, policy in load_settings(None).categories.items():
        for example in policy.examples:
            extra.setdefault(example, name)
    return ([text for _, text, _ in real], [label for _, _, label in real],
            list(extra), list(extra.values()))


def features(embedder: Any, texts: list[str]) -> np.ndarray:
    vectors = np.vstack([embedder.embed(texts[i:i + 32]) for i in range(0, len(texts), 32)])
    return np.hstack([vectors, np.vstack([bag_of_words(text, BUCKETS) for text in texts])])


def fit(x: np.ndarray, y: list[str], weights: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=C, max_iter=5000).fit(x, y, sample_weight=weights)
    names = [str(name) for name in model.classes_]
    bias = model.intercept_.copy() + np.array([OFFSETS.get(name, 0.0) for name in names])
    return names, model.coef_.astype(np.float32), bias.astype(np.float32)


def report(predicted: list[str], truth: list[str]) -> dict[str, float]:
    pairs = list(zip(predicted, truth))
    named = [(p, t) for p, t in pairs if t != "default"]
    code = [(p, t) for p, t in pairs if t == "code"]
    return {"accuracy": round(sum(p == t for p, t in pairs) / len(pairs), 3),
            "named_accuracy": round(sum(p == t for p, t in named) / len(named), 3),
            "code_recall": round(sum(p == t for p, t in code) / len(code), 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.train_categories")
    parser.add_argument("--report", action="store_true", help="do not write the weights")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sklearn.model_selection import StratifiedKFold

    embedder = load_embedder(load_settings(None).embedding)
    texts, labels, extra_texts, extra_labels = training_data()
    x, x_extra = features(embedder, texts), features(embedder, extra_texts)
    predicted = [""] * len(texts)
    for train, held in StratifiedKFold(5, shuffle=True, random_state=0).split(x, labels):
        names, weights, bias = fit(np.vstack([x[train], x_extra]),
                                   [labels[i] for i in train] + extra_labels,
                                   np.r_[np.ones(len(train)), np.full(len(x_extra), EXTRA_WEIGHT)])
        for i, row in zip(held, x[held] @ weights.T + bias):
            predicted[i] = names[int(np.argmax(row))]
    print(f"dev, 5-fold cross-validated on {len(texts)} ShareGPT prompts:",
          report(predicted, labels), dict(Counter(labels)))
    if not args.report:
        names, weights, bias = fit(np.vstack([x, x_extra]), labels + extra_labels,
                                   np.r_[np.ones(len(x)), np.full(len(x_extra), EXTRA_WEIGHT)])
        HEAD_FILE.parent.mkdir(exist_ok=True)
        np.savez_compressed(HEAD_FILE, names=np.array(names), weights=weights, bias=bias,
                            dim=np.int64(embedder.dim), buckets=np.int64(BUCKETS))
        print(f"wrote {HEAD_FILE} ({HEAD_FILE.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
