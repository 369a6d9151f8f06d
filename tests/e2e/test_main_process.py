"""`python main.py` as docs/operations.md runs it: configuration, logs, health, SIGTERM."""

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from agentfleet_runtime.contract import TOKEN_ENV, Env
from agentfleet_sandbox.discord_server import DiscordServer
from agentfleet_sandbox.gemini_server import GeminiServer
from tests.fixtures.clock import zone_at_local_hour
from tests.fixtures.processes import wait_ready
from tests.fixtures.redis import RedisServer, free_port

MAIN = Path(__file__).resolve().parents[2] / "main.py"


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {e.value for e in Env}}
    env.pop("GOOGLE_GEMINI_BASE_URL", None)
    return env


def test_missing_configuration_fails_fast_with_every_problem(tmp_path: Path) -> None:
    env = clean_env() | {"ENVIRONMENT": "staging", "HEALTH_CHECK_PORT": "http"}
    result = subprocess.run(
        [sys.executable, str(MAIN)], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    message = result.stderr
    for problem in [
        "ENVIRONMENT",
        "HEALTH_CHECK_PORT",
        "DISCORD_RECEPTION_TOKEN is not set",
        "DISCORD_PAZ_TOKEN is not set",
        "GEMINI_API_KEY is not set",
        "COMMAND_CENTER_CHANNEL_ID is not set",
    ]:
        assert problem in message
    assert "Traceback" not in message
    assert not (tmp_path / "logs").exists()  # nothing started


async def test_runs_answers_logs_and_stops_gracefully_on_sigterm(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    discord = DiscordServer()
    gemini = GeminiServer()
    await discord.start()
    await gemini.start()
    port = free_port()
    env = clean_env() | {
        "ENVIRONMENT": "test",
        "REDIS_URL": redis_server.url,
        "GEMINI_API_KEY": "AIza" + "k" * 35,
        "GEMINI_BASE_URL": gemini.base_url,
        "DISCORD_API_BASE_URL": discord.api_base,
        "DISCORD_GATEWAY_URL": discord.gateway_url,
        "HEALTH_CHECK_PORT": str(port),
        "AUTONOMOUS_SPEECH_INTERVAL_SECONDS": "1",
        # Speech waits for working hours; make it midday wherever the test runs.
        "FLEET_TIMEZONE": zone_at_local_hour(12),
    }
    for bot, name in TOKEN_ENV.items():
        env[name.value] = discord.token(bot)
    for channel, channel_id in discord.channel_ids.items():
        env[f"{channel.upper()}_CHANNEL_ID"] = str(channel_id)
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(MAIN), cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        await wait_ready(port)
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/health") as response,
        ):
            assert response.status == 200
        question = await discord.post_as_human("development", "動いてる？")
        try:
            await discord.wait_for_message(lambda m: m.reference_id == question.id, timeout=20)
        except TimeoutError:
            process.kill()
            raise AssertionError((await process.communicate())[0].decode()) from None
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0, output.decode()[-2000:]
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await gemini.stop()
        await discord.stop()
    log = (tmp_path / "logs" / "discord_agent.log").read_text(encoding="utf-8")
    for keyword in ["processed successfully", "API usage", "自発発言"]:
        assert keyword in log, keyword
    for secret in [env["GEMINI_API_KEY"], env["DISCORD_SPECTRA_TOKEN"]]:
        assert secret not in log
        assert secret not in output.decode()
    assert "all-in-one stopped" in log
