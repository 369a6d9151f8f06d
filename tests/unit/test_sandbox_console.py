"""The sandbox's console: human lines on a terminal (a real pty), JSON lines through a pipe.

Both are configured exactly as the launcher does it (the runtime's ``configure_logging``,
then ``readable_console``) on a real pseudo-terminal or a real pipe, and read back from the
other end, so what is asserted is what a person or a CI log would get.
"""

from __future__ import annotations

import json
import logging
import os
import re
import select
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import pytest

from agentfleet_runtime.observability.logs import REDACTED, configure_logging
from agentfleet_sandbox.console import NO_COLOR_ENV, PERSONA_COLOURS, readable_console

TOKEN = "spectra-token-" + "x" * 30
API_KEY = "AIza" + "B" * 35
HUMAN_LINE = re.compile(r"^\d\d:\d\d:\d\d (INFO |WARN |ERROR) \S+ +\S")


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def log_the_usual_lines() -> None:
    """What a sandbox run logs: keywords people grep, secrets that must not show, a trace."""
    logging.getLogger("agentfleet_runtime.app.scheduler").info(
        "自発発言 planned: spectra in #lounge (FREE)"
    )
    worker = logging.getLogger("agentfleet_runtime.app.persona_worker")
    worker.info("lynq: message 42 processed successfully (0.81s)")
    worker.info("API usage: 120 prompt + 40 output tokens, paz via %s", API_KEY)
    logging.getLogger("agentfleet_runtime.discord.supervisor").warning(
        "reception reconnecting with %s", TOKEN
    )
    try:
        raise RuntimeError(f"redis://default:hunter22@redis:6379/0 refused {TOKEN}")
    except RuntimeError:
        logging.getLogger("agentfleet_runtime.bus.streams").exception("ERROR router stopped")
    for handler in logging.getLogger().handlers:
        handler.flush()


def configure_on(
    stream: TextIO, log_file: Path, monkeypatch: pytest.MonkeyPatch, environ: dict[str, str]
) -> bool:
    """The launcher's two calls, with ``stream`` as the process's stdout."""
    monkeypatch.setattr(sys, "stdout", stream)
    configure_logging("INFO", str(log_file), secrets=[TOKEN])
    return readable_console(environ=environ)


def read_pty(master: int) -> str:
    chunks = []
    while select.select([master], [], [], 0.2)[0]:
        chunks.append(os.read(master, 65536))
    # The terminal's line discipline turns each \n into \r\n, as a person's terminal shows.
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


def assert_no_secrets(output: str) -> None:
    for secret in (TOKEN, API_KEY, "hunter22"):
        assert secret not in output
    assert REDACTED in output


@pytest.mark.parametrize("colour", [True, False], ids=["colour", "NO_COLOR"])
def test_a_terminal_gets_short_human_lines_with_secrets_still_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, colour: bool
) -> None:
    master, slave = os.openpty()
    terminal = os.fdopen(slave, "w", encoding="utf-8")
    log_file = tmp_path / "logs" / "discord_agent.log"
    try:
        environ = {} if colour else {NO_COLOR_ENV: "1"}
        assert configure_on(terminal, log_file, monkeypatch, environ) is True
        log_the_usual_lines()
        shown = read_pty(master)
    finally:
        terminal.close()
        os.close(master)

    assert_no_secrets(shown)
    assert not any(line.startswith("{") for line in shown.splitlines())
    plain = re.sub(r"\033\[[0-9;]*m", "", shown)
    lines = plain.splitlines()
    # time, level, component (our package prefix dropped), the message unchanged
    assert re.match(
        r"^\d\d:\d\d:\d\d INFO  app\.scheduler +自発発言 planned: spectra in #lounge \(FREE\)$",
        lines[0],
    )
    assert re.match(r"^\d\d:\d\d:\d\d WARN  discord\.supervisor +reception reconnecting", lines[3])
    assert "processed successfully" in lines[1] and "API usage" in lines[2]
    assert all(HUMAN_LINE.match(line) for line in lines if not line.startswith("    "))
    # The exception follows its line, indented, redacted like the message.
    assert lines[4].endswith("ERROR router stopped")
    assert lines[-1].startswith("    RuntimeError: ") and REDACTED in lines[-1]
    assert (PERSONA_COLOURS["spectra"] + "spectra" in shown) is colour
    assert ("\033[" in shown) is colour

    # The log file the operations guide greps is untouched by the console's choice.
    written = log_file.read_text(encoding="utf-8")
    assert_no_secrets(written)
    assert " WARN agentfleet_runtime.discord.supervisor: reception reconnecting" in written
    assert "自発発言 planned" in written and "\033[" not in written


def test_a_pipe_keeps_one_json_object_per_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_end, write_end = os.pipe()
    pipe = os.fdopen(write_end, "w", encoding="utf-8")
    with os.fdopen(read_end, encoding="utf-8") as reader:
        try:
            assert configure_on(pipe, tmp_path / "agent.log", monkeypatch, {}) is False
            log_the_usual_lines()
        finally:
            for handler in logging.getLogger().handlers:
                handler.close()
            pipe.close()
        output = reader.read()

    assert_no_secrets(output)
    entries = [json.loads(line) for line in output.splitlines()]
    assert [e["level"] for e in entries] == ["INFO", "INFO", "INFO", "WARN", "ERROR"]
    assert entries[0] == {
        "time": entries[0]["time"],
        "level": "INFO",
        "logger": "agentfleet_runtime.app.scheduler",
        "message": "自発発言 planned: spectra in #lounge (FREE)",
    }
    assert REDACTED in entries[-1]["exception"]
