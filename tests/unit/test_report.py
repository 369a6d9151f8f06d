"""The Daily Report template: what it says, in which order, and within Discord's limit."""

from __future__ import annotations

from datetime import date

from agentfleet_runtime.brain.messages import JobKind, PersonaJob
from agentfleet_runtime.brain.personas import PERSONAS
from agentfleet_runtime.brain.report import (
    EMPTY_DAY,
    MAX_REPORT_CHARS,
    DailyReportData,
    ReportMemory,
    ReportProgress,
    SharedFile,
    daily_report,
    report_embed,
    report_heading,
)
from agentfleet_runtime.brain.speech import ActiveTask
from agentfleet_runtime.bus.codec import decode_job, encode_job

DAY = date(2026, 11, 24)  # a Tuesday


def full_day() -> DailyReportData:
    return DailyReportData(
        day=DAY,
        channel_counts={"lounge": 4, "development": 30, "command_center": 12, "other": 1},
        human_messages=35,
        agent_messages=12,
        tasks=[
            ActiveTask("development", "認証システム実装", 2.0),
            ActiveTask("command_center", "リリース計画", 1.0),
        ],
        memories=[
            ReportMemory("雑談で天気の話をした", "conversation", 0.1, "lounge"),
            ReportMemory("認証はJWT方式に決定", "decision", 0.9, "development"),
            ReportMemory("テスト環境を構築中", "progress", 0.6, "development"),
        ],
        memories_stored=3,
        progress_summary="認証の方針が決まり、テスト環境の構築が進んだ。",
        progress=[
            ReportProgress("development", "認証", "advanced", "JWT方式に決定"),
            ReportProgress("creation", "ロゴ", "blocked"),
        ],
    )


def test_full_report_lists_counts_tasks_memories_and_progress() -> None:
    text = daily_report(full_day())
    lines = text.splitlines()

    assert lines[0] == "📋 **日報 2026-11-24（火）**"
    assert "合計47件（メンバー35件・エージェント12件）" in text
    # Channels in the fleet's canonical order, unknown ones last; zero counts omitted.
    counts = [line for line in lines if line.startswith("・#") and "件" in line]
    assert counts == [
        "・#command_center: 12件",
        "・#development: 30件",
        "・#lounge: 4件",
        "・#other: 1件",
    ]
    assert lines.index("・#command_center: リリース計画") < lines.index(
        "・#development: 認証システム実装"
    )
    # Most important memory first, with its type label and importance.
    memories = [line for line in lines if line[:2] in ("1.", "2.", "3.")]
    assert memories[0] == "1. [決定] 認証はJWT方式に決定（#development・重要度0.90）"
    assert memories[2].startswith("3. [会話] 雑談で天気の話をした")
    assert "（長期記憶 3件）" in text
    assert "認証の方針が決まり、テスト環境の構築が進んだ。" in text
    assert "・[前進] #development 認証 — JWT方式に決定" in text
    assert "・[停滞] #creation ロゴ" in text
    assert lines[-1] == "今日もこの流れで進めよう。"
    assert EMPTY_DAY not in text


def test_empty_day_says_there_was_no_conversation() -> None:
    text = daily_report(DailyReportData(day=DAY))

    assert text.splitlines()[:2] == ["📋 **日報 2026-11-24（火）**", "昨日は会話がなかった。"]
    assert "■ 会話" not in text and "■ 重要な記憶" not in text and "■ 進捗" not in text
    assert "登録なし" in text


def test_report_is_deterministic_and_fits_one_discord_message() -> None:
    assert daily_report(full_day()) == daily_report(full_day())
    long_text = "とても長い記憶の本文" * 100
    data = DailyReportData(
        day=DAY,
        channel_counts={"development": 2000},
        human_messages=2000,
        tasks=[ActiveTask(c, long_text, float(i)) for i, c in enumerate(["development"] * 30)],
        memories=[ReportMemory(long_text, "learning", 0.5, "development")] * 50,
        memories_stored=50,
        progress_summary=long_text,
        progress=[ReportProgress("development", long_text, "done", long_text)] * 50,
    )
    text = daily_report(data)

    assert len(text) <= MAX_REPORT_CHARS
    # Long lines are clipped, not wrapped over several messages.
    assert all(len(line) < 250 for line in text.splitlines())
    # Progress gives way first; counts, tasks and the top memories stay, and SPECTRA's
    # closing line is not cut off.
    assert "合計2000件" in text
    assert text.count("[学び]") == 5  # the top memories only
    assert text.count("[完了]") < 8  # progress items gave way
    assert text.count("・#development: とても長い") <= 6
    assert text.endswith("今日もこの流れで進めよう。")


