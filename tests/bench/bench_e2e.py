"""End-to-end replies: a human message posted → the reply's MESSAGE_CREATE, as people wait.

Run: ``.venv/bin/python -m tests.bench.bench_e2e [--quick] [--bots all-in-one,floor]
[--levels 10,50] [--rounds 3] [--trace]`` (``--trace``: where the in-process fleet's
replies spend their time, stage by stage, see ``tests/bench/reply_trace.py``)

The bots below answer the same closed-loop schedule (people in #development post without
mentions and wait for the reply before posting again) at 1, 10 and 50 people, three rounds
of each, and then a stress level where 50 people post the moment their reply lands. Every
bot takes a level, each started afresh, before any bot takes the next, in alternating
order, so the machine's drift over minutes falls on both sides of a ratio:

* **all-in-one**: the fleet as ``python main.py`` runs it *as deployed*: Reception and the
  three personas (real discord.py clients), the real google-genai client, one event loop,
  in this process; PostgreSQL with pgvector holding a month of memories (30 days × 50, see
  ``tests/bench/deployed.py``) so every reply recalls; INFO logs to stdout and to the log
  file, as ``.env.example``, the operator and the sandbox configure it;
* **all-in-one-light**: the same without PostgreSQL (so no recall) and with WARNING logs:
  what this benchmark measured before, kept as a row to compare with;
* **per-role**: the deployed configuration as a cluster runs it, one process per role
  (``agentfleet reception`` and ``agentfleet persona --persona …``), INFO logs to stdout
  only, as the operator configures Pods;
* **floor**: the least any fleet of this design (a durable Redis stream hop at every
  process boundary, so a crash loses nothing) can do, in this process: Reception's
  client puts the message on a Redis stream, a router hop moves it (with its run-once
  marker) to a persona's stream, the persona calls the real google-genai SDK against the
  same Gemini server and posts with its own client, then acknowledges. No history, no
  routing rules, no recall, no typing indicator, no metrics or logs: the durable hand-off
  and the SDK alone, which no feature work can remove;
* **bare+sdk**: a discord.py bot logged in as Reception that asks the Gemini server
  through google-genai and posts the answer: calling an LLM through the SDK, no queue;
* **bare** (only with ``--bots``): the same bot sleeping the model's time instead of
  calling it. It is no peer of a fleet that calls an LLM; kept to show the SDK's share.

The Discord-compatible and Gemini-compatible servers and the people run in a process of
their own (``tests/bench/e2e_world.py``), as Discord and Google do not share our CPU; both
ends of each reply are timed there, at the server's fan-out of MESSAGE_CREATE, so the
*whole reply* is what a person in the channel waits for. The Gemini server plays a fast
Flash model's timing (``FLASH_TIMING`` in ``agentfleet_sandbox.gemini_server``: time to
first token, tokens per second, a time per embedding request); the *overhead* is the whole
reply minus the time the Gemini server held the reply's request, from its arrival to its
answer (the model's time and the server's own handling, both Google's in production): what
the bot adds. It is split at the request's arrival into the part before the request and
the part after the answer. Redis is a real
redis-server with ``appendfsync everysec``, as the managed StatefulSet and the sandbox run it.

Reported beside them, measured in the same run: the fleet's overhead ÷ the floor's (p95,
target ≤ 1.3 at 1, 10 and 50 people; the median of the three rounds' ratios, each round
the fleet's level against the floor's taken just before or after it); Gemini requests per
reply, counted by the Gemini server, by kind (target ≤ 1.05 at steady state); recall's
share of the whole reply's p95 (the p95 of the time replies spent in
``MemoryRecall.recall``, target ≤ 5 %); p95 overhead ≤ 50 ms; no reply lost or
duplicated; the four clients' RSS in one process ≤ 200 MB. The other figures pool each
load's rounds. No target is asserted: the figures are read from a run on a quiet machine.

``--quick`` runs a few messages per level with an instant model (unless timing flags are
given) and two days of memories: it checks that every part still works, in about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
import uvloop

if TYPE_CHECKING:
    # Imported where used: the all-in-one fleet's memory is read against this process's
    # before any of the libraries it loads (aiohttp here) are imported.
    from agentfleet_sandbox.gemini_server import ModelTiming

from tests.bench.deployed import DAYS, PER_DAY, embedded_postgres, seed_in_subprocess
from tests.fixtures.redis import RedisServer, free_port

Load = tuple[int, int, float | None]
"""(people, messages per person, seconds' pause between a reply and the next message:
None for ``--think``, 0 for the stress level)."""
FULL_LOADS: tuple[Load, ...] = ((1, 20, None), (10, 10, None), (50, 10, None), (50, 10, 0.0))
QUICK_LOADS: tuple[Load, ...] = ((1, 3, None), (10, 2, None), (50, 1, None), (10, 2, 0.0))
LEVELS = ("1", "10", "50", "stress")
"""The levels' names on the command line, in the order of the loads above."""
ROUNDS = 3
"""How many times a full run takes the levels: a p95 of one person's 20 replies is the
second slowest, and one stall of the machine moves a single round's ratio by 0.5."""
BOTS = ("reception", "spectra", "lynq", "paz")
PERSONAS = BOTS[1:]
LAYOUTS = ("all-in-one", "all-in-one-light", "per-role", "floor", "bare+sdk", "bare")
DEFAULT_BOTS = LAYOUTS[:-1]
DEPLOYED = ("all-in-one", "per-role")
"""The layouts run in the deployed configuration (PostgreSQL, recall, INFO logs)."""
FLEET_NAMES = {"all-in-one": "bench", "all-in-one-light": "light", "per-role": "roles"}


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
    """Nearest-rank percentile (``share`` in 0..1) of ``samples``; NaN without any."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def median(samples: list[float]) -> float:
    """The median of ``samples``; NaN without any."""
    return statistics.median(samples) if samples else math.nan


@dataclass
class Phase:
    """One load level against one bot."""

    users: int
    per_user: int
    think: float
    whole_ms: list[float]
    """What each person waited: their message's fan-out to the reply's."""
    overheads_ms: list[float]
    """The whole minus the time the Gemini server held the reply's requests."""
    before_request_ms: list[float]
    """The part of each overhead before the reply's Gemini request reached the server
    (NaN for a reply no request was made for)."""
    lost: int
    duplicates: int
    seconds: float
    bot_cpu_ms: float
    """The bot's CPU per message (all its processes)."""
    world_cpu_ms: float
    """The servers' and people's CPU per message."""
    requests: dict[str, int]
    """Gemini requests the level made, by kind (generate, embed)."""
    recall_ms: list[float] = field(default_factory=list)
    """Time each reply spent in recall (the in-process all-in-one fleet only)."""

    @property
    def p50(self) -> float:
        return median(self.overheads_ms)

    @property
    def p95(self) -> float:
        return percentile(self.overheads_ms, 0.95)

    @property
    def before_request(self) -> list[float]:
        """Each overhead's part before its Gemini request arrived, where one did."""
        return [b for b in self.before_request_ms if not math.isnan(b)]

    @property
    def after_answer(self) -> list[float]:
        """Each overhead's part after the answer: the rest of it, where a request was made."""
        pairs = zip(self.overheads_ms, self.before_request_ms, strict=True)
        return [overhead - before for overhead, before in pairs if not math.isnan(before)]

    @property
    def whole_p50(self) -> float:
        return median(self.whole_ms)

    @property
    def whole_p95(self) -> float:
        return percentile(self.whole_ms, 0.95)

    @property
    def messages(self) -> int:
        return self.users * self.per_user

    @property
    def requests_per_reply(self) -> float:
        replies = len(self.whole_ms)
        return sum(self.requests.values()) / replies if replies else float("nan")

    @property
    def recall_share(self) -> float:
        """Recall's p95 time as a share of the whole reply's p95 (NaN where not measured)."""
        return percentile(self.recall_ms, 0.95) / self.whole_p95

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
    per_role: dict[str, float] = field(default_factory=dict)
    """Each role process's RSS after the last level it ran."""


