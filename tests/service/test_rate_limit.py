"""One Gemini rate limit shared by every process of a fleet (two limiters, one Redis)."""

import asyncio
import time

import redis.asyncio as aioredis

from agentfleet_runtime.llm.rate_limit import RedisRateLimiter


async def test_two_processes_share_one_budget(redis_client: aioredis.Redis) -> None:
    reception = RedisRateLimiter(redis_client, "af:test:gemini-calls", 4, window_ms=1000)
    worker = RedisRateLimiter(redis_client, "af:test:gemini-calls", 4, window_ms=1000)
    started = time.monotonic()
    for limiter in (reception, worker, reception, worker):
        await limiter.acquire()
    assert time.monotonic() - started < 0.5  # the first four fit in the window
    await asyncio.gather(reception.acquire(), worker.acquire())
    # The fifth and sixth calls had to wait for the window to move on.
    assert time.monotonic() - started >= 0.9
