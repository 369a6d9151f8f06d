"""End-to-end reply latency: a human message posted → the reply's MESSAGE_CREATE.

Run: ``.venv/bin/python -m tests.bench.bench_e2e [--llm-latency 0.2] [--quick]``

Five bots answer the same closed-loop schedule in turn (people in #development post
without mentions and wait for the reply before posting again), at 1, 10 and 50 people:

* **all-in-one**: the whole fleet as ``python main.py`` runs it — Reception and the three
  personas (real discord.py clients), the real google-genai client, one event loop — in
  this process;
* **per-role**: the same code as a cluster runs it, one process per role
  (``agentfleet reception`` and ``agentfleet persona --persona …``);
* **floor**: the least any fleet of this design (a durable Redis stream hop at every
  process boundary, so a crash loses nothing) can do, in this process: Reception's
  client puts the message on a Redis stream, a router hop moves it (with its run-once
  marker) to a persona's stream, the persona calls the real google-genai SDK against the
  same Gemini server and posts with its own client, then acknowledges. No history, no
  routing rules, no typing indicator, no metrics or logs: the cost of the durable hand-off
  and the SDK alone, which no feature work can remove;
* **bare+sdk**: the bare bot below, but asking the Gemini server through google-genai
  instead of sleeping: what calling an LLM through the SDK costs, with no queue at all;
* **bare**: the peer the targets are set against, a bare discord.py relay bot logged in as
  Reception in this process: it receives the message, sleeps the LLM latency and posts the
  reply.

The Discord-compatible and Gemini-compatible servers and the people run in a process of
their own (``tests/bench/e2e_world.py``), as Discord and Google do not share our CPU; both
ends of each reply are timed there, at the server's fan-out of MESSAGE_CREATE, so the
figure is what a person in the channel sees. The Gemini server answers after
``--llm-latency`` seconds, which is subtracted: what remains is the bot's overhead. Redis
is a real redis-server with ``appendfsync everysec``, as the managed StatefulSet and the
sandbox run it.

Targets: p95 overhead ≤ 50 ms and ≤ 1.5x the bare bot's; no reply lost
or duplicated at 50 people; the four clients' RSS in one process ≤ 200 MB. The floor is
reported beside them: how far the fleet is from what its design allows. The machine's cores
are shared by every process here: run it more than once and look at the spread.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import uvloop

from tests.fixtures.redis import RedisServer, free_port

Load = tuple[int, int, float | None]
"""(people, messages per person, seconds' pause between a reply and the next message:
None for ``--think``, 0 for the stress level)."""
FULL_LOADS: tuple[Load, ...] = ((1, 20, None), (10, 10, None), (50, 10, None), (50, 10, 0.0))
QUICK_LOADS: tuple[Load, ...] = ((1, 5, None), (10, 3, None), (50, 3, None), (50, 2, 0.0))
BOTS = ("reception", "spectra", "lynq", "paz")
PERSONAS = BOTS[1:]
LAYOUTS = ("all-in-one", "per-role", "floor", "bare+sdk", "bare")


def rss_mb(pid: int | str = "self", field_name: str = "VmRSS") -> float:
    """A process's resident set (or another /proc status field) in MB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(f"{field_name}:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field_name} not in /proc/{pid}/status")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of another process, from /proc."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        # Fields 14 and 15 (utime, stime), counted after the parenthesised command name.
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(samples: list[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1) of ``samples``."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


@dataclass
class Phase:
    """One load level against one bot."""

    users: int
    per_user: int
    think: float
    overheads_ms: list[float]
    lost: int
    duplicates: int
    seconds: float
    bot_cpu_ms: float
    """The bot's CPU per message (all its processes)."""
    world_cpu_ms: float
    """The servers' and people's CPU per message."""

    @property
    def p50(self) -> float:
        return statistics.median(self.overheads_ms) if self.overheads_ms else float("nan")

    @property
    def p95(self) -> float:
        return percentile(self.overheads_ms, 0.95) if self.overheads_ms else float("nan")

    @property
    def messages(self) -> int:
        return self.users * self.per_user

    @property
    def stress(self) -> bool:
        """People post the moment a reply lands: a throughput test, not people chatting."""
        return self.think == 0


@dataclass
class Memory:
    """RSS of the all-in-one fleet, in MB."""

    before: float = 0.0
    """This process before the fleet's code was imported."""
    connected: float = 0.0
    """The four clients logged in, before any load."""
    after_load: float = 0.0
    per_role: dict[str, float] = field(default_factory=dict)
    """Each role process's RSS after the load."""


class World:
    """The servers-and-people process (tests/bench/e2e_world.py)."""

    def __init__(self, process: asyncio.subprocess.Process, details: dict[str, Any]) -> None:
        self.process = process
        self.details = details

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, llm_latency: float, timeout: float) -> AsyncIterator[World]:
        """Start the world, yield it once its servers listen, stop it."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.bench.e2e_world",
            f"--llm-latency={llm_latency}",
            f"--timeout={timeout}",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert process.stdout is not None
            world = cls(process, json.loads(await process.stdout.readline()))
            yield world
        finally:
            if process.stdin is not None:
                process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()

    async def command(self, **command: Any) -> dict[str, Any]:
        """Send one command and return its answer."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()
        line = await self.process.stdout.readline()
        if not line:
            raise RuntimeError("the world process ended")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer

    async def measure(
        self, name: str, loads: tuple[Load, ...], think: float, bot_cpu: Callable[[], float]
    ) -> list[Phase]:
        """Warm up, then run every load level against the bot now logged in."""
        await self.command(warm_up=True)
        phases = []
        for users, per_user, pause in loads:
            pause = think if pause is None else pause
            before = bot_cpu()
            result = await self.command(users=users, per_user=per_user, seed=users, think=pause)
            messages = users * per_user
            phase = Phase(
                users=users,
                per_user=per_user,
                think=pause,
                overheads_ms=result["overheads_ms"],
                lost=result["lost"],
                duplicates=result["duplicates"],
                seconds=result["seconds"],
                bot_cpu_ms=(bot_cpu() - before) * 1000 / messages,
                world_cpu_ms=result["world_cpu_seconds"] * 1000 / messages,
            )
            print(
                f"{name:>10} {users:>2} people, pause {pause:.1f} s:"
                f" p50 {phase.p50:6.1f} ms  p95 {phase.p95:6.1f} ms"
                f"  lost {phase.lost}  dup {phase.duplicates}  ({phase.seconds:.1f} s; CPU"
                f" bot {phase.bot_cpu_ms:.1f}, world {phase.world_cpu_ms:.1f} ms/msg)",
                flush=True,
            )
            phases.append(phase)
        return phases