@dataclass
class Run:
    """What every bot of one run shares."""

    loads: tuple[Load, ...]
    think: float
    grace: float
    """Seconds late replies get after each level before they are counted."""
    directory: Path
    postgres_url: str | None = None
    recall_ms: list[float] = field(default_factory=list)
    """Filled by the recall probe while the in-process fleet runs (see :func:`recall_timed`)."""
    trace: bool = False
    """Print where the in-process fleet's replies spend their time (``--trace``)."""
    stage_marks: dict[int, dict[str, float]] = field(default_factory=dict)
    """Filled by the stage trace while the in-process fleet runs (tests/bench/reply_trace.py)."""


class World:
    """The servers-and-people process (tests/bench/e2e_world.py)."""

    def __init__(self, process: asyncio.subprocess.Process, details: dict[str, Any]) -> None:
        self.process = process
        self.details = details

    @property
    def timing(self) -> ModelTiming:
        """The model's timing the world's Gemini server plays."""
        from agentfleet_sandbox.gemini_server import ModelTiming

        return ModelTiming(**self.details["timing"])

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, timing: ModelTiming, timeout: float) -> AsyncIterator[World]:
        """Start the world, yield it once its servers listen, stop it."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.bench.e2e_world",
            f"--timing={json.dumps(asdict(timing))}",
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

    async def measure(self, name: str, run: Run, bot_cpu: Callable[[], float]) -> list[Phase]:
        """Warm up, then run every load level against the bot now logged in."""
        await self.command(warm_up=True)
        phases = []
        for users, per_user, pause in run.loads:
            pause = run.think if pause is None else pause
            before = bot_cpu()
            run.recall_ms.clear()
            run.stage_marks.clear()
            result = await self.command(
                users=users, per_user=per_user, seed=users, think=pause, grace=run.grace
            )
            messages = users * per_user
            phase = Phase(
                users=users,
                per_user=per_user,
                think=pause,
                whole_ms=result["whole_ms"],
                overheads_ms=result["overheads_ms"],
                before_request_ms=result["before_request_ms"],
                lost=result["lost"],
                duplicates=result["duplicates"],
                seconds=result["seconds"],
                bot_cpu_ms=(bot_cpu() - before) * 1000 / messages,
                world_cpu_ms=result["world_cpu_seconds"] * 1000 / messages,
                requests=result["requests"],
                recall_ms=list(run.recall_ms),
            )
            print(
                f"{name:>16} {users:>2} people, pause {pause:.1f} s: whole p95"
                f" {phase.whole_p95:6.1f} ms, overhead p50 {phase.p50:5.1f} p95 {phase.p95:5.1f}"
                f" ms, {phase.requests_per_reply:.2f} requests/reply, lost {phase.lost} dup"
                f" {phase.duplicates} ({phase.seconds:.1f} s; CPU bot {phase.bot_cpu_ms:.1f},"
                f" world {phase.world_cpu_ms:.1f} ms/msg)",
                flush=True,
            )
            phases.append(phase)
        return phases


def fleet_environment(
    details: dict[str, Any], redis_url: str, name: str, run: Run
) -> dict[str, str]:
    """The configuration of the fleet layout ``name``, as its processes read it.

    Only these variables of the runtime's are set (:func:`set_environment`), so nothing leaks
    in from the benchmark's own environment or from the layout measured before.
    """
    from agentfleet_runtime.contract import TOKEN_ENV

    deployed = name in DEPLOYED
    env = {
        "ENVIRONMENT": "production" if deployed else "test",
        "REDIS_URL": redis_url,
        "GEMINI_API_KEY": "sandbox-key",
        "GEMINI_BASE_URL": details["gemini_base_url"],
        "GEMINI_TIMEOUT_SECONDS": "30",
        # The load is the point; the limiter still runs (one Redis script per call).
        "GEMINI_REQUESTS_PER_MINUTE": "100000",
        "DISCORD_API_BASE_URL": details["api_base"],
        "DISCORD_GATEWAY_URL": details["gateway_url"],
        "DISCORD_GUILD_ID": str(details["guild_id"]),
        "LOG_LEVEL": "INFO" if deployed else "WARNING",
        # The log file is a single host's (python main.py); a cluster's Pods log to stdout.
        "LOG_FILE": str(run.directory / name / "discord_agent.log") if name == "all-in-one" else "",
        "FLEET_NAME": FLEET_NAMES[name],
        # Speech would add replies nobody asked for; a day is far beyond the run.
        "AUTONOMOUS_SPEECH_INTERVAL_SECONDS": "86400",
    }
    if deployed:
        assert run.postgres_url is not None, "the deployed layouts need PostgreSQL"
        env["POSTGRESQL_URL"] = run.postgres_url
    for bot, variable in TOKEN_ENV.items():
        env[variable.value] = details["tokens"][bot]
    for channel, channel_id in details["channel_ids"].items():
        env[f"{channel.upper()}_CHANNEL_ID"] = str(channel_id)
    return env


def fleet_variables() -> frozenset[str]:
    """The names of every variable the runtime reads."""
    from agentfleet_runtime.contract import Env

    return frozenset(variable.value for variable in Env)


def set_environment(env: dict[str, str]) -> None:
    """Make ``env`` this process's fleet configuration, dropping any variable it lacks."""
    for name in fleet_variables():
        os.environ.pop(name, None)
    os.environ.update(env)


