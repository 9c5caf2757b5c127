"""Spelling-tolerant word comparison: regional spellings, keyboard slips and misspellings.

Why: MiniLM tokenises a misspelt word into unrelated word pieces, so "How do I lsit files in
Pyhton?" sits at cosine ~0.8 from its intended prompt, below every useful threshold, and the
guard saw "Pyhton" as a new named entity. Here two prompts are compared word by word:

- a regional spelling is written one way on both sides (colour/color, optimise/optimize,
  centre/center, anaemia/anemia, cancelled/canceled, cheque/check);
- a word of one side that is not an English word (not a whole word of the bundled MiniLM
  vocabulary) and is within one or two edits (insert, delete, substitute, swap two neighbours)
  of a word only the other side has is taken as a slip of that word.

Two *real* words one letter apart (bear/pear, fired/hired, CSV/TSV) are never merged: that is
how a one-letter change turns into another question. Without the vocabulary (another model
directory) slips are not merged at all, only regional spellings.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

_WORD = re.compile(r"[A-Za-z][A-Za-z']*")
_NOT_WORD = re.compile(r"[^a-z0-9]+")
_REGIONAL = {
    "cheque": "check", "cheques": "checks", "grey": "gray", "programme": "program",
    "programmes": "programs", "tyre": "tire", "tyres": "tires", "aluminium": "aluminum",
    "mum": "mom", "kerb": "curb", "plough": "plow", "draught": "draft", "sceptical": "skeptical",
    "mould": "mold", "storey": "story", "ageing": "aging", "judgement": "judgment",
    "acknowledgement": "acknowledgment", "pyjamas": "pajamas", "doughnut": "donut",
    "cosy": "cozy", "whilst": "while", "amongst": "among", "learnt": "learned",
    "licence": "license", "licences": "licenses", "defence": "defense", "offence": "offense",
    "pretence": "pretense", "oestrogen": "estrogen", "oesophagus": "esophagus",
    "diarrhoea": "diarrhea", "foetus": "fetus", "manoeuvre": "maneuver", "oedema": "edema",
    "enrolment": "enrollment", "fulfil": "fulfill", "skilful": "skillful",
    "instalment": "installment", "jewellery": "jewelry", "counsellor": "counselor",
    "marvellous": "marvelous", "behaviour": "behavior", "travellers": "travelers",
    # chat shorthand
    "u": "you", "ur": "your", "pls": "please", "plz": "please", "thx": "thanks", "ty": "thanks",
    "max": "maximum", "info": "information", "r": "are",
}
_DOUBLED_L = re.compile(r"^(cancel|travel|label|model|level|fuel|signal|total|channel|tunnel|"
                        r"dial|marshal|pedal|quarrel|counsel|jewel|worshipp?)l(ed|ing|er|ers)$")
_SUFFIX_RULES = (
    (re.compile(r"(?<=[a-z]{2})our(s|ed|ing|ite|ites|able|er|ers|ful)?$"), r"or\1"),
    (re.compile(r"(?<=[a-z]{3})is(e|es|ed|ing|ation|ations|er|ers)$"), r"iz\1"),
    (re.compile(r"(?<=[a-z]{3})ys(e|es|ed|ing|er|ers)$"), r"yz\1"),
    (re.compile(r"(?<=[a-z]{3})tre(s)?$"), r"ter\1"),
    (re.compile(r"(?<=[a-z]{3})ogue(s)?$"), r"og\1"),
    (re.compile(r"(?<=[a-z])ae(?=[mdsc])"), "e"),
)


@lru_cache(maxsize=65536)  # words repeat: the same few thousand every minute
def canonical(word: str) -> str:
    """One spelling for the regional variants of a lower-case word."""
    if word in _REGIONAL:
        return _REGIONAL[word]
    if len(word) < 5:
        return word
    doubled = _DOUBLED_L.match(word)
    if doubled:
        return doubled.group(1) + doubled.group(2)
    for pattern, replacement in _SUFFIX_RULES:
        word = pattern.sub(replacement, word)
    return word


@lru_cache(maxsize=1)
def known_words() -> frozenset[str]:
    """Whole lower-case words of the bundled model's vocabulary (~21k); empty if unavailable."""
    try:
        from litellm_semcache.embedding.base import bundled_model_path

        path = Path(bundled_model_path()) / "vocab.txt"
        lines = path.read_text(encoding="utf-8").split("\n")
    except Exception:  # noqa: BLE001 - without a vocabulary, slips are simply not merged
        return frozenset()
    return frozenset(line for line in lines if len(line) > 1 and line.isalpha())


def within_edits(a: str, b: str, limit: int) -> bool:
    """Optimal-string-alignment distance of ``a`` and ``b`` is at most ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return False
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return False
        previous2, previous = previous, current
    return previous[-1] <= limit


def is_slip(word: str, intended: str, known: frozenset[str], name: bool = False) -> bool:
    """``word`` reads as a misspelling of ``intended``: not itself an English word (or a
    vocabulary is missing), close in edits, and the same first letter or a swap of two."""
    if not known or word in known or len(word) < 3 or len(intended) < 3:
        return False
    if word[0] != intended[0] and word[:2] != intended[1::-1]:
        return False  # a slip rarely hits the first letter; a prefix (unarchive) always does
    # Names differ by a couple of letters (GitHub / GitLab): two edits only in long plain words.
    limit = 2 if min(len(word), len(intended)) >= 8 and not name else 1
    return within_edits(word, intended, limit)


def slips(asked: list[str], stored: list[str], names: frozenset[str] = frozenset()
          ) -> dict[str, str]:
    """Words of ``asked`` that are slips of a word only ``stored`` has (and the reverse:
    either side may carry the typo), as {slip: intended}."""
    known = known_words()
    mapping: dict[str, str] = {}
    only_asked = [w for w in dict.fromkeys(asked) if w not in stored]
    only_stored = [w for w in dict.fromkeys(stored) if w not in asked]
    from litellm_semcache.classify.guard import opposites

    for word in only_asked:
        for other in only_stored:
            name = word in names or other in names
            if (is_slip(word, other, known, name) or is_slip(other, word, known, name)) \
                    and not opposites(word, other):  # hyperthyroidism / hypothyroidism
                mapping[word] = other
                break
    return mapping


def normalised(text: str) -> str:
    """Lower case, words and numbers only, one spelling per regional variant: two earlier turns
    of a conversation that agree here are the same turn."""
    return " ".join(canonical(token) for token in _NOT_WORD.sub(" ", text.lower()).split())


def words(text: str) -> list[str]:
    """Lower-case words of ``text`` in canonical spelling."""
    return [canonical(match.lower().replace("'", "")) for match in _WORD.findall(text)]


def align(asked: str, stored: str) -> str:
    """``asked`` rewritten with regional spellings made canonical and its slips replaced by the
    stored prompt's word (same case as there), so that the guard compares like with like."""
    stored_raw = {canonical(w.lower().replace("'", "")): w for w in _WORD.findall(stored)}
    names = frozenset(w.lower() for w in _WORD.findall(asked + " " + stored) if not w.islower())
    mapping = slips(words(asked), list(stored_raw), names)

    def fix(match: re.Match[str]) -> str:
        raw = match.group(0)
        word = canonical(raw.lower().replace("'", ""))
        if word in mapping:
            return stored_raw[mapping[word]]
        if word != raw.lower().replace("'", "") and "'" not in raw:
            return word.capitalize() if raw[0].isupper() else word
        return raw

    return _WORD.sub(fix, asked)
