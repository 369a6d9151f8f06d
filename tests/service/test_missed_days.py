"""Days missed while the fleet was down, and a person's re-run of one date.

Real services only: the router writes the day logs into redis-server (and notes each
logged date), the embedded PostgreSQL + pgvector keeps the memories, and the real
google-genai client talks to the Gemini-compatible server.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr

from agentfleet_runtime.bus.codec import FIELD, decode_job
from agentfleet_runtime.config import Settings
from agentfleet_runtime.contract import Env
from agentfleet_runtime.llm.gemini import GeminiClient
from agentfleet_runtime.memory.long_term import LongTermStore
from agentfleet_runtime.observability.metrics import REGISTRY
from agentfleet_runtime.pipeline import (
    PipelineConfig,
    PipelineDeps,
    PipelineError,
    catch_up,
    catch_up_in_process,
    run_day,
    run_pipeline,
)
from tests.fixtures.fleet import BOT_IDS, CHANNELS, FleetHarness
from tests.fixtures.gemini import GEMINI_TEST_API_KEY

pytestmark = pytest.mark.service

ZONE = ZoneInfo("Asia/Tokyo")
MON, TUE, WED = date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25)
EXPIRED_METRIC = "agentfleet_pipeline_day_logs_expired_total"

#: One line of work talk per date, said by the personas (so no replies are generated).
TALK = {
    MON: ("lynq", "月曜はログイン画面のワイヤーフレームを描き終えた"),
    TUE: ("spectra", "火曜は認証APIの設計レビューを終えてJWT方式に決めた"),
    WED: ("paz", "水曜はログイン画面の配色を朝焼けのグラデーションに決めた"),
}


async def log_day(fleet: FleetHarness, day: date) -> None:
    """Send the day's talk through the inbox: the real router writes the day log."""
    persona, text = TALK[day]
    await fleet.redis.hset(
        fleet.keys.bots, mapping={name: str(uid) for name, uid in BOT_IDS.items()}
    )
    when = datetime.combine(day, time(10, 0), ZONE).timestamp()
    await fleet.publish(
        fleet.message(
            text,
            "development",
            author_id=BOT_IDS[persona],
            author_name=persona.upper(),
            author_is_bot=True,
            created_at=when,
        )
    )


async def routed(fleet: FleetHarness, days: set[date]) -> None:
    """Wait until the router has noted every one of ``days`` as logged."""
    want = {d.isoformat().encode() for d in days}
    async with asyncio.timeout(5):
        while not want <= set(await fleet.redis.smembers(fleet.keys.day_logs)):
            await asyncio.sleep(0.02)


async def expire_log(fleet: FleetHarness, day: date) -> None:
    """Let Redis expire the day's log, as its TTL does a few days after its last message."""
    key = fleet.keys.day(day.isoformat())
    await fleet.redis.pexpire(key, 1)
    async with asyncio.timeout(5):
        while await fleet.redis.exists(key):
            await asyncio.sleep(0.01)


async def reported_days(fleet: FleetHarness) -> list[str]:
    entries: Any = await fleet.redis.xrange(fleet.keys.queue("spectra"))
    jobs = [decode_job(fields[FIELD.encode()]) for _id, fields in entries]
    return [j.job_id.rsplit(":", 1)[1] for j in jobs if j.kind.value == "announce"]


def expired_count() -> float:
    return REGISTRY.get_sample_value(EXPIRED_METRIC) or 0.0


@pytest.fixture
def deps(fleet: FleetHarness, store: LongTermStore, gemini_client: GeminiClient) -> PipelineDeps:
    return PipelineDeps(fleet.redis, store, gemini_client, PipelineConfig("test", CHANNELS, ZONE))


async def test_missed_days_are_caught_up_in_order_and_an_expired_one_is_reported_once(
    fleet: FleetHarness,
    pipeline_settings: Settings,
    deps: PipelineDeps,
    gemini_client: GeminiClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for day in (MON, TUE, WED):
        await log_day(fleet, day)
    await routed(fleet, {MON, TUE, WED})
    await expire_log(fleet, MON)  # the fleet stayed down too long for Monday
    before = expired_count()

    # What the all-in-one process runs at start-up (Thursday, after 06:00).
    with caplog.at_level(logging.INFO):
        results = await catch_up_in_process(
            pipeline_settings, fleet.redis, gemini_client, WED, scheduled=False
        )

    assert [(r.day, r.status) for r in results] == [(TUE, "completed"), (WED, "completed")]
    for day in (TUE, WED):
        assert [m.content for m in await deps.store.day_memories("test", day)], day
    assert await deps.store.day_memories("test", MON) == []
    assert await deps.store.run_record("test", MON) is None
    # Oldest first: Wednesday's progress is measured against Tuesday's.
    progress = await deps.store.progress("test", WED)
    assert progress is not None and progress["previous_day"] == TUE.isoformat()
    assert await reported_days(fleet) == [TUE.isoformat(), WED.isoformat()]
    lost = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(lost) == 1 and "2026-11-23" in lost[0].getMessage()
    assert "expired" in lost[0].getMessage()
    assert expired_count() == before + 1
    # Settled, the three dates are off the list (today's, of the reports just posted, stays).
    logged = {d.decode() for d in await fleet.redis.smembers(fleet.keys.day_logs)}
    assert logged.isdisjoint(d.isoformat() for d in (MON, TUE, WED)), logged

    caplog.clear()
    assert await catch_up(deps, through=WED) == []  # nothing owed any more
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]
    assert expired_count() == before + 1


