"""One cached answer as the document store keeps it: JSON bytes, never a pickle, and a
checksum over them, so a flipped byte on disk is a miss, never a served answer.

Layout: ``{"sum":"<blake2b-128 hex of the rest>",<the document's JSON fields>}``. It stays
plain JSON (the Redis scripts decode it), and checking it needs no re-serialisation: the
checksum covers the exact bytes after its own field.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import orjson

from litellm_semcache.errors import CorruptDocument

DOCUMENT_VERSION = 2  # 2: checksummed, category_source (version 1 documents are dropped)
# Category sources that depend on the prompt alone (rules, centroid, the default fallback), so
# the same prompt gets the same category again; "metadata" is a client's label.
PROMPT_SOURCES = frozenset({"rule", "centroid", "classifier", "default"})  # from the prompt itself
_HEAD = b'{"sum":"'
_SUM_HEX = 32


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
    category_source: str = ""  # how the category was chosen: metadata, rule, centroid, default
    history: list[str] = field(default_factory=list)  # the user's earlier turns, verified
    # Kept this long past its TTL, to be served only while the model is overloaded
    # (load/stale.py): ``expires_at`` is when the entry leaves, ``fresh_until`` when it expired.
    stale_grace_seconds: float = 0.0

    def to_bytes(self) -> bytes:
        fields = asdict(self)
        fields["vector"] = base64.b64encode(self.vector.astype("<f4").tobytes()).decode("ascii")
        fields["v"] = DOCUMENT_VERSION
        if not self.stale_grace_seconds:  # without a grace, the format older versions read
            del fields["stale_grace_seconds"]
        body = orjson.dumps(fields)
        return _HEAD + _checksum(body).encode("ascii") + b'",' + body[1:]

    @classmethod
    def from_bytes(cls, raw: bytes) -> "Document":
        """Decode stored bytes; :class:`CorruptDocument` for anything that is not a document
        exactly as it was written."""
        body = _verified_body(bytes(raw))
        try:
            fields = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise CorruptDocument(f"undecodable document: {exc}") from None
        if not isinstance(fields, dict) or fields.pop("v", None) != DOCUMENT_VERSION:
            raise CorruptDocument("unknown document format")
        try:
            fields["vector"] = np.frombuffer(base64.b64decode(fields["vector"]), dtype="<f4").copy()
            return cls(**fields)
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptDocument(f"malformed document: {exc}") from None

    @property
    def fresh_until(self) -> float:
        """When the answer expired (or expires); it is kept until ``expires_at``."""
        return self.expires_at - self.stale_grace_seconds

    @property
    def ttl_seconds(self) -> float:
        """The TTL it was stored with (its grace not included)."""
        return self.fresh_until - self.created_at

    @property
    def kept_seconds(self) -> float:
        """How long the store keeps it: its TTL and its grace."""
        return self.expires_at - self.created_at


def _verified_body(raw: bytes) -> bytes:
    """The document's own JSON (``{...}``), once its checksum matched."""
    start = len(_HEAD) + _SUM_HEX
    if not raw.startswith(_HEAD) or raw[start:start + 2] != b'",':
        raise CorruptDocument("no checksum (not a document, or an older format)")
    body = b"{" + raw[start + 2:]
    if _checksum(body).encode("ascii") != raw[len(_HEAD):start]:
        raise CorruptDocument("checksum mismatch: the stored bytes changed")
    return body


def _checksum(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=16).hexdigest()
