"""Logs, metrics and the cost book: what the cache did, as operators read it."""
