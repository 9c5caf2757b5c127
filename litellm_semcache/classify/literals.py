"""The parts of a prompt that must match exactly for two prompts to be the same request.

An embedding reads "def f(x):\\n    return x" and the same code unindented as one text, and
``print("a    b")`` as ``print("a b")``; "What is 2⁵?" lands next to "What is 25?". In code,
quoted strings and mathematical notation one character is the whole question, so the verifier
compares these parts literally: fenced and inline code, quoted strings, the indentation of
every line, and characters that only look like others (superscripts, ligatures, full-width
forms: the ones Unicode compatibility folding would change). Prose around them may differ.
"""

from __future__ import annotations

import re
import unicodedata

_FENCED = re.compile(r"```.*?(?:```|$)", re.DOTALL)
_INLINE = re.compile(r"`[^`\n]*`")
_QUOTED = re.compile(r'"[^"\n]*"|\u201c[^\u201d\n]*\u201d|(?<!\w)\'[^\'\n]*\'(?!\w)')
_INDENT = re.compile(r"^[ \t]+", re.MULTILINE)


def differ(asked: str, stored: str) -> bool:
    """True when the literal parts of the two prompts are not the same."""
    return _literals(asked.strip()) != _literals(stored.strip())


def _literals(text: str) -> tuple[tuple[str, ...], ...]:
    fenced = tuple(_FENCED.findall(text))
    rest = _FENCED.sub(" ", text)
    return (fenced, tuple(_INLINE.findall(rest)), tuple(_QUOTED.findall(rest)),
            tuple(_INDENT.findall(text)),
            tuple(c for c in text if not c.isspace() and unicodedata.normalize("NFKC", c) != c))
