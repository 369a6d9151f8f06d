"""End-to-end reply latency: a human message posted → the reply's MESSAGE_CREATE.

Run: ``.venv/bin/python -m tests.bench.bench_e2e [--llm-latency 0.2] [--quick]``

The whole all-in-one fleet (Reception and the three personas, real discord.py clients, the
real google-genai client, a real redis-server) runs in this process against the local
Discord-compatible and Gemini-compatible servers, the latter answering after
``--llm-latency`` seconds. Redis keeps its append-only file with ``appendfsync everysec``
as the managed StatefulSet and the sandbox run it (``--appendfsync always`` is the test
fixture's setting). Closed-loop users post in #development without mentions (the
router picks the persona), each waiting for its reply before posting the next message.

Both ends are timed at the Discord server's fan-out of MESSAGE_CREATE (the moment every
gateway session, an observer's included, is sent the event), so the figure is what a user
in the channel would see. The configured LLM latency is subtracted: what remains is the
fleet's overhead.

The peer, measured in the same run on the same servers with the same schedule once the
fleet has stopped, is a bare discord.py relay bot (logged in as Reception): it receives the
message, sleeps the same LLM latency and posts the reply. Targets (from the issue): fleet
p95 overhead ≤ 50 ms and ≤ 1.5x the bare bot's; no reply lost or duplicated at 50 users;
the four clients' RSS ≤ 200 MB.

Everything shares one event loop (and so one core): the servers' own work is in both
figures alike. Run it more than once on a busy machine and look at the spread.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis import Redis as SyncRedis

from sandbox.discord_server import DiscordServer
from sandbox.discord_server.world import Message
from sandbox.gemini_server import GeminiServer
from tests.fixtures.redis import RedisServer, free_port

CHANNEL = "development"
HUMANS = tuple(f"user{i:02d}" for i in range(50))
FULL_LOADS = ((1, 40), (10, 10), (50, 10))
"""(concurrent users, messages per user)."""
QUICK_LOADS = ((1, 5), (10, 3), (50, 2))
WARMUP_MESSAGES = 3
TOPICS = (
    "この API のエラーハンドリング、どう整理するのがいいと思う？",
    "テストが遅いんだけど、どこから手を付ける？",
    "キャッシュの無効化、TTL とイベントどっちが筋がいい？",
    "このリファクタ、今やるべきか後回しにするか迷ってる。",
    "ログの粒度ってどのくらいが適切？",
)


def rss_mb(field_name: str = "VmRSS") -> float:
    """This process's resident set (or another /proc/self/status field) in MB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(f"{field_name}:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field_name} not in /proc/self/status")