async def forget_bots(redis_url: str, fleet: str) -> None:
    """Drop the user ids an earlier start of ``fleet`` recorded, before starting it again.

    Otherwise :func:`wait_for_bots` would see the old ids and return before the new
    processes have logged in.
    """
    from agentfleet_runtime.bus.keys import FleetKeys

    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.delete(FleetKeys(fleet).bots)
    finally:
        await client.aclose()


async def wait_for_bots(redis_url: str, details: dict[str, Any], fleet: str) -> None:
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


@contextlib.contextmanager
def recall_timed(samples: list[float]) -> Iterator[None]:
    """Record how long each ``MemoryRecall.recall`` takes, in ms, while the block runs.

    A measuring probe around the fleet's own method (the people's clock wraps the Discord
    server's fan-out the same way): recall runs beside the other reads of a reply, so the
    time a reply spends in it is what recall can add to that reply.
    """
    from agentfleet_runtime.app.recall import MemoryRecall

    original = MemoryRecall.recall

    @functools.wraps(original)
    async def timed(self: MemoryRecall, query: str, channel: str) -> list[str]:
        started = time.perf_counter()
        try:
            return await original(self, query, channel)
        finally:
            samples.append((time.perf_counter() - started) * 1000)

    MemoryRecall.recall = timed  # type: ignore[method-assign]
    try:
        yield
    finally:
        MemoryRecall.recall = original  # type: ignore[method-assign]


