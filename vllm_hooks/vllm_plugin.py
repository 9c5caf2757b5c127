"""vLLM stat-logger plugin: ``vllm serve`` loads it through the ``vllm.stat_logger_plugins``
entry point once ``litellm-semcache`` is installed in the vLLM environment (vLLM >= 0.12).

This module imports vLLM (the class must subclass vLLM's ``StatLoggerBase``); everything else is
in :mod:`vllm_hooks.exporter`, which does not. One publisher thread per API-server process
serves every engine's logger instance.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from vllm.v1.metrics.loggers import StatLoggerBase

from vllm_hooks.exporter import PushPublisher, StepRecorder, publisher_from_env

logger = logging.getLogger("vllm.semcache_load")  # under "vllm": shows in its log
_publisher: PushPublisher | None = None
_publisher_lock = threading.Lock()


def _shared_publisher(served_name: str | None) -> PushPublisher | None:
    global _publisher
    with _publisher_lock:
        if _publisher is None:
            _publisher = publisher_from_env(served_name)
            if _publisher is not None:
                _publisher.start()
                logger.info("litellm-semcache load plugin: pushing %s to %s:%s",
                            _publisher.deployment, *_publisher.target)
        return _publisher


class LoadSignalStatLogger(StatLoggerBase):
    """Copies queue depth, KV usage, preemptions and TTFT per step; never raises, never blocks."""

    def __init__(self, vllm_config: Any, engine_index: int = 0) -> None:
        self.engine_index = engine_index
        self._recorder: StepRecorder | None = None
        try:  # an exception here would abort the server start
            publisher = _shared_publisher(_served_name(vllm_config))
            if publisher is not None:
                self._recorder = publisher.recorder(engine_index)
            else:
                logger.info("litellm-semcache load plugin: SEMCACHE_VLLM_PUSH unset, inactive")
        except Exception as exc:  # noqa: BLE001
            logger.warning("litellm-semcache load plugin disabled: %s", exc)

    def record(self, scheduler_stats: Any = None, iteration_stats: Any = None,
               *args: Any, **kwargs: Any) -> None:
        recorder = self._recorder
        if recorder is not None:
            recorder.record(scheduler_stats, iteration_stats)  # try/except inside

    def log_engine_initialized(self) -> None:
        pass

    def log(self) -> None:
        pass


def _served_name(vllm_config: Any) -> str | None:
    model_config = getattr(vllm_config, "model_config", None)
    name = getattr(model_config, "served_model_name", None)
    if isinstance(name, (list, tuple)):
        name = name[0] if name else None
    return str(name) if name else None