def fleet_environment(details: dict[str, Any], redis_url: str) -> dict[str, str]:
    """The fleet's configuration, as its processes read it from their environment."""
    from agentfleet_runtime.contract import TOKEN_ENV

    env = {
        "ENVIRONMENT": "test",
        "REDIS_URL": redis_url,
        "GEMINI_API_KEY": "sandbox-key",
        "GEMINI_BASE_URL": details["gemini_base_url"],
        "GEMINI_TIMEOUT_SECONDS": "30",
        # The load is the point; the limiter still runs (one Redis script per call).
        "GEMINI_REQUESTS_PER_MINUTE": "100000",
        "DISCORD_API_BASE_URL": details["api_base"],
        "DISCORD_GATEWAY_URL": details["gateway_url"],
        "DISCORD_GUILD_ID": str(details["guild_id"]),
        "LOG_FILE": "",
        "LOG_LEVEL": "WARNING",
        "FLEET_NAME": "bench",
        # Speech would add replies nobody asked for; a day is far beyond the run.
        "AUTONOMOUS_SPEECH_INTERVAL_SECONDS": "86400",
    }
    for bot, name in TOKEN_ENV.items():
        env[name.value] = details["tokens"][bot]
    for channel, channel_id in details["channel_ids"].items():
        env[f"{channel.upper()}_CHANNEL_ID"] = str(channel_id)
    return env


