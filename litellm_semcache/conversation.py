"""The part of a conversation's history that decides the answer to its last turn.

Earlier turns used to be hashed verbatim into the request scope, so the same conversation
with a greeting in front, an assistant reply worded otherwise or a comma moved never shared an
answer (0% reuse of equivalent conversations). The scope now holds a *normalised* history:

- system messages, tool calls and tool results, and any non-text content: exactly as sent;
- user turns: lower-cased, punctuation and spacing dropped, one spelling per regional variant;
  small-talk turns (greetings, "hope your day is going well") and the assistant's reply to
  them are left out: they never change what the last turn asks;
- assistant turns: only what they name (names, quoted text, numbers), in order of first
  appearance: "That's a lot of DOM nodes; virtualise the list" and "Rendering that many DOM
  nodes is slow, list virtualisation fixes it" agree, two different lists of suggestions that
  a later "tell me more about the second one" refers to do not.

A history that changes what the last turn refers to (another component, another constraint, a
correction) changes a user turn or a name, hence the scope: such conversations never share an
entry. Reworded user turns do not match either (deliberately: cheap and exact, no embedding).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from litellm_semcache.classify.guard import profile
from litellm_semcache.classify.spelling import canonical
from litellm_semcache.classify.spelling import words as spelled_words
from litellm_semcache.classify.lexicon import COURTESY, FILLER

_NOT_WORD = re.compile(r"[^a-z0-9]+")
_STRETCHED = re.compile(r"(\w)\1{2,}")  # "heyyy" -> "hey"
_SMALL_TALK = frozenset(
    "good morning afternoon evening night day days hope hoping going well great fine nice how "
    "are you doing hello hi hey thanks thank weekend today weather lovely happy glad meet "
    "pleasure hows sup yo there everyone ok okay cool awesome morning's it's wonderful "
    "having been so far busy week yourself slept sleep bored work sunny rainy finally ugh "
    "monday mondays friday fridays happy new year luck wish chaos crazy long tired here being "
    "using first time lol haha omg yay wow whats up chat chatting again back hiya".split()) | COURTESY
_SMALL_TALK_MAX_WORDS = 20


def history_key(history: list[Any]) -> str:
    """Canonical text of the turns before the last one (what the scope hashes)."""
    kept: list[Any] = []
    skip_reply = False
    for message in history:
        if not isinstance(message, Mapping):
            kept.append(_exact(message))
            continue
        role, content = message.get("role"), message.get("content")
        plain = isinstance(content, str) and set(message) <= {"role", "content", "name"}
        if role == "user" and plain:
            skip_reply = is_small_talk(content)
            if not skip_reply:
                kept.append(["user", normalised(content)])
            continue
        if role == "assistant" and plain:
            if not skip_reply:
                kept.append(["assistant", names_in(content)])
            skip_reply = False
            continue
        skip_reply = False
        kept.append(_exact(message))
    return json.dumps(kept, separators=(",", ":"))


def normalised(text: str) -> str:
    """Lower case, words and numbers only, one spelling per regional variant."""
    return " ".join(canonical(token) for token in _NOT_WORD.sub(" ", text.lower()).split())


def names_in(text: str) -> list[str]:
    found = profile(text)
    return list(dict.fromkeys(found.entities + found.numbers))


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
