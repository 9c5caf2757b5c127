"""Regenerate the verifier's score weights (``litellm_semcache/classify/data/verifier.json``)
from the ``dev`` single-turn pairs only, and report 5-fold cross-validated dev figures.

    python -m bench.train_verifier            # fit, report, write the weights
    python -m bench.train_verifier --report   # report only

For each dev pair, ``a`` is the stored prompt and ``b`` the asked one (as ``semcache calibrate``
and ``python -m bench quality`` run them). Pairs the guard vetoes are left out of the fit (the
guard's veto is final); a logistic regression (scikit-learn, C=1, different-answer pairs
weighted 3: a false hit costs more than a miss) is fitted on the rest, over
``litellm_semcache.classify.verifier.FEATURES``.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from bench import datasets
from litellm_semcache.classify import match
from litellm_semcache.classify.verifier import FEATURES, WEIGHTS_FILE, features
from litellm_semcache.config import load_settings
from litellm_semcache.embedding import load_embedder

C, DIFFERENT_WEIGHT = 1.0, 3.0


def dev_features() -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(features, same_answer, guard passes, family) of every dev pair."""
    embedder = load_embedder(load_settings(None).embedding)
    rows = datasets.eval_pairs("dev")
    stored = embedder.embed([row["a"] for row in rows])
    asked = embedder.embed([row["b"] for row in rows])
    x, passes = [], []
    for row, a, b in zip(rows, stored, asked):
        comparison = match.compare(row["b"], row["a"])
        x.append(features(float(a @ b), comparison))
        passes.append(comparison.veto is None)
    return (np.array(x), np.array([row["same_answer"] for row in rows]), np.array(passes),
            [row["family"] for row in rows])


def fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=C, class_weight={True: 1.0, False: DIFFERENT_WEIGHT},
                               max_iter=5000).fit(x, y)
    return model.coef_[0], float(model.intercept_[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.train_verifier")
    parser.add_argument("--report", action="store_true", help="do not write the weights")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sklearn.model_selection import StratifiedKFold

    x, y, passes, _ = dev_features()
    scores = np.zeros(len(y))
    for train, held in StratifiedKFold(5, shuffle=True, random_state=0).split(x, y):
        keep = train[passes[train]]
        weights, bias = fit(x[keep], y[keep])
        scores[held] = 1 / (1 + np.exp(-(x[held] @ weights + bias)))
    scores[~passes] = 0.0
    for point in (0.4, 0.5, 0.6, 0.7, 0.8):
        served = scores >= point
        print(f"dev, 5-fold CV, operating point {point}: hits {served[y].mean():.1%}, "
              f"false hits {served[~y].mean():.1%}")
    if not args.report:
        weights, bias = fit(x[passes], y[passes])
        WEIGHTS_FILE.write_text(json.dumps({
            "features": list(FEATURES), "weights": [round(float(w), 6) for w in weights],
            "bias": round(bias, 6), "trained_on": "bench/data/eval_pairs.jsonl, split dev",
            "by": "python -m bench.train_verifier"}, indent=2) + "\n")
        print(f"wrote {WEIGHTS_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
