"""Idle memory of the all-in-one process (``python main.py``), connected and quiet.

Run: ``.venv/bin/python -m tests.bench.bench_idle_rss [--settle 20] [--quick]``

Starts a redis-server, the local Discord- and Gemini-compatible servers (in this process),
then ``python main.py`` as a child with autonomous speech off, waits until /ready answers
and the process has settled, and reads the child's VmRSS. Two configurations, one after
the other:

* **deployed** (the headline): as ``.env.example``, the operator and the sandbox configure
  it: PostgreSQL with pgvector holding a month of memories (``tests/bench/deployed.py``),
  so recall's pool and codecs are loaded, and INFO logs to stdout and the log file;
* **light**: no PostgreSQL, WARNING logs to stdout only: what this benchmark measured
  before.

The floor, measured beside each, is a Python process that only imports the same libraries
(discord.py, google-genai, redis, aiohttp, prometheus-client, pydantic, uvloop, and asyncpg with
pgvector where PostgreSQL is configured): what the fleet's own objects and four gateway
connections add is the difference. ``--quick`` settles 2 s and seeds two days of memories:
it checks the script still works.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from agentfleet_runtime.contract import TOKEN_ENV, Env
from agentfleet_sandbox.discord_server import DiscordServer
from agentfleet_sandbox.gemini_server import GeminiServer
from tests.bench.deployed import DAYS, PER_DAY, embedded_postgres, seed_in_subprocess
from tests.fixtures.processes import wait_ready
from tests.fixtures.redis import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]
LIBRARIES = (
    "discord, google.genai, redis.asyncio, aiohttp, prometheus_client, pydantic,"
    " pydantic_settings, uvloop, time"
)
POSTGRES_LIBRARIES = ", asyncpg, pgvector.asyncpg"
TARGET_MIB = 150


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@dataclass(frozen=True)
class Reading:
    """One configuration's idle RSS and its imports-only floor, in MiB."""

    name: str
    fleet: float
    floor: float


async def measure(
    name: str, env: dict[str, str], directory: Path, settle: float, postgres: bool
) -> Reading:
    """Start ``python main.py`` with ``env`` and the floor beside it; read both once idle."""
    port = free_port()
    workdir = directory / name
    workdir.mkdir()
    imports = LIBRARIES + (POSTGRES_LIBRARIES if postgres else "")
    with (workdir / "stdout.log").open("w", encoding="utf-8") as stdout:
        fleet = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "main.py"),
            cwd=workdir,
            env=env | {"HEALTH_CHECK_PORT": str(port)},
            stdout=stdout,
        )
        floor = await asyncio.create_subprocess_exec(
            sys.executable, "-c", f"import {imports}; time.sleep(600)"
        )
        try:
            await wait_ready(port)
            await asyncio.sleep(settle)
            return Reading(name, rss_mb(fleet.pid), rss_mb(floor.pid))
        finally:
            fleet.terminate()
            floor.kill()
            await asyncio.wait_for(fleet.wait(), 20)
            await floor.wait()


def environment(discord: DiscordServer, gemini: GeminiServer, redis_url: str) -> dict[str, str]:
    """The light configuration: none of the benchmark's own fleet variables leak in."""
    env = {k: v for k, v in os.environ.items() if k not in {e.value for e in Env}}
    env |= {
        "ENVIRONMENT": "production",
        "REDIS_URL": redis_url,
        "GEMINI_API_KEY": "bench",
        "GEMINI_BASE_URL": gemini.base_url,
        "DISCORD_API_BASE_URL": discord.api_base,
        "DISCORD_GATEWAY_URL": discord.gateway_url,
        "LOG_FILE": "",
        "LOG_LEVEL": "WARNING",
        "AUTONOMOUS_SPEECH_INTERVAL_SECONDS": "86400",
    }
    env |= {name.value: discord.token(bot) for bot, name in TOKEN_ENV.items()}
    env |= {f"{c.upper()}_CHANNEL_ID": str(i) for c, i in discord.channel_ids.items()}
    return env


async def run(settle: float, days: int) -> list[Reading]:
    """Measure the deployed configuration, then the light one."""
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        redis = RedisServer(directory / "redis")
        redis.start()
        discord = DiscordServer()
        gemini = GeminiServer()
        await discord.start()
        await gemini.start()
        try:
            light = environment(discord, gemini, redis.url)
            async with embedded_postgres(directory / "postgres") as postgres_url:
                # FLEET_NAME unset: the fleet is "default".
                await seed_in_subprocess(postgres_url, gemini.base_url, ["default"], days, PER_DAY)
                # LOG_FILE unset: the default logs/discord_agent.log, in the child's folder.
                deployed = {k: v for k, v in light.items() if k != "LOG_FILE"} | {
                    "POSTGRESQL_URL": postgres_url,
                    "LOG_LEVEL": "INFO",
                }
                readings = [await measure("deployed", deployed, directory, settle, True)]
            readings.append(await measure("light", light, directory, settle, False))
            return readings
        finally:
            await gemini.stop()
            await discord.stop()
            redis.stop()


def report(readings: list[Reading], settle: float) -> None:
    """One line per configuration, the headline first, and the target."""
    print(f"idle RSS of `python main.py`, 4 gateway sessions, after {settle:.0f} s (MiB)")
    print(f"{'configuration':<14} {'all-in-one':>10} {'imports-only':>12} {'own':>6} {'ratio':>6}")
    for r in readings:
        print(
            f"{r.name:<14} {r.fleet:>10.1f} {r.floor:>12.1f} {r.fleet - r.floor:>6.1f}"
            f" {r.fleet / r.floor:>5.2f}x"
        )
    headline = readings[0]
    met = "MET" if headline.fleet <= TARGET_MIB else "NOT MET"
    print(f"  [{met}] {headline.name}: all-in-one idle RSS ≤ {TARGET_MIB} MiB")


def main(argv: list[str] | None = None) -> None:
    """Entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, help="seconds idle before reading (default 20)")
    parser.add_argument("--quick", action="store_true", help="settle 2 s, two days of memories")
    args = parser.parse_args(argv)
    settle = args.settle if args.settle is not None else 2.0 if args.quick else 20.0
    readings = asyncio.run(run(settle, 2 if args.quick else DAYS))
    report(readings, settle)


if __name__ == "__main__":
    main()
