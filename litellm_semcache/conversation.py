"""The part of a conversation's history that decides the answer to its last turn.

Earlier turns used to be hashed verbatim into the request scope, so the same conversation
with a greeting in front, an assistant reply worded otherwise or a comma moved never shared an
answer (0% reuse of equivalent conversations). Now the history is split in two:

- into the exact scope (:func:`history_key`): system messages, tool calls and results, any
  non-text content, exactly as sent; and of assistant turns only what they name (names, quoted
  text, numbers), in order of first appearance: "That's a lot of DOM nodes; virtualise the
  list" and "Rendering that many DOM nodes is slow, list virtualisation fixes it" agree, two
  different lists of suggestions that a later "tell me more about the second one" refers to do
  not;
- verified like a prompt (:func:`user_turns`): the user's earlier turns, without small talk
  (greetings, "hope your day is going well"), without questions the user marks as an aside
  ("unrelated, but how long do I boil an egg?", "before I forget, ...?"), and without the
  assistant's replies to either. The request is
  embedded as its user turns together, so a conversation finds the stored one it continues;
  the verifier then requires the same turns once normalised (:func:`normalised`), or a
  conversation at least ``HISTORY_MIN_SIMILARITY`` close whose turns the lexical guard finds
  no answer-changing difference in (another component, another constraint, a correction: a
  name, a number, a negation).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from litellm_semcache.classify.spelling import normalised  # noqa: F401 - part of this API
from litellm_semcache.classify.spelling import words as spelled_words
from litellm_semcache.classify.lexicon import COURTESY, FILLER

_NAME = re.compile(r"\d+(?:[.,]\d+)*|(?<=[a-z,;] )[A-Z][A-Za-z0-9]+|`[^`]+`|\"[^\"]+\"")
_STRETCHED = re.compile(r"(\w)\1{2,}")  # "heyyy" -> "hey"
_SMALL_TALK = frozenset(
    "good morning afternoon evening night day days hope hoping going well great fine nice how "
    "are you doing hello hi hey thanks thank weekend today weather lovely happy glad meet "
    "pleasure hows sup yo there everyone ok okay cool awesome morning's it's wonderful "
    "having been so far busy week yourself slept sleep bored work sunny rainy finally ugh "
    "monday mondays friday fridays happy new year luck wish chaos crazy long tired here being "
    "using first time lol haha omg yay wow whats up chat chatting again back hiya".split()) | COURTESY
_SMALL_TALK_MAX_WORDS = 20
# A question the user declares beside the point: its answer never changes the later turns'.
_ASIDE = re.compile(r"\b(?:unrelated|off[- ]topic|before i forget|by the way|btw|side question|"
                    r"before that|random (?:one|question|thing)|(?:lol|ok|okay) random)\b",
                    re.IGNORECASE)


def user_turns(history: list[Any]) -> tuple[str, ...]:
    """The user's earlier text turns that are not small talk, as sent."""
    return tuple(message["content"] for message in history
                 if isinstance(message, Mapping) and message.get("role") == "user"
                 and isinstance(message.get("content"), str)
                 and set(message) <= {"role", "content", "name"}
                 and not beside_the_point(message["content"]))


def history_key(history: list[Any]) -> str:
    """Canonical text of what the scope hashes of the turns before the last one (everything
    but the user's text turns, which :func:`user_turns` lists for the verifier): exact
    non-text turns, and the names the assistant's text turns mention, in order, once each."""
    kept: list[Any] = []
    named: list[str] = []
    skip_reply = False
    for message in history:
        if not isinstance(message, Mapping):
            kept.append(_exact(message))
            continue
        role, content = message.get("role"), message.get("content")
        plain = isinstance(content, str) and set(message) <= {"role", "content", "name"}
        if role == "user" and plain:
            skip_reply = beside_the_point(content)
            continue
        if role == "assistant" and plain:
            if not skip_reply:
                named.extend(names_in(content))
            skip_reply = False
            continue
        skip_reply = False
        kept.append(_exact(message))
    names = list(dict.fromkeys(named))
    if not (kept or names):
        return "[]"  # as a request without history was always scoped: its entries stay valid
    return json.dumps([kept, names], separators=(",", ":"))


def names_in(text: str) -> list[str]:
    """Digits, quoted text and capitalised words inside a sentence: what an answer names
    (a word list of the guard would also keep "GROUP BY" or "once", which wording varies)."""
    found = [match.group(0).lower() for match in _NAME.finditer(text)]
    return [name for name in found if name not in FILLER]


def beside_the_point(text: str) -> bool:
    """Small talk, or a question marked as an aside: left out of what is compared."""
    return is_small_talk(text) or ("?" in text and bool(_ASIDE.search(text)))


def is_small_talk(text: str) -> bool:
    """Greetings and chit-chat only ("heyyy, hope you slept well lol"): no number, no name, no
    word that could carry a fact or a constraint."""
    if any(ch.isdigit() for ch in text):
        return False
    words = [_STRETCHED.sub(r"\1", word) for word in spelled_words(text)]
    return 0 < len(words) <= _SMALL_TALK_MAX_WORDS and all(
        word in _SMALL_TALK or word in FILLER for word in words)


def _exact(message: Any) -> Any:
    return json.loads(json.dumps(message, sort_keys=True, default=repr))