@contextlib.contextmanager
def fleet_logging(settings: Any, stdout: Path | None) -> Iterator[None]:
    """The fleet's logging as its process sets it up, its stdout lines going to ``stdout``.

    A deployed fleet's INFO lines go to stdout (a container runtime or a terminal reads
    them): they cost the same written to a file, and the benchmark's own report stays
    readable. ``configure_logging`` takes ``sys.stdout`` when it runs, so it is swapped only
    around that call; the file stays open while the block runs. Afterwards the process logs
    only warnings to the terminal, so the peers measured next pay for no log lines.
    """
    from agentfleet_runtime.observability.logs import configure_logging

    with contextlib.ExitStack() as files:
        stream = sys.stdout
        if stdout is not None:
            stdout.parent.mkdir(parents=True, exist_ok=True)
            stream = files.enter_context(stdout.open("w", encoding="utf-8"))
        terminal, sys.stdout = sys.stdout, stream
        try:
            configure_logging(
                settings.LOG_LEVEL, settings.LOG_FILE or None, settings.secret_values()
            )
        finally:
            sys.stdout = terminal
        try:
            yield
        finally:
            configure_logging("WARNING", None)


async def run_all_in_one(
    world: World, redis_url: str, name: str, run: Run, memory: Memory | None
) -> list[Phase]:
    """The all-in-one fleet in this process, as ``python main.py`` runs it."""
    env = fleet_environment(world.details, redis_url, name, run)
    set_environment(env | {"HEALTH_CHECK_PORT": str(free_port())})
    from agentfleet_runtime.app.roles import FleetProcess
    from agentfleet_runtime.config import load_settings
    from agentfleet_runtime.contract import Role

    settings = load_settings(Role.ALL_IN_ONE, env_file=None)
    stdout = run.directory / name / "stdout.log" if name in DEPLOYED else None
    stop = asyncio.Event()
    process = FleetProcess(settings, Role.ALL_IN_ONE, None)
    await forget_bots(redis_url, FLEET_NAMES[name])
    with fleet_logging(settings, stdout), recall_timed(run.recall_ms), stages_traced(run):
        task = asyncio.create_task(process.run(stop))
        try:
            await wait_for_bots(redis_url, world.details, FLEET_NAMES[name])
            await asyncio.sleep(0.5)
            if memory is not None:
                memory.connected = rss_mb()
            phases = await world.measure(name, run, time.process_time)
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 20)
    if run.trace:
        from tests.bench.reply_trace import print_stages

        print_stages(name, run.stage_marks)
    return phases


def stages_traced(run: Run) -> contextlib.AbstractContextManager[None]:
    """With ``--trace``, the stage trace of tests/bench/reply_trace.py; else nothing."""
    if not run.trace:
        return contextlib.nullcontext()
    from tests.bench.reply_trace import traced

    return traced(run.stage_marks)


async def run_per_role(world: World, redis_url: str, run: Run, memory: Memory) -> list[Phase]:
    """One process per role, as a cluster runs the fleet, in the deployed configuration."""
    base = {k: v for k, v in os.environ.items() if k not in fleet_variables()}
    env = base | fleet_environment(world.details, redis_url, "per-role", run)
    commands = {"reception": ["reception"]} | {p: ["persona", "--persona", p] for p in PERSONAS}
    processes: dict[str, asyncio.subprocess.Process] = {}
    (run.directory / "per-role").mkdir(parents=True, exist_ok=True)
    await forget_bots(redis_url, FLEET_NAMES["per-role"])
    with contextlib.ExitStack() as outputs:
        try:
            for name, args in commands.items():
                # Each process's stdout, as a container runtime would collect it.
                path = run.directory / "per-role" / f"{name}.out"
                stdout = outputs.enter_context(path.open("w"))
                processes[name] = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "agentfleet_runtime.cli",
                    *args,
                    env={**env, "HEALTH_CHECK_PORT": str(free_port())},
                    stdout=stdout,
                )
            await wait_for_bots(redis_url, world.details, FLEET_NAMES["per-role"])
            await asyncio.sleep(0.5)

            def bot_cpu() -> float:
                return sum(cpu_seconds(p.pid) for p in processes.values())

            phases = await world.measure("per-role", run, bot_cpu)
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


