"""Word forms: the base forms an inflected word may stand for.

The guard compares prompts word by word; "increase" and "decreasing", "rise" and "fell",
"swimming to eat" and "eating to swim" differ only once their endings are set aside. No
dictionary: endings are stripped by rule (and a few irregular verbs listed), giving every
plausible base, which is enough to compare two words (never to print one).
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=65536)  # words repeat: the same few thousand every minute
def bases(word: str) -> frozenset[str]:
    """The word and the base forms its ending may hide: decreasing -> decrease, stopped ->
    stop, bigger -> big, losses -> loss, fell -> fall."""
    forms = {word, _IRREGULAR.get(word, word)}
    for ending in ("ing", "ed", "er", "est", "es", "ly", "ion", "s"):
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            root = word[:-len(ending)]
            forms.update((root, root + "e"))
            if len(root) > 3 and root[-1] == root[-2]:
                forms.add(root[:-1])  # stopped -> stop, bigger -> big
            if root.endswith("i"):
                forms.add(root[:-1] + "y")  # easier -> easy
    return frozenset(forms)


_IRREGULAR = {"fell": "fall", "fallen": "fall", "rose": "rise", "risen": "rise", "won": "win",
              "lost": "lose", "sold": "sell", "bought": "buy", "woke": "wake", "slept": "sleep",
              "went": "go", "came": "come", "left": "leave", "grew": "grow", "shrank": "shrink",
              "froze": "freeze", "began": "begin", "sent": "send", "held": "hold", "worse": "bad",
              "better": "good", "less": "little", "more": "much"}


def same_base(a: str, b: str) -> bool:
    """Two inflections of one word (feel / feeling, construct / constructed)."""
    return bool(bases(a) & bases(b))


def lemmas(words: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(min(bases(word), key=lambda base: (len(base), base)) for word in words)
