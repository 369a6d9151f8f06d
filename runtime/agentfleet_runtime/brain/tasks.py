"""The task command: parsing, helpful errors, and what each command does to the tasks.

Each fleet channel holds at most one task. The typed form is the one docs/operations.md
shows (``/task commit development "認証システム実装"``); the slash command delivers the same
values already split, and both end in :class:`TaskCommand`, so the rest of the fleet sees
one shape. :func:`plan_update` decides, from the current tasks alone, what a command
changes; the caller stores the result and posts :func:`confirmation`.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from agentfleet_runtime.brain.messages import is_blank
from agentfleet_runtime.brain.speech import ActiveTask
from agentfleet_runtime.contract import CHANNELS

MAX_TASK_TEXT = 200

USAGE = (
    "使い方:\n"
    '`/task commit <チャンネル> "<タスク内容>"` 新しいタスクを始める\n'
    '`/task change <チャンネル> "<タスク内容>"` タスクを変更（別チャンネルへ移動）する\n'
    "`/task done [チャンネル]` タスクを完了にする（省略時は最新のタスク）\n"
    "`/task list` いまのタスクを見る\n"
    f"チャンネル: {', '.join(CHANNELS)}\n"
    '例: `/task commit development "認証システム実装"`'
)

NOT_ALLOWED = (
    "タスクの設定は、フリートの設定で指定されたロールのメンバーだけができるよ。"
    "管理者に聞いてみてね。"
)


class TaskAction(StrEnum):
    """What the command does."""

    COMMIT = "commit"
    """Start a new task in the channel (ending the one it had, if any)."""
    CHANGE = "change"
    """Change the channel's task; when it has none, move the latest task there."""
    DONE = "done"
    """Finish the channel's task (the latest task when no channel is given)."""
    LIST = "list"
    """Show the current tasks; changes nothing."""


#: The actions that write a task text and so need a channel and a text.
_WRITES = (TaskAction.COMMIT, TaskAction.CHANGE)


@dataclass(frozen=True, slots=True)
class TaskCommand:
    """A valid task command; ``channel`` and ``text`` are empty where the action has none."""

    action: TaskAction
    channel: str = ""
    text: str = ""


@dataclass(frozen=True, slots=True)
class TaskRequest:
    """A task command as it arrived, with who sent it and from where.

    The same shape for the slash form (Discord split the values) and the typed form (the
    parser will), so the permission and place checks are made once.
    """

    action: str
    channel: str
    text: str
    by: str
    """The person's display name, shown in the confirmation."""
    role_ids: tuple[int, ...] = ()
    """The person's role ids in the guild (checked against the fleet's task role)."""
    channel_id: int | None = None
    """Where it was invoked: only the fleet's channels take commands."""


class TaskCommandError(ValueError):
    """A malformed task command; ``str(error)`` is a reply fit to show the user."""


def is_task_command(content: str) -> bool:
    """Whether a typed message is meant as a task command (and so must not be chatted to)."""
    return content.strip().lower().split(maxsplit=1)[:1] == ["/task"]


def may_command_tasks(role_ids: Sequence[int], task_role_id: int | None) -> bool:
    """Whether a person with ``role_ids`` may use ``/task`` (anyone when no role is set)."""
    return task_role_id is None or task_role_id in role_ids


def _channel_problem(channel: str) -> str:
    return f"`{channel}` というチャンネルは無いよ。{', '.join(CHANNELS)} から選んでね。"


def build_task_command(action: str, channel: str, text: str) -> TaskCommand:
    """Validate the parts of a task command, whichever form they came from."""
    try:
        parsed = TaskAction(action.strip().lower())
    except ValueError:
        names = ", ".join(a.value for a in TaskAction)
        problem = f"`{action}` は使えない操作だよ。{names} から選んでね。"
        raise TaskCommandError(f"{problem}\n{USAGE}") from None
    problems = []
    name = channel.strip().lstrip("#").lower()
    body = " ".join(text.split())
    if parsed in _WRITES or name:
        if not name:
            problems.append("チャンネルを指定してね。")
        elif name not in CHANNELS:
            problems.append(_channel_problem(channel))
    if parsed in _WRITES:
        if is_blank(body):
            problems.append("タスク内容が空だよ。")
        elif len(body) > MAX_TASK_TEXT:
            problems.append(f"タスク内容は{MAX_TASK_TEXT}文字以内にしてね（今は{len(body)}文字）。")
    elif body and parsed is TaskAction.DONE:
        problems.append("done にはタスク内容はいらないよ（チャンネルだけ指定してね）。")
    if problems:
        raise TaskCommandError("\n".join([*problems, USAGE]))
    if parsed is TaskAction.LIST:
        return TaskCommand(parsed)
    return TaskCommand(parsed, name, body if parsed in _WRITES else "")


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
    if len(words) < 2:
        raise TaskCommandError("操作を指定してね。\n" + USAGE)
    action = words[1]
    if action.lower() in _WRITES and len(words) < 4:
        raise TaskCommandError("足りない部分があるよ。\n" + USAGE)
    channel = words[2] if len(words) > 2 and action.lower() != TaskAction.LIST else ""
    return build_task_command(action, channel, " ".join(words[3:]))


