"""Exceptions a user of litellm-semcache can catch."""

from __future__ import annotations


class SemcacheError(Exception):
    """Base class for every error raised on purpose by litellm-semcache."""


class ConfigError(SemcacheError, ValueError):
    """The policy file or settings are invalid; the message names the offending key."""


class StoreError(SemcacheError):
    """The document store refused an operation (e.g. a pickled row was found)."""


class InvalidRequest(SemcacheError, ValueError):
    """A request's cache controls or category are malformed; the message says which and why.
    The proxy answers it with HTTP 400."""


class CorruptDocument(StoreError):
    """A stored document is not what was written (checksum mismatch, truncated, undecodable):
    it is never served, and the entry is dropped."""
