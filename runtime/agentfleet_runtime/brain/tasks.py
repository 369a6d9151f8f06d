"""The task command (/task commit|change <channel> "<text>"): parsing and helpful errors.

The typed form is the one docs/operations.md shows; the slash command delivers the same three values
already split, and both end in :class:`TaskCommand` so the rest of the fleet sees one shape.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from enum import StrEnum

from agentfleet_runtime.contract import CHANNELS

MAX_TASK_TEXT = 200

USAGE = (
    '使い方: `/task commit <チャンネル> "<タスク内容>"` または '
    '`/task change <チャンネル> "<タスク内容>"`\n'
    f"チャンネル: {', '.join(CHANNELS)}\n"
    '例: `/task commit development "認証システム実装"`'
)


class TaskAction(StrEnum):
    """What the command does to the channel's task."""

    COMMIT = "commit"
    """Start a new task in the channel."""
    CHANGE = "change"
    """Replace the channel's task (also how a task moves to another channel)."""


@dataclass(frozen=True, slots=True)
class TaskCommand:
    """A valid task command."""

    action: TaskAction
    channel: str
    text: str


class TaskCommandError(ValueError):
    """A malformed task command; ``str(error)`` is a reply fit to show the user."""


def is_task_command(content: str) -> bool:
    """Whether a typed message is meant as a task command (and so must not be chatted to)."""
    return content.strip().lower().split(maxsplit=1)[:1] == ["/task"]


def build_task_command(action: str, channel: str, text: str) -> TaskCommand:
    """Validate the three parts of a task command, whichever form they came from."""
    problems = []
    try:
        parsed_action = TaskAction(action.strip().lower())
    except ValueError:
        parsed_action = None
        problems.append(f"`{action}` は使えない操作だよ。commit か change を指定してね。")
    name = channel.strip().lstrip("#").lower()
    if name not in CHANNELS:
        choices = ", ".join(CHANNELS)
        problems.append(f"`{channel}` というチャンネルは無いよ。{choices} から選んでね。")
    body = " ".join(text.split())
    if not body:
        problems.append("タスク内容が空だよ。")
    elif len(body) > MAX_TASK_TEXT:
        problems.append(f"タスク内容は{MAX_TASK_TEXT}文字以内にしてね（今は{len(body)}文字）。")
    if problems or parsed_action is None:
        raise TaskCommandError("\n".join([*problems, USAGE]))
    return TaskCommand(parsed_action, name, body)


def parse_task_command(content: str) -> TaskCommand:
    """Parse the typed form, e.g. ``/task commit development "認証システム実装"``."""
    # Full-width quotes and spaces are common in Japanese input; treat them as ASCII.
    normalised = (
        content.replace("“", '"').replace("”", '"').replace("「", '"').replace("」", '"')
    ).replace("\u3000", " ")
    try:
        words = shlex.split(normalised)
    except ValueError:
        raise TaskCommandError("引用符が閉じていないみたい。\n" + USAGE) from None
    if not words or words[0].lower() != "/task":
        raise TaskCommandError(USAGE)
    if len(words) < 4:
        raise TaskCommandError("足りない部分があるよ。\n" + USAGE)
    return build_task_command(words[1], words[2], " ".join(words[3:]))