async def run_floor(world: World, redis_url: str, run: Run) -> list[Phase]:
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
    marks = run.stage_marks if run.trace else None

    def mark(message_id: int, stage: str) -> None:
        # With --trace, the floor's stages, named as the fleet's (tests/bench/reply_trace.py).
        if marks is not None:
            marks.setdefault(message_id, {})[stage] = time.perf_counter()

    @reception.event
    async def on_message(message: Any) -> None:
        if message.author.bot:
            return
        mark(message.id, "reception+")
        entry = {"id": message.id, "channel": message.channel.id, "text": message.content}
        await redis.xadd(inbox, {"data": orjson.dumps(entry)})
        mark(message.id, "reception-")

    async def route(entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        job = orjson.loads(fields[b"data"])
        mark(job["id"], "router+")
        async with redis.pipeline(transaction=True) as pipe:
            pipe.set(f"floor:routed:{job['id']}", "1", nx=True, ex=3600)
            pipe.xadd(queue, {"data": fields[b"data"]})
            pipe.xack(inbox, group, entry_id)
            await pipe.execute()
        mark(job["id"], "router-")

    async def answer(
        generate: Callable[[str], Awaitable[str]], entry_id: bytes, fields: dict[bytes, bytes]
    ) -> None:
        job = orjson.loads(fields[b"data"])
        mark(job["id"], "worker+")
        mark(job["id"], "request+")
        text = await generate(job["text"])
        mark(job["id"], "request-")
        mark(job["id"], "post+")
        await persona.get_partial_messageable(job["channel"]).send(
            text,
            reference=discordpy.MessageReference(
                message_id=job["id"], channel_id=job["channel"], fail_if_not_exists=False
            ),
            allowed_mentions=none,
        )
        mark(job["id"], "post-")
        async with redis.pipeline(transaction=True) as pipe:
            pipe.set(f"floor:done:{job['id']}", "1", ex=3600)
            pipe.xack(queue, group, entry_id)
            await pipe.execute()
        mark(job["id"], "worker-")

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
            phases = await world.measure("floor", run, time.process_time)
            if run.trace:
                from tests.bench.reply_trace import FLOOR_ROWS, print_stages

                print_stages("floor", run.stage_marks, FLOOR_ROWS)
            return phases
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


async def run_bare(world: World, run: Run, sdk: bool) -> list[Phase]:
    """A bare discord.py bot in this process, logged in as Reception.

    With ``sdk`` it asks the Gemini server through google-genai and posts the answer;
    without, it sleeps the model's time for the line it posts.
    """
    import discord as discordpy

    from agentfleet_runtime.discord.reception import reception_intents
    from agentfleet_sandbox.gemini_server import estimate_tokens

    details = point_discord_py(world)
    timing = world.timing
    client = discordpy.Client(intents=reception_intents())
    none = discordpy.AllowedMentions.none()
    stack = contextlib.AsyncExitStack()
    generate = await stack.enter_async_context(sdk_model(details)) if sdk else None

    @client.event
    async def on_message(message: Any) -> None:
        if message.author.bot:
            return
        if generate is None:
            text = f"了解、{message.author.display_name}。"
            await asyncio.sleep(timing.generation_s(estimate_tokens(text)))
        else:
            text = await generate(message.content)
        await message.channel.send(text, reference=message, allowed_mentions=none)

    task = asyncio.create_task(client.start(details["tokens"]["reception"]))
    try:
        await wait_until_ready(client, tasks=[task])
        return await world.measure("bare+sdk" if sdk else "bare", run, time.process_time)
    finally:
        await client.close()
        with contextlib.suppress(Exception):
            await task
        await stack.aclose()


def ratio(value: float, peer: float) -> float:
    """``value`` over ``peer`` (NaN without a peer figure)."""
    return value / peer if peer > 0 else float("nan")


def steady_requests(phases: list[Phase]) -> float:
    """Gemini requests per reply over the levels of people chatting (not the stress level)."""
    chatting = [p for p in phases if not p.stress]
    replies = sum(len(p.whole_ms) for p in chatting)
    requests = sum(sum(p.requests.values()) for p in chatting)
    return requests / replies if replies else float("nan")


@dataclass
class Level:
    """A bot's replies at one load, every round of it pooled, beside the floor's rounds."""

    phase: Phase
    """The load's rounds as one level: every reply, the counts summed, CPU averaged."""
    rounds: list[float]
    """Each round's overhead p95 over the floor's in the same round (empty for the floor
    and without it)."""

    @property
    def times_floor(self) -> float:
        """The median of the rounds' ratios: a stall of the machine during one of them,
        which falls on one bot's side at random, moves it less than the pooled p95."""
        return median(self.rounds)


def pool(rounds: list[Phase]) -> Phase:
    """One load's rounds as one level: their replies together, counts summed."""
    first = rounds[0]
    messages = sum(phase.messages for phase in rounds)
    requests: dict[str, int] = {}
    for phase in rounds:
        for kind, count in phase.requests.items():
            requests[kind] = requests.get(kind, 0) + count
    return Phase(
        users=first.users,
        per_user=messages // first.users,
        think=first.think,
        whole_ms=[ms for phase in rounds for ms in phase.whole_ms],
        overheads_ms=[ms for phase in rounds for ms in phase.overheads_ms],
        before_request_ms=[ms for phase in rounds for ms in phase.before_request_ms],
        lost=sum(phase.lost for phase in rounds),
        duplicates=sum(phase.duplicates for phase in rounds),
        seconds=sum(phase.seconds for phase in rounds),
        bot_cpu_ms=sum(phase.bot_cpu_ms * phase.messages for phase in rounds) / messages,
        world_cpu_ms=sum(phase.world_cpu_ms * phase.messages for phase in rounds) / messages,
        requests=requests,
        recall_ms=[ms for phase in rounds for ms in phase.recall_ms],
    )


def by_load(phases: list[Phase]) -> dict[tuple[int, float], list[Phase]]:
    """A bot's levels grouped by their load (people, pause), in the order first met."""
    groups: dict[tuple[int, float], list[Phase]] = {}
    for phase in phases:
        groups.setdefault((phase.users, phase.think), []).append(phase)
    return groups


def levels(results: dict[str, list[Phase]]) -> dict[str, list[Level]]:
    """Each bot's loads, pooled over their rounds, with each round's ratio to the floor's.

    A bot's n-th round at a load is paired with the floor's n-th at it: both ran back to
    back, in the same spell of the machine.
    """
    floors = by_load(results["floor"]) if "floor" in results else {}
    found: dict[str, list[Level]] = {}
    for name, phases in results.items():
        found[name] = []
        for load, rounds in by_load(phases).items():
            paired = zip(rounds, floors.get(load, []) if name != "floor" else [], strict=False)
            found[name].append(
                Level(pool(rounds), [ratio(mine.p95, floor.p95) for mine, floor in paired])
            )
    return found


def rows(found: dict[str, list[Level]], header: str) -> Iterator[tuple[str, Level, Level | None]]:
    """Print ``header`` and its rule, then each bot's loads beside the floor's same load."""
    print(header)
    print("-" * len(header))
    floors = {(f.phase.users, f.phase.think): f for f in found.get("floor", [])}
    for name, bot_levels in found.items():
        for level in bot_levels:
            yield name, level, floors.get((level.phase.users, level.phase.think))


def print_table(found: dict[str, list[Level]]) -> None:
    """One row per bot and load: what people waited, what the bot added, what it cost."""
    header = (
        f"{'bot':>16} {'people':>6} {'pause':>5} {'msgs':>4} | {'whole p50':>9} {'p95':>6} |"
        f" {'overhead p50':>12} {'p95':>5} {'x floor':>7} | {'req/reply':>9} {'gen':>4}"
        f" {'emb':>3} | {'recall':>6} | {'lost':>4} {'dup':>3} | {'msg/s':>5} | {'bot CPU':>7}"
    )
    for name, level, floor in rows(found, header):
        phase = level.phase
        recall = f"{phase.recall_share:6.1%}" if phase.recall_ms else f"{'—':>6}"
        times_floor = 1.0 if name == "floor" else level.times_floor if floor else math.nan
        print(
            f"{name:>16} {phase.users:>6} {phase.think:>4.1f}s {phase.messages:>4} |"
            f" {phase.whole_p50:>9.1f} {phase.whole_p95:>6.1f} |"
            f" {phase.p50:>12.1f} {phase.p95:>5.1f} {times_floor:>7.2f} |"
            f" {phase.requests_per_reply:>9.3f} {phase.requests.get('generate', 0):>4}"
            f" {phase.requests.get('embed', 0):>3} | {recall} |"
            f" {phase.lost:>4} {phase.duplicates:>3} | {phase.messages / phase.seconds:>5.1f}"
            f" | {phase.bot_cpu_ms:>7.1f}"
        )


def print_split(found: dict[str, list[Level]]) -> None:
    """Where each bot's overhead is: before its Gemini request, or after the answer."""
    print(
        "\nWhere the overhead is, timed at the servers (ms): 'before' from the person's"
        " message to the Gemini request for it, 'after' from the Gemini server's answer to"
        " the reply; '+floor' each p50 minus the floor's at the same load."
    )
    header = (
        f"{'bot':>16} {'people':>6} | {'before p50':>10} {'p95':>5} {'+floor':>6} |"
        f" {'after p50':>9} {'p95':>5} {'+floor':>6}"
    )
    for name, level, floor in rows(found, header):
        before, after = level.phase.before_request, level.phase.after_answer
        more_before = median(before) - median(floor.phase.before_request) if floor else math.nan
        more_after = median(after) - median(floor.phase.after_answer) if floor else math.nan
        print(
            f"{name:>16} {level.phase.users:>6} | {median(before):>10.2f}"
            f" {percentile(before, 0.95):>5.2f} {more_before:>+6.2f} |"
            f" {median(after):>9.2f} {percentile(after, 0.95):>5.2f} {more_after:>+6.2f}"
        )


def print_rounds(found: dict[str, list[Level]]) -> None:
    """With rounds, each one's ratio to the floor's, of which the table gives the median."""
    if not any(len(level.rounds) > 1 for bot_levels in found.values() for level in bot_levels):
        return
    print(
        "\nEach round's overhead p95 over the floor's in the same round; the table's"
        " 'x floor' is their median. 'pooled' is the p95 of every round's replies over the"
        " floor's."
    )
    header = f"{'bot':>16} {'people':>6} | {'rounds':<30} | {'median':>6} {'pooled':>6}"
    for name, level, floor in rows(found, header):
        if name == "floor" or floor is None:
            continue
        each = " ".join(f"{r:.2f}" for r in level.rounds)
        print(
            f"{name:>16} {level.phase.users:>6} | {each:<30} |"
            f" {level.times_floor:>6.2f} {ratio(level.phase.p95, floor.phase.p95):>6.2f}"
        )


def checks(bot_levels: dict[str, list[Level]], memory: Memory) -> list[tuple[str, bool]]:
    """The targets, each with whether this run met it (printed, never asserted)."""
    found: list[tuple[str, bool]] = []
    for name in DEPLOYED:
        if name not in bot_levels:
            continue
        people = [level for level in bot_levels[name] if not level.phase.stress]
        phases = [level.phase for level in bot_levels[name]]
        found.append(
            (
                f"{name}: p95 overhead ≤ 50 ms at 1, 10, 50 people",
                all(level.phase.p95 <= 50 for level in people),
            )
        )
        found.append(
            (
                f"{name}: no reply lost or duplicated at any load",
                not sum(p.lost + p.duplicates for p in phases),
            )
        )
        if "floor" in bot_levels:
            worst = max(level.times_floor for level in people)
            found.append(
                (f"{name}: p95 overhead ≤ 1.3x the floor's (worst {worst:.2f})", worst <= 1.3)
            )
        requests = steady_requests(phases)
        found.append(
            (f"{name}: ≤ 1.05 Gemini requests per reply ({requests:.3f})", requests <= 1.05)
        )
        shares = [level.phase.recall_share for level in people if level.phase.recall_ms]
        if shares:
            found.append(
                (
                    f"{name}: recall ≤ 5% of the whole reply's p95 (at most {max(shares):.1%})",
                    max(shares) <= 0.05,
                )
            )
    if memory.connected:
        clients = memory.connected - memory.before
        found.append((f"all-in-one: four clients' RSS ≤ 200 MB ({clients:.0f} MB)", clients <= 200))
    return found


def print_report(
    results: dict[str, list[Phase]], memory: Memory, timing: ModelTiming, appendfsync: str
) -> None:
    """The tables docs/benchmarks.md records, and the targets checked."""
    print(
        f"\nModel: first token {timing.first_token_s * 1000:.0f} ms, {timing.tokens_per_s:.0f}"
        f" tokens/s, embedding {timing.embed_s * 1000:.0f} ms. Times in ms. 'whole' is what a"
        " person waits (their message to the reply); 'overhead' the whole minus the time the"
        " Gemini server held the reply's request; 'x floor' the median over the rounds of"
        " each round's overhead p95 over the floor's;"
        " req/reply counts Gemini requests (generate, embed) at the Gemini server; 'recall'"
        " the p95 of the time replies spent in recall over the whole reply's p95; CPU per"
        " message."
    )
    found = levels(results)
    print_table(found)
    print_split(found)
    print_rounds(found)
    for name, phases in results.items():
        stress = [p for p in phases if p.stress]
        if stress:
            rates = ", ".join(f"{p.messages / p.seconds:.0f}" for p in stress)
            print(
                f"  {name}: {steady_requests(phases):.3f} requests/reply chatting;"
                f" stress {rates} replies/s"
            )
    if memory.connected:
        clients = memory.connected - memory.before
        print(
            f"\nRSS, all-in-one (deployed): before the fleet {memory.before:.0f} MB; four clients"
            f" connected {memory.connected:.0f} MB (the fleet's cost {clients:.0f} MB, target"
            " ≤ 200)."
        )
    if memory.per_role:
        roles = ", ".join(f"{name} {mb:.0f}" for name, mb in memory.per_role.items())
        print(f"RSS of the per-role processes after the load: {roles} MB (the last level's)")
    for name, ok in checks(found, memory):
        print(f"  [{'MET' if ok else 'NOT MET'}] {name}")
    print(
        f"(Redis appendfsync {appendfsync}; people start spread over one pause;"
        f" {os.cpu_count()} cores)"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; unset figures take the full run's or ``--quick``'s defaults."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few messages, an instant model")
    parser.add_argument(
        "--think",
        type=float,
        help="seconds people pause, on average, between a reply and their next message"
        " (default 2.0; --quick 0.2); the stress level always uses 0",
    )
    timing = parser.add_argument_group("the model (default: a fast Flash model; --quick: instant)")
    timing.add_argument("--first-token", type=float, help="seconds to the first token")
    timing.add_argument("--tokens-per-second", type=float, help="output tokens per second")
    timing.add_argument("--embed-latency", type=float, help="seconds per embedding request")
    parser.add_argument(
        "--memory-days", type=int, help=f"days of stored memories (default {DAYS}; --quick 2)"
    )
    parser.add_argument("--memories-per-day", type=int, default=PER_DAY)
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
        "--trace",
        action="store_true",
        help="print where the in-process fleet's replies spend their time, stage by stage",
    )
    parser.add_argument(
        "--levels",
        default=",".join(LEVELS),
        help=f"comma-separated, run in this order, repeats allowed (default {','.join(LEVELS)}:"
        " 1, 10 and 50 people chatting, then 50 posting without a pause)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help="how many times the levels run over (default 3; --quick 1): each load's ratio"
        " to the floor is the median of its rounds'; the stress level runs in the last only",
    )
    parser.add_argument(
        "--bots",
        default=",".join(DEFAULT_BOTS),
        help=f"comma-separated, run in this order (default {','.join(DEFAULT_BOTS)};"
        f" also: {', '.join(sorted(set(LAYOUTS) - set(DEFAULT_BOTS)))})",
    )
    args = parser.parse_args(argv)
    from agentfleet_sandbox.gemini_server import FLASH_TIMING, ModelTiming

    args.bots = args.bots.split(",")
    if unknown := set(args.bots) - set(LAYOUTS):
        parser.error(f"unknown bots {sorted(unknown)}; choose from {', '.join(LAYOUTS)}")
    levels = args.levels.split(",")
    if unknown := set(levels) - set(LEVELS):
        parser.error(f"unknown levels {sorted(unknown)}; choose from {', '.join(LEVELS)}")
    rounds = args.rounds if args.rounds is not None else 1 if args.quick else ROUNDS
    if rounds < 1:
        parser.error("--rounds must be at least 1")
    loads = dict(zip(LEVELS, QUICK_LOADS if args.quick else FULL_LOADS, strict=True))
    args.loads = tuple(
        loads[level]
        for last in [False] * (rounds - 1) + [True]
        for level in levels
        if last or level != "stress"
    )
    base = ModelTiming() if args.quick else FLASH_TIMING
    args.timing = ModelTiming(
        base.first_token_s if args.first_token is None else args.first_token,
        base.tokens_per_s if args.tokens_per_second is None else args.tokens_per_second,
        base.embed_s if args.embed_latency is None else args.embed_latency,
    )
    if args.think is None:
        args.think = 0.2 if args.quick else 2.0
    if args.memory_days is None:
        args.memory_days = 2 if args.quick else DAYS
    return args


