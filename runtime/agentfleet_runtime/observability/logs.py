"""Logging: JSON lines on stdout, ``logs/discord_agent.log`` on a host, secrets never written.

docs/operations.md greps ``logs/discord_agent.log`` for keywords (自発発言, processed
successfully, 長期記憶, Daily Report, API usage, ERROR, WARN), so the file keeps the familiar
``time LEVEL logger: message`` shape while stdout carries JSON for ``kubectl logs`` and log
shippers. Both pass through :class:`RedactingFilter`, then :class:`DeferredHandler`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import logging.handlers
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from agentfleet_runtime.contract import CREDENTIAL_PATTERNS

REDACTED = "[REDACTED]"

# Shapes of secrets we must never log even when they were not configured here (a token
# pasted into a message, a URL with a password).
_SECRET_SHAPES = re.compile(
    "|".join([*CREDENTIAL_PATTERNS, r"(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"])  # user:password@
)

LOG_FILE_MAX_BYTES = 20 * 1024 * 1024
"""The log file is rotated once it reaches this size."""
LOG_FILE_BACKUPS = 5
"""Rotated files kept beside it (``discord_agent.log.1`` … ``.5``)."""

LEVEL_NAMES = {"WARNING": "WARN"}
"""docs/operations.md greps ``ERROR|WARN``; WARN reads the same and matches either spelling."""


class RedactingFilter(logging.Filter):
    """Replaces known secret values and secret-shaped strings in every record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is removed whole.
        self.secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced."""
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return _SECRET_SHAPES.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message now, redacted, so no handler sees the raw arguments."""
        message = self.redact(record.getMessage())
        if record.exc_info:
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text = self.redact(formatted)
            record.exc_info = None
        record.msg, record.args = message, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and exception)."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as JSON."""
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": LEVEL_NAMES.get(record.levelname, record.levelname),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The log file's line format, with WARN for warnings as docs/operations.md greps."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as one text line."""
        record.levelname = LEVEL_NAMES.get(record.levelname, record.levelname)
        return super().format(record)


def _write_batch(
    handler: logging.Handler, records: Sequence[logging.LogRecord], write: Callable[[str], None]
) -> None:
    """Format ``records`` with ``handler``, one per line, and ``write`` them as one block.

    A record that cannot be formatted, or a write that fails, is reported the way logging
    reports its own failures, and never raised to the code that logged.
    """
    lines: list[str] = []
    for record in records:
        try:
            lines.append(handler.format(record) + "\n")
        except Exception:
            handler.handleError(record)
    if not lines:
        return
    handler.acquire()
    try:
        write("".join(lines))
    except Exception:
        handler.handleError(records[-1])
    finally:
        handler.release()


class StdoutHandler(logging.StreamHandler[TextIO]):
    """Writes to a stream, a batch of lines with one write and one flush.

    The standard handler flushes after every line: a system call for each of the lines a
    reply logs, where :class:`DeferredHandler` hands over several at once.
    """

    def emit(self, record: logging.LogRecord) -> None:
        """Write one record (how records logged outside a batch arrive)."""
        self.write_batch([record])

    def write_batch(self, records: Sequence[logging.LogRecord]) -> None:
        """Write ``records`` and flush once."""
        _write_batch(self, records, self._write)

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.flush()


class LogFileHandler(logging.handlers.RotatingFileHandler):
    """The rotating log file, written a batch of lines at a time.

    The standard handler decides on rotation before each line by formatting the line a
    second time and asking the filesystem twice whether the path is a regular file: about
    half of what logging cost a reply. This one formats each line once and looks at the
    file's size after each batch, so a file may outgrow ``maxBytes`` by one batch before it
    is rotated. Something other than a regular file (``/dev/stdout``, a pipe) is never
    rotated, as with the standard handler.
    """

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        super().__init__(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")
        self._rotates = max_bytes > 0 and path.is_file()

    def emit(self, record: logging.LogRecord) -> None:
        """Write one record (how records logged outside a batch arrive)."""
        self.write_batch([record])

    def write_batch(self, records: Sequence[logging.LogRecord]) -> None:
        """Write ``records``, flush once, and rotate if the file has grown too large."""
        _write_batch(self, records, self._write)

    def _write(self, text: str) -> None:
        if self.stream is None:  # closed by a rotation that failed to reopen
            self.stream = self._open()
        self.stream.write(text)
        self.flush()
        if self._rotates and self.stream.tell() >= self.maxBytes:
            self.doRollover()


WRITE_DELAY_SECONDS = 0.005
"""How long a line logged in the event loop may wait before it is written."""


class DeferredHandler(logging.Handler):
    """Writes through ``targets`` a few milliseconds after a line is logged in the event loop.

    Formatting a line twice (JSON for stdout, text for the file) and writing it twice takes
    about 0.2 ms of CPU. Written on the spot, the lines a reply logs on its way (its
    routing, its Gemini request) held the reply that long. Written at the loop's next
    step, they still came first: the wake-up of the work that follows (the worker after
    the router) is often already waiting in that step. After :data:`WRITE_DELAY_SECONDS`
    they are written in batches, while the replies they belong to wait on the network.
    A record's message is rendered and redacted at once by this handler's filter, so
    later changes to its arguments cannot alter it; only formatting and writing wait.
    Warnings, errors and records from outside the event loop are written at once, after
    the queued ones, so lines keep their order. A process killed outright loses at most
    the lines of its last few milliseconds.
    """

    def __init__(self, targets: Iterable[StdoutHandler | LogFileHandler]) -> None:
        super().__init__()
        self.targets = tuple(targets)
        self._pending: list[logging.LogRecord] = []
        self._scheduled_on: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None

    def emit(self, record: logging.LogRecord) -> None:
        """Queue an INFO or DEBUG record met in the event loop; write any other at once."""
        if record.levelno < logging.WARNING:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                pass
            else:
                self._pending.append(record)
                # A loop stopped before its timer ran leaves it unscheduled on this one.
                if self._scheduled_on is not loop:
                    self._scheduled_on = loop
                    self._timer = loop.call_later(WRITE_DELAY_SECONDS, self._write_queued)
                return
        self._pending.append(record)
        self._write_pending()

    def flush(self) -> None:
        """Write every queued record and flush the targets."""
        self.acquire()
        try:
            self._write_pending()
            for target in self.targets:
                target.flush()
        finally:
            self.release()

    def close(self) -> None:
        """Write what is queued and close the targets (which flush what they own)."""
        if self._timer is not None:
            self._timer.cancel()
        self._write_queued()
        for target in self.targets:
            target.close()
        super().close()

    def _write_queued(self) -> None:
        """Write what is queued; the next line logged in a loop schedules a new timer."""
        self.acquire()
        try:
            self._scheduled_on = self._timer = None
            self._write_pending()
        finally:
            self.release()

    def _write_pending(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        for target in self.targets:
            wanted = [r for r in pending if r.levelno >= target.level and target.filter(r)]
            if wanted:
                target.write_batch(wanted)


def output_handlers() -> list[logging.Handler]:
    """The handlers that write the root logger's lines (stdout's, the file's)."""
    found: list[logging.Handler] = []
    for handler in logging.getLogger().handlers:
        found.extend(handler.targets if isinstance(handler, DeferredHandler) else [handler])
    return found


