"""The 06:00 pipeline end to end: router-written day log → Gemini → PostgreSQL → report.

Real services only: redis-server, the embedded PostgreSQL + pgvector, the real google-genai
client against the Gemini-compatible server (which honours the JSON schemas and embeds
with a real multilingual model), the real router writing the day log and the real SPECTRA
worker posting the report (to a recording Discord edge).
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

import agentfleet_runtime.pipeline.run as pipeline_run
from agentfleet_runtime.brain.messages import AttachmentRef, InboundMessage
from agentfleet_runtime.brain.tasks import TaskAction, TaskCommand, plan_update
from agentfleet_runtime.bus.codec import FIELD, decode_job
from agentfleet_runtime.config import Settings
from agentfleet_runtime.llm.gemini import GeminiClient
from agentfleet_runtime.memory.long_term import LongTermStore
from agentfleet_runtime.memory.state import FleetState
from agentfleet_runtime.pipeline import (
    PipelineConfig,
    PipelineDeps,
    PipelineError,
    previous_day,
    run_day,
    run_migrate,
    run_pipeline,
)
from agentfleet_runtime.pipeline.extract import (
    SourceIndex,
    chunk_lines,
    clean_content,
    select_messages,
)
from agentfleet_sandbox.gemini_server import GeminiServer
from tests.fixtures.fleet import BOT_IDS, CHANNELS, FleetHarness
from tests.fixtures.gemini import GEMINI_TEST_API_KEY

pytestmark = pytest.mark.service

ZONE = ZoneInfo("Asia/Tokyo")
DAY = date(2026, 11, 24)
MUSIC_BOT = 999

#: (HH:MM, channel, author: persona name or human name, text).
CONVERSATION: list[tuple[str, str, str, str]] = [
    (
        "09:00",
        "command_center",
        "alice",
        "今日のゴールはログイン機能のリリース準備を終わらせること",
    ),
    ("09:01", "command_center", "spectra", "了解、ログイン機能のリリース準備を優先しよう"),
    ("10:00", "development", "bob", "認証はJWT方式で実装することに決めた"),
    ("10:02", "development", "carol", "認証はJWT方式で実装することに決めた！"),
    (
        "10:05",
        "development",
        "lynq",
        "JWTの署名鍵はRS256で、鍵のローテーションは30日ごとという構造",
    ),
    ("11:00", "development", "bob", "明日のリリースに向けてテスト環境の構築を進めている"),
    ("11:01", "development", "bob", "明日のリリースに向けてテスト環境の構築を進めているよ"),
    ("11:30", "development", "carol", "ステージング環境のメモリを2GBに増やした"),
    ("11:31", "development", "carol", "ステージング環境のメモリを4GBに増やした"),
    ("13:00", "creation", "dave", "ログイン画面のイラストは水彩風にする案が気に入った"),
    (
        "13:02",
        "creation",
        "paz",
        "水彩風のログイン画面、朝焼けの色を使うと柔らかくなるかもしれない",
    ),
    ("15:00", "lounge", "erin", "週末は近くの山でキャンプする予定"),
    ("15:01", "lounge", "musicbot", "🎵 Now playing: lo-fi beats"),
    ("15:02", "lounge", "erin", "   "),
]
HUMAN_REPLIED = 9  # non-empty human messages: each gets one persona reply
COUNTED = 12  # humans and personas with text; the music bot and the empty one are not
NEAR_DUPLICATES = 2  # 認証…決めた！ and …進めているよ; 2GB/4GB state different facts
STORED = COUNTED - NEAR_DUPLICATES


def at(day: date, hhmm: str) -> float:
    hours, minutes = (int(x) for x in hhmm.split(":"))
    return datetime.combine(day, time(hours, minutes), ZONE).timestamp()


async def seed_day(fleet: FleetHarness, day: date = DAY) -> None:
    """Publish the conversation through the inbox so the real router writes the day log."""
    await fleet.redis.hset(
        fleet.keys.bots, mapping={name: str(uid) for name, uid in BOT_IDS.items()}
    )
    for hhmm, channel, author, text in CONVERSATION:
        if author in BOT_IDS:
            extra: dict[str, Any] = {
                "author_id": BOT_IDS[author],
                "author_name": author.upper(),
                "author_is_bot": True,
            }
        elif author == "musicbot":
            extra = {"author_id": MUSIC_BOT, "author_name": "DJ", "author_is_bot": True}
        else:
            extra = {"author_id": 7000 + len(author), "author_name": author}
        await fleet.publish(fleet.message(text, channel, created_at=at(day, hhmm), **extra))
    # The workers answer the humans through Gemini; let that finish before counting.
    await fleet.wait_for(lambda posts: len(posts) >= HUMAN_REPLIED, timeout=20)
    await fleet.settle(0.3)


@pytest.fixture
def deps(fleet: FleetHarness, store: LongTermStore, gemini_client: GeminiClient) -> PipelineDeps:
    return PipelineDeps(fleet.redis, store, gemini_client, PipelineConfig("test", CHANNELS, ZONE))


async def report_jobs(fleet: FleetHarness) -> list[Any]:
    entries: Any = await fleet.redis.xrange(fleet.keys.queue("spectra"))
    jobs = [decode_job(fields[FIELD.encode()]) for _id, fields in entries]
    return [j for j in jobs if j.kind.value == "announce"]


def report_posts(fleet: FleetHarness) -> list[Any]:
    return [p for p in fleet.posts if p.persona == "spectra" and "日報" in p.content]


async def scalar(url: str, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def test_pipeline_stores_memories_and_queues_the_report_once(
    fleet: FleetHarness,
    deps: PipelineDeps,
    gemini_server: GeminiServer,
    postgres_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    commit = TaskCommand(TaskAction.COMMIT, "development", "認証システム実装")
    await FleetState(fleet.redis, fleet.keys).update_tasks(
        lambda tasks: plan_update(commit, tasks, 1.0, "alice")
    )
    await seed_day(fleet)
    gemini_server.reset()
    caplog.set_level(logging.INFO)

    result = await run_day(deps, DAY)

    assert result.status == "completed"
    assert result.messages == COUNTED
    assert result.memories_extracted == COUNTED
    assert result.duplicates_dropped == NEAR_DUPLICATES
    assert result.memories_stored == STORED
    # Exactly three API calls: extract, progress, one embedding batch.
    assert gemini_server.counts == {"generate": 2, "stream": 0, "embed": 1, "total": 3}
    assert result.llm_calls == 3

    rows = await deps.store.day_memories("test", DAY)
    assert len(rows) == STORED
    contents = [r.content for r in rows]
    # Memories are the facts, not transcript lines; near-duplicates are gone, but the
    # 2GB / 4GB pair states two different facts and both stay.
    assert sum("JWT方式で実装することに決めた" in c for c in contents) == 1
    assert sum("テスト環境の構築を進めている" in c for c in contents) == 1
    assert any("2GB" in c for c in contents) and any("4GB" in c for c in contents)
    assert not any("lo-fi" in c for c in contents)
    assert not any(c.startswith(("10:00", "#", "bob:")) for c in contents)
    jwt = next(r for r in rows if "JWT方式" in r.content)
    assert jwt.channel == "development"
    assert jwt.source_message_ids and jwt.source_at is not None
    watercolor = next(r for r in rows if "水彩風にする案" in r.content)
    assert watercolor.channel == "creation"
    assert all(0.0 <= r.importance <= 1.0 for r in rows)

    # Every row has a 768-d embedding; DATE(timestamp) = CURRENT_DATE counts today's memories.
    assert (
        await scalar(
            postgres_url,
            "SELECT count(*) FROM unified_memories WHERE vector_dims(embedding) = 768",
        )
        == STORED
    )
    assert (
        await scalar(
            postgres_url,
            "SELECT COUNT(*) FROM unified_memories WHERE DATE(timestamp) = CURRENT_DATE;",
        )
        == STORED
    )
    assert (
        await scalar(postgres_url, "SELECT count(*) FROM unified_memories WHERE day = $1", DAY)
        == STORED
    )
    progress = await deps.store.progress("test", DAY)
    assert progress["summary"] and progress["items"]

    # The report: queued once on SPECTRA's queue for command_center, and posted once.
    jobs = await report_jobs(fleet)
    assert [j.job_id for j in jobs] == ["report:test:2026-11-24"]
    job = jobs[0]
    assert job.persona == "spectra" and job.channel == "command_center"
    assert job.channel_id == CHANNELS["command_center"]
    text = result.report or ""
    assert "日報 2026-11-24" in text
    assert f"合計{COUNTED}件（メンバー9件・エージェント3件）" in text
    for line in ("#command_center: 2件", "#development: 7件", "#creation: 2件", "#lounge: 1件"):
        assert line in text
    assert "#development: 認証システム実装" in text
    assert f"長期記憶 {STORED}件" in text
    top = max(rows, key=lambda r: r.importance)
    assert top.content[:40] in text
    assert "進捗（前日比）" in text
    await fleet.wait_for(lambda posts: len(report_posts(fleet)) == 1)
    post = report_posts(fleet)[0]
    # Posted as an embed under the report's heading, its sections as fields.
    assert post.channel_id == CHANNELS["command_center"]
    assert post.content == job.text == text.splitlines()[0]
    assert post.embed is not None and post.embed == job.embed
    assert post.embed.title == "📋 日報 2026-11-24（火）"
    fields = {f.name: f.value for f in post.embed.fields}
    assert f"■ 会話 合計{COUNTED}件（メンバー9件・エージェント3件）" in fields
    assert "・#development: 認証システム実装" in fields["■ タスク"]
    assert top.content[:40] in fields[f"■ 重要な記憶（長期記憶 {STORED}件）"]

    logged = caplog.text
    assert "長期記憶 start" in logged and "長期記憶 finished" in logged
    assert "Daily Report queued for 2026-11-24" in logged
    assert f"Daily Report text for 2026-11-24:\n{text}" in logged

    # A second run (the CronJob controller may start two): no API call, no second report.
    gemini_server.reset()
    again = await run_day(deps, DAY)
    assert again.status == "already_done"
    assert gemini_server.count() == 0
    assert len(await report_jobs(fleet)) == 1
    await fleet.settle(0.3)
    assert len(report_posts(fleet)) == 1
    assert len(await deps.store.day_memories("test", DAY)) == STORED


async def test_forced_rerun_adds_no_duplicate_memories(
    fleet: FleetHarness, deps: PipelineDeps, gemini_server: GeminiServer
) -> None:
    await seed_day(fleet)
    first = await run_day(deps, DAY)
    assert first.memories_stored == STORED
    gemini_server.reset()

    forced = await run_day(deps, DAY, force=True)

    # Re-extracted, but every memory near-duplicates one already stored for the date.
    assert forced.status == "completed"
    assert forced.memories_stored == 0
    assert forced.duplicates_dropped == forced.memories_extracted == COUNTED
    assert gemini_server.counts["embed"] == 0  # nothing new to embed
    assert len(await deps.store.day_memories("test", DAY)) == STORED
    assert not forced.report_queued
    assert len(await report_jobs(fleet)) == 1


async def test_empty_day_makes_no_llm_call_and_still_reports(
    fleet: FleetHarness, deps: PipelineDeps, gemini_server: GeminiServer
) -> None:
    gemini_server.reset()

    result = await run_day(deps, date(2026, 11, 20))

    assert result.status == "completed"
    assert result.messages == 0 and result.memories_stored == 0
    assert gemini_server.count() == 0
    assert result.report is not None and "昨日は会話がなかった" in result.report
    jobs = await report_jobs(fleet)
    assert [j.job_id for j in jobs] == ["report:test:2026-11-20"]
    await fleet.wait_for(lambda posts: len(report_posts(fleet)) == 1)
    # Done is done: an empty day is not reprocessed either.
    assert (await run_day(deps, date(2026, 11, 20))).status == "already_done"


async def test_shared_images_and_files_reach_memory_and_the_report_by_name_only(
    fleet: FleetHarness, deps: PipelineDeps, gemini_server: GeminiServer
) -> None:
    day = date(2026, 11, 19)
    cdn = "https://cdn.discordapp.com/attachments/2"
    shared = [
        (
            "10:00",
            "見て、新しいロゴ案",
            AttachmentRef(1, "logo_v2.png", "image/png", 2048, f"{cdn}/1"),
        ),
        ("10:05", "", AttachmentRef(2, "仕様.md", "text/markdown", 300, f"{cdn}/2")),
    ]
    for hhmm, text, attachment in shared:
        message = fleet.message(
            text, "creation", created_at=at(day, hhmm), attachments=(attachment,)
        )
        await fleet.publish(message)
    # Each is answered (the second has no text: an attachment alone is worth a reply).
    await fleet.wait_for(lambda posts: len(posts) >= 2, timeout=20)
    gemini_server.reset()

    result = await run_day(deps, day)

    assert result.status == "completed" and result.messages >= 2
    extraction = json.dumps(gemini_server.requests[0].body, ensure_ascii=False)
    assert "[画像: logo_v2.png]" in extraction and "[ファイル: 仕様.md]" in extraction
    rows = await deps.store.day_memories("test", day)
    assert any("logo_v2.png" in r.content for r in rows)
    assert result.report is not None
    assert "**■ 共有された画像・ファイル**（2件）" in result.report
    assert "・#creation alice: \\[画像: logo\\_v2.png\\]" in result.report
    assert "・#creation alice: \\[ファイル: 仕様.md\\]" in result.report


async def test_gemini_failure_fails_clearly_and_a_rerun_completes(
    fleet: FleetHarness,
    deps: PipelineDeps,
    gemini_server: GeminiServer,
    postgres_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await seed_day(fleet)
    gemini_server.reset()
    gemini_server.inject("500", count=None, endpoint="embed")

    with pytest.raises(PipelineError) as failure:
        await run_day(deps, DAY)

    assert failure.value.step == "embed"
    assert "2026-11-24" in str(failure.value) and "embed" in str(failure.value)
    assert "ERROR 長期記憶 failed for 2026-11-24 at step 'embed'" in caplog.text
    assert GEMINI_TEST_API_KEY not in str(failure.value) + caplog.text
    # Nothing partial: no memories, no progress, no completion, no report.
    for table in ("unified_memories", "daily_progress", "pipeline_runs"):
        assert await scalar(postgres_url, f"SELECT count(*) FROM {table}") == 0
    assert await report_jobs(fleet) == []

    gemini_server.reset()
    result = await run_day(deps, DAY)

    assert result.status == "completed" and result.memories_stored == STORED
    assert gemini_server.count() == 3
    assert await scalar(postgres_url, "SELECT count(*) FROM unified_memories") == STORED
    assert len(await report_jobs(fleet)) == 1


async def test_extraction_failure_stores_nothing(
    fleet: FleetHarness,
    deps: PipelineDeps,
    gemini_server: GeminiServer,
    postgres_url: str,
) -> None:
    await seed_day(fleet)
    gemini_server.reset()
    gemini_server.inject("malformed", count=None, endpoint="generate")

    with pytest.raises(PipelineError) as failure:
        await run_day(deps, DAY)

    assert failure.value.step == "extract"
    assert gemini_server.counts["embed"] == 0
    assert await scalar(postgres_url, "SELECT count(*) FROM pipeline_runs") == 0


async def test_two_runs_at_once_do_the_work_once(
    fleet: FleetHarness, deps: PipelineDeps, gemini_server: GeminiServer
) -> None:
    await seed_day(fleet)
    gemini_server.reset()

    results = await asyncio.gather(run_day(deps, DAY), run_day(deps, DAY))

    statuses = sorted(r.status for r in results)
    assert statuses[0] == "completed" and statuses[1] in ("already_done", "locked")
    assert gemini_server.count() == 3
    assert len(await deps.store.day_memories("test", DAY)) == STORED
    assert len(await report_jobs(fleet)) == 1


async def test_report_is_queued_by_a_rerun_after_a_crash_before_it(
    fleet: FleetHarness,
    deps: PipelineDeps,
    gemini_server: GeminiServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await seed_day(fleet)
    gemini_server.reset()

    async def crash(*args: Any) -> tuple[bool, str]:
        raise ConnectionError("pod killed")

    with monkeypatch.context() as patch:
        patch.setattr(pipeline_run, "_queue_report", crash)
        with pytest.raises(PipelineError):
            await run_day(deps, DAY)
    assert await report_jobs(fleet) == []
    gemini_server.reset()

    result = await run_day(deps, DAY)

    assert result.status == "report_only"
    assert gemini_server.count() == 0
    assert result.report is not None and f"合計{COUNTED}件" in result.report
    assert len(await report_jobs(fleet)) == 1


async def test_cli_entry_points_run_migrate_and_the_pipeline(
    fleet: FleetHarness,
    gemini_server: GeminiServer,
    postgres_url: str,
    pipeline_settings: Settings,
) -> None:
    settings = pipeline_settings
    await run_migrate(settings)
    await run_migrate(settings)  # a no-op the second time
    assert await scalar(postgres_url, "SELECT count(*) FROM schema_version") == 1
    assert await scalar(postgres_url, "SHOW timezone") == "Asia/Tokyo"
    await seed_day(fleet)
    gemini_server.reset()

    [result] = await run_pipeline(settings, DAY)

    assert result.status == "completed" and result.memories_stored == STORED
    assert gemini_server.count() == 3
    await fleet.wait_for(lambda posts: len(report_posts(fleet)) == 1)
    assert [r.status for r in await run_pipeline(settings, DAY)] == ["already_done"]
    assert gemini_server.count() == 3


async def test_a_very_large_day_is_split_into_a_few_extraction_calls(
    fleet: FleetHarness,
    store: LongTermStore,
    gemini_client: GeminiClient,
    gemini_server: GeminiServer,
) -> None:
    await seed_day(fleet)
    gemini_server.reset()
    small = PipelineConfig("test", CHANNELS, ZONE, max_transcript_chars=800)
    deps = PipelineDeps(fleet.redis, store, gemini_client, small)

    result = await run_day(deps, DAY)

    # The transcript is ~1200 characters: two extraction calls of about equal size, then
    # still one progress call and one embedding batch.
    assert gemini_server.counts == {"generate": 3, "stream": 0, "embed": 1, "total": 4}
    assert result.llm_calls == 4
    assert result.memories_stored == STORED


# -- the pure helpers ---------------------------------------------------------------------


def test_chunks_are_few_even_and_keep_every_line() -> None:
    lines = [f"{i:02d}:00 #development bob: " + "あ" * 40 for i in range(50)]
    assert chunk_lines(lines, 10_000) == [lines]
    chunks = chunk_lines(lines, 1_000)
    assert [line for chunk in chunks for line in chunk] == lines
    sizes = [sum(len(line) + 1 for line in chunk) for chunk in chunks]
    assert len(chunks) == -(-sum(sizes) // 1_000)
    assert max(sizes) <= 1_000 and max(sizes) - min(sizes) <= 2 * 60
    assert chunk_lines([], 1_000) == []


def test_an_echoed_transcript_line_is_unwrapped_in_memories() -> None:
    echoed = '{"time": "10:05", "channel": "development", "author": "bob", "text": "認証は JWT"}'
    assert clean_content(echoed) == "認証は JWT"
    assert clean_content("認証は JWT\nにする") == "認証は JWT にする"
    assert clean_content('{"note": 1}') == '{"note": 1}'
    assert clean_content("認証は10:05に決めた") == "認証は10:05に決めた"
    assert len(clean_content("長" * 1000)) == 300


def test_selection_keeps_people_and_personas_and_drops_other_bots() -> None:
    def msg(i: int, author: int, bot: bool, text: str = "こんにちは") -> InboundMessage:
        return InboundMessage(i, 2, author, "x", bot, text, 0.0)

    chosen = select_messages(
        [msg(1, 7, False), msg(2, 101, True), msg(3, 999, True), msg(4, 7, False, " ")],
        {101: "spectra"},
    )
    assert [m.message_id for m in chosen.messages] == [1, 2]
    assert (chosen.skipped_bots, chosen.skipped_empty) == (1, 1)


def test_attribution_finds_the_source_channel_and_time() -> None:
    messages = [
        InboundMessage(1, 1, 7, "a", False, "今日のゴールはログイン機能のリリース準備", 100.0),
        InboundMessage(2, 2, 7, "b", False, "認証はJWT方式で実装することに決めた", 200.0),
        InboundMessage(3, 1, 7, "c", False, "了解、ログイン機能のリリース準備を優先しよう", 300.0),
    ]
    index = SourceIndex(messages, {1: "command_center", 2: "development"})
    # The model said command_center, but the memory's source is in development.
    jwt = index.attribute("認証はJWT方式で実装することに決めた", "command_center")
    assert (jwt.message_ids, jwt.channel, jwt.source_at) == ((2,), "development", 200.0)
    goal = index.attribute("今日のゴールはログイン機能のリリース準備", "command_center")
    assert goal.message_ids == (1,) and goal.channel == "command_center"
    unknown = index.attribute("週末はキャンプ", "lounge")
    assert (unknown.message_ids, unknown.channel, unknown.source_at) == ((), "lounge", None)


def test_previous_day_is_the_fleet_local_yesterday() -> None:
    # 21:30 UTC on the 23rd is 06:30 on the 24th in Tokyo: the run processes the 23rd.
    moment = datetime(2026, 11, 23, 21, 30, tzinfo=UTC)
    assert previous_day(ZONE, moment) == date(2026, 11, 23)
    assert previous_day(ZoneInfo("UTC"), moment) == date(2026, 11, 22)
