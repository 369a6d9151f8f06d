"""Backing up and restoring long-term memory with exactly the commands docs/operations.md gives.

The commands are read from the document and run by bash with the real ``pg_dump``,
``pg_restore`` and ``psql`` of the embedded PostgreSQL the tests use (its own major
version, as the document asks). Memories are formed by the real pipeline from a day log
the real router wrote, and read back through the persona's recall path (an embedding of
the question from the Gemini-compatible server, then pgvector's search).
"""

from __future__ import annotations

import asyncio
import os
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from agentfleet_runtime.app.recall import MemoryRecall
from agentfleet_runtime.llm.gemini import GeminiClient
from agentfleet_runtime.llm.rate_limit import RedisRateLimiter
from agentfleet_runtime.memory.long_term import LongTermStore, migrate
from agentfleet_runtime.pipeline import PipelineConfig, PipelineDeps, run_day
from tests.fixtures.fleet import BOT_IDS, CHANNELS, FleetHarness
from tests.fixtures.postgres import EmbeddedPostgres

pytestmark = pytest.mark.service

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
ZONE = ZoneInfo("Asia/Tokyo")
DAY = date(2026, 11, 24)
QUESTION = "署名鍵のローテーション周期は？"
#: (channel, persona, text): said by the personas, so the router logs them without replies.
TALK = [
    ("development", "lynq", "認証はJWT方式で実装し、署名鍵は30日ごとにローテーションする"),
    ("development", "spectra", "ステージング環境のデータベースをPostgreSQL 17に更新した"),
    ("lounge", "paz", "週末は近くの山でキャンプをする予定"),
]
#: What the document tells people to run first on a new, empty database.
NEW_DATABASE = 'psql "$POSTGRESQL_URL" -c "CREATE EXTENSION IF NOT EXISTS vector;"'


def documented(heading: str) -> str:
    """The first bash block under ``### heading`` in docs/operations.md."""
    section = DOC.read_text(encoding="utf-8").split(f"\n### {heading}\n", 1)[1]
    return section.split("```bash\n", 1)[1].split("```", 1)[0]


def the_backup(folder: Path) -> Path:
    """The one dump file the backup command wrote (its name carries the day's date)."""
    [backup] = folder.glob("backup_memories_*.dump")
    return backup


async def sh(script: str, cwd: Path, env: dict[str, str]) -> None:
    """Run ``script`` as a person would paste it into bash; fail with its stderr."""
    process = await asyncio.create_subprocess_exec(
        "bash", "-euo", "pipefail", "-c", script,
        cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, f"{script}\n{out.decode()}\n{err.decode()}"


async def execute(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def form_memories(fleet: FleetHarness, store: LongTermStore, gemini: GeminiClient) -> None:
    """The day's talk through the router, then the real pipeline for the day."""
    await fleet.redis.hset(
        fleet.keys.bots, mapping={name: str(uid) for name, uid in BOT_IDS.items()}
    )
    for minute, (channel, persona, text) in enumerate(TALK):
        when = datetime.combine(DAY, time(10, minute), ZONE).timestamp()
        await fleet.publish(
            fleet.message(
                text,
                channel,
                author_id=BOT_IDS[persona],
                author_name=persona.upper(),
                author_is_bot=True,
                created_at=when,
            )
        )
    async with asyncio.timeout(5):
        while await fleet.redis.xlen(fleet.keys.day(DAY.isoformat())) < len(TALK):
            await asyncio.sleep(0.02)
    deps = PipelineDeps(fleet.redis, store, gemini, PipelineConfig("test", CHANNELS, ZONE))
    assert (await run_day(deps, DAY)).memories_stored == len(TALK)


async def recall(url: str, fleet: FleetHarness, gemini: GeminiClient) -> list[str]:
    """What a persona answering QUESTION in #development would be reminded of."""
    store = await LongTermStore.connect(url)
    try:
        limiter = RedisRateLimiter(fleet.redis, fleet.keys.rate_limit, 100)
        return await MemoryRecall(store, gemini, limiter, "test").recall(QUESTION, "development")
    finally:
        await store.close()


async def test_memories_come_back_after_the_database_is_lost_or_emptied(
    fleet: FleetHarness,
    postgres_server: EmbeddedPostgres,
    postgres_url: str,
    gemini_client: GeminiClient,
    tmp_path: Path,
) -> None:
    await migrate(postgres_url, 768, timezone="Asia/Tokyo")
    store = await LongTermStore.connect(postgres_url)
    try:
        await form_memories(fleet, store, gemini_client)
    finally:
        await store.close()
    remembered = await recall(postgres_url, fleet, gemini_client)
    assert remembered and "署名鍵" in remembered[0]
    env = {
        **os.environ,
        "POSTGRESQL_URL": postgres_url,
        # The server's own client tools: pg_dump refuses a server newer than itself.
        "PATH": f"{postgres_server.server.bin_path}:{os.environ['PATH']}",
    }

    await sh(documented("Back up long-term memory (single host)"), tmp_path, env)
    backup = the_backup(tmp_path)
    restore = documented("Restore long-term memory (single host)").replace(
        "backup_memories_YYYYMMDD.dump", backup.name
    )

    # The database is lost: a new, empty one under the same name.
    conn = await asyncpg.connect(postgres_url)
    try:
        name = await conn.fetchval("SELECT current_database()")
    finally:
        await conn.close()
    await execute(postgres_server.url(), f'DROP DATABASE "{name}" WITH (FORCE)')
    await execute(postgres_server.url(), f'CREATE DATABASE "{name}"')
    assert NEW_DATABASE in DOC.read_text(encoding="utf-8")
    await sh(NEW_DATABASE, tmp_path, env)
    await sh(restore, tmp_path, env)
    # What `python main.py` does next: the schema is current, nothing to apply.
    assert await migrate(postgres_url, 768, timezone="Asia/Tokyo") == []
    assert await recall(postgres_url, fleet, gemini_client) == remembered

    # The memories are deleted by mistake: the same restore over the existing tables.
    await execute(postgres_url, "DELETE FROM unified_memories")
    assert await recall(postgres_url, fleet, gemini_client) == []
    await sh(restore, tmp_path, env)
    assert await recall(postgres_url, fleet, gemini_client) == remembered

    # The restored database knows the date is done: no second run, no second report.
    store = await LongTermStore.connect(postgres_url)
    try:
        deps = PipelineDeps(
            fleet.redis, store, gemini_client, PipelineConfig("test", CHANNELS, ZONE)
        )
        assert (await run_day(deps, DAY)).status == "already_done"
    finally:
        await store.close()
