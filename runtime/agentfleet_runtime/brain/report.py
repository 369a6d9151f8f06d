"""The Daily Report (日報) SPECTRA posts after the 06:00 pipeline: a template, no LLM.

The report is a template with no API call, queued within 30 s of the pipeline's commit:
it is built here from numbers the pipeline already has (messages per channel, current
tasks, the day's most important memories, the progress differential), so posting it costs
no Gemini quota and cannot fail on a model outage. Pure and deterministic: the same input
gives the same text, which is what lets a re-run recognise (and not repost) the same report.

Task text, memories and the progress differential come from what people wrote; they are
quoted as plain text (one line, Discord's markup escaped), so a memory holding a code
fence, a mention or a heading cannot swallow or reshape the rest of the report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Final

from agentfleet_runtime.brain.messages import escape_markup
from agentfleet_runtime.brain.speech import ActiveTask
from agentfleet_runtime.contract import CHANNELS

#: Discord rejects messages over 2000 characters; stay clear of it with room for markup.
MAX_REPORT_CHARS: Final = 1900
#: Longest quoted memory, task or progress line (the rest is cut with "…").
MAX_LINE_CHARS: Final = 90
TOP_MEMORIES: Final = 5
MAX_PROGRESS_ITEMS: Final = 8
MAX_TASKS: Final = 6
MAX_SHARED: Final = 6

EMPTY_DAY: Final = "昨日は会話がなかった。"
REPORT_JOB_PREFIX: Final = "report:"

MEMORY_TYPE_LABELS: Final = {
    "conversation": "会話",
    "task": "タスク",
    "progress": "進捗",
    "learning": "学び",
    "decision": "決定",
}
PROGRESS_STATUS_LABELS: Final = {
    "new": "新規",
    "advanced": "前進",
    "done": "完了",
    "blocked": "停滞",
    "unchanged": "変化なし",
}
WEEKDAYS: Final = "月火水木金土日"


@dataclass(frozen=True, slots=True)
class ReportMemory:
    """One memory as the report shows it."""

    content: str
    memory_type: str
    importance: float
    channel: str


@dataclass(frozen=True, slots=True)
class ReportProgress:
    """One line of the progress differential (what moved since the day before)."""

    channel: str
    topic: str
    status: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class SharedFile:
    """An image or file someone attached that day: where, by whom, and its label."""

    channel: str
    author: str
    label: str
    """``[画像: cat.png]`` or ``[ファイル: notes.md]``: the name and kind, never the bytes."""


@dataclass(frozen=True, slots=True)
class DailyReportData:
    """Everything the report says about one conversation date."""

    day: date
    channel_counts: Mapping[str, int] = field(default_factory=dict)
    """Messages per channel name (humans and personas; other bots are not counted)."""
    human_messages: int = 0
    agent_messages: int = 0
    tasks: Sequence[ActiveTask] = ()
    memories: Sequence[ReportMemory] = ()
    """The day's memories; the report shows the most important ones."""
    memories_stored: int = 0
    progress_summary: str | None = None
    progress: Sequence[ReportProgress] = ()
    shared: Sequence[SharedFile] = ()
    """Images and files people attached, oldest first."""


def _clip(text: str, limit: int = MAX_LINE_CHARS) -> str:
    """``text`` quoted as plain text: one line of at most ``limit`` characters, markup escaped."""
    one_line = " ".join(text.split())
    clipped = one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"
    return escape_markup(clipped)


def _channel_order(name: str) -> tuple[int, str]:
    return (CHANNELS.index(name) if name in CHANNELS else len(CHANNELS), name)