class UpdateKind(StrEnum):
    """What a command did, which decides the confirmation's wording."""

    STARTED = "started"
    REPLACED = "replaced"
    """A commit in a channel that had a task: the old one ended."""
    CHANGED = "changed"
    MOVED = "moved"
    """A change to a channel without a task: the latest task ended and the new one began."""
    DONE = "done"


@dataclass(frozen=True, slots=True)
class TaskUpdate:
    """The effect of one command on the stored tasks."""

    kind: UpdateKind
    start: ActiveTask | None
    """The task written (its channel's task from now on); None for done."""
    ended: ActiveTask | None
    """The task that stops being current: replaced, moved away from, or finished."""


def plan_update(
    command: TaskCommand, tasks: Sequence[ActiveTask], now: float, by: str
) -> TaskUpdate:
    """What ``command`` does to ``tasks``; raises :class:`TaskCommandError` if it cannot."""
    current = {task.channel: task for task in tasks}
    latest = max(tasks, key=lambda t: t.updated_at) if tasks else None
    if command.action is TaskAction.DONE:
        target = current.get(command.channel) if command.channel else latest
        if target is None:
            where = f"#{command.channel} に" if command.channel else ""
            raise TaskCommandError(f"{where}完了にするタスクが無いよ。\n{task_list(tasks)}")
        return TaskUpdate(UpdateKind.DONE, None, target)
    if command.action is TaskAction.LIST:
        raise ValueError("list changes nothing; answer it with task_list()")
    start = ActiveTask(command.channel, command.text, now, by)
    previous = current.get(command.channel)
    if command.action is TaskAction.COMMIT:
        kind = UpdateKind.STARTED if previous is None else UpdateKind.REPLACED
        return TaskUpdate(kind, start, previous)
    if previous is not None:
        return TaskUpdate(UpdateKind.CHANGED, start, previous)
    if latest is not None:
        return TaskUpdate(UpdateKind.MOVED, start, latest)
    return TaskUpdate(UpdateKind.STARTED, start, None)


def confirmation(update: TaskUpdate, by: str) -> str:
    """SPECTRA's confirmation of a task change, naming every channel it touched."""
    start, ended = update.start, update.ended
    if update.kind is UpdateKind.DONE:
        assert ended is not None
        return f"✅ #{ended.channel} のタスク「{ended.text}」が完了したよ（{by}）。おつかれさま！"
    assert start is not None
    if update.kind is UpdateKind.CHANGED:
        assert ended is not None
        return (
            f"📌 #{start.channel} のタスクを変更したよ：「{ended.text}」→「{start.text}」（{by}）。"
        )
    if update.kind is UpdateKind.MOVED:
        assert ended is not None
        return (
            f"📌 タスクを #{ended.channel} から #{start.channel} に移したよ："
            f"「{ended.text}」→「{start.text}」（{by}）。#{ended.channel} のタスクは終了。"
        )
    text = f"📌 #{start.channel} のタスクを開始したよ：「{start.text}」（{by}）。"
    if ended is not None:
        text += f"前のタスク「{ended.text}」はここで終了。"
    return text + "みんなで進めよう！"


def task_list(tasks: Sequence[ActiveTask]) -> str:
    """The current tasks, one line per channel in the fleet's channel order."""
    if not tasks:
        return '📋 いまタスクは無いよ。`/task commit <チャンネル> "<タスク内容>"` で始めてね。'
    by_channel = {task.channel: task for task in tasks}
    lines = ["📋 いまのタスク:"]
    for channel in CHANNELS:
        task = by_channel.get(channel)
        if task is not None:
            who = f"（{task.by}）" if task.by else ""
            lines.append(f"・#{channel}「{task.text}」{who}")
    return "\n".join(lines)
