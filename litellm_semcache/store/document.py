"""One cached answer as the document store keeps it: JSON bytes, never a pickle."""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import orjson

from litellm_semcache.errors import StoreError

DOCUMENT_VERSION = 1


@dataclass
class Document:
    """One cached answer. ``vector`` is kept so the index can be rebuilt without re-embedding."""

    id: str
    category: str
    scope: str
    prompt: str
    normalized: str
    vector: np.ndarray
    response: Any
    created_at: float
    expires_at: float
    model_group: str | None = None
    history: list[str] = field(default_factory=list)  # the user's earlier turns, verified

    def to_bytes(self) -> bytes:
        fields = asdict(self)
        fields["vector"] = base64.b64encode(self.vector.astype("<f4").tobytes()).decode("ascii")
        fields["v"] = DOCUMENT_VERSION
        return orjson.dumps(fields)

    @classmethod
    def from_bytes(cls, raw: bytes) -> "Document":
        """Decode stored bytes; :class:`StoreError` for anything that is not a document."""
        try:
            fields = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise StoreError(f"undecodable document: {exc}") from None
        if not isinstance(fields, dict) or fields.pop("v", None) != DOCUMENT_VERSION:
            raise StoreError("unknown document format")
        try:
            fields["vector"] = np.frombuffer(base64.b64decode(fields["vector"]), dtype="<f4").copy()
            return cls(**fields)
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"malformed document: {exc}") from None

    @property
    def ttl_seconds(self) -> float:
        return self.expires_at - self.created_at
