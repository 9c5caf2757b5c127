"""Decisions about a request's text: its category, and whether a stored prompt is the same
request (the verifier and its lexical guard)."""

from litellm_semcache.classify.categories import Categorizer
from litellm_semcache.classify.verifier import Candidate, GuardVerifier, ScoredVerifier, Verifier

__all__ = ["Candidate", "Categorizer", "GuardVerifier", "ScoredVerifier", "Verifier"]
