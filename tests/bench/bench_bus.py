"""Brain + bus overhead: inbox → router → persona queue → worker → reply ready.

Run: ``.venv/bin/python -m tests.bench.bench_bus [--rate 50] [--seconds 20] [--quick]``

Messages are published at a fixed rate into a real redis-server; the router and the three
persona workers run as in the all-in-one process; the language model answers instantly,
so the figure is the fleet's own overhead with LLM time excluded. The peer, measured in
the same run on the same Redis, is the floor any Streams design pays: one XADD picked up
by a blocking XREADGROUP consumer, twice (inbox and persona queue) — the ratio says what
routing, markers, memory and prompt building add on top. ``--quick`` sends 2 seconds'
worth, to check the script still works.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from agentfleet_runtime.app.services import router_service, worker_service
from agentfleet_runtime.brain.messages import InboundMessage, OutboundMessage
from agentfleet_runtime.brain.prompts import Prompt
from agentfleet_runtime.bus.inbox import Inbox
from agentfleet_runtime.bus.keys import FleetKeys
from agentfleet_runtime.bus.routing import RouterConfig
from tests.fixtures.fleet import CHANNELS, directory
from tests.fixtures.redis import RedisServer


class InstantModel:
    """Answers at once, so only the fleet's own work is timed."""

    async def complete(self, prompt: Prompt) -> str:
        return "了解、確認すると構造はこうなる。"


class TimingPoster:
    """Notes when each reply is ready to post."""

    def __init__(self, ready: dict[int, float]) -> None:
        self.ready = ready

    async def post(self, message: OutboundMessage) -> list[InboundMessage]:
        assert message.reply_to_message_id is not None
        self.ready[message.reply_to_message_id] = time.perf_counter()
        return []

    def typing(self, channel_id: int) -> AbstractAsyncContextManager[None]:
        @asynccontextmanager
        async def nothing() -> AsyncIterator[None]:
            yield

        return nothing()


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    """p50, p95 and max in milliseconds."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return statistics.median(ordered) * 1000, p95 * 1000, ordered[-1] * 1000


async def publish_at_rate(
    count: int, rate: float, send: Callable[[int], Awaitable[None]]
) -> dict[int, float]:
    """Call ``send(i)`` ``count`` times at ``rate`` per second; returns send times."""
    sent: dict[int, float] = {}
    start = time.perf_counter()
    for i in range(count):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        sent[i] = time.perf_counter()
        await send(i)
    return sent


async def fleet_run(url: str, count: int, rate: float) -> list[float]:
    redis = aioredis.Redis.from_url(url)
    keys = FleetKeys("bench")
    config = RouterConfig(directory(), CHANNELS, ZoneInfo("Asia/Tokyo"))
    ready: dict[int, float] = {}
    stop = asyncio.Event()
    consumer = router_service(redis, keys, config).consumer
    consumers = [consumer] + [
        worker_service(p, redis, keys, InstantModel(), TimingPoster(ready), config)
        for p in ("spectra", "lynq", "paz")
    ]
    tasks = [asyncio.create_task(c.run(stop)) for c in consumers]
    inbox = Inbox(redis, keys)
    now = time.time()

    async def send(i: int) -> None:
        await inbox.publish(
            InboundMessage(
                message_id=10_000 + i,
                channel_id=CHANNELS["development"],
                author_id=7,
                author_name="alice",
                author_is_bot=False,
                content=f"メッセージ {i}: 認証の設計を確認したい",
                created_at=now,
            )
        )

    sent = await publish_at_rate(count, rate, send)
    deadline = time.monotonic() + 30
    while len(ready) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    stop.set()
    for task in tasks:
        with contextlib.suppress(Exception):
            await task
    await redis.aclose()
    missing = count - len(ready)
    if missing:
        raise SystemExit(f"{missing} replies never became ready")
    return [ready[10_000 + i] - sent[i] for i in range(count)]


async def peer_run(url: str, count: int, rate: float) -> list[float]:
    """XADD → blocking XREADGROUP → XADD → blocking XREADGROUP, nothing else."""
    redis = aioredis.Redis.from_url(url)
    for stream in ("peer:a", "peer:b"):
        await redis.xgroup_create(stream, "g", id="0", mkstream=True)
    done: dict[int, float] = {}
    stop = asyncio.Event()

    async def hop(source: str, target: str | None) -> None:
        while not stop.is_set():
            entries = await redis.xreadgroup("g", "c", {source: ">"}, count=16, block=200)
            for _s, items in entries or []:
                for entry_id, fields in items:
                    if target is None:
                        done[int(fields[b"i"])] = time.perf_counter()
                    else:
                        await redis.xadd(target, fields)
                    await redis.xack(source, "g", entry_id)

    hops = [asyncio.create_task(hop("peer:a", "peer:b")), asyncio.create_task(hop("peer:b", None))]

    async def send(i: int) -> None:
        await redis.xadd("peer:a", {"i": str(i)})

    sent = await publish_at_rate(count, rate, send)
    while len(done) < count:
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.gather(*hops)
    await redis.aclose()
    return [done[i] - sent[i] for i in range(count)]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0, help="messages per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--quick", action="store_true", help="2 seconds of messages")
    args = parser.parse_args()
    if args.quick:
        args.seconds = 2.0
    count = int(args.rate * args.seconds)
    with tempfile.TemporaryDirectory() as directory_name:
        server = RedisServer(Path(directory_name))
        server.start()
        try:
            peer = await peer_run(server.url, count, args.rate)
            fleet = await fleet_run(server.url, count, args.rate)
        finally:
            server.stop()
    f50, f95, fmax = percentiles(fleet)
    p50, p95, pmax = percentiles(peer)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"messages: {count} at {args.rate:.0f}/s (LLM excluded: instant model)")
    print(f"fleet  inbox→reply ready  p50 {f50:6.2f} ms  p95 {f95:6.2f} ms  max {fmax:6.2f} ms")
    print(f"peer   2-hop XADD→XREADGROUP p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  max {pmax:6.2f} ms")
    print(f"ratio  fleet/peer  p50 {f50 / p50:.2f}x  p95 {f95 / p95:.2f}x")
    print(f"bench process peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    asyncio.run(main())
