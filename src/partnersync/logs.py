"""Structured logging to stderr: key=value for people, JSON for machines.

Secrets never reach a log line: tracebacks are rendered without local variables (a frame's
locals may hold the settings or a database URL), and every line — structlog's and the standard
library's — passes `Redactor`, which replaces each configured secret with `***`.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterable
from typing import Any

import stamina
import structlog

MASK = "***"


class Redactor(logging.Filter):
    """Replaces every known secret in log output with `***`; one per process, set at start."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def set(self, secrets: Iterable[str]) -> None:
        with self._lock:  # longest first, so a secret containing another is masked whole
            self._secrets = tuple(
                sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)
            )

    def text(self, value: str) -> str:
        for secret in self._secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return value.encode("utf-8", "backslashreplace").decode("utf-8")  # a vendor's bad text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            record.msg = self.text(record.getMessage())
            record.args = None
        return True

    def __call__(self, _logger: Any, _name: str, rendered: str) -> str:
        """structlog's last processor: the rendered line, traceback included, masked."""
        return self.text(rendered)


REDACTOR = Redactor()


def redact(secrets: Iterable[str]) -> None:
    """Mask these values (API keys, tokens, the database password) in every later log line."""
    REDACTOR.set(secrets)


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
    for handler in logging.getLogger().handlers:
        handler.addFilter(REDACTOR)
    for chatty in ("httpx", "httpcore"):  # one line per request; DEBUG still shows them
        logging.getLogger(chatty).setLevel(
            max(numeric, logging.WARNING) if numeric > logging.DEBUG else numeric
        )
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(),
            exception_formatter=structlog.dev.RichTracebackFormatter(show_locals=False),
        )
    )
    # the API session logs each retry itself, naming the request; stamina's own hook would log
    # it again as a warning without saying which request
    stamina.instrumentation.set_on_retry_hooks([])
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
            REDACTOR,  # type: ignore[list-item]
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