async def wait_for_bots(redis_url: str, details: dict[str, Any], fleet: str = "bench") -> None:
    """Wait until every bot has logged in and recorded its user id (the router needs them)."""
    from agentfleet_runtime.bus.keys import FleetKeys

    wanted = {int(details["user_ids"][bot]) for bot in BOTS}
    client = aioredis.Redis.from_url(redis_url)
    try:
        async with asyncio.timeout(30):
            while {int(v) for v in (await client.hgetall(FleetKeys(fleet).bots)).values()} != (
                wanted
            ):
                await asyncio.sleep(0.05)
    finally:
        await client.aclose()


async def run_all_in_one(
    world: World, redis_url: str, loads: tuple[Load, ...], think: float, memory: Memory
) -> list[Phase]:
    """The all-in-one fleet in this process, as ``python main.py`` runs it."""
    os.environ.update(fleet_environment(world.details, redis_url))
    os.environ["HEALTH_CHECK_PORT"] = str(free_port())
    from agentfleet_runtime.app.roles import FleetProcess
    from agentfleet_runtime.config import load_settings
    from agentfleet_runtime.contract import Role
    from agentfleet_runtime.observability.logs import configure_logging

    settings = load_settings(Role.ALL_IN_ONE, env_file=None)
    configure_logging(settings.LOG_LEVEL, None)
    stop = asyncio.Event()
    process = FleetProcess(settings, Role.ALL_IN_ONE, None)
    task = asyncio.create_task(process.run(stop))
    try:
        await wait_for_bots(redis_url, world.details)
        await asyncio.sleep(0.5)
        memory.connected = rss_mb()
        phases = await world.measure("all-in-one", loads, think, time.process_time)
        memory.after_load = rss_mb()
        return phases
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 20)


async def run_per_role(
    world: World, redis_url: str, loads: tuple[Load, ...], think: float, memory: Memory
) -> list[Phase]:
    """One process per role, as a cluster runs the fleet."""
    env = {**os.environ, **fleet_environment(world.details, redis_url), "FLEET_NAME": "roles"}
    commands = {"reception": ["reception"]} | {p: ["persona", "--persona", p] for p in PERSONAS}
    processes: dict[str, asyncio.subprocess.Process] = {}
    try:
        for name, args in commands.items():
            processes[name] = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "agentfleet_runtime.cli",
                *args,
                env={**env, "HEALTH_CHECK_PORT": str(free_port())},
            )
        await wait_for_bots(redis_url, world.details, fleet="roles")
        await asyncio.sleep(0.5)

        def bot_cpu() -> float:
            return sum(cpu_seconds(p.pid) for p in processes.values())

        phases = await world.measure("per-role", loads, think, bot_cpu)
        memory.per_role = {name: rss_mb(p.pid) for name, p in processes.items()}
        return phases
    finally:
        for process in processes.values():
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        for process in processes.values():
            await process.wait()


@contextlib.asynccontextmanager
async def sdk_model(details: dict[str, Any]) -> AsyncIterator[Callable[[str], Awaitable[str]]]:
    """``generate(text) -> str`` through the real google-genai SDK, with nothing of ours.

    The SDK gets the fleet's HTTP session (see ``agentfleet_runtime.llm.gemini.http_session``), so
    the peers pay what the fleet pays for a request and no more.
    """
    from google import genai
    from google.genai import types

    from agentfleet_runtime.llm.gemini import http_session

    session = http_session()
    client = genai.Client(
        api_key="sandbox-key",
        http_options=types.HttpOptions(
            base_url=details["gemini_base_url"],
            retry_options=types.HttpRetryOptions(attempts=1),
            aiohttp_client=session,
        ),
    )

    async def generate(text: str) -> str:
        answer = await client.aio.models.generate_content(model="gemini-3.8-flash", contents=text)
        return (answer.text or "…")[:2000]

    try:
        yield generate
    finally:
        await client.aio.aclose()
        await session.close()