def configure_logging(level: str, log_file: str | None, secrets: Iterable[str] = ()) -> None:
    """Send logs to stdout as JSON and, when ``log_file`` is set, to a rotating file."""
    targets: list[StdoutHandler | LogFileHandler] = []
    stdout = StdoutHandler(sys.stdout)
    stdout.setFormatter(JsonFormatter())
    targets.append(stdout)
    unwritable: OSError | None = None
    if log_file:
        try:
            targets.append(_file_handler(Path(log_file)))
        except OSError as error:
            # A read-only filesystem must not stop the bots: stdout still carries every line.
            unwritable = error
    handler = DeferredHandler(targets)
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel("WARNING" if level == "WARN" else level)
    # Library chatter at INFO (gateway heartbeats, HTTP lines) drowns the keywords people grep.
    for noisy in ("discord", "httpx", "google_genai", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    if unwritable is not None:
        logging.getLogger(__name__).warning(
            "WARN log file %s cannot be written (%s); logging to stdout only. Set LOG_FILE= "
            "(empty) to log to stdout only on purpose.",
            log_file,
            unwritable.strerror or unwritable.__class__.__name__,
        )


def _file_handler(path: Path) -> LogFileHandler:
    """The guide's rotating log file, in the familiar one-line text format."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = LogFileHandler(path, max_bytes=LOG_FILE_MAX_BYTES, backups=LOG_FILE_BACKUPS)
    handler.setFormatter(TextFormatter())
    return handler
