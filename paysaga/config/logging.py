"""structlog set-up: JSON in production, readable console on a terminal, always redacted."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from paysaga.security.redaction import redact_text, redaction_processor


def _render_exception_redacted(
    logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    # Exceptions are rendered to text first so the redactor sees their messages too.
    rendered = structlog.processors.format_exc_info(logger, method, event_dict)
    if "exception" in rendered and isinstance(rendered["exception"], str):
        rendered["exception"] = redact_text(rendered["exception"])
    return rendered


class _CurrentStderr:
    """sys.stderr looked up at write time, not at configure time.

    Test runners and embedding code swap sys.stderr; a logger that captured the
    old object would keep writing into a closed buffer.
    """

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure_logging(fmt: str = "auto", level: str = "INFO", stream: Any = None) -> None:
    stream = stream or _CurrentStderr()
    if fmt == "auto":
        fmt = "console" if stream.isatty() else "json"
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=True)
        if fmt == "console"
        else structlog.processors.JSONRenderer(sort_keys=True)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _render_exception_redacted,
            redaction_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    # Libraries that use stdlib logging go through the same redaction.
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_RedactingFormatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)
    _route_uvicorn(stream, renderer)


# uvicorn logs "Exception in ASGI application" with the traceback (request data, gateway
# errors) through these; its own handlers would print it unredacted.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


def _route_uvicorn(stream: Any, renderer: Any) -> None:
    """uvicorn's stdlib loggers rendered by structlog: same format, same redaction."""
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_logger_name,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _render_exception_redacted,
            redaction_processor,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.propagate = False


def uvicorn_logging() -> dict[str, Any]:
    """uvicorn.run / uvicorn.Config options that keep configure_logging's routing.

    log_config=None: uvicorn's default dictConfig would put its own unredacted
    handlers back on the loggers above.
    """
    return {"log_config": None, "log_level": "warning", "access_log": False}


class _RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))
