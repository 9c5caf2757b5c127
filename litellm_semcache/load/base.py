"""The policy a request is served under, given the load of the model it is routed to."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from litellm_semcache.config import CategoryPolicy, LoadPolicySettings

OFF, UNKNOWN, NORMAL, OVERLOADED = "off", "unknown", "normal", "overloaded"


@dataclass(frozen=True, slots=True)
class Effective:
    """The policy one request is served under (recorded on its decision): the cosine gate,
    the TTL of an answer stored now and the verifier's operating point (None: the category's
    own ``verifier_threshold``)."""

    threshold: float
    ttl_seconds: int
    state: str = OFF
    score: float | None = None
    ramp: float = 0.0
    relaxed: bool = False  # gate or operating point lowered, or TTL stretched, for this category
    verifier_threshold: float | None = None


class Load(Protocol):
    """What the engine asks of a load policy (static or adaptive)."""

    settings: LoadPolicySettings

    def effective(self, policy: CategoryPolicy, deployment: str | None,
                  model_group: str | None) -> Effective: ...
    def states(self) -> dict[str, tuple[str, float | None]]: ...
    def add_model_list(self, model_list: Iterable[Mapping[str, Any]]) -> int: ...
    def start(self) -> None: ...
    def close(self) -> None: ...


class StaticLoad:
    """The load policy switched off: every category is served its configured threshold/TTL."""

    def __init__(self, settings: LoadPolicySettings) -> None:
        self.settings = settings

    def effective(self, policy: CategoryPolicy, deployment: str | None,
                  model_group: str | None) -> Effective:
        return Effective(policy.similarity_threshold, policy.ttl_seconds,
                         verifier_threshold=policy.verifier_threshold)

    def states(self) -> dict[str, tuple[str, float | None]]:
        return {}

    def add_model_list(self, model_list: Iterable[Mapping[str, Any]]) -> int:
        return 0

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass
