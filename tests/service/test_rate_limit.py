"""One Gemini rate limit shared by every process of a fleet (two limiters, one Redis)."""

import asyncio
import contextlib
import time
from collections.abc import Coroutine
from typing import Any

import pytest
import redis.asyncio as aioredis

from agentfleet_runtime.bus.streams import REDIS_DOWN
from agentfleet_runtime.llm.rate_limit import LEASE_EXTRA_CALLS, RedisRateLimiter
from tests.fixtures.redis import RedisServer


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


async def test_a_busy_process_asks_redis_once_for_several_calls(
    redis_client: aioredis.Redis,
) -> None:
    """While most of the budget is free, one look at Redis admits several calls at once."""
    limiter = RedisRateLimiter(redis_client, "af:test:gemini-calls", 160)
    before = await evalsha_calls(redis_client)
    for _ in range(24):
        await limiter.acquire()
    looks = await evalsha_calls(redis_client) - before
    assert looks <= 4, f"{looks} looks at Redis for 24 calls"
    # What was leased and not yet made is counted too: at most one lease's worth.
    assert 24 <= await limiter.in_use() <= 24 + LEASE_EXTRA_CALLS


async def test_the_free_tiers_budget_is_never_leased(redis_client: aioredis.Redis) -> None:
    """With 10 calls a minute a leased call left unmade would hold a tenth of the budget."""
    limiter = RedisRateLimiter(redis_client, "af:test:gemini-calls", 10)
    for made in range(1, 6):
        await limiter.acquire()
        assert await limiter.in_use() == made  # nothing counted beyond the calls made


async def test_no_window_holds_more_calls_than_the_budget_with_leases(
    redis_client: aioredis.Redis,
) -> None:
    """Two processes ask as fast as they can for 1.6 s, more than a window's budget, so
    both leases and waits happen: the calls of the window before any call fit the budget."""
    budget, window_ms = 48, 1000
    limiters = [
        RedisRateLimiter(redis_client, "af:test:gemini-calls", budget, window_ms=window_ms)
        for _ in range(2)
    ]
    made: list[float] = []
    deadline = time.monotonic() + 1.6

    async def caller(limiter: RedisRateLimiter) -> None:
        while time.monotonic() < deadline:
            await limiter.acquire()
            made.append(time.monotonic())

    await asyncio.gather(*(caller(limiter) for limiter in limiters for _ in range(3)))
    made.sort()
    assert len(made) > budget  # the window moved on at least once
    for index, moment in enumerate(made):
        in_window = [m for m in made[: index + 1] if m > moment - window_ms / 1000]
        assert len(in_window) <= budget, f"{len(in_window)} calls within one window"


async def test_calls_leased_and_made_late_still_count_in_the_window_they_fall_in(
    redis_client: aioredis.Redis,
) -> None:
    """One process leases calls and makes them just as the window moves on, while another
    process takes all it can: together they still stay within the budget."""
    budget, window_ms = 160, 1000
    leaser, taker = (
        RedisRateLimiter(redis_client, "af:test:gemini-calls", budget, window_ms=window_ms)
        for _ in range(2)
    )
    made: list[float] = []
    await leaser.acquire()
    made.append(time.monotonic())
    for _ in range(budget - 1 - LEASE_EXTRA_CALLS):
        await taker.acquire()
        made.append(time.monotonic())
    await asyncio.sleep(window_ms / 1000 + 0.05)

    async def take_all() -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.4):
                while True:
                    await taker.acquire()
                    made.append(time.monotonic())

    async def use_the_lease() -> None:
        await asyncio.sleep(0.05)
        for _ in range(LEASE_EXTRA_CALLS):
            await leaser.acquire()
            made.append(time.monotonic())

    await asyncio.gather(take_all(), use_the_lease())
    made.sort()
    for index, moment in enumerate(made):
        in_window = [m for m in made[: index + 1] if m > moment - window_ms / 1000]
        assert len(in_window) <= budget, f"{len(in_window)} calls within one window"


async def evalsha_calls(redis: aioredis.Redis) -> int:
    """How many scripts Redis has run, from its own command statistics."""
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


def answered_at_once(call: Coroutine[Any, Any, None]) -> bool:
    """Whether ``call`` finished without waiting for anything (no round trip to Redis)."""
    try:
        call.send(None)
    except StopIteration:
        return True
    call.close()
    return False


async def test_a_busy_process_never_waits_for_redis_after_its_first_call(
    redis_client: aioredis.Redis,
) -> None:
    """Half-way through a lease the next one is asked for in the background."""
    limiter = RedisRateLimiter(redis_client, "af:test:gemini-calls", 1000)
    await limiter.acquire()  # the first look at the window
    for _ in range(5 * (1 + LEASE_EXTRA_CALLS)):
        await asyncio.sleep(0.005)  # a reply's work, while a background look may run
        assert answered_at_once(limiter.acquire())


async def test_a_budget_half_used_is_not_leased_in_the_background(
    redis_client: aioredis.Redis,
) -> None:
    """A lease asked for when the budget is no longer plentiful holds no slot."""
    leaser, taker = (RedisRateLimiter(redis_client, "af:test:gemini-calls", 64) for _ in range(2))
    await leaser.acquire()  # 1 call and a lease of 64 // 16 = 4
    while await taker.in_use() < 40:
        await taker.acquire()
    before = await taker.in_use()
    for _ in range(3):  # past half of the lease: the background look finds the budget used
        assert answered_at_once(leaser.acquire())
    await asyncio.sleep(0.05)
    assert await taker.in_use() == before


async def test_a_renewal_that_finds_redis_gone_only_warns(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = aioredis.Redis.from_url(redis_server.url)
    try:
        limiter = RedisRateLimiter(client, "af:test:gemini-calls", 1000)
        await limiter.acquire()
        redis_server.stop()
        for _ in range(LEASE_EXTRA_CALLS):  # the leased calls, one renewal failing meanwhile
            assert answered_at_once(limiter.acquire())
            await asyncio.sleep(0.01)
        assert "lease not renewed" in caplog.text
        with pytest.raises(REDIS_DOWN):  # no lease left: the caller learns Redis is gone
            await limiter.acquire()
        redis_server.start()
        await limiter.acquire()
    finally:
        await client.aclose()