async def run_bot(
    bot: str, world: World, redis_url: str, run: Run, memory: Memory, first: bool
) -> list[Phase]:
    """Start ``bot``, run ``run``'s levels against it, stop it.

    The all-in-one fleet's RSS is read at the ``first`` start in this process only, while
    nothing else has run in it, so the four clients' share is theirs alone.
    """
    if bot in ("all-in-one", "all-in-one-light"):
        own = memory if first and bot == "all-in-one" else None
        return await run_all_in_one(world, redis_url, bot, run, own)
    if bot == "per-role":
        return await run_per_role(world, redis_url, run, memory)
    if bot == "floor":
        return await run_floor(world, redis_url, run)
    return await run_bare(world, run, sdk=bot == "bare+sdk")


async def run_bots(
    args: argparse.Namespace, directory: Path, memory: Memory
) -> dict[str, list[Phase]]:
    """Start the world (and PostgreSQL with its memories), then measure the bots level by level.

    Every bot meets a level before any bot meets the next one, in the given order at even
    levels and the reverse at odd ones. This machine's speed drifts over minutes, and a
    ratio of two bots measured minutes apart would hold the drift; measured back to back,
    a slow spell falls on both sides of it.
    """
    results: dict[str, list[Phase]] = {}
    run = Run(args.loads, args.think, 0.5 if args.quick else 2.0, directory, trace=args.trace)
    redis = RedisServer(directory / "redis")
    redis.start()
    try:
        admin = aioredis.Redis.from_url(redis.url)
        await admin.config_set("appendfsync", args.appendfsync)
        await admin.aclose()
        async with contextlib.AsyncExitStack() as stack:
            world = await stack.enter_async_context(World.running(args.timing, args.timeout))
            if deployed := [FLEET_NAMES[b] for b in args.bots if b in DEPLOYED]:
                run.postgres_url = await stack.enter_async_context(
                    embedded_postgres(directory / "postgres")
                )
                await seed_in_subprocess(
                    run.postgres_url,
                    world.details["gemini_base_url"],
                    deployed,
                    args.memory_days,
                    args.memories_per_day,
                )
            for level, load in enumerate(run.loads):
                for bot in args.bots if level % 2 == 0 else args.bots[::-1]:
                    first = not results
                    if not first:
                        # Each start after the first runs in a process earlier bots' leftover
                        # objects fill: without freezing them the collector's pauses grow
                        # long (gen2 pauses of 50-110 ms were seen), a stall not the bot's.
                        gc.collect()
                        gc.freeze()
                    level_run = replace(run, loads=(load,))
                    phases = await run_bot(bot, world, redis.url, level_run, memory, first)
                    results.setdefault(bot, []).extend(phases)
    finally:
        redis.stop()
    return results


async def main(argv: list[str] | None = None) -> None:
    """Run the benchmark (see the module docstring) and print its report."""
    memory = Memory(before=rss_mb())
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        results = await run_bots(args, Path(directory), memory)
    print_report(results, memory, args.timing, args.appendfsync)


if __name__ == "__main__":
    # The event loop `python main.py` runs (runtime/agentfleet_runtime/cli.py).
    uvloop.run(main())
