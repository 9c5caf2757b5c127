"""How two prompts differ in words, once spelling is set aside: the lexical signals the
verifier weighs next to cosine similarity.

Cosine alone cannot tell a reworded request (most words kept, a few swapped for synonyms) from
another request about a neighbouring thing (one noun swapped); nor does it stay high for a
prompt full of typos. After :func:`~litellm_semcache.classify.spelling.align` (regional
spellings and slips made equal) the prompts' content words (the guard's stems without filler,
courtesy, numbers and dates) are matched, also across spacing and hyphenation ("e-mail" /
"email", "dog-grooming" / "dog grooming"), and counted: shared, substituted (a word only on
each side), added (on one side only).
"""

from __future__ import annotations

from dataclasses import dataclass

from litellm_semcache.classify import guard, spelling
from litellm_semcache.classify.inflection import same_base
from litellm_semcache.classify.lexicon import COURTESY


@dataclass(frozen=True)
class Comparison:
    """Two prompts, aligned, with the guard's verdict and the word counts."""

    asked: str  # aligned to the stored prompt
    stored: str
    veto: str | None  # the guard's rule, on the aligned prompts
    shared: int
    only_asked: int
    only_stored: int
    asked_words: tuple[str, ...] = ()  # the content words only one side has
    stored_words: tuple[str, ...] = ()

    @property
    def substituted(self) -> int:
        return min(self.only_asked, self.only_stored)

    @property
    def added(self) -> int:
        return abs(self.only_asked - self.only_stored)

    @property
    def overlap(self) -> float:
        union = self.shared + self.only_asked + self.only_stored
        return self.shared / union if union else 1.0

    @property
    def same_words(self) -> bool:
        return self.only_asked == 0 and self.only_stored == 0


def compare(asked: str, stored: str) -> Comparison:
    aligned = spelling.align(asked, stored)
    other = spelling.align(stored, aligned)
    mine, theirs = guard.profile(aligned), guard.profile(other)
    only_mine = _unmatched(mine, theirs)
    only_theirs = _unmatched(theirs, mine)
    inflected = {a for a in only_mine for b in only_theirs if same_base(a, b)}
    only_theirs = [b for b in only_theirs if not any(same_base(a, b) for a in inflected)]
    only_mine = [a for a in only_mine if a not in inflected]
    if not (only_mine and only_theirs):  # added courtesy asks nothing more
        only_mine = [word for word in only_mine if word not in COURTESY]
        only_theirs = [word for word in only_theirs if word not in COURTESY]
    shared = len(set(mine.content) - set(only_mine))
    return Comparison(aligned, other, guard.check(aligned, other), shared, len(only_mine),
                      len(only_theirs), tuple(only_mine), tuple(only_theirs))


def _unmatched(mine: "guard.Profile", theirs: "guard.Profile") -> list[str]:
    """Content words of ``mine`` that ``theirs`` lacks, however it spaces or hyphenates them."""
    content = list(dict.fromkeys(mine.content))
    missing = []
    for position, word in enumerate(content):
        if word in theirs.stems or guard.squash(word) in theirs.joined:
            continue
        neighbours = content[max(0, position - 1):position + 2]
        if any(guard.squash(a + b) in theirs.joined for a, b in zip(neighbours, neighbours[1:])
               if word in (a, b)):
            continue
        missing.append(word)
    return missing
