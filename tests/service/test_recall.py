"""A persona answering with what the fleet remembers: PostgreSQL + pgvector, real embeddings."""

from __future__ import annotations

import json
from datetime import date

import pytest
import redis.asyncio as aioredis

from agentfleet_runtime.app.recall import MemoryRecall
from agentfleet_runtime.llm.gemini import GeminiClient
from agentfleet_runtime.llm.rate_limit import RedisRateLimiter
from agentfleet_runtime.memory.long_term import LongTermStore, NewMemory
from agentfleet_sandbox.gemini_server import GeminiServer
from tests.fixtures.fleet import BOT_IDS, FleetHarness

FACT = "認証はJWT方式で実装し、署名鍵は30日ごとにローテーションする"


@pytest.fixture
async def remembered(store: LongTermStore, gemini_client: GeminiClient) -> LongTermStore:
    """The store holding three memories, one of them FACT, in two channels."""
    facts = [
        ("development", FACT),
        ("lounge", "週末は近くの山でキャンプをする予定"),
        ("development", "ステージング環境のデータベースをPostgreSQL 17に更新した"),
    ]
    vectors = await gemini_client.embed([text for _, text in facts])
    memories = [
        NewMemory(channel, text, "decision", 0.8, vector)
        for (channel, text), vector in zip(facts, vectors, strict=True)
    ]
    await store.commit_day("test", date(2026, 11, 24), memories, None, {})
    return store


async def test_recall_finds_the_relevant_memory_in_the_channel(
    remembered: LongTermStore, gemini_client: GeminiClient, redis_client: aioredis.Redis
) -> None:
    limiter = RedisRateLimiter(redis_client, "af:test:gemini-calls", 10)
    recall = MemoryRecall(remembered, gemini_client, limiter, "test")
    assert (await recall.recall("署名鍵のローテーション周期は？", "development"))[0] == FACT
    assert FACT not in await recall.recall("署名鍵のローテーション周期は？", "lounge")


async def test_no_budget_means_no_recall_not_no_answer(
    remembered: LongTermStore, gemini_client: GeminiClient, redis_client: aioredis.Redis
) -> None:
    limiter = RedisRateLimiter(redis_client, "af:test:gemini-calls", 2)
    for _ in range(2):
        await limiter.acquire()
    recall = MemoryRecall(remembered, gemini_client, limiter, "test")
    assert await recall.recall("署名鍵のローテーション周期は？", "development") == []


async def test_a_reply_prompt_carries_the_recalled_memory(
    fleet: FleetHarness,
    remembered: LongTermStore,
    gemini_client: GeminiClient,
    gemini_server: GeminiServer,
) -> None:
    limiter = RedisRateLimiter(fleet.redis, fleet.keys.rate_limit, 100)
    fleet.recall = MemoryRecall(remembered, gemini_client, limiter, "test")
    fleet.start_worker("lynq")  # a second LYNQ consumer, this one with recall
    for task in fleet.tasks[1:-1]:
        task.cancel()
    gemini_server.reset()
    await fleet.publish(
        fleet.message("署名鍵はいつ替える？", mentioned_user_ids=(BOT_IDS["lynq"],))
    )
    await fleet.wait_for(lambda posts: len(posts) >= 1)
    [request] = [r for r in gemini_server.requests if r.endpoint == "generate"]
    [user] = [c["parts"][0]["text"] for c in request.body["contents"]]
    assert json.dumps({"type": "memory", "text": FACT}, ensure_ascii=False) in user.splitlines()
