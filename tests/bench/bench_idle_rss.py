"""Idle memory of the all-in-one process (``python main.py``), connected and quiet.

Run: ``.venv/bin/python -m tests.bench.bench_idle_rss [--settle 20]``

Starts a redis-server, the local Discord- and Gemini-compatible servers (in this process),
then ``python main.py`` as a child with autonomous speech off, waits until /ready answers
and the process has settled, and reads the child's VmRSS. The floor, measured in the same
run, is a Python process that only imports the same libraries (discord.py, google-genai,
redis, datasketch/numpy, aiohttp, prometheus-client, pydantic): what the fleet's own
objects and four gateway connections add is the difference.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

import aiohttp

from agentfleet_runtime.contract import TOKEN_ENV, Env
from agentfleet_sandbox.discord_server import DiscordServer
from agentfleet_sandbox.gemini_server import GeminiServer
from tests.fixtures.redis import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[2]
IMPORTS_ONLY = (
    "import discord, google.genai, redis.asyncio, datasketch, numpy, aiohttp, "
    "prometheus_client, pydantic, pydantic_settings, time; time.sleep(60)"
)


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=20.0, help="seconds idle before reading")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        redis = RedisServer(Path(directory))
        redis.start()
        discord = DiscordServer()
        gemini = GeminiServer()
        await discord.start()
        await gemini.start()
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in {e.value for e in Env}}
        env |= {
            "ENVIRONMENT": "production",
            "REDIS_URL": redis.url,
            "GEMINI_API_KEY": "bench",
            "GEMINI_BASE_URL": gemini.base_url,
            "DISCORD_API_BASE_URL": discord.api_base,
            "DISCORD_GATEWAY_URL": discord.gateway_url,
            "HEALTH_CHECK_PORT": str(port),
            "LOG_FILE": "",
            "LOG_LEVEL": "WARNING",
            "AUTONOMOUS_SPEECH_INTERVAL_SECONDS": "86400",
        }
        env |= {name.value: discord.token(bot) for bot, name in TOKEN_ENV.items()}
        env |= {f"{c.upper()}_CHANNEL_ID": str(i) for c, i in discord.channel_ids.items()}
        fleet = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "main.py"), cwd=directory, env=env
        )
        floor = await asyncio.create_subprocess_exec(sys.executable, "-c", IMPORTS_ONLY)
        try:
            async with aiohttp.ClientSession() as http:
                for _ in range(300):
                    try:
                        async with http.get(f"http://127.0.0.1:{port}/ready") as response:
                            if response.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.1)
                else:
                    raise SystemExit("the fleet never became ready")
            await asyncio.sleep(args.settle)
            fleet_rss, floor_rss = rss_mb(fleet.pid), rss_mb(floor.pid)
        finally:
            fleet.terminate()
            floor.kill()
            await asyncio.wait_for(fleet.wait(), 20)
            await floor.wait()
            await gemini.stop()
            await discord.stop()
            redis.stop()
    settle = f"4 gateway sessions, after {args.settle:.0f}s"
    print(f"all-in-one idle RSS   {fleet_rss:6.1f} MiB  ({settle})")
    print(f"imports-only floor    {floor_rss:6.1f} MiB")
    ratio = fleet_rss / floor_rss
    print(f"fleet's own objects   {fleet_rss - floor_rss:6.1f} MiB  ratio {ratio:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
