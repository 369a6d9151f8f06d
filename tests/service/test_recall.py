"""A persona answering with what the fleet remembers: PostgreSQL + pgvector, real embeddings.

Recall spends Gemini requests only where they can help, and at most one a minute per
process however many people talk; these tests count the requests the local server saw.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import date

import pytest
import redis.asyncio as aioredis

from agentfleet_runtime.app.recall import RECALL_INTERVAL_SECONDS, MemoryRecall
from agentfleet_runtime.llm.gemini import GeminiClient
from agentfleet_runtime.llm.rate_limit import RedisRateLimiter
from agentfleet_runtime.memory.long_term import LongTermStore, NewMemory
from agentfleet_sandbox.gemini_server import GeminiServer, ModelTiming
from tests.fixtures.fleet import BOT_IDS, FleetHarness

FACT = "認証はJWT方式で実装し、署名鍵は30日ごとにローテーションする"
DATABASE = "ステージング環境のデータベースをPostgreSQL 17に更新した"
QUESTION = "署名鍵のローテーション周期は？"


class Clock:
    """A monotonic clock the test moves forward, for the interval between requests."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def remembered(store: LongTermStore, gemini_client: GeminiClient) -> LongTermStore:
    """The store holding three memories, one of them FACT, in two channels."""
    facts = [
        ("development", FACT),
        ("lounge", "週末は近くの山でキャンプをする予定"),
        ("development", DATABASE),
    ]
    vectors = await gemini_client.embed([text for _, text in facts])
    memories = [
        NewMemory(channel, text, "decision", 0.8, vector)
        for (channel, text), vector in zip(facts, vectors, strict=True)
    ]
    await store.commit_day("test", date(2026, 11, 24), memories, None, {})
    return store


@pytest.fixture
def clock() -> Clock:
    """The recall's clock, moved by the test."""
    return Clock()


@pytest.fixture
def limiter(redis_client: aioredis.Redis) -> RedisRateLimiter:
    """The fleet's shared Gemini budget, with room for every request these tests make."""
    return RedisRateLimiter(redis_client, "af:test:gemini-calls", 100)


@pytest.fixture
async def recall(
    remembered: LongTermStore,
    gemini_client: GeminiClient,
    limiter: RedisRateLimiter,
    clock: Clock,
) -> AsyncIterator[MemoryRecall]:
    """A persona process's recall over the remembered store; the Gemini log starts empty."""
    recall = MemoryRecall(remembered, gemini_client, limiter, "test", clock=clock)
    yield recall
    await recall.close()


async def test_recall_finds_the_relevant_memory_in_the_channel(
    recall: MemoryRecall, gemini_server: GeminiServer
) -> None:
    gemini_server.reset()
    assert (await recall.recall(QUESTION, "development"))[0] == FACT
    assert FACT not in await recall.recall(QUESTION, "lounge")
    # The same words asked in another channel are searched there without a new embedding.
    assert gemini_server.count("embed") == 1


async def test_no_request_where_recall_cannot_help(
    recall: MemoryRecall, gemini_server: GeminiServer
) -> None:
    gemini_server.reset()
    # #creation has no memories at all; 「了解」 says nothing to search by.
    assert await recall.recall("署名鍵のローテーション周期は？", "creation") == []
    assert await recall.recall("了解！", "development") == []
    assert gemini_server.count() == 0


async def test_a_busy_channel_costs_one_request_a_minute_and_its_memories_follow_the_talk(
    recall: MemoryRecall, clock: Clock, gemini_server: GeminiServer
) -> None:
    gemini_server.reset()
    assert (await recall.recall(QUESTION, "development"))[0] == FACT
    assert await recall.recall("週末の予定はどうする？", "lounge")
    # Within the minute: the channel's memories at once, no request, whatever is asked.
    for n in range(10):
        answer = await recall.recall(f"ステージングのDBは何に上げたっけ？ ({n})", "development")
        assert answer[0] == FACT
    await recall.recall("キャンプの持ち物、決めた？", "lounge")
    assert gemini_server.count("embed") == 2  # the two channels' first recalls
    # A minute later one request carries each channel's latest message.
    clock.now += RECALL_INTERVAL_SECONDS
    await recall.recall("ステージングのDBのバージョンは？", "development")
    async with asyncio.timeout(10):
        while (await recall.recall("了解", "development"))[0] != DATABASE:
            await asyncio.sleep(0.02)
    batch = [r for r in gemini_server.requests if r.endpoint == "embed"][-1]
    texts = sorted(item["content"]["parts"][0]["text"] for item in batch.body["requests"])
    assert texts == ["キャンプの持ち物、決めた？", "ステージングのDBのバージョンは？"]
    assert gemini_server.count("embed") == 3


async def test_the_processes_of_a_cluster_share_one_request_a_minute(
    remembered: LongTermStore,
    gemini_client: GeminiClient,
    gemini_server: GeminiServer,
    limiter: RedisRateLimiter,
    clock: Clock,
) -> None:
    # Two personas' processes of one fleet (each its own recall), on the fleet's Redis.
    lynq, paz = (
        MemoryRecall(remembered, gemini_client, limiter, "test", clock=clock) for _ in range(2)
    )
    for recall in (lynq, paz):
        assert (await recall.recall(QUESTION, "development"))[0] == FACT
    gemini_server.reset()
    clock.now += RECALL_INTERVAL_SECONDS
    await lynq.recall("ステージングのDBのバージョンは？", "development")
    async with asyncio.timeout(10):
        while (await lynq.recall("了解", "development"))[0] != DATABASE:
            await asyncio.sleep(0.02)
    # PAZ's minute is up too, but the fleet's request of this minute was LYNQ's.
    assert (await paz.recall("ステージングのDBのバージョンは？", "development"))[0] == FACT
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(1):
            while gemini_server.count("embed") < 2:
                await asyncio.sleep(0.02)
    assert gemini_server.count("embed") == 1
    for recall in (lynq, paz):
        await recall.close()


async def test_a_reply_does_not_wait_for_a_slow_embedding_once_its_channel_has_memories(
    recall: MemoryRecall, clock: Clock, gemini_server: GeminiServer
) -> None:
    gemini_server.reset()
    assert (await recall.recall(QUESTION, "development"))[0] == FACT
    gemini_server.timing = ModelTiming(embed_s=3.0)
    clock.now += RECALL_INTERVAL_SECONDS
    started = time.monotonic()
    answer = await recall.recall("ステージングのDBのバージョンは？", "development")
    # The reply goes on with what the channel had while the embedding is still on its way.
    assert answer[0] == FACT
    assert time.monotonic() - started < gemini_server.timing.embed_s
    async with asyncio.timeout(2):  # the refresh goes out all the same
        while gemini_server.count("embed") < 2:
            await asyncio.sleep(0.01)


async def test_no_budget_means_no_recall_not_no_answer(
    remembered: LongTermStore, gemini_client: GeminiClient, redis_client: aioredis.Redis
) -> None:
    limiter = RedisRateLimiter(redis_client, "af:test:gemini-calls", 2)
    for _ in range(2):
        await limiter.acquire()
    recall = MemoryRecall(remembered, gemini_client, limiter, "test")
    assert await recall.recall(QUESTION, "development") == []


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
    assert {"type": "memory", "text": FACT} in [json.loads(line) for line in user.splitlines()]
