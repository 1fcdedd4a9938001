"""Structured logging to stderr: key=value for people, JSON for machines."""

from __future__ import annotations

import logging
import sys

import stamina
import structlog


class _CurrentStderr:
    """Writes to whatever `sys.stderr` is at the time, not the stream at configure time."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure(level: str = "WARNING", json: bool = False) -> None:
    """Route structlog (and the standard library's loggers) to stderr at `level`."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}; use DEBUG, INFO, WARNING or ERROR")
    logging.basicConfig(stream=sys.stderr, level=numeric, format="%(message)s", force=True)
    for chatty in ("httpx", "httpcore"):  # one line per request; DEBUG still shows them
        logging.getLogger(chatty).setLevel(
            max(numeric, logging.WARNING) if numeric > logging.DEBUG else numeric
        )
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    # the API session logs each retry itself, naming the request; stamina's own hook would log
    # it again as a warning without saying which request
    stamina.instrumentation.set_on_retry_hooks([])
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