def percentile(samples: list[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1) of ``samples``."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


class FanoutClock:
    """Timestamps every message at the server's MESSAGE_CREATE fan-out.

    Human posts are keyed by their id, replies by the message they reply to; a reply
    resolves the waiter of its human message.
    """

    def __init__(self, server: DiscordServer) -> None:
        self.posted: dict[int, float] = {}
        self.replies: dict[int, list[float]] = defaultdict(list)
        self._waiters: dict[int, asyncio.Future[float]] = {}
        original = server._fanout_create

        def fanout(message: Message) -> None:
            now = time.perf_counter()
            original(message)
            if message.reference_id is None:
                if not message.author.bot:
                    self.posted[message.id] = now
                return
            self.replies[message.reference_id].append(now)
            waiter = self._waiters.pop(message.reference_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(now)

        # An instance attribute shadows the method, and every path that stores a message
        # calls ``self._fanout_create``.
        server._fanout_create = fanout  # type: ignore[method-assign]

    async def reply_to(self, message_id: int, timeout: float) -> bool:
        """Wait for the first reply to ``message_id``; False after ``timeout`` seconds."""
        if self.replies.get(message_id):
            return True
        waiter = self._waiters.setdefault(message_id, asyncio.get_running_loop().create_future())
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except TimeoutError:
            return False
        return True


@dataclass
class Phase:
    """One load level against one target."""

    users: int
    per_user: int
    overheads_ms: list[float] = field(default_factory=list)
    lost: int = 0
    duplicates: int = 0
    seconds: float = 0.0
    cpu_ms: float = 0.0
    """This process's CPU time per message (servers and bench included)."""

    @property
    def p50(self) -> float:
        return statistics.median(self.overheads_ms) if self.overheads_ms else float("nan")

    @property
    def p95(self) -> float:
        return percentile(self.overheads_ms, 0.95) if self.overheads_ms else float("nan")


async def run_load(
    server: DiscordServer,
    clock: FanoutClock,
    users: int,
    per_user: int,
    llm_latency: float,
    timeout: float,
    seed: int,
) -> Phase:
    """Closed loop: ``users`` humans each post, wait for the reply, post again."""
    rng = random.Random(seed)
    # Users start spread over one LLM latency, not in lockstep (same schedule for both).
    offsets = [rng.uniform(0, llm_latency) for _ in range(users)]
    sent: list[int] = []

    async def user(index: int) -> None:
        await asyncio.sleep(offsets[index])
        name = HUMANS[index]
        for n in range(per_user):
            text = f"{TOPICS[(index + n) % len(TOPICS)]} ({name} #{n})"
            message = await server.post_as_human(CHANNEL, text, author=name)
            sent.append(message.id)
            await clock.reply_to(message.id, timeout)

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(user(i) for i in range(users)))
    phase = Phase(users, per_user, seconds=time.perf_counter() - started)
    phase.cpu_ms = (time.process_time() - cpu) * 1000 / max(1, len(sent))
    # Late and duplicate replies get a generous grace period before they are counted.
    await asyncio.sleep(max(2.0, 5 * llm_latency))
    for message_id in sent:
        replies = clock.replies.get(message_id, [])
        if not replies:
            phase.lost += 1
            continue
        phase.duplicates += len(replies) - 1
        took = min(replies) - clock.posted[message_id]
        phase.overheads_ms.append((took - llm_latency) * 1000)
    return phase


async def warm_up(server: DiscordServer, clock: FanoutClock, timeout: float) -> None:
    """A few messages first, so connection pools and caches are not part of the figures."""
    for n in range(WARMUP_MESSAGES):
        message = await server.post_as_human(
            CHANNEL, f"おはよう、準備はいい？ (warm-up {n})", author=HUMANS[0]
        )
        if not await clock.reply_to(message.id, timeout):
            raise RuntimeError("no reply to a warm-up message: the target is not answering")


def configure_environment(
    discord: DiscordServer, gemini: GeminiServer, redis_url: str, rpm: int
) -> None:
    """The fleet's configuration, as the all-in-one process reads it from its environment."""
    from runtime.contract import TOKEN_ENV, Env

    for name in Env:
        os.environ.pop(name.value, None)
    env = {
        "ENVIRONMENT": "test",
        "REDIS_URL": redis_url,
        "GEMINI_API_KEY": "sandbox-key",
        "GEMINI_BASE_URL": gemini.base_url,
        "GEMINI_TIMEOUT_SECONDS": "30",
        "GEMINI_REQUESTS_PER_MINUTE": str(rpm),
        "DISCORD_API_BASE_URL": discord.api_base,
        "DISCORD_GATEWAY_URL": discord.gateway_url,
        "DISCORD_GUILD_ID": str(discord.guild_id),
        "HEALTH_CHECK_PORT": str(free_port()),
        "LOG_FILE": "",
        "LOG_LEVEL": "WARNING",
        "FLEET_NAME": "bench",
        # Speech would add replies nobody asked for; a day is far beyond the run.
        "AUTONOMOUS_SPEECH_INTERVAL_SECONDS": "86400",
    }
    for bot, name in TOKEN_ENV.items():
        env[name.value] = discord.token(bot)
    for channel, channel_id in discord.channel_ids.items():
        env[f"{channel.upper()}_CHANNEL_ID"] = str(channel_id)
    os.environ.update(env)


@dataclass
class Memory:
    """RSS figures in MB."""

    servers: float = 0.0
    """Servers up, before the fleet's code was imported."""
    imported: float = 0.0
    connected: float = 0.0
    """The four clients logged in, before any load."""
    after_load: float = 0.0
    peak: float = 0.0


async def run_fleet(
    discord: DiscordServer,
    gemini: GeminiServer,
    redis: RedisServer,
    memory: Memory,
    measure: Callable[[], Awaitable[list[Phase]]],
) -> list[Phase]:
    """Start the all-in-one fleet, run ``measure``, stop the fleet."""
    from runtime.config import load_settings
    from runtime.contract import Role
    from runtime.observability.logs import configure_logging
    from tests.fixtures.sandbox import MovableClock, SandboxFleet

    settings = load_settings(Role.ALL_IN_ONE, env_file=None)
    configure_logging(settings.LOG_LEVEL, None)
    memory.imported = rss_mb()
    fleet = SandboxFleet(discord, gemini, redis, settings, MovableClock())
    await fleet.start()
    try:
        await asyncio.sleep(0.5)
        memory.connected = rss_mb()
        phases = await measure()
        memory.after_load = rss_mb()
        memory.peak = rss_mb("VmHWM")
        return phases
    finally:
        await fleet.halt()


async def run_relay(
    discord: DiscordServer, llm_latency: float, measure: Callable[[], Awaitable[list[Phase]]]
) -> list[Phase]:
    """Log a bare relay bot in as Reception, run ``measure``, log it out."""
    import discord as discordpy

    from runtime.discord.connection import DiscordEndpoints, apply_endpoints

    apply_endpoints(
        DiscordEndpoints(api_base_url=discord.api_base, gateway_url=discord.gateway_url)
    )
    intents = discordpy.Intents.default()
    intents.message_content = True
    client = discordpy.Client(intents=intents)
    none = discordpy.AllowedMentions.none()

    @client.event
    async def on_message(message: Any) -> None:
        if message.author.bot:
            return
        await asyncio.sleep(llm_latency)
        await message.channel.send(
            f"了解、{message.author.display_name}。", reference=message, allowed_mentions=none
        )

    task = asyncio.create_task(client.start(discord.token("reception")))
    try:
        async with asyncio.timeout(20):
            while not client.is_ready():
                if task.done():
                    task.result()
                await asyncio.sleep(0.05)
        return await measure()
    finally:
        await client.close()
        with contextlib.suppress(Exception):
            await task


def print_report(
    fleet: list[Phase], relay: list[Phase], memory: Memory, llm_latency: float
) -> None:
    print(
        f"\nLLM latency {llm_latency * 1000:.0f} ms subtracted; overhead in ms (p50 / p95);"
        " CPU = this process's CPU per message, fleet / bare"
    )
    header = (
        f"{'users':>5} {'msgs':>5} | {'fleet p50':>9} {'p95':>8} | {'bare p50':>8} {'p95':>7} |"
        f" {'p95 x':>6} | {'lost':>4} {'dup':>4} | {'bare lost':>9} {'dup':>4} |"
        f" {'fleet s':>7} {'bare s':>6} | {'CPU ms/msg':>10}"
    )
    print(header)
    print("-" * len(header))
    for f, b in zip(fleet, relay, strict=True):
        ratio = f.p95 / b.p95 if b.p95 > 0 else float("inf")
        print(
            f"{f.users:>5} {f.users * f.per_user:>5} | {f.p50:>9.1f} {f.p95:>8.1f} |"
            f" {b.p50:>8.1f} {b.p95:>7.1f} | {ratio:>6.2f} | {f.lost:>4} {f.duplicates:>4} |"
            f" {b.lost:>9} {b.duplicates:>4} | {f.seconds:>7.1f} {b.seconds:>6.1f} |"
            f" {f.cpu_ms:>4.1f} / {b.cpu_ms:<3.1f}"
        )
    clients = memory.connected - memory.servers
    print(
        f"\nRSS: servers only {memory.servers:.0f} MB; + fleet code imported"
        f" {memory.imported:.0f} MB; four clients connected {memory.connected:.0f} MB"
        f" (clients' cost {clients:.0f} MB, target ≤ 200);"
        f" after the load {memory.after_load:.0f} MB (+{memory.after_load - memory.servers:.0f}),"
        f" peak {memory.peak:.0f} MB"
    )
    worst = fleet[-1]
    checks = [
        ("fleet p95 overhead ≤ 50 ms at every load", all(f.p95 <= 50 for f in fleet)),
        (
            "fleet p95 ≤ 1.5x bare at every load",
            all(f.p95 <= 1.5 * b.p95 for f, b in zip(fleet, relay, strict=True)),
        ),
        (f"no reply lost or duplicated at {worst.users} users", not worst.lost + worst.duplicates),
        ("four clients' RSS ≤ 200 MB", clients <= 200),
    ]
    for name, ok in checks:
        print(f"  [{'PASS' if ok else 'FAIL'}] {name}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm-latency", type=float, default=0.2, help="seconds (default 0.2)")
    parser.add_argument("--quick", action="store_true", help="a few messages per user only")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds a user waits for a reply"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--appendfsync",
        choices=("everysec", "always"),
        default="everysec",
        help="Redis AOF fsync policy: everysec as the managed StatefulSet and the sandbox run"
        " it (default), always as the test fixture does",
    )
    args = parser.parse_args()
    loads = QUICK_LOADS if args.quick else FULL_LOADS
    llm_latency: float = args.llm_latency

    discord = DiscordServer(humans=HUMANS)
    gemini = GeminiServer(latency_s=llm_latency)
    clock = FanoutClock(discord)
    memory = Memory()

    async def measure(name: str) -> list[Phase]:
        await warm_up(discord, clock, args.timeout)
        phases = []
        for users, per_user in loads:
            phase = await run_load(
                discord, clock, users, per_user, llm_latency, args.timeout, args.seed + users
            )
            print(
                f"{name:>5} {users:>2} users: p50 {phase.p50:7.1f} ms  p95 {phase.p95:7.1f} ms"
                f"  lost {phase.lost}  dup {phase.duplicates}  ({phase.seconds:.1f} s,"
                f" CPU {phase.cpu_ms:.1f} ms/msg)",
                flush=True,
            )
            phases.append(phase)
        return phases

    with tempfile.TemporaryDirectory() as directory:
        redis = RedisServer(Path(directory))
        redis.start()
        with SyncRedis.from_url(redis.url) as admin:
            admin.config_set("appendfsync", args.appendfsync)
        await discord.start()
        await gemini.start()
        try:
            memory.servers = rss_mb()
            configure_environment(discord, gemini, redis.url, rpm=100_000)
            fleet = await run_fleet(discord, gemini, redis, memory, lambda: measure("fleet"))
            relay = await run_relay(discord, llm_latency, lambda: measure("bare"))
        finally:
            await gemini.stop()
            await discord.stop()
            redis.stop()
    print_report(fleet, relay, memory, llm_latency)
    print(f"(Redis appendfsync {args.appendfsync}; users start spread over one LLM latency)")


if __name__ == "__main__":
    asyncio.run(main())
