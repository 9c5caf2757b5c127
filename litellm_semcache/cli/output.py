"""Shared output helpers of the command line."""

from __future__ import annotations

import sys

from rich.console import Console


def console() -> Console:
    return Console(width=None if sys.stdout.isatty() else 140)


def number(value: float | None) -> str:
    if value is None or value != value:
        return "-"
    return f"{value:.3f}" if value % 1 else str(int(value))


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
