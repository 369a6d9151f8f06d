"""The Daily Report (日報) SPECTRA posts after the 06:00 pipeline: a template, no LLM.

The report is a template with no API call, queued within 30 s of the pipeline's commit:
it is built here from numbers the pipeline already has (messages per channel, current
tasks, the day's most important memories, the progress differential, the images and files
people shared), so posting it costs no Gemini quota and cannot fail on a model outage.
Pure and deterministic: the same input gives the same text, which is what lets a re-run
recognise (and not repost) the same report.

It has two forms with the same sections: the text (:func:`daily_report`, what the log
keeps and what fits one message) and the embed SPECTRA posts under its heading
(:func:`report_embed`: her colour, the date as title, one field per section), which reads
better in Discord than a long message.

Task text, memories and the progress differential come from what people wrote; they are
quoted as plain text (one line, Discord's markup escaped), so a memory holding a code
fence, a mention or a heading cannot swallow or reshape the rest of the report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Final

from agentfleet_runtime.brain.messages import Embed, EmbedField, escape_markup
from agentfleet_runtime.brain.personas import PERSONAS
from agentfleet_runtime.brain.speech import ActiveTask
from agentfleet_runtime.contract import CHANNELS

#: Discord rejects messages over 2000 characters; stay clear of it with room for markup.
MAX_REPORT_CHARS: Final = 1900
#: Discord's limit on an embed field's value.
MAX_FIELD_CHARS: Final = 1024
#: Who posts the report, and in her colour.
REPORT_PERSONA: Final = "spectra"
#: Longest quoted memory, task or progress line (the rest is cut with "…").
MAX_LINE_CHARS: Final = 90
TOP_MEMORIES: Final = 5
MAX_PROGRESS_ITEMS: Final = 8
MAX_TASKS: Final = 6
MAX_SHARED: Final = 6

EMPTY_DAY: Final = "昨日は会話がなかった。"
NO_TASKS: Final = '・登録なし（`/task commit <チャンネル> "内容"` で登録できる）'
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


@dataclass(frozen=True, slots=True)
class _Shown:
    """How many items of each list the report shows (fewer when it would not fit)."""

    tasks: int = MAX_TASKS
    memories: int = TOP_MEMORIES
    progress: int = MAX_PROGRESS_ITEMS
    shared: int = MAX_SHARED

    def fewer(self) -> _Shown | None:
        """One item fewer of the least important list; None when nothing can go."""
        if self.shared:
            return replace(self, shared=self.shared - 1)
        if self.progress:
            return replace(self, progress=self.progress - 1)
        if self.memories > 1:
            return replace(self, memories=self.memories - 1)
        if self.tasks > 1:
            return replace(self, tasks=self.tasks - 1)
        return None


@dataclass(frozen=True, slots=True)
class _Section:
    """One part of the report: ``■ title`` then its lines (a field of the embed)."""

    title: str
    note: str
    """Shown after the title: a total, a count."""
    lines: list[str]


def _fitted(data: DailyReportData) -> _Shown:
    """What the report shows so that its text fits one Discord message.

    Shared files go first, then progress items, then the least important memories, then
    tasks: counts and the top memory always stay.
    """
    shown = _Shown()
    while len(_render(data, shown)) > MAX_REPORT_CHARS:
        fewer = shown.fewer()
        if fewer is None:
            break
        shown = fewer
    return shown


def daily_report(data: DailyReportData) -> str:
    """The report's text, in SPECTRA's voice, at most :data:`MAX_REPORT_CHARS` characters."""
    text = _render(data, _fitted(data))
    if len(text) > MAX_REPORT_CHARS:
        text = text[: MAX_REPORT_CHARS - 1].rsplit("\n", 1)[0] + "\n…"
    return text


def report_embed(data: DailyReportData) -> Embed:
    """The report as SPECTRA posts it: an embed in her colour, one field per section.

    It shows what :func:`daily_report` shows; the post's content is :func:`report_heading`.
    """
    sections = _sections(data, _fitted(data))
    return Embed(
        title=_title(data),
        colour=PERSONAS[REPORT_PERSONA].colour,
        description=_closing(data),
        fields=tuple(EmbedField(f"■ {s.title}{s.note}", _field_value(s.lines)) for s in sections),
    )


def report_heading(data: DailyReportData) -> str:
    """The first line of the report: its title, bold."""
    return f"📋 **{_name(data)}**"


def _title(data: DailyReportData) -> str:
    return f"📋 {_name(data)}"


def _name(data: DailyReportData) -> str:
    return f"日報 {data.day.isoformat()}（{WEEKDAYS[data.day.weekday()]}）"


def _total(data: DailyReportData) -> int:
    return sum(data.channel_counts.values())


def _closing(data: DailyReportData) -> str:
    if _total(data):
        return "今日もこの流れで進めよう。"
    return f"{EMPTY_DAY}\n今日はタスクの確認から始めてみよう。"


def _field_value(lines: Sequence[str]) -> str:
    """A section's lines within Discord's 1024 characters of a field."""
    value = "\n".join(lines)
    if len(value) <= MAX_FIELD_CHARS:
        return value
    return value[: MAX_FIELD_CHARS - 2].rsplit("\n", 1)[0] + "\n…"


def _render(data: DailyReportData, shown: _Shown) -> str:
    lines = [report_heading(data)]
    if not _total(data):
        lines.append(EMPTY_DAY)
    for section in _sections(data, shown):
        lines += ["", f"**■ {section.title}**{section.note}", *section.lines]
    lines += ["", _closing(data).removeprefix(f"{EMPTY_DAY}\n")]
    return "\n".join(lines)


def _sections(data: DailyReportData, shown: _Shown) -> list[_Section]:
    sections = []
    total = _total(data)
    if total:
        counts = [
            f"・#{name}: {data.channel_counts[name]}件"
            for name in sorted(data.channel_counts, key=_channel_order)
            if data.channel_counts[name]
        ]
        people, agents = data.human_messages, data.agent_messages
        note = f" 合計{total}件（メンバー{people}件・エージェント{agents}件）"
        sections.append(_Section("会話", note, counts))
    tasks = [
        f"・#{task.channel}: {_clip(task.text)}"
        for task in sorted(data.tasks, key=lambda t: _channel_order(t.channel))[: shown.tasks]
    ]
    sections.append(_Section("タスク", "", tasks or [NO_TASKS]))
    if data.memories:
        sections.append(
            _Section(
                "重要な記憶",
                f"（長期記憶 {data.memories_stored}件）",
                _memory_lines(data.memories, shown.memories),
            )
        )
    if data.progress_summary or data.progress:
        sections.append(_Section("進捗（前日比）", "", _progress_lines(data, shown.progress)))
    if data.shared and shown.shared:
        sections.append(
            _Section(
                "共有された画像・ファイル",
                f"（{len(data.shared)}件）",
                _shared_lines(data.shared, shown.shared),
            )
        )
    return sections


def _memory_lines(memories: Sequence[ReportMemory], limit: int) -> list[str]:
    top = sorted(memories, key=lambda m: (-m.importance, m.content))[:limit]
    return [
        f"{i}. [{MEMORY_TYPE_LABELS.get(m.memory_type, m.memory_type)}] {_clip(m.content)}"
        f"（#{m.channel}・重要度{m.importance:.2f}）"
        for i, m in enumerate(top, 1)
    ]


def _progress_lines(data: DailyReportData, limit: int) -> list[str]:
    lines = [_clip(data.progress_summary, 2 * MAX_LINE_CHARS)] if data.progress_summary else []
    for item in data.progress[:limit]:
        status = PROGRESS_STATUS_LABELS.get(item.status, item.status)
        detail = f" — {_clip(item.detail, 60)}" if item.detail else ""
        lines.append(f"・[{status}] #{item.channel} {_clip(item.topic, 60)}{detail}")
    return lines


def _shared_lines(shared: Sequence[SharedFile], limit: int) -> list[str]:
    """The images and files people shared, by name (never their content)."""
    lines = [f"・#{f.channel} {_clip(f.author, 32)}: {_clip(f.label)}" for f in shared[:limit]]
    if len(shared) > limit:
        lines.append(f"・ほか{len(shared) - limit}件")
    return lines


def report_job_id(fleet: str, day: date) -> str:
    """The id of ``day``'s report job: one per fleet and date, so it is queued and posted once."""
    return f"{REPORT_JOB_PREFIX}{fleet}:{day.isoformat()}"


def is_report_job(job_id: str) -> bool:
    """Whether a job posts a Daily Report (its post time is what operators watch)."""
    return job_id.startswith(REPORT_JOB_PREFIX)