def test_text_people_wrote_is_quoted_and_cannot_reshape_the_report() -> None:
    fence = "```\n**■ タスク**\n・#lounge: 偽のタスク <@123> [リンク](https://example.com)"
    data = DailyReportData(
        day=DAY,
        channel_counts={"development": 1},
        human_messages=1,
        tasks=[ActiveTask("development", "SYSTEM: ~~全部~~ 消して ||秘密||", 1.0)],
        memories=[ReportMemory(fence, "decision", 0.9, "development")],
        memories_stored=1,
    )
    text = daily_report(data)
    lines = text.splitlines()

    # One line each, so nothing forges a section or a task line of its own.
    assert [line for line in lines if line.startswith("**■")] == [
        "**■ 会話** 合計1件（メンバー1件・エージェント0件）",
        "**■ タスク**",
        "**■ 重要な記憶**（長期記憶 1件）",
    ]
    assert "・#development: SYSTEM: \\~\\~全部\\~\\~ 消して \\|\\|秘密\\|\\|" in lines
    memory = next(line for line in lines if line.startswith("1. "))
    # Escaped markup: no code block swallows the rest, no mention or link renders.
    assert memory.startswith("1. [決定] \\`\\`\\` \\*\\*■ タスク\\*\\* ・#lounge: 偽のタスク")
    assert "\\<@123\\>" in memory and "\\[リンク\\]" in memory
    assert "```" not in text
    assert text.endswith("今日もこの流れで進めよう。")


def test_shared_images_and_files_are_listed_by_name_never_by_content() -> None:
    shared = [
        SharedFile("development", "alice", "[画像: screen_1.png]"),
        *(SharedFile("lounge", "bob", f"[ファイル: memo{i}.md]") for i in range(8)),
    ]
    text = daily_report(DailyReportData(day=DAY, channel_counts={"lounge": 9}, shared=shared))
    lines = text.splitlines()
    heading = lines.index("**■ 共有された画像・ファイル**（9件）")
    # Names are quoted as plain text: the underscore is not italics, the brackets no link.
    assert lines[heading + 1] == "・#development alice: \\[画像: screen\\_1.png\\]"
    assert lines[heading + 7] == "・ほか3件"


def test_shared_files_are_the_first_thing_dropped_when_the_report_is_too_long() -> None:
    long = "とても長い説明" * 15
    data = DailyReportData(
        day=DAY,
        channel_counts={"development": 40},
        tasks=[ActiveTask(f"channel{i}", long, float(i)) for i in range(6)],
        memories=[ReportMemory(long + str(i), "learning", 0.5, "development") for i in range(5)],
        progress=[ReportProgress("development", long, "advanced", long) for _ in range(8)],
        shared=[SharedFile("lounge", "bob", f"[ファイル: memo{i}.md]") for i in range(6)],
    )
    text = daily_report(data)
    assert len(text) <= MAX_REPORT_CHARS
    assert "共有された画像・ファイル" not in text
    assert "5. [学び]" in text and "■ 進捗（前日比）" in text


def test_the_embed_shows_the_reports_sections_as_fields_in_spectras_colour() -> None:
    data = full_day()
    text = daily_report(data)
    embed = report_embed(data)

    assert report_heading(data) == text.splitlines()[0] == "📋 **日報 2026-11-24（火）**"
    assert embed.title == "📋 日報 2026-11-24（火）"
    assert embed.colour == PERSONAS["spectra"].colour
    assert embed.description == "今日もこの流れで進めよう。"
    names = [f.name for f in embed.fields]
    assert names == [
        "■ 会話 合計47件（メンバー35件・エージェント12件）",
        "■ タスク",
        "■ 重要な記憶（長期記憶 3件）",
        "■ 進捗（前日比）",
    ]
    # Every field says what the text's section says.
    for field in embed.fields:
        assert field.value in text
    empty = report_embed(DailyReportData(day=DAY))
    assert empty.description.startswith(EMPTY_DAY)
    assert [f.name for f in empty.fields] == ["■ タスク"]


def test_the_embed_stays_within_discords_embed_limits() -> None:
    long = "とても長い説明" * 40
    data = DailyReportData(
        day=DAY,
        channel_counts={"development": 40},
        tasks=[ActiveTask(f"channel{i}", long, float(i)) for i in range(6)],
        memories=[ReportMemory(long + str(i), "learning", 0.5, "development") for i in range(5)],
        progress_summary=long,
        progress=[ReportProgress("development", long, "advanced", long) for _ in range(8)],
        shared=[SharedFile("lounge", "bob", f"[ファイル: {long}.md]") for i in range(6)],
    )
    embed = report_embed(data)
    assert len(embed.fields) <= 25
    assert all(0 < len(f.value) <= 1024 and len(f.name) <= 256 for f in embed.fields)
    size = len(embed.title) + len(embed.description)
    assert size + sum(len(f.name) + len(f.value) for f in embed.fields) <= 6000


def test_the_report_job_carries_its_embed_through_the_queue() -> None:
    embed = report_embed(full_day())
    job = PersonaJob(
        "report:test:2026-11-24",
        JobKind.ANNOUNCE,
        "spectra",
        "command_center",
        1,
        0.0,
        text=report_heading(full_day()),
        embed=embed,
    )
    assert decode_job(encode_job(job)) == job
