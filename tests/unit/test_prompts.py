from datetime import datetime
from zoneinfo import ZoneInfo

from agentfleet_runtime.brain.events import EventKind
from agentfleet_runtime.brain.messages import InboundMessage
from agentfleet_runtime.brain.personas import LYNQ, PAZ, SPECTRA
from agentfleet_runtime.brain.prompts import event_prompt, reply_prompt, speech_prompt, transcript
from agentfleet_runtime.brain.speech import ActiveTask


def said(message_id: int, author: str, content: str) -> InboundMessage:
    return InboundMessage(message_id, 2, message_id, author, False, content, 0.0)


def test_reply_prompt_ends_with_the_message_to_answer_and_carries_context() -> None:
    history = [said(1, "bob", "昨日の件だけど"), said(2, "alice", "認証はどうする？")]
    task = ActiveTask("development", "認証システム実装", 0.0)
    prompt = reply_prompt(LYNQ, "development", history, history[-1], task)
    assert prompt.system == LYNQ.system_prompt
    assert prompt.user.splitlines()[-1] == "認証はどうする？"
    assert "[bob] 昨日の件だけど" in prompt.user
    assert "認証システム実装" in prompt.user
    # The message being answered is not repeated inside the transcript.
    assert prompt.user.count("認証はどうする？") == 1


def test_speech_prompt_is_about_the_task_and_avoids_repeats() -> None:
    task = ActiveTask("development", "API設計", 0.0)
    prompt = speech_prompt(SPECTRA, "development", [], task, avoid=["さっきの発言"])
    assert prompt.user.splitlines()[-1] == "タスク: API設計"
    assert "さっきの発言" in prompt.user
    lounge = speech_prompt(PAZ, "lounge", [said(1, "bob", "週末なにする？")], None)
    assert lounge.user.splitlines()[-1] == "[bob] 週末なにする？"
    assert "雑談" in lounge.user


def test_transcript_keeps_the_newest_lines_within_the_budget() -> None:
    lines = [said(i, "alice", f"メッセージ{i}" * 10) for i in range(100)]
    text = transcript(lines, limit_chars=500)
    assert len(text) <= 500
    assert text.endswith("メッセージ99" * 10)
    assert transcript([]) == "（まだ会話はない）"


def test_event_prompts_name_the_day_and_the_tasks() -> None:
    now = datetime(2026, 11, 25, 20, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    tasks = [ActiveTask("creation", "アイデアブレスト", 0.0)]
    conclusion = event_prompt(SPECTRA, EventKind.CONCLUSION, tasks, now)
    assert "11月25日" in conclusion.user and "アイデアブレスト" in conclusion.user
    rest = event_prompt(PAZ, EventKind.REST, [], now)
    assert "おやすみ" in rest.user and "タスクなし" in rest.user
