"""structlog set-up: JSON lines in production, readable console output in development.

Every record, Tocsin's and other libraries' (uvicorn's, SQLAlchemy's), is rendered by the
same processors and handed to one queue; a listener thread writes the queue to stderr. So a
slow or stalled stderr (a full pipe, a busy journald) never holds up the thread that logged,
and the event loop in particular: a record that finds the queue full is dropped and counted.

Tracebacks are bounded in every format: the innermost `MAX_FRAMES` frames of each exception
in a chain, no local variables, at most `MAX_LINES` lines of `MAX_LINE_CHARS` characters.
"""

from __future__ import annotations

import atexit
import logging
import queue
import sys
import traceback
from logging.handlers import QueueHandler, QueueListener
from typing import TextIO

import structlog
from structlog.typing import ExcInfo

from tocsin.config import Settings

MAX_FRAMES = 20
MAX_LINES = 120
MAX_LINE_CHARS = 500
QUEUE_SIZE = 10_000

_listener: QueueListener | None = None
_handler: logging.Handler | None = None


def format_traceback(exc_info: ExcInfo) -> str:
    """The exception as text, bounded (see the module's docstring)."""
    exc_type, exc, tb = exc_info
    summary = traceback.TracebackException(
        exc_type, exc, tb, limit=-MAX_FRAMES, max_group_width=5, max_group_depth=3
    )
    lines = [
        line if len(line) <= MAX_LINE_CHARS else f"{line[:MAX_LINE_CHARS]}… (cut)"
        for line in "".join(summary.format()).splitlines()
    ]
    if len(lines) > MAX_LINES:
        # The end names the exception raised last and where; the start, the first cause.
        head, tail = MAX_LINES // 3, MAX_LINES - MAX_LINES // 3 - 1
        cut = len(lines) - head - tail
        lines = [*lines[:head], f"  … {cut} lines left out …", *lines[-tail:]]
    return "\n".join(lines)


def _console_traceback(sio: TextIO, exc_info: ExcInfo) -> None:
    sio.write("\n" + format_traceback(exc_info))


class _DroppingQueueHandler(QueueHandler):
    """Renders in the logging thread and queues without waiting; drops when the queue is full
    and says how many records it dropped once there is room again."""

    dropped = 0

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            if self.dropped:
                note = f"[tocsin.logging] {self.dropped} log records dropped: stderr is behind"
                self.queue.put_nowait(logging.makeLogRecord({"msg": note}))
                self.dropped = 0
            self.queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1


def _start_listener() -> QueueListener:
    global _listener
    if _listener is None:
        records: queue.Queue[logging.LogRecord] = queue.Queue(QUEUE_SIZE)
        _listener = QueueListener(records, logging.StreamHandler(sys.stderr))
        _listener.start()
        atexit.register(_listener.stop)  # writes what is still queued
    return _listener


def configure_logging(settings: Settings) -> None:
    global _handler
    level = logging.getLevelName(settings.log_level.upper())
    if not isinstance(level, int):
        level = logging.INFO
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    rendering: list[structlog.types.Processor]
    if settings.json_logs:
        rendering = [
            structlog.processors.ExceptionRenderer(format_traceback),
            structlog.processors.JSONRenderer(),
        ]
    else:
        rendering = [
            structlog.dev.ConsoleRenderer(
                colors=sys.stderr.isatty(), exception_formatter=_console_traceback
            )
        ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    handler = _DroppingQueueHandler(_start_listener().queue)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering],
        )
    )
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    root.addHandler(handler)
    root.setLevel(level)
    _handler = handler
