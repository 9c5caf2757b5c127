"""Put each request in a category, cheapest signal first.

1. explicit request metadata (``metadata.semcache_category`` or a ``semcache:<name>`` tag);
2. config rules (model / model group patterns, regex or keywords on the prompt);
3. the embedding the lookup computes anyway (no second model): categories the policy adds itself
   (not shipped) are matched by the centroid of their ``examples`` first (at least
   ``centroid_min_similarity``, ahead of the runner-up by ``centroid_margin``); then the shipped
   categories by the linear head (:mod:`.head`, trained on labelled real traffic), whose answer
   ``default`` means "fits nothing". With ``classifier: centroids`` in the policy (or an
   embedder the head was not trained for) every category is matched by its centroid, as before.
"""

from __future__ import annotations

import fnmatch
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from litellm_semcache.config import DEFAULT_CATEGORY, CacheSettings, Rule
from litellm_semcache.classify.head import CategoryHead
from litellm_semcache.embedding.base import Embedder
from litellm_semcache.errors import InvalidRequest

if TYPE_CHECKING:  # request.py reads the lexicon through conversation.py
    from litellm_semcache.request import RequestView


@dataclass(frozen=True)
class _CompiledRule:
    category: str
    models: tuple[str, ...]
    pattern: re.Pattern[str] | None
    keywords: re.Pattern[str] | None

    @classmethod
    def from_rule(cls, rule: Rule) -> "_CompiledRule":
        keywords = None
        if rule.keywords:
            alternatives = "|".join(re.escape(word) for word in rule.keywords)
            keywords = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
        return cls(rule.category, tuple(rule.models),
                   re.compile(rule.regex) if rule.regex else None, keywords)

    def matches(self, view: RequestView) -> bool:
        if self.models:
            names = [name for name in (view.model_group, view.model) if name]
            if not any(fnmatch.fnmatchcase(name, pattern) for name in names for pattern in self.models):
                return False
            if not (self.pattern or self.keywords):
                return True
        prompt = view.prompt or ""
        return bool((self.pattern and self.pattern.search(prompt))
                    or (self.keywords and self.keywords.search(prompt)))


class Categorizer:
    def __init__(self, settings: CacheSettings, embedder: Embedder) -> None:
        self._settings = settings
        self._embedder = embedder
        self._rules = [_CompiledRule.from_rule(rule) for rule in settings.rules]
        self._names: list[str] = []
        self._centroids: np.ndarray | None = None
        self._lock = threading.Lock()
        self._head = _usable_head(settings, embedder)

    def without_embedding(self, view: RequestView) -> tuple[str | None, str]:
        """(category, source) from metadata or rules; (None, "") when the embedding must decide."""
        if view.explicit_category is not None:
            if view.explicit_category not in self._settings.categories:
                known = ", ".join(sorted(self._settings.categories))
                raise InvalidRequest(
                    f"unknown semcache category {view.explicit_category!r}; known: {known}")
            return view.explicit_category, "metadata"
        for rule in self._rules:
            if rule.matches(view):
                return rule.category, "rule"
        return None, ""

    def warm_up(self) -> None:
        """Embed the examples now, so that the first request does not pay for it."""
        self._build_centroids()

    def by_embedding(self, vector: np.ndarray, prompt: str = "") -> tuple[str, str]:
        """(category, source) from the prompt's embedding (and its words, for the head)."""
        centroids = self._centroids if self._centroids is not None else self._build_centroids()
        if len(self._names):
            scores = centroids @ vector
            order = np.argsort(scores)[::-1]
            best = float(scores[order[0]])
            runner_up = float(scores[order[1]]) if len(order) > 1 else -1.0
            if best >= self._settings.centroid_min_similarity and \
                    best - runner_up >= self._settings.centroid_margin:
                return self._names[int(order[0])], "centroid"
        if self._head is not None:
            category, _ = self._head.predict(vector, prompt)
            if category in self._settings.categories:
                return category, "classifier"
        return DEFAULT_CATEGORY, "default"

    def _build_centroids(self) -> np.ndarray:
        """Embed each category's examples once, on first use (a few hundred ms)."""
        with self._lock:
            if self._centroids is not None:
                return self._centroids
            names, rows = [], []
            for name, policy in self._settings.categories.items():
                if not policy.examples or (self._head is not None and name in self._head.names):
                    continue  # the head decides the categories it knows
                vectors = self._embedder.embed(policy.examples)
                mean = vectors.mean(axis=0)
                names.append(name)
                rows.append(mean / max(float(np.linalg.norm(mean)), 1e-12))
            self._names = names
            self._centroids = (np.vstack(rows).astype(np.float32) if rows
                               else np.zeros((0, self._embedder.dim), dtype=np.float32))
            return self._centroids


def _usable_head(settings: CacheSettings, embedder: Embedder) -> CategoryHead | None:
    """The shipped head, unless the policy asks for centroids or the embedder is not the one it
    was trained for (another dimension: e.g. a test's fake embedder)."""
    if settings.classifier != "builtin":
        return None
    head = CategoryHead.load()
    return head if head.dim == embedder.dim else None
