"""What the personas are asked: prompt text for replies, autonomous speech and events.

Pure functions from the situation to a :class:`Prompt`; the worker sends it to whichever
LLM is configured. The conversation is given as one transcript rather than alternating
turns because the channel has many speakers, and the model needs to see who said what.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from agentfleet_runtime.brain.events import EventKind
from agentfleet_runtime.brain.messages import InboundMessage
from agentfleet_runtime.brain.personas import Persona
from agentfleet_runtime.brain.speech import ActiveTask

CHANNEL_PURPOSE = {
    "command_center": "全体の進行と意思決定の場",
    "development": "技術的な検討と実装の場",
    "creation": "アイデアと創作の場",
    "lounge": "雑談の場",
    "other": "チャンネル",
}


@dataclass(frozen=True, slots=True)
class Prompt:
    """A system instruction and the user turn that asks for one utterance."""

    system: str
    user: str


def transcript(history: Sequence[InboundMessage], limit_chars: int = 4000) -> str:
    """The conversation as ``[name] text`` lines, trimmed from the oldest end to fit."""
    lines = [f"[{m.author_name}] {m.content.strip()}" for m in history if m.content.strip()]
    kept: list[str] = []
    used = 0
    for line in reversed(lines):
        used += len(line) + 1
        if used > limit_chars:
            break
        kept.append(line)
    return "\n".join(reversed(kept)) or "（まだ会話はない）"


def _place(channel: str) -> str:
    return f"場所: #{channel}（{CHANNEL_PURPOSE.get(channel, CHANNEL_PURPOSE['other'])}）"


def _context(channel: str, task: ActiveTask | None) -> str:
    parts = [_place(channel)]
    if task is not None:
        parts.append(f"このチャンネルの現在のタスク: {task.text}")
    return "\n".join(parts)


def reply_prompt(
    persona: Persona,
    channel: str,
    history: Sequence[InboundMessage],
    message: InboundMessage,
    task: ActiveTask | None,
    memories: Sequence[str] = (),
) -> Prompt:
    """Ask ``persona`` to answer ``message`` in the light of the channel's history."""
    earlier = [m for m in history if m.message_id != message.message_id]
    recalled = ""
    if memories:
        recalled = "\n\n関連する長期記憶:\n" + "\n".join(f"- {m}" for m in memories)
    # The message to answer comes last: models weigh the end of a prompt most.
    user = (
        f"{_context(channel, task)}{recalled}\n\n最近の会話:\n{transcript(earlier)}\n\n"
        f"{persona.display_name}として、次の{message.author_name}のメッセージに直接返答して。\n\n"
        f"{message.author_name}からのメッセージ:\n{message.content.strip()}"
    )
    return Prompt(persona.system_prompt, user)


def speech_prompt(
    persona: Persona,
    channel: str,
    history: Sequence[InboundMessage],
    task: ActiveTask | None,
    avoid: Sequence[str] = (),
) -> Prompt:
    """Ask ``persona`` for one unprompted line that moves the channel's conversation on."""
    if task is not None:
        ask = f"タスク「{task.text}」を前に進める発言を1つして。"
    elif channel == "lounge":
        ask = "仲間との雑談を1つ、自然に始めるか続けて。"
    else:
        ask = "チームの今日の進め方について、自分から1つ発言して。"
    user = ask
    if avoid:
        repeated = "\n".join(f"- {line}" for line in avoid)
        user += f"\n最近の自分の発言と同じ内容は避けて、別の話題か別の角度で:\n{repeated}"
    # What to talk about comes last: the conversation so far, then the task itself.
    user += f"\n\n{_place(channel)}"
    user += f"\n\n最近の会話:\n{transcript(history)}"
    if task is not None:
        user += f"\n\nタスク: {task.text}"
    return Prompt(persona.system_prompt, user)


def event_prompt(
    persona: Persona, kind: EventKind, tasks: Sequence[ActiveTask], now: datetime
) -> Prompt:
    """Ask ``persona`` for the evening conclusion or the midnight rest post."""
    listing = "\n".join(f"- #{t.channel}: {t.text}" for t in tasks) or "- （タスクなし）"
    if kind is EventKind.CONCLUSION:
        ask = (
            f"{now:%m月%d日}の作業時間が終わった。今日のタスクを振り返って、みんなに"
            "おつかれさまと伝え、作業終了を宣言して。ここからは雑談の時間。"
        )
    else:
        ask = "日付が変わった。みんなにおやすみを言って、今日はもう休もうと伝えて。"
    user = f"{ask}\n\n場所: #lounge（雑談の場）\n今日のタスク:\n{listing}"
    return Prompt(persona.system_prompt, user)
