"""structlog defaults for applications that did not configure structlog themselves."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from litellm_semcache.engine.decision import Decision


def configure_logging(level: str = "info") -> None:
    """JSON lines on stderr at ``level``; a no-op when the application configured structlog."""
    if structlog.is_configured():
        return
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        # Not cached: module-level loggers then follow a later configuration (an application's
        # own, structlog.testing.capture_logs) instead of the first one forever (~2 µs/event).
        cache_logger_on_first_use=False,
    )


_log = structlog.get_logger("litellm_semcache")


def log_decision(decision: "Decision", prompt: str | None = None) -> None:
    """One ``semcache.decision`` event per request (the prompt only when configured)."""
    fields = decision.as_dict()
    if fields["similarity"] is not None:
        fields["similarity"] = round(float(fields["similarity"]), 4)
    fields["latency_ms"] = round(fields["latency_ms"], 3)
    if prompt is not None:
        fields["prompt"] = prompt
    _log.info("semcache.decision", **fields)