async def run_floor(
    world: World, redis_url: str, loads: tuple[Load, ...], think: float
) -> list[Phase]:
    """The design's irreducible path, in this process (see the module docstring)."""
    import discord as discordpy
    import orjson

    from agentfleet_runtime.bus.streams import ensure_group
    from agentfleet_runtime.discord.poster import poster_intents
    from agentfleet_runtime.discord.reception import reception_intents

    details = point_discord_py(world)
    redis = aioredis.Redis.from_url(redis_url)
    inbox, queue, group = "floor:inbox", "floor:queue:SPECTRA", "floor"
    for stream in (inbox, queue):
        await ensure_group(redis, stream, group)
    reception = discordpy.Client(intents=reception_intents())
    persona = discordpy.Client(intents=poster_intents())
    none = discordpy.AllowedMentions.none()

    @reception.event
    async def on_message(message: Any) -> None:
        if message.author.bot:
            return
        entry = {"id": message.id, "channel": message.channel.id, "text": message.content}
        await redis.xadd(inbox, {"data": orjson.dumps(entry)})

    async def route(entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        job = orjson.loads(fields[b"data"])
        async with redis.pipeline(transaction=True) as pipe:
            pipe.set(f"floor:routed:{job['id']}", "1", nx=True, ex=3600)
            pipe.xadd(queue, {"data": fields[b"data"]})
            pipe.xack(inbox, group, entry_id)
            await pipe.execute()

    async def answer(
        generate: Callable[[str], Awaitable[str]], entry_id: bytes, fields: dict[bytes, bytes]
    ) -> None:
        job = orjson.loads(fields[b"data"])
        await persona.get_partial_messageable(job["channel"]).send(
            await generate(job["text"]),
            reference=discordpy.MessageReference(
                message_id=job["id"], channel_id=job["channel"], fail_if_not_exists=False
            ),
            allowed_mentions=none,
        )
        async with redis.pipeline(transaction=True) as pipe:
            pipe.set(f"floor:done:{job['id']}", "1", ex=3600)
            pipe.xack(queue, group, entry_id)
            await pipe.execute()

    async def consume(stream: str, handle: Callable[[bytes, dict[bytes, bytes]], Any]) -> None:
        # Entries are handled concurrently, as the fleet's workers do while the LLM thinks.
        running: set[asyncio.Task[None]] = set()
        while True:
            entries: Any = await redis.xreadgroup(group, "c", {stream: ">"}, count=64, block=1000)
            for _stream, items in entries or []:
                for entry_id, fields in items:
                    task = asyncio.create_task(handle(entry_id, fields))
                    running.add(task)
                    task.add_done_callback(running.discard)

    async with sdk_model(details) as generate:
        tasks = [
            asyncio.create_task(reception.start(details["tokens"]["reception"])),
            asyncio.create_task(persona.start(details["tokens"]["spectra"])),
            asyncio.create_task(consume(inbox, route)),
            asyncio.create_task(consume(queue, functools.partial(answer, generate))),
        ]
        try:
            await wait_until_ready(reception, persona, tasks=tasks)
            return await world.measure("floor", loads, think, time.process_time)
        finally:
            for client in (reception, persona):
                await client.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await redis.aclose()


def point_discord_py(world: World) -> dict[str, Any]:
    """Point discord.py at the world's Discord server; returns the world's details."""
    from agentfleet_runtime.discord.connection import DiscordEndpoints, apply_endpoints

    details = world.details
    apply_endpoints(
        DiscordEndpoints(api_base_url=details["api_base"], gateway_url=details["gateway_url"])
    )
    return details


async def wait_until_ready(*clients: Any, tasks: list[asyncio.Task[Any]]) -> None:
    """Wait until every discord.py client is READY; a task that fails meanwhile raises."""
    async with asyncio.timeout(20):
        while not all(client.is_ready() for client in clients):
            for task in tasks:
                if task.done():
                    task.result()
            await asyncio.sleep(0.05)


async def run_bare(
    world: World, llm_latency: float, loads: tuple[Load, ...], think: float, sdk: bool = False
) -> list[Phase]:
    """A bare discord.py relay bot in this process, logged in as Reception.

    It sleeps the LLM latency, or with ``sdk`` asks the Gemini server through google-genai
    (which takes that latency) and posts the answer.
    """
    import discord as discordpy

    from agentfleet_runtime.discord.reception import reception_intents

    details = point_discord_py(world)
    client = discordpy.Client(intents=reception_intents())
    none = discordpy.AllowedMentions.none()
    stack = contextlib.AsyncExitStack()
    generate = await stack.enter_async_context(sdk_model(details)) if sdk else None

    @client.event
    async def on_message(message: Any) -> None:
        if message.author.bot:
            return
        if generate is None:
            await asyncio.sleep(llm_latency)
            text = f"了解、{message.author.display_name}。"
        else:
            text = await generate(message.content)
        await message.channel.send(text, reference=message, allowed_mentions=none)

    task = asyncio.create_task(client.start(details["tokens"]["reception"]))
    try:
        await wait_until_ready(client, tasks=[task])
        name = "bare+sdk" if sdk else "bare"
        return await world.measure(name, loads, think, time.process_time)
    finally:
        await client.close()
        with contextlib.suppress(Exception):
            await task
        await stack.aclose()


def ratio(phase: Phase, peer: Phase | None) -> float:
    """``phase``'s p95 overhead over ``peer``'s (NaN without a peer)."""
    if peer is None:
        return float("nan")
    return phase.p95 / peer.p95 if peer.p95 > 0 else float("inf")


def print_report(
    results: dict[str, list[Phase]], memory: Memory, llm_latency: float, appendfsync: str
) -> None:
    """The table docs/benchmarks.md records, and the targets checked."""
    llm_ms = llm_latency * 1000
    print(
        f"\nLLM latency {llm_ms:.0f} ms subtracted (overhead in ms); 'x bare' and 'x floor'"
        " compare p95 overheads, 'e2e x' whole reply times (overhead + LLM latency) against"
        " the bare bot; CPU per message of the bot (all its processes) and of the servers"
        " and people"
    )
    header = (
        f"{'bot':>10} {'people':>6} {'pause':>5} {'msgs':>5} | {'p50':>6} {'p95':>6} |"
        f" {'x bare':>6} {'x floor':>7} {'e2e x':>5} | {'lost':>4} {'dup':>4} | {'msg/s':>5} |"
        f" {'bot CPU':>7} {'world CPU':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, phases in results.items():
        for n, phase in enumerate(phases):
            bare = results["bare"][n] if "bare" in results else None
            floor = results["floor"][n] if "floor" in results else None
            e2e = (phase.p95 + llm_ms) / (bare.p95 + llm_ms) if bare else float("nan")
            print(
                f"{name:>10} {phase.users:>6} {phase.think:>4.1f}s {phase.messages:>5} |"
                f" {phase.p50:>6.1f} {phase.p95:>6.1f} |"
                f" {ratio(phase, bare):>6.2f} {ratio(phase, floor):>7.2f} {e2e:>5.2f} |"
                f" {phase.lost:>4} {phase.duplicates:>4} | {phase.messages / phase.seconds:>5.1f} |"
                f" {phase.bot_cpu_ms:>7.1f} {phase.world_cpu_ms:>9.1f}"
            )
    checks = []
    for name in ("all-in-one", "per-role"):
        if name not in results:
            continue
        phases = results[name]
        people = [(n, p) for n, p in enumerate(phases) if not p.stress]
        checks += [
            (
                f"{name}: p95 overhead ≤ 50 ms at 1, 10, 50 people",
                all(p.p95 <= 50 for _, p in people),
            ),
            (
                f"{name}: no reply lost or duplicated at any load",
                not sum(p.lost + p.duplicates for p in phases),
            ),
        ]
        for peer in ("bare", "floor"):
            if peer in results:
                checks.append(
                    (
                        f"{name}: p95 overhead ≤ 1.5x {peer} at 1, 10, 50 people",
                        all(ratio(p, results[peer][n]) <= 1.5 for n, p in people),
                    )
                )
    if "all-in-one" in results:
        clients = memory.connected - memory.before
        print(
            f"\nRSS, all-in-one: before the fleet {memory.before:.0f} MB; four clients"
            f" connected {memory.connected:.0f} MB (the fleet's cost {clients:.0f} MB, target"
            f" ≤ 200); after the load {memory.after_load:.0f} MB."
        )
        checks.append(("all-in-one: four clients' RSS ≤ 200 MB", clients <= 200))
    if memory.per_role:
        roles = ", ".join(f"{name} {mb:.0f}" for name, mb in memory.per_role.items())
        print(f"RSS of the per-role processes after the load: {roles} MB")
    for name, ok in checks:
        print(f"  [{'PASS' if ok else 'FAIL'}] {name}")
    print(
        f"(Redis appendfsync {appendfsync}; people start spread over one pause;"
        f" {os.cpu_count()} cores)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm-latency", type=float, default=0.2, help="seconds (default 0.2)")
    parser.add_argument("--quick", action="store_true", help="a few messages per person only")
    parser.add_argument(
        "--think",
        type=float,
        default=2.0,
        help="seconds people pause, on average, between a reply and their next message"
        " (default 2.0); the stress level always uses 0",
    )
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds a person waits for a reply"
    )
    parser.add_argument(
        "--appendfsync",
        choices=("everysec", "always"),
        default="everysec",
        help="Redis AOF fsync policy: everysec as the managed StatefulSet and the sandbox run"
        " it (default), always as the test fixture does",
    )
    parser.add_argument(
        "--bots",
        default=",".join(LAYOUTS),
        help=f"comma-separated, run in this order (default {','.join(LAYOUTS)})",
    )
    args = parser.parse_args()
    bots = args.bots.split(",")
    if unknown := set(bots) - set(LAYOUTS):
        parser.error(f"unknown bots {sorted(unknown)}; choose from {', '.join(LAYOUTS)}")
    loads = QUICK_LOADS if args.quick else FULL_LOADS
    memory = Memory(before=rss_mb())
    results: dict[str, list[Phase]] = {}
    with tempfile.TemporaryDirectory() as directory:
        redis = RedisServer(Path(directory))
        redis.start()
        try:
            admin = aioredis.Redis.from_url(redis.url)
            await admin.config_set("appendfsync", args.appendfsync)
            await admin.aclose()
            async with World.running(args.llm_latency, args.timeout) as world:
                for bot in bots:
                    if bot in ("floor", "bare+sdk", "bare"):
                        # The peers run in this process, after the all-in-one fleet: its
                        # leftover objects would make their garbage collections long
                        # (gen2 pauses of 50-110 ms were seen), a stall that is not theirs.
                        gc.collect()
                        gc.freeze()
                    if bot == "all-in-one":
                        results[bot] = await run_all_in_one(
                            world, redis.url, loads, args.think, memory
                        )
                    elif bot == "per-role":
                        results[bot] = await run_per_role(
                            world, redis.url, loads, args.think, memory
                        )
                    elif bot == "floor":
                        results[bot] = await run_floor(world, redis.url, loads, args.think)
                    else:
                        results[bot] = await run_bare(
                            world, args.llm_latency, loads, args.think, sdk=bot == "bare+sdk"
                        )
        finally:
            redis.stop()
    print_report(results, memory, args.llm_latency, args.appendfsync)


if __name__ == "__main__":
    # The event loop `python main.py` runs (runtime/agentfleet_runtime/cli.py).
    uvloop.run(main())
