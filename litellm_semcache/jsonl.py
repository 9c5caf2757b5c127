"""Reading user-supplied JSONL files (warm pairs, labelled pairs) with line-numbered errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from litellm_semcache.errors import SemcacheError


def read_records(path: Path, valid: Callable[[Any], bool], expected: str) -> list[dict[str, Any]]:
    """Every non-blank line of ``path`` as a JSON object; a line that is not JSON, or fails
    ``valid``, is a :class:`SemcacheError` naming the file, the line and ``expected``."""
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SemcacheError(f"{path}:{number}: not JSON: {exc.msg}") from None
        if not isinstance(record, dict) or not valid(record):
            raise SemcacheError(f"{path}:{number}: expected {expected}")
        records.append(record)
    return records
