"""The stream consumer handing entries to a handler in order, reading ahead, against Redis."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import redis.asyncio as aioredis

from agentfleet_runtime.bus.streams import StreamConsumer, ensure_group

Handler = Callable[[str, dict[str, str]], Awaitable[None]]


@contextlib.asynccontextmanager
async def consuming(
    redis: aioredis.Redis, stream: str, handler: Handler, consumer: str = "router"
) -> AsyncIterator[StreamConsumer]:
    """An ordered consumer reading up to 16 entries ahead, as the router's, while the block runs."""
    reader = StreamConsumer(
        redis, stream, "g", consumer, handler, component="test", block_ms=200, read_ahead=16
    )
    stop = asyncio.Event()
    running = asyncio.create_task(reader.run(stop))
    try:
        yield reader
    finally:
        stop.set()
        await asyncio.wait_for(running, 5)


async def add(redis: aioredis.Redis, stream: str, *texts: str) -> None:
    for text in texts:
        await redis.xadd(stream, {"data": text})


async def delivered(redis: aioredis.Redis, stream: str) -> int:
    """Entries Redis has handed to the group's consumers and not yet seen acknowledged."""
    summary = await redis.xpending(stream, "g")
    return int(summary["pending"])


async def new_stream(redis: aioredis.Redis) -> str:
    """A stream of its own for the test, with the consumers' group."""
    stream = f"af:test:{uuid.uuid4().hex}"
    await ensure_group(redis, stream, "g")
    return stream


async def add_while_the_first_is_held(
    redis: aioredis.Redis, stream: str, first_started: asyncio.Event, *more: str
) -> None:
    """Add entry "1", then, once its handler holds it, ``more``; return when all are read."""
    await add(redis, stream, "1")
    await asyncio.wait_for(first_started.wait(), 5)
    await add(redis, stream, *more)
    await until(lambda: _equals(delivered(redis, stream), 1 + len(more)))


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.01)


async def test_entries_arriving_during_a_handler_are_read_at_once_and_handled_in_order(
    redis_client: aioredis.Redis,
) -> None:
    """While one entry is handled, the next ones are already read (pending on the consumer),
    and they are handled one at a time, in the stream's order."""
    stream = await new_stream(redis_client)
    first_started, release = asyncio.Event(), asyncio.Event()
    handled: list[str] = []
    running = 0
    most_at_once = 0

    async def handle(entry_id: str, fields: dict[str, str]) -> None:
        nonlocal running, most_at_once
        running += 1
        most_at_once = max(most_at_once, running)
        if fields["data"] == "1":
            first_started.set()
            await release.wait()
        await asyncio.sleep(0.005)
        handled.append(fields["data"])
        running -= 1
        await redis_client.xack(stream, "g", entry_id)

    async with consuming(redis_client, stream, handle):
        await add_while_the_first_is_held(redis_client, stream, first_started, "2", "3", "4")
        assert handled == []  # read, and waiting for the first
        release.set()
        await until(lambda: _equals(delivered(redis_client, stream), 0))
    assert handled == ["1", "2", "3", "4"]
    assert most_at_once == 1


async def test_after_a_failed_entry_none_read_after_it_is_handled_before_its_retry(
    redis_client: aioredis.Redis,
) -> None:
    stream = await new_stream(redis_client)
    first_started, release = asyncio.Event(), asyncio.Event()
    attempts: list[str] = []

    async def handle(entry_id: str, fields: dict[str, str]) -> None:
        attempts.append(fields["data"])
        if attempts == ["1"]:
            first_started.set()
            await release.wait()
            raise RuntimeError("the first attempt fails")
        await redis_client.xack(stream, "g", entry_id)

    async with consuming(redis_client, stream, handle):
        await add_while_the_first_is_held(redis_client, stream, first_started, "2", "3")
        release.set()
        await until(lambda: _equals(delivered(redis_client, stream), 0))
    assert attempts == ["1", "1", "2", "3"]


async def test_entries_read_ahead_at_a_stop_are_handled_by_the_next_start(
    redis_client: aioredis.Redis,
) -> None:
    stream = await new_stream(redis_client)
    first_started, release = asyncio.Event(), asyncio.Event()
    handled: list[str] = []

    async def handle(entry_id: str, fields: dict[str, str]) -> None:
        if fields["data"] == "1" and not handled:
            first_started.set()
            await release.wait()
        handled.append(fields["data"])
        await redis_client.xack(stream, "g", entry_id)

    async with consuming(redis_client, stream, handle):
        await add_while_the_first_is_held(redis_client, stream, first_started, "2", "3")
        release.set()  # the stop below lets the started entry finish, and starts no other
    assert handled == ["1"]
    assert await delivered(redis_client, stream) == 2
    async with consuming(redis_client, stream, handle):
        await until(lambda: _equals(delivered(redis_client, stream), 0))
    assert handled == ["1", "2", "3"]


async def _equals(value: Awaitable[int], expected: int) -> bool:
    return await value == expected
