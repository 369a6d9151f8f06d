"""The sandbox's console: short human lines on a terminal, the runtime's JSON lines elsewhere.

The runtime writes JSON lines to stdout because ``kubectl logs`` and log shippers read them;
a person who ran ``scripts/sandbox.sh`` reads the same stream by eye. So when stdout is a
terminal the sandbox swaps that handler's formatter for :class:`ConsoleFormatter` and
changes nothing else: the handler keeps the runtime's redacting filter (which runs before
any formatter), the log file keeps its own format, and the messages keep their keywords
(自発発言, processed successfully, API usage). Piped or in CI, stdout stays JSON.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import TextIO

from agentfleet_runtime.contract import PERSONAS
from agentfleet_runtime.observability.logs import LEVEL_NAMES, JsonFormatter, output_handlers

NO_COLOR_ENV = "NO_COLOR"
"""The no-color.org convention: set (to anything) to keep the terminal lines plain."""

_RESET = "\033[0m"
_DIM = "\033[2m"
LEVEL_COLOURS = {"DEBUG": _DIM, "WARN": "\033[33m", "ERROR": "\033[1;31m", "CRITICAL": "\033[1;31m"}
PERSONA_COLOURS = {"spectra": "\033[1;34m", "lynq": "\033[1;31m", "paz": "\033[1;33m"}
"""The page's colours (blue, red, yellow) in ANSI, so a name reads the same in both places."""

_PERSONA_NAMES = re.compile(rf"\b({'|'.join(PERSONAS)})\b", re.IGNORECASE)
_OWN_PACKAGES = ("agentfleet_runtime.", "agentfleet_sandbox.")
COMPONENT_WIDTH = 22


def component(logger_name: str) -> str:
    """The logger name without our package prefix: ``app.scheduler``, ``pipeline.run``.

    The prefix is the same on every line and so says nothing; what remains still names the
    module, so a line can be traced to its source. Libraries keep their full names.
    """
    for prefix in _OWN_PACKAGES:
        if logger_name.startswith(prefix):
            return logger_name.removeprefix(prefix)
    return logger_name


class ConsoleFormatter(logging.Formatter):
    """``12:00:01 INFO  app.scheduler  自発発言 planned: spectra in #lounge (ACTIVE)``.

    Local wall-clock time (the person's own, not UTC), the level as the log file spells it
    (WARN), the component and the message unchanged; with ``colour`` the level and each
    persona's name are coloured. Exceptions follow, indented, as the redacting filter
    left them in ``exc_text``.
    """

    def __init__(self, *, colour: bool) -> None:
        super().__init__()
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as one short line (plus its exception, if any)."""
        clock = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        level = LEVEL_NAMES.get(record.levelname, record.levelname)
        message = record.getMessage()
        name = component(record.name).ljust(COMPONENT_WIDTH)
        shown_level = f"{level:<5}"
        if self.colour:
            clock, name = f"{_DIM}{clock}{_RESET}", f"{_DIM}{name}{_RESET}"
            message = _PERSONA_NAMES.sub(_coloured_persona, message)
            if level in LEVEL_COLOURS:
                shown_level = f"{LEVEL_COLOURS[level]}{shown_level}{_RESET}"
        line = f"{clock} {shown_level} {name} {message}"
        if record.exc_text:
            line += "\n" + "\n".join("    " + part for part in record.exc_text.splitlines())
        return line


def _coloured_persona(match: re.Match[str]) -> str:
    return f"{PERSONA_COLOURS[match[1].lower()]}{match[1]}{_RESET}"


def readable_console(
    stream: TextIO | None = None, environ: Mapping[str, str] | None = None
) -> bool:
    """Switch the JSON lines written to ``stream`` to :class:`ConsoleFormatter` on a terminal.

    Call after :func:`agentfleet_runtime.observability.logs.configure_logging`. Returns
    whether it switched: False when ``stream`` (stdout by default) is not a terminal, so CI
    logs and pipes keep one JSON object per line.
    """
    target = sys.stdout if stream is None else stream
    if not target.isatty():
        return False
    env = os.environ if environ is None else environ
    formatter = ConsoleFormatter(colour=not env.get(NO_COLOR_ENV))
    switched = False
    for handler in output_handlers():
        writes_json_to_target = (
            isinstance(handler, logging.StreamHandler)
            and handler.stream is target
            and isinstance(handler.formatter, JsonFormatter)
        )
        if writes_json_to_target:
            handler.setFormatter(formatter)
            switched = True
    return switched
