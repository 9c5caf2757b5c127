"""Formatting shared by the README blocks (``bench/readme.py``): a section's description, a
Markdown table, and number formats that only format (never round a figure differently)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Section:
    name: str  # the marker: <!-- bench:NAME -->
    source: str  # under bench/results/
    command: str  # what writes it, for files older than the recorded command
    render: Callable[[Any], list[str]]
    load_in_rows: bool = False  # the rows carry their own load averages


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *["| " + " | ".join(row) + " |" for row in rows]]


def ms(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def percent(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}%}"


def count(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def spread(figure: dict[str, Any], stat: str, digits: int) -> str:
    low, high = figure[f"{stat}_range"]
    return f"{figure[stat]:.{digits}f} ({low:.{digits}f}–{high:.{digits}f})"


def met(passed: int | bool, of: int = 1) -> str:
    passed = int(passed)
    return "yes" if passed == of else "no" if passed == 0 else f"{passed} of {of}"