def daily_report(data: DailyReportData) -> str:
    """The report's text, in SPECTRA's voice, at most :data:`MAX_REPORT_CHARS` characters.

    When everything does not fit one Discord message, shared files go first, then progress
    items, then the least important memories, then tasks: counts and the top memory always
    stay.
    """
    shared, progress, memories, tasks = MAX_SHARED, MAX_PROGRESS_ITEMS, TOP_MEMORIES, MAX_TASKS
    text = _render(data, tasks, memories, progress, shared)
    while len(text) > MAX_REPORT_CHARS and (shared or progress or memories > 1 or tasks > 1):
        if shared:
            shared -= 1
        elif progress:
            progress -= 1
        elif memories > 1:
            memories -= 1
        else:
            tasks -= 1
        text = _render(data, tasks, memories, progress, shared)
    if len(text) > MAX_REPORT_CHARS:
        text = text[: MAX_REPORT_CHARS - 1].rsplit("\n", 1)[0] + "\n…"
    return text


def _render(
    data: DailyReportData, max_tasks: int, max_memories: int, max_progress: int, max_shared: int
) -> str:
    heading = f"📋 **日報 {data.day.isoformat()}（{WEEKDAYS[data.day.weekday()]}）**"
    lines = [heading]
    total = sum(data.channel_counts.values())
    if total == 0:
        lines.append(EMPTY_DAY)
    else:
        lines.append("")
        lines.append(
            f"**■ 会話** 合計{total}件（メンバー{data.human_messages}件・"
            f"エージェント{data.agent_messages}件）"
        )
        for name in sorted(data.channel_counts, key=_channel_order):
            count = data.channel_counts[name]
            if count:
                lines.append(f"・#{name}: {count}件")

    lines.append("")
    lines.append("**■ タスク**")
    if data.tasks:
        for task in sorted(data.tasks, key=lambda t: _channel_order(t.channel))[:max_tasks]:
            lines.append(f"・#{task.channel}: {_clip(task.text)}")
    else:
        lines.append('・登録なし（`/task commit <チャンネル> "内容"` で登録できる）')

    if data.memories:
        top = sorted(data.memories, key=lambda m: (-m.importance, m.content))[:max_memories]
        lines.append("")
        lines.append(f"**■ 重要な記憶**（長期記憶 {data.memories_stored}件）")
        for i, memory in enumerate(top, 1):
            label = MEMORY_TYPE_LABELS.get(memory.memory_type, memory.memory_type)
            lines.append(
                f"{i}. [{label}] {_clip(memory.content)}（#{memory.channel}・"
                f"重要度{memory.importance:.2f}）"
            )

    if data.progress_summary or data.progress:
        lines.append("")
        lines.append("**■ 進捗（前日比）**")
        if data.progress_summary:
            lines.append(_clip(data.progress_summary, 2 * MAX_LINE_CHARS))
        for item in data.progress[:max_progress]:
            status = PROGRESS_STATUS_LABELS.get(item.status, item.status)
            detail = f" — {_clip(item.detail, 60)}" if item.detail else ""
            lines.append(f"・[{status}] #{item.channel} {_clip(item.topic, 60)}{detail}")

    lines += _shared_lines(data.shared, max_shared)

    lines.append("")
    lines.append("今日もこの流れで進めよう。" if total else "今日はタスクの確認から始めてみよう。")
    return "\n".join(lines)


def _shared_lines(shared: Sequence[SharedFile], limit: int) -> list[str]:
    """The section naming the images and files people shared (never their content)."""
    if not shared or not limit:
        return []
    lines = ["", f"**■ 共有された画像・ファイル**（{len(shared)}件）"]
    lines += [f"・#{f.channel} {_clip(f.author, 32)}: {_clip(f.label)}" for f in shared[:limit]]
    if len(shared) > limit:
        lines.append(f"・ほか{len(shared) - limit}件")
    return lines


def report_job_id(fleet: str, day: date) -> str:
    """The id of ``day``'s report job: one per fleet and date, so it is queued and posted once."""
    return f"{REPORT_JOB_PREFIX}{fleet}:{day.isoformat()}"


def is_report_job(job_id: str) -> bool:
    """Whether a job posts a Daily Report (its post time is what operators watch)."""
    return job_id.startswith(REPORT_JOB_PREFIX)
