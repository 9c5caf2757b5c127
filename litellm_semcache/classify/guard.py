"""Cheap lexical checks that veto a candidate which passed the similarity threshold.

Sentence embeddings place "turn on dark mode" and "turn off dark mode" (or "2023 tax rate" and
"2024 tax rate") almost on top of each other: cosine alone serves wrong answers on exactly these
pairs. The guard compares the two prompts' surface forms for the differences that change an
answer while barely moving the embedding: negation, antonyms, numbers and dates, named entities
and their order, directional roles (from/to/than), quantifiers and narrowed or widened scope.

It is deliberately one-sided: a veto costs one upstream call, a false hit costs a wrong answer.
Everything runs on two short strings (tens of microseconds).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from litellm_semcache.classify.inflection import bases, lemmas
from litellm_semcache.classify.lexicon import (
    ANTONYMS as _ANTONYMS,
    FILLER,
    IMPLICIT_NOW as _IMPLICIT_NOW,
    LEXICON,
    NEGATING_PREFIXES as _NEGATING_PREFIXES,
    NEGATIONS,
    NUMBER_WORDS as _NUMBER_WORDS,
    ORDINALS as _ORDINALS,
    POLAR_PREFIXES as _POLAR_PREFIXES,
    PREFIX_PAIRS as _PREFIX_PAIRS,
    PRIVATIVE_SUFFIXES as _PRIVATIVE_SUFFIXES,
    QUANTIFIER_SYNONYMS as _QUANTIFIER_SYNONYMS,
    QUANTIFIERS,
    TEMPORAL,
    TEMPORAL_SYNONYMS as _TEMPORAL_SYNONYMS,
    UNIT_NAMES as _UNIT_NAMES,
    UNITS,
)

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+#]*(?:['’][A-Za-z]+)?(?:[.\-/][A-Za-z0-9_+#]+)*")
_NUMBER = re.compile(r"(?<![A-Za-z])[-+]?\d+(?:[.,:/]\d+)*%?")
_QUOTED = re.compile(r"`([^`]+)`|\"([^\"]+)\"|(?<![A-Za-z])'([^'\n]+?)'(?![A-Za-z])")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\n]\s*)([A-Za-z][\w'’]*)")



@dataclass(frozen=True)
class Profile:
    words: tuple[str, ...]  # lower-case tokens, in order
    stems: frozenset[str]
    content: tuple[str, ...]  # stems of non-filler words, in order
    negations: int
    numbers: tuple[str, ...]  # canonical numbers in order
    entities: tuple[str, ...]  # lower-case entity tokens in order of appearance
    roles: dict[str, tuple[str, ...]]  # from|to|than|into... -> up to two content stems after it
    temporal: frozenset[str]
    units: frozenset[str]
    quantifiers: frozenset[str]
    text: str  # folded words joined by spaces, for multi-word quoted entities
    joined: frozenset[str]  # letters and digits of 1-3 neighbouring words run together
    operators: tuple[str, ...]


def check(query: str, candidate: str) -> str | None:
    """Return why ``candidate`` must not answer ``query`` (a short reason), or None if it may."""
    if query == candidate:
        return None
    q, c = profile(query), profile(candidate)
    for rule in _RULES:
        reason = rule(q, c)
        if reason:
            return reason
    return None


def _parts_present(entity: str, profile: Profile) -> bool:
    """"if/else" matches "if else", "os.path" matches "os path": the same words, split."""
    parts = [part for part in re.split(r"[/._\-]", entity) if part]
    return len(parts) > 1 and all(part in profile.words or part in profile.stems for part in parts)


def _negation(q: Profile, c: Profile) -> str | None:
    return "negation" if q.negations != c.negations else None


def _antonym(q: Profile, c: Profile) -> str | None:
    only_q, only_c = q.stems - c.stems, c.stems - q.stems
    if not (only_q and only_c):
        return None
    forms_c = {other: bases(other) for other in only_c}
    every_form_c = frozenset().union(*forms_c.values())
    by_ending: dict[str, list[str]] = {}  # prefix opposites share their ending
    for form in every_form_c:
        by_ending.setdefault(form[-3:], []).append(form)
    privative = [other for other in only_c if other.endswith(_PRIVATIVE_SUFFIXES)]
    for word in only_q:
        forms = bases(word)
        if any(_ANTONYMS.get(form, frozenset()) & every_form_c for form in forms):
            return "antonym"  # also across inflections: increase / decreasing, rise / fell
        for form in forms:
            if any(_prefix_opposites(form, other) for other in by_ending.get(form[-3:], ())):
                return "antonym"
        if any(_suffix_opposites(word, other) or _suffix_opposites(other, word)
               for other in privative) or (word.endswith(_PRIVATIVE_SUFFIXES) and any(
                   _suffix_opposites(word, other) for other in only_c)):
            return "antonym"  # tax-free / taxable, harmless / harmful
    return None


def opposites(a: str, b: str) -> bool:
    """``a`` and ``b`` are antonyms or prefix opposites (install / uninstall, hyper- / hypo-)."""
    return bool(_ANTONYMS.get(a, frozenset()) & {b}) or _prefix_opposites(a, b)


def _prefix_opposites(a: str, b: str) -> bool:
    for prefix in _NEGATING_PREFIXES:
        if (a == prefix + b or b == prefix + a) and min(len(a), len(b)) >= 3:
            return True
    for left, right in _PREFIX_PAIRS:
        for x, y in ((a, b), (b, a)):
            if x.startswith(left) and y.startswith(right) and x[len(left):] == y[len(right):] \
                    and len(x) - len(left) >= 3:
                return True
    return _suffix_opposites(a, b) or _suffix_opposites(b, a) or _polar_prefixes(a, b)


def _polar_prefixes(a: str, b: str) -> bool:
    """Two words that share a long stem and differ only in flipping prefixes: encrypt /
    decrypt, include / exclude, increase / decrease, dehydration / overhydration."""
    shared = 0
    while shared < min(len(a), len(b)) and a[-1 - shared] == b[-1 - shared]:
        shared += 1
    head_a, head_b = a[:len(a) - shared], b[:len(b) - shared]
    if head_a == head_b or shared < 5 or (head_a and head_a not in _POLAR_PREFIXES) \
            or (head_b and head_b not in _POLAR_PREFIXES):
        return False
    return bool(head_a and head_b) or shared >= 3


def _suffix_opposites(a: str, b: str) -> bool:
    """"tax-free" vs "taxable", "harmless" vs "harmful": a privative suffix on one side, the
    same stem with another ending (or none) on the other."""
    for suffix in _PRIVATIVE_SUFFIXES:
        stem = a.removesuffix(suffix).rstrip("-")
        if stem != a and len(stem) >= 3 and b.startswith(stem) and len(b) - len(stem) <= 5 \
                and not b.endswith(_PRIVATIVE_SUFFIXES):
            return True
    return False


def _numbers(q: Profile, c: Profile) -> str | None:
    if sorted(q.numbers) != sorted(c.numbers):
        return "number"
    return None


def _temporal_and_units(q: Profile, c: Profile) -> str | None:
    if q.temporal != c.temporal and (q.temporal and c.temporal or
                                     (q.temporal | c.temporal) - _IMPLICIT_NOW):
        return "date"  # an unqualified question is about now: "today" vs nothing is no change
    if q.units != c.units:
        return "unit"
    return None


def _entities(q: Profile, c: Profile) -> str | None:
    for mine, theirs in ((q, c), (c, q)):
        for entity in mine.entities:
            if " " in entity:
                if squash(entity) not in "".join(sorted(theirs.joined, key=len)[-1:]) and \
                        squash(entity) not in squash(theirs.text):
                    return "entity"
            elif entity not in theirs.stems and entity not in theirs.words \
                    and not _parts_present(entity, theirs) and not _run_together(entity, mine, theirs):
                return "entity"
    return None


@lru_cache(maxsize=65536)  # words repeat: the same few thousand every minute
def squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _run_together(entity: str, mine: Profile, theirs: Profile) -> bool:
    """The same name spaced or punctuated otherwise: "VS Code" / "vscode", "3x + 7" / "3x+7"."""
    squashed = squash(entity)
    if squashed and squashed in theirs.joined:
        return True
    return any(squashed and squashed in joined and joined in theirs.joined
               for joined in mine.joined)


def _order(q: Profile, c: Profile) -> str | None:
    shared = [e for e in dict.fromkeys(q.entities + q.numbers) if e in c.entities + c.numbers]
    theirs = [e for e in dict.fromkeys(c.entities + c.numbers) if e in shared]
    if len(shared) >= 2 and shared != theirs:
        return "entity_order"
    for role, objects in q.roles.items():
        theirs = c.roles.get(role)
        # the same role word takes another object, and ours appears elsewhere in theirs
        if theirs and objects[0] not in theirs and theirs[0] not in objects \
                and objects[0] in c.stems:
            return "role_swap"
    mine, theirs = lemmas(q.content), lemmas(c.content)  # after swimming to eat / eating to swim
    if mine != theirs and sorted(mine) == sorted(theirs) \
            and len(mine) <= _MAX_ORDER_WORDS and not _one_block_moved(mine, theirs):
        return "word_order"
    return None


_MAX_ORDER_WORDS = 12


def _one_block_moved(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    """True if moving one contiguous block of ``a`` gives ``b``: a fronted topic ("USD to EUR
    exchange rate", "Python: reverse a list") keeps the meaning, a swap of two roles
    ("dog bites man") does not."""
    for start in range(len(a)):
        for end in range(start + 1, len(a) + 1):
            block, rest = a[start:end], a[:start] + a[end:]
            if any(rest[:k] + block + rest[k:] == b for k in range(len(rest) + 1)):
                return True
    return False


_WEAK_QUANTIFIERS = frozenset({"some", "any"})


def _scope(q: Profile, c: Profile) -> str | None:
    mine, theirs = q.quantifiers, c.quantifiers
    if not (mine - _WEAK_QUANTIFIERS and theirs - _WEAK_QUANTIFIERS):
        # "any ideas?" asks what "what should I get?" asks; "all" against "some" still differs
        mine, theirs = mine - _WEAK_QUANTIFIERS, theirs - _WEAK_QUANTIFIERS
    if mine != theirs:
        return "quantifier"
    mine, theirs = set(q.content), set(c.content)
    if mine and theirs and mine != theirs and (mine < theirs or theirs < mine):
        longer, shared = (c.content, mine) if mine < theirs else (q.content, theirs)
        if _qualifier_inserted(longer, shared):
            return "scope"
    return None


def _qualifier_inserted(longer: tuple[str, ...], shared: set[str]) -> bool:
    """An extra word between two shared words narrows the request ("all users" -> "all admin
    users"); one added at either end usually restates it ("the git rebase command")."""
    positions = [i for i, word in enumerate(longer) if word in shared]
    if not positions:
        return False
    return any(word not in shared for word in longer[positions[0]:positions[-1] + 1])


def _operators(q: Profile, c: Profile) -> str | None:
    """``=`` / ``==`` / ``===``, ``<`` / ``<=``, ``&&`` / ``||``: in code the operator is the
    question."""
    return "operator" if sorted(q.operators) != sorted(c.operators) else None


_RULES = (_negation, _antonym, _numbers, _temporal_and_units, _entities, _operators, _order,
          _scope)
_OPERATOR = re.compile(r"[!<>=]?={1,2}|&&|\|\||=>|->|<<|>>")


_PERCENT_WORD = re.compile(r"(\d)\s*(?:percent|per cent)\b", re.IGNORECASE)
_HOW_MANY = re.compile(r"\bhow (many|much)\b", re.IGNORECASE)
# Courtesy that carries no request ("many thanks", "quick one"), and "401(k)" written "401k".
_COURTESY = re.compile(r"\b(?:many thanks|thanks a lot|thank you(?: so much| very much)?|"
                       r"thanks (?:in advance|for (?:the|your) (?:help|ideas|answer|time))|"
                       r"i'd (?:really )?appreciate (?:your|some) (?:opinion|help|advice)|"
                       r"quick (?:one|question)|one quick question|sorry to bother you)\b",
                       re.IGNORECASE)
# "per month", "each month", "$1,800 a month", "twice a day" say "monthly", "daily"
_PER_PERIOD = re.compile(r"(?:\b(?:per|each|every|(?<=\d )a|(?<=twice )a|(?<=once )a|"
                         r"(?<=times )a|(?<=hours )a) |(?<=\d)/)"
                         r"(day|week|month|year|hour|quarter)\b", re.IGNORECASE)
_PERIODIC = {"day": "daily", "week": "weekly", "month": "monthly", "year": "annually",
             "hour": "hourly", "quarter": "quarterly"}
_PARENTHESISED_LETTER = re.compile(r"(\d)\(([A-Za-z])\)")


@lru_cache(maxsize=4096)
def profile(text: str) -> Profile:
    # "15 percent" is "15%"; "how many" asks for a count rather than quantifying anything.
    text = _HOW_MANY.sub("how", _PERCENT_WORD.sub(r"\1%", text))
    text = _PARENTHESISED_LETTER.sub(r"\1\2", _COURTESY.sub(" ", text))
    text = _PER_PERIOD.sub(lambda m: " " + _PERIODIC[m.group(1).lower()], text)
    raw_words = _WORD.findall(text)
    words = tuple(_fold(w) for w in raw_words)
    stems = tuple(_stem(w) for w in words)
    numbers = tuple(_canonical_number(n) for n in _NUMBER.findall(text)) + tuple(
        _NUMBER_WORDS.get(w) or _ORDINALS[w] for w in words if w in _NUMBER_WORDS or w in _ORDINALS)
    return Profile(
        words=words,
        stems=frozenset(stems),
        content=tuple(s for w, s in zip(words, stems)
                      if w not in FILLER and s not in FILLER and w not in TEMPORAL
                      and not _is_number(w)),
        negations=sum(1 for w in words if w.replace("'", "") in NEGATIONS or w.endswith("n't")),
        numbers=numbers,
        entities=_entities_of(text, raw_words),
        roles=_roles(words, stems),
        temporal=frozenset(_TEMPORAL_SYNONYMS.get(w, w) for w in words if w in TEMPORAL),
        units=frozenset(_UNIT_NAMES.get(_stem(w), _stem(w)) for w in words if w in UNITS),
        quantifiers=frozenset(_QUANTIFIER_SYNONYMS.get(w, w) for w in words if w in QUANTIFIERS),
        text=" ".join(words),
        joined=_neighbours_joined(words),
        operators=tuple(_OPERATOR.findall(text)),
    )


def _neighbours_joined(words: tuple[str, ...]) -> frozenset[str]:
    squashed = [squash(word) for word in words]
    return frozenset("".join(squashed[i:i + n]) for n in (1, 2, 3)
                     for i in range(len(squashed) - n + 1))


_ROLE_WORDS = frozenset("from into than vs versus onto against".split())
_DIRECTIONAL = frozenset(
    "from convert translate migrate compare compared switch move transfer upgrade downgrade cast "
    "port rewrite map".split())


def _roles(words: tuple[str, ...], stems: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """What follows each role word ("from A to B", "bigger than B"): up to two content stems,
    stopping at the next role word."""
    directional = not _DIRECTIONAL.isdisjoint(words)

    def is_role(word: str) -> bool:
        return word in _ROLE_WORDS or (word == "to" and directional)

    roles: dict[str, tuple[str, ...]] = {}
    for i, word in enumerate(words):
        if is_role(word) and word not in roles:
            following: list[str] = []
            for later, stem in zip(words[i + 1:], stems[i + 1:]):
                if is_role(later) or len(following) == 2:
                    break
                if stem not in FILLER:
                    following.append(stem)
            if following:
                roles[word] = tuple(following)
    return roles


def _entities_of(text: str, raw_words: list[str]) -> tuple[str, ...]:
    starts = {m.group(1) for m in _SENTENCE_START.finditer(text)}
    found: list[str] = []
    for word in raw_words:
        folded = _fold(word)
        looks_named = (
            (word[0].isupper() and word not in starts)
            or sum(ch.isupper() for ch in word) >= 2
            or any(ch in word for ch in "_.#+/") and any(ch.isalpha() for ch in word)
            or (any(ch.isdigit() for ch in word) and any(ch.isalpha() for ch in word))
            or folded in LEXICON
        )
        shouted = len(word) >= 2 and word.isupper() and word.isalpha()  # US, IT: names
        if looks_named and (folded not in FILLER or shouted) and folded not in NEGATIONS:
            found.append(_stem(folded))
    for match in _QUOTED.finditer(text):
        quoted = next(group for group in match.groups() if group)
        found.append(_fold(quoted))
    return tuple(dict.fromkeys(found))


def _fold(word: str) -> str:
    word = word.lower().replace("’", "'")
    return word[:-2] if word.endswith("'s") else word


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _is_number(word: str) -> bool:
    return bool(_NUMBER.fullmatch(word)) or word in _NUMBER_WORDS or word in _ORDINALS


def _canonical_number(token: str) -> str:
    token = token.replace(",", "") if re.fullmatch(r"\d{1,3}(,\d{3})+", token) else token
    try:
        value = float(token.rstrip("%"))
        text = f"{value:g}"
    except ValueError:
        text = token.rstrip("%")
    return text + ("%" if token.endswith("%") else "")
