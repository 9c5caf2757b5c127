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

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_+#]*(?:['’][A-Za-z]+)?(?:[.\-/][A-Za-z0-9_+#]+)*")
_NUMBER = re.compile(r"(?<![A-Za-z])[-+]?\d+(?:[.,:/]\d+)*%?")
_QUOTED = re.compile(r"`([^`]+)`|\"([^\"]+)\"|(?<![A-Za-z])'([^'\n]+?)'(?![A-Za-z])")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\n]\s*)([A-Za-z][\w'’]*)")

NEGATIONS = frozenset(
    "not no never without none nobody nothing neither nor cannot cant dont doesnt didnt isnt "
    "arent wasnt werent wont wouldnt shouldnt couldnt hasnt havent hadnt mustnt neednt "
    "unable avoid prevent".split()
)
_ANTONYM_PAIRS = """
on off open close open closed opened closed enable disable enabled disabled start stop start end
begin end increase decrease increasing decreasing raise lower add remove added removed before after
above below max min maximum minimum more less more fewer most least higher lower highest lowest
greater less greater smaller larger smaller largest smallest bigger smaller biggest smallest big small
long short longest shortest longer shorter fast slow faster slower fastest slowest best worst better worse
buy sell buying selling bought sold up down upload download import export input output true false
yes no allow deny allow block allowed blocked accept reject include exclude inner outer left right
first last ascending descending asc desc push pull read write win lose won lost pros cons
advantages disadvantages hot cold positive negative success failure succeed fail public private
internal external local remote client server frontend backend old new oldest newest older newer
earliest latest past future sync async synchronous asynchronous send receive encode decode
serialize deserialize connect disconnect plus minus add subtract multiply divide male female
men women man woman north south east west morning evening day night summer winter cheap expensive
cheapest most safe unsafe lowercase uppercase horizontal vertical row column rows columns create delete
create drop insert delete show hide visible hidden light dark online offline forward backward inbound
outbound ingress egress debit credit borrow lend over under overweight underweight inside outside
internal external maximize minimize maximise minimise import export entry exit arrival departure
profit loss gain loss bullish bearish long short rise fall rising falling import export
good bad key value get post stack queue push pop prefix suffix head tail mean median union
intersection local global absolute relative encrypt decrypt width height lend borrow
happy sad happy unhappy love hate like dislike easy hard easy difficult simple complex
strong weak rich poor young old alive dead healthy sick early late full empty clean dirty
loud quiet tall short thick thin wet dry heavy light husband wife mother father brother sister
son daughter boy girl always never friend enemy pass fail agree disagree
""".split()
_PREFIX_PAIRS = (("hyper", "hypo"), ("over", "under"), ("pre", "post"), ("inter", "intra"),
                 ("micro", "macro"), ("max", "min"), ("up", "down"), ("in", "out"))
_PRIVATIVE_SUFFIXES = ("free", "less")
_NEGATING_PREFIXES = ("un", "dis", "in", "im", "il", "ir", "non", "de", "anti", "mis")
_NUMBER_WORDS = {
    word: str(value) for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split())
} | {"thirty": "30", "forty": "40", "fifty": "50", "hundred": "100", "thousand": "1000",
     "million": "1000000", "billion": "1000000000", "half": "0.5", "quarter": "0.25",
     "double": "x2", "twice": "x2", "triple": "x3", "once": "x1"}
_ORDINALS = {word: f"{value}th" for value, word in enumerate(
    "zeroth first second third fourth fifth sixth seventh eighth ninth tenth".split())}
TEMPORAL = frozenset(
    "today tomorrow yesterday tonight now currently current presently recent recently latest next "
    "previous last ago upcoming annual annually monthly weekly daily hourly quarterly january "
    "february march april june july august september october november december monday tuesday "
    "wednesday thursday friday saturday sunday q1 q2 q3 q4 h1 h2 ytd".split()
)
_IMPLICIT_NOW = frozenset({"now"})
_TEMPORAL_SYNONYMS = {"current": "now", "currently": "now", "presently": "now", "today": "now",
                      "recently": "recent", "latest": "recent"}
UNITS = frozenset(
    "usd eur gbp jpy cny inr chf cad aud btc eth dollar dollars euro euros pound pounds yen yuan "
    "rupee rupees km kilometers kilometres mile miles meter meters metre metres feet foot inch "
    "inches cm mm kg kilogram kilograms lb lbs gram grams ounce ounces celsius fahrenheit kelvin "
    "liter liters litre litres gallon gallons mph kmh bytes kb mb gb tb kib mib gib ms seconds "
    "minutes hours days weeks months years percent bps".split()
)
QUANTIFIERS = frozenset(
    "all every each some any only single both entire whole many few several most none "
    "always sometimes often rarely usually per".split()
)
_QUANTIFIER_SYNONYMS = {"every": "all", "each": "all", "entire": "all", "whole": "all"}
# Lower-case names that still decide the answer (languages, platforms, natural languages).
LEXICON = frozenset(
    "python java javascript typescript golang go rust ruby php perl kotlin swift scala haskell "
    "c c++ c# cpp csharp fortran cobol lua r matlab julia dart elixir erlang clojure bash zsh "
    "powershell sql mysql postgres postgresql sqlite mongodb redis kafka spark hadoop pandas numpy "
    "react vue angular svelte django flask fastapi rails spring node nodejs deno express nextjs "
    "linux windows macos ios android ubuntu debian fedora centos docker kubernetes k8s terraform "
    "aws azure gcp git svn html css json yaml xml csv toml tensorflow pytorch keras "
    "english french german spanish italian portuguese chinese japanese korean russian arabic "
    "hindi dutch swedish polish turkish greek hebrew latin".split()
)
FILLER = frozenset(
    "a an the please kindly can could would will should you me my i we us our your to of in "
    "on for with about is are was were be been do does did how what which who whom whose why "
    "when where tell explain show help give know want need like way ways thing things something "
    "quick quickly simple simply easy easily exactly actually really basically briefly example "
    "examples question hey hi hello thanks thank ok okay it its this that these those there here "
    "and or but so if then than as at by from into onto it's what's how's whats hows im i'm get "
    "got make use using used find out some any just also very much many mean means meaning "
    "difference between describe definition define best good proper correct recommended preferred "
    "common standard have has had doing done whether am be been being item items stuff "
    "piece running called named possible able".split()
) - NEGATIONS - QUANTIFIERS


def _build_antonyms() -> dict[str, frozenset[str]]:
    table: dict[str, set[str]] = {}
    for left, right in zip(_ANTONYM_PAIRS[::2], _ANTONYM_PAIRS[1::2]):
        table.setdefault(left, set()).add(right)
        table.setdefault(right, set()).add(left)
    return {word: frozenset(others) for word, others in table.items()}


_ANTONYMS = _build_antonyms()


@dataclass(frozen=True)
class _Profile:
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


def check(query: str, candidate: str) -> str | None:
    """Return why ``candidate`` must not answer ``query`` (a short reason), or None if it may."""
    if query == candidate:
        return None
    q, c = _profile(query), _profile(candidate)
    for rule in _RULES:
        reason = rule(q, c)
        if reason:
            return reason
    return None


def _parts_present(entity: str, profile: _Profile) -> bool:
    """"if/else" matches "if else", "os.path" matches "os path": the same words, split."""
    parts = [part for part in re.split(r"[/._\-]", entity) if part]
    return len(parts) > 1 and all(part in profile.words or part in profile.stems for part in parts)


def _negation(q: _Profile, c: _Profile) -> str | None:
    return "negation" if q.negations != c.negations else None


def _antonym(q: _Profile, c: _Profile) -> str | None:
    only_q, only_c = q.stems - c.stems, c.stems - q.stems
    for word in only_q:
        if _ANTONYMS.get(word, frozenset()) & only_c:
            return "antonym"
        for other in only_c:
            if _prefix_opposites(word, other):
                return "antonym"
    return None


def _prefix_opposites(a: str, b: str) -> bool:
    for prefix in _NEGATING_PREFIXES:
        if (a == prefix + b or b == prefix + a) and min(len(a), len(b)) >= 3:
            return True
    for left, right in _PREFIX_PAIRS:
        for x, y in ((a, b), (b, a)):
            if x.startswith(left) and y.startswith(right) and x[len(left):] == y[len(right):] \
                    and len(x) - len(left) >= 3:
                return True
    return _suffix_opposites(a, b) or _suffix_opposites(b, a)


def _suffix_opposites(a: str, b: str) -> bool:
    """"tax-free" vs "taxable", "harmless" vs "harmful": a privative suffix on one side, the
    same stem with another ending (or none) on the other."""
    for suffix in _PRIVATIVE_SUFFIXES:
        stem = a.removesuffix(suffix).rstrip("-")
        if stem != a and len(stem) >= 3 and b.startswith(stem) and len(b) - len(stem) <= 5 \
                and not b.endswith(_PRIVATIVE_SUFFIXES):
            return True
    return False


def _numbers(q: _Profile, c: _Profile) -> str | None:
    if sorted(q.numbers) != sorted(c.numbers):
        return "number"
    return None


def _temporal_and_units(q: _Profile, c: _Profile) -> str | None:
    if q.temporal != c.temporal and (q.temporal and c.temporal or
                                     (q.temporal | c.temporal) - _IMPLICIT_NOW):
        return "date"  # an unqualified question is about now: "today" vs nothing is no change
    if q.units != c.units:
        return "unit"
    return None


def _entities(q: _Profile, c: _Profile) -> str | None:
    for mine, theirs in ((q, c), (c, q)):
        for entity in mine.entities:
            if " " in entity:
                if f" {entity} " not in f" {theirs.text} ":
                    return "entity"
            elif entity not in theirs.stems and entity not in theirs.words \
                    and not _parts_present(entity, theirs):
                return "entity"
    return None


def _order(q: _Profile, c: _Profile) -> str | None:
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
    if q.content != c.content and sorted(q.content) == sorted(c.content) \
            and len(q.content) <= _MAX_ORDER_WORDS and not _one_block_moved(q.content, c.content):
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


def _scope(q: _Profile, c: _Profile) -> str | None:
    if q.quantifiers != c.quantifiers:
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


_RULES = (_negation, _antonym, _numbers, _temporal_and_units, _entities, _order, _scope)


_PERCENT_WORD = re.compile(r"(\d)\s*(?:percent|per cent)\b", re.IGNORECASE)
_HOW_MANY = re.compile(r"\bhow (many|much)\b", re.IGNORECASE)


@lru_cache(maxsize=4096)
def _profile(text: str) -> _Profile:
    # "15 percent" is "15%"; "how many" asks for a count rather than quantifying anything.
    text = _HOW_MANY.sub("how", _PERCENT_WORD.sub(r"\1%", text))
    raw_words = _WORD.findall(text)
    words = tuple(_fold(w) for w in raw_words)
    stems = tuple(_stem(w) for w in words)
    numbers = tuple(_canonical_number(n) for n in _NUMBER.findall(text)) + tuple(
        _NUMBER_WORDS.get(w) or _ORDINALS[w] for w in words if w in _NUMBER_WORDS or w in _ORDINALS)
    return _Profile(
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
        units=frozenset(_stem(w) for w in words if w in UNITS),
        quantifiers=frozenset(_QUANTIFIER_SYNONYMS.get(w, w) for w in words if w in QUANTIFIERS),
        text=" ".join(words),
    )


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
        if looks_named and folded not in FILLER and folded not in NEGATIONS:
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