async def test_todays_log_waits_for_its_own_run(fleet: FleetHarness, deps: PipelineDeps) -> None:
    await log_day(fleet, TUE)
    await log_day(fleet, WED)
    await routed(fleet, {TUE, WED})

    results = await catch_up(deps, through=TUE)  # at 05:00 on Thursday, Wednesday is not due

    assert [r.day for r in results] == [TUE]
    logged = {d.decode() for d in await fleet.redis.smembers(fleet.keys.day_logs)}
    assert {TUE.isoformat(), WED.isoformat()} & logged == {WED.isoformat()}


async def test_a_forced_rerun_never_posts_the_report_twice(
    fleet: FleetHarness, deps: PipelineDeps
) -> None:
    await log_day(fleet, TUE)
    await routed(fleet, {TUE})
    first = await run_day(deps, TUE)
    assert first.report_queued
    # A week later the report's run-once marker in Redis has expired.
    await fleet.redis.delete(fleet.keys.event(f"daily-report:{TUE.isoformat()}"))

    forced = await run_day(deps, TUE, force=True)

    assert forced.status == "completed" and not forced.report_queued
    assert await reported_days(fleet) == [TUE.isoformat()]
    assert len(await deps.store.day_memories("test", TUE)) == first.memories_stored


async def test_a_dated_rerun_refuses_a_date_whose_log_is_gone(
    fleet: FleetHarness, pipeline_settings: Settings, store: LongTermStore
) -> None:
    await log_day(fleet, TUE)
    await log_day(fleet, WED)
    await routed(fleet, {TUE, WED})
    [done] = await run_pipeline(pipeline_settings, TUE)
    assert done.status == "completed"
    [again] = await run_pipeline(pipeline_settings, TUE)
    assert again.status == "already_done"
    stored = len(await store.day_memories("test", TUE))
    for day in (TUE, WED):
        await expire_log(fleet, day)

    with pytest.raises(PipelineError, match=r"no longer in Redis.*stored for it earlier are kept"):
        await run_pipeline(pipeline_settings, TUE, force=True)
    with pytest.raises(PipelineError, match=r"2026-11-25.*nothing to form memories from"):
        await run_pipeline(pipeline_settings, WED)

    assert len(await store.day_memories("test", TUE)) == stored
    assert await store.run_record("test", WED) is None
    assert await reported_days(fleet) == [TUE.isoformat()]


async def agentfleet(settings: Settings, cwd: Path, *args: str) -> tuple[int, str, str]:
    """``agentfleet ARGS`` as a person runs it, configured like ``settings``."""
    env = {k: v for k, v in os.environ.items() if k not in {e.value for e in Env}}
    env |= {
        "ENVIRONMENT": "test",
        "FLEET_NAME": "test",
        "LOG_FILE": "",
        "REDIS_URL": settings.REDIS_URL.get_secret_value(),
        "POSTGRESQL_URL": cast(SecretStr, settings.POSTGRESQL_URL).get_secret_value(),
        "GEMINI_API_KEY": GEMINI_TEST_API_KEY,
        "GEMINI_BASE_URL": cast(str, settings.GEMINI_BASE_URL),
        **{f"{name.upper()}_CHANNEL_ID": str(cid) for name, cid in CHANNELS.items()},
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agentfleet_runtime", *args,
        cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    return cast(int, process.returncode), out.decode(), err.decode()


async def test_the_command_line_reports_a_done_date_and_refuses_a_lost_one(
    fleet: FleetHarness, pipeline_settings: Settings, store: LongTermStore, tmp_path: Path
) -> None:
    settings = pipeline_settings
    await log_day(fleet, TUE)
    await routed(fleet, {TUE})

    code, out, _err = await agentfleet(settings, tmp_path, "pipeline", "--date", "2026-11-24")
    assert code == 0 and "長期記憶 finished" in out
    code, out, _err = await agentfleet(settings, tmp_path, "pipeline", "--date", "2026-11-24")
    assert code == 0 and "already done" in out and "--force runs it again" in out
    await expire_log(fleet, TUE)
    code, _out, err = await agentfleet(
        settings, tmp_path, "pipeline", "--date", "2026-11-24", "--force"
    )

    assert code == 1
    assert err.splitlines() == [
        "agentfleet: 長期記憶 failed for 2026-11-24 at step 'read': its day log is no longer "
        "in Redis (kept 3 days after the day's last message), so there is nothing to form "
        "memories from; the memories stored for it earlier are kept"
    ]
    assert await store.run_record("test", TUE) is not None
