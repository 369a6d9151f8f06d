"""Long-term memory on a real PostgreSQL 18 + pgvector: migrations, upserts and search.

Search uses real embeddings (the Gemini-compatible server's offline multilingual model
through the real google-genai client), so "most relevant" means what it says.
"""

from __future__ import annotations

import asyncio
from datetime import date

import asyncpg
import pytest

from agentfleet_runtime.llm.gemini import GeminiClient
from agentfleet_runtime.memory.long_term import (
    LongTermStore,
    MemoryType,
    NewMemory,
    SchemaMismatch,
    content_hash,
    migrate,
)

pytestmark = pytest.mark.service

DAY = date(2026, 11, 24)


async def fetch(url: str, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


def memory(
    content: str,
    vector: list[float],
    channel: str = "development",
    memory_type: MemoryType = "decision",
    importance: float = 0.5,
) -> NewMemory:
    return NewMemory(channel, content, memory_type, importance, vector)


def unit(i: int, dims: int = 768) -> list[float]:
    return [1.0 if j == i else 0.0 for j in range(dims)]


async def test_migrate_creates_the_schema_and_a_second_run_is_a_no_op(
    postgres_url: str,
) -> None:
    assert await migrate(postgres_url, 768) == [1]
    assert await migrate(postgres_url, 768) == []

    versions = await fetch(postgres_url, "SELECT version FROM schema_version")
    assert [r["version"] for r in versions] == [1]
    tables = {
        r["tablename"]
        for r in await fetch(
            postgres_url, "SELECT tablename FROM pg_tables WHERE schemaname='public'"
        )
    }
    assert {"unified_memories", "daily_progress", "pipeline_runs", "schema_version"} <= tables
    indexes = {
        r["indexname"]: r["indexdef"]
        for r in await fetch(
            postgres_url,
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename='unified_memories'",
        )
    }
    assert "hnsw" in indexes["unified_memories_embedding_hnsw"]
    assert "halfvec_cosine_ops" in indexes["unified_memories_embedding_hnsw"]
    assert '(fleet, channel, "timestamp")' in indexes["unified_memories_channel_time"]
    column = await fetch(
        postgres_url,
        "SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute "
        "WHERE attrelid = 'unified_memories'::regclass AND attname = 'embedding'",
    )
    assert column[0]["t"] == "halfvec(768)"


async def test_concurrent_migrations_apply_once(postgres_url: str) -> None:
    results = await asyncio.gather(*(migrate(postgres_url, 768) for _ in range(4)))
    assert sorted(results) == [[], [], [], [1]]


async def test_migrate_refuses_another_embedding_dimension(postgres_url: str) -> None:
    await migrate(postgres_url, 768)
    with pytest.raises(SchemaMismatch, match=r"halfvec\(768\).*GEMINI_EMBEDDING_DIMENSIONS=384"):
        await migrate(postgres_url, 384)


async def test_migrate_refuses_a_foreign_unified_memories_table(
    postgres_url: str,
) -> None:
    conn = await asyncpg.connect(postgres_url)
    try:
        await conn.execute(
            "CREATE TABLE unified_memories (id serial PRIMARY KEY, content text, "
            "timestamp timestamptz)"
        )
    finally:
        await conn.close()
    with pytest.raises(SchemaMismatch, match=r"without the columns .*embedding"):
        await migrate(postgres_url, 768)
    # The failed migration left nothing half-done behind.
    assert await fetch(postgres_url, "SELECT to_regclass('schema_version') IS NULL AS gone") == [
        (True,)
    ]


async def test_commit_is_idempotent_and_checks_constraints(
    store: LongTermStore,
    postgres_url: str,
) -> None:
    rows = [memory("認証はJWTにする", unit(0)), memory("デザインは水彩風", unit(1), "creation")]
    assert await store.commit_day("fleet-a", DAY, rows, {"summary": "s"}, {}) == 2
    # Same memories again (and a punctuation variant): nothing new.
    again = [*rows, memory("認証は、JWTにする！", unit(0))]
    assert await store.commit_day("fleet-a", DAY, again, None, {}) == 0
    # Another fleet is another memory space.
    assert await store.commit_day("fleet-b", DAY, rows, None, {}) == 2
    assert content_hash("認証はJWTにする") == content_hash("認証は、JWTにする！")
    assert (await store.run_record("fleet-a", DAY)) is not None
    assert await store.progress("fleet-a", DAY) == {"summary": "s"}

    bad = memory("重要すぎる", unit(2), importance=1.5)
    with pytest.raises(asyncpg.CheckViolationError):
        await store.commit_day("fleet-a", date(2026, 11, 25), [bad], None, {})
    # The failed transaction stored neither the memory nor the day's completion.
    assert await store.run_record("fleet-a", date(2026, 11, 25)) is None


async def test_search_returns_the_most_relevant_memory(
    store: LongTermStore, gemini_client: GeminiClient
) -> None:
    facts = [
        ("development", "認証はJWT方式で実装し、署名鍵は30日ごとにローテーションする"),
        ("development", "ステージング環境のデータベースをPostgreSQL 17に更新した"),
        ("creation", "ログイン画面のイラストは水彩風で、朝焼けの色を使う"),
        ("lounge", "週末は近くの山でキャンプをする予定"),
        ("command_center", "金曜日の定例会議は15時から30分に短縮する"),
    ]
    vectors = await gemini_client.embed([text for _, text in facts])
    await store.commit_day(
        "test",
        DAY,
        [memory(text, v, channel) for (channel, text), v in zip(facts, vectors, strict=True)],
        None,
        {},
    )
    queries = {
        "認証の方式と署名鍵はどうする？": facts[0][1],
        "山でキャンプ": facts[3][1],
        "会議の時間は？": facts[4][1],
        "ログイン画面の絵のタッチ": facts[2][1],
    }
    for query, expected in queries.items():
        (qv,) = await gemini_client.embed([query], task_type="RETRIEVAL_QUERY")
        hits = await store.search("test", qv, limit=3)
        assert hits[0].content == expected, (query, [h.content for h in hits])
        assert len(hits) == 3
        assert hits[0].similarity is not None and hits[0].similarity >= hits[1].similarity  # type: ignore[operator]
        exact = await store.search("test", qv, limit=3, exact=True)
        assert [h.id for h in exact] == [h.id for h in hits]

    (qv,) = await gemini_client.embed(["ログイン"], task_type="RETRIEVAL_QUERY")
    creation = await store.search("test", qv, channel="creation", limit=5)
    assert [h.content for h in creation] == [facts[2][1]]
    assert await store.search("other-fleet", qv) == []
