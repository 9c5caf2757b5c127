"""The engine: one lookup pipeline, one write path, the in-memory catalogue, start-up."""

from litellm_semcache.engine.decision import Decision, Outcome, Reason
from litellm_semcache.engine.facade import SemanticCache

__all__ = ["Decision", "Outcome", "Reason", "SemanticCache"]
