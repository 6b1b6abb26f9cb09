"""The kit's messages go through :mod:`logging`, under the ``cornkit`` logger; only the command line shows them.

Library modules log to ``logging.getLogger(__name__)`` and never write to the streams, so a
notebook or a program that imports cornkit silences or redirects it with standard logging
configuration (``logging.disable``, ``logging.getLogger("cornkit").setLevel(...)``, its own
handlers). The command line (and through it every kernel) attaches :func:`console` for the
duration of one command: one plain line per message on stderr, warnings prefixed, so that
stdout keeps only what a command prints as its result (its last line: the run id or path).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

ROOT = "cornkit"


class _LineFormatter(logging.Formatter):
    """The message alone; a warning or an error says so first, as the kit's lines always have."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno >= logging.ERROR:
            return f"error: {message}"
        if record.levelno >= logging.WARNING:
            return f"warning: {message}"
        return message


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is when a record comes: the redaction wrapper the CLI installs, or a test's capture."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def console(level: int = logging.INFO) -> Iterator[None]:
    """Show the kit's messages at ``level`` and above on stderr while the block runs, then restore the logger as it was."""
    logger = logging.getLogger(ROOT)
    if any(isinstance(h, _StderrHandler) for h in logger.handlers):
        yield  # already shown (a command run inside another, or a test that attached it): one line per message, never two
        return
    handler = _StderrHandler(level)
    handler.setFormatter(_LineFormatter())
    previous_level, previous_propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False  # one line per message, even where the root logger has handlers of its own
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous_level)
        logger.propagate = previous_propagate
