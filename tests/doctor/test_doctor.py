"""``agentfleet doctor`` end to end: the real command against the local servers and stores.

The Discord- and Gemini-compatible servers, a real redis-server and a real PostgreSQL with
pgvector stand where Discord, Google and the stores would; the configuration comes from
the environment, as in production. Each set-up mistake must turn exactly its line red,
print a fix that names what to change, and make the command exit non-zero, without a
token or key anywhere in the output.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agentfleet_runtime.cli import main
from agentfleet_runtime.contract import TOKEN_ENV, Env
from agentfleet_runtime.discord import ReceptionBot
from agentfleet_runtime.memory.long_term import SCHEMA_VERSION, migrate
from agentfleet_sandbox.discord_server import DiscordServer
from agentfleet_sandbox.gemini_server import GeminiServer
from tests.fixtures.discord import FAST_READY, StartClient
from tests.fixtures.gemini import GEMINI_TEST_API_KEY
from tests.fixtures.redis import RedisServer


@dataclass
class Doctor:
    """Runs ``agentfleet doctor`` as a person would, against the fixture's servers."""

    discord: DiscordServer
    gemini: GeminiServer
    redis: RedisServer
    capsys: pytest.CaptureFixture[str]
    env_file: Path
    monkeypatch: pytest.MonkeyPatch

    async def run(self, *options: str) -> tuple[int, str]:
        """The exit code and what it printed (the CLI in a thread: it runs its own loop)."""
        self.capsys.readouterr()
        argv = ["doctor", "--env-file", str(self.env_file), *options]
        code = await asyncio.to_thread(main, argv)
        out = self.capsys.readouterr().out
        # Whatever the doctor was given (a reset token included) and what Discord now holds.
        given = [os.environ.get(n.value) for n in (*TOKEN_ENV.values(), Env.GEMINI_API_KEY)]
        current = [self.discord.token(bot) for bot in TOKEN_ENV]
        for secret in [*given, *current, GEMINI_TEST_API_KEY]:
            assert not secret or secret not in out
        return code, out

    def set(self, name: Env, value: str) -> None:
        """Change one variable of the fleet's configuration."""
        self.monkeypatch.setenv(name.value, value)


def line(out: str, title: str) -> tuple[str, str]:
    """The checklist line whose title starts with ``title``, and the line under it."""
    lines = out.splitlines()
    for index, text in enumerate(lines):
        if text.strip()[2:].startswith(title):
            return text.strip(), lines[index + 1].strip() if index + 1 < len(lines) else ""
    raise AssertionError(f"no line for {title!r} in:\n{out}")


@pytest.fixture
async def doctor(
    discord_server: DiscordServer,
    gemini_server: GeminiServer,
    redis_server: RedisServer,
    postgres_url: str,
    start_client: StartClient,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Doctor]:
    """A fleet set up right: bots in the guild, /task registered, schema migrated."""
    for name in Env:
        monkeypatch.delenv(name.value, raising=False)
    env = {
        Env.ENVIRONMENT: "test",
        Env.REDIS_URL: redis_server.url,
        Env.POSTGRESQL_URL: postgres_url,
        Env.GEMINI_API_KEY: GEMINI_TEST_API_KEY,
        Env.GEMINI_BASE_URL: gemini_server.base_url,
        Env.DISCORD_API_BASE_URL: discord_server.api_base,
        Env.DISCORD_GATEWAY_URL: discord_server.gateway_url,
        Env.DISCORD_GUILD_ID: str(discord_server.guild_id),
        **{name: discord_server.token(bot) for bot, name in TOKEN_ENV.items()},
    }
    for name, value in env.items():
        monkeypatch.setenv(name.value, value)
    for channel, channel_id in discord_server.channel_ids.items():
        monkeypatch.setenv(f"{channel.upper()}_CHANNEL_ID", str(channel_id))
    await migrate(postgres_url, 768)

    async def ignore(_message: object) -> None:
        return None

    async def task_desk(*_args: str) -> str:
        return "OK"

    # Reception registers /task itself at login, as the running fleet would.
    reception = ReceptionBot(
        on_message=ignore,
        on_task_command=task_desk,
        guild_id=discord_server.guild_id,
        guild_ready_timeout=FAST_READY,
    )
    await start_client(reception, "reception")
    await discord_server.wait_for(lambda: discord_server.world.commands)
    yield Doctor(
        discord_server, gemini_server, redis_server, capsys, tmp_path / "absent.env", monkeypatch
    )


async def test_a_fleet_set_up_right_passes_every_check(doctor: Doctor) -> None:
    code, out = await doctor.run()

    assert code == 0, out
    assert "✗" not in out and "fix:" not in out
    reception_id = doctor.discord.user_id("reception")
    assert line(out, "DISCORD_RECEPTION_TOKEN")[0] == (
        f"✓ DISCORD_RECEPTION_TOKEN: bot Reception (id {reception_id})"
    )
    for persona in ("SPECTRA", "LYNQ", "PAZ"):
        token_line = line(out, f"DISCORD_{persona}_TOKEN")[0]
        assert token_line.startswith(f"✓ DISCORD_{persona}_TOKEN: bot {persona}")
        assert line(out, f"{persona} in the server")[0].startswith("✓")
    assert "on (GATEWAY_MESSAGE_CONTENT_LIMITED)" in line(out, "Message Content intent")[0]
    assert "AgentFleet Sandbox" in line(out, "guild")[0]
    for channel in ("command_center", "development", "creation", "lounge"):
        assert line(out, f"#{channel}")[0].startswith(f"✓ #{channel}")
    assert line(out, "/task slash command")[0] == "✓ /task slash command: registered in the guild"
    assert line(out, "GEMINI_API_KEY")[0] == "✓ GEMINI_API_KEY: accepted by Gemini"
    assert line(out, "GEMINI_MODEL gemini-3.8-flash")[0].endswith("available")
    assert line(out, "GEMINI_EMBEDDING_MODEL gemini-embedding-001")[0].endswith("available")
    assert line(out, "Redis")[0].startswith("✓ Redis 127.0.0.1:")
    assert line(out, "schema version")[0] == f"✓ schema version: {SCHEMA_VERSION} (current)"
    assert line(out, "pgvector extension")[0].startswith("✓ pgvector extension: installed")
    assert out.rstrip().endswith("checks passed.")


async def test_a_reset_token_fails_its_line_with_the_portal_fix(doctor: Doctor) -> None:
    doctor.discord.reset_token("paz")  # the fleet still holds the old one

    code, out = await doctor.run()

    assert code == 1
    check, fix = line(out, "DISCORD_PAZ_TOKEN")
    assert check.startswith("✗") and "401 Unauthorized" in check
    assert "Reset Token" in fix and "DISCORD_PAZ_TOKEN" in fix
    assert line(out, "PAZ in the server")[0].startswith("–")  # one cause, one failure
    assert line(out, "DISCORD_LYNQ_TOKEN")[0].startswith("✓")


async def test_two_roles_sharing_one_token_fail(doctor: Doctor) -> None:
    doctor.set(Env.DISCORD_LYNQ_TOKEN, doctor.discord.token("spectra"))

    code, out = await doctor.run()

    assert code == 1
    check, fix = line(out, "DISCORD_LYNQ_TOKEN")
    assert check.startswith("✗") and "the same bot (SPECTRA" in check
    assert "DISCORD_SPECTRA_TOKEN" in check and "separate application for LYNQ" in fix


async def test_the_message_content_intent_switched_off_fails(doctor: Doctor) -> None:
    doctor.discord.set_message_content_intent("reception", False)

    code, out = await doctor.run()

    assert code == 1
    check, fix = line(out, "Message Content intent")
    assert check.startswith("✗") and "4014" in check
    assert "Privileged Gateway Intents" in fix and "MESSAGE CONTENT INTENT" in fix


async def test_a_denied_permission_names_the_bot_channel_and_permission(doctor: Doctor) -> None:
    doctor.discord.deny_permission("paz", "lounge", "SEND_MESSAGES")

    code, out = await doctor.run()

    assert code == 1
    check, fix = line(out, "PAZ in the server")
    assert check == "✗ PAZ in the server: #lounge lacks Send Messages"
    assert "allow View Channel, Send Messages, Read Message History for PAZ" in fix
    assert line(out, "LYNQ in the server")[0].startswith("✓")
    assert "✗" not in line(out, "Reception in the server")[0]


async def test_an_unknown_channel_id_fails_its_channel(doctor: Doctor) -> None:
    doctor.monkeypatch.setenv("DEVELOPMENT_CHANNEL_ID", "123456789012345678")

    code, out = await doctor.run()

    assert code == 1
    check, fix = line(out, "#development (DEVELOPMENT_CHANNEL_ID)")
    assert check.startswith("✗") and "404 Unknown Channel" in check
    assert "Copy Channel ID" in fix and "DEVELOPMENT_CHANNEL_ID" in fix
    assert line(out, "#lounge")[0].startswith("✓")


async def test_a_wrong_gemini_key_is_told_from_an_unknown_model(doctor: Doctor) -> None:
    doctor.gemini.require_api_key("the-key-after-rotation")

    code, out = await doctor.run()

    assert code == 1
    check, fix = line(out, "GEMINI_API_KEY")
    assert check.startswith("✗") and "API_KEY_INVALID" in check
    assert "aistudio.google.com/apikey" in fix and "GEMINI_API_KEY" in fix
    assert line(out, "GEMINI_MODEL")[0].startswith("–")


async def test_an_unknown_model_fails_its_line_and_not_the_key(doctor: Doctor) -> None:
    doctor.gemini.retire_model("gemini-0.9-gone")
    doctor.set(Env.GEMINI_MODEL, "gemini-0.9-gone")

    code, out = await doctor.run()

    assert code == 1
    assert line(out, "GEMINI_API_KEY")[0].startswith("✓")
    check, fix = line(out, "GEMINI_MODEL gemini-0.9-gone")
    assert check.startswith("✗") and "404 NOT_FOUND" in check
    assert "Set GEMINI_MODEL" in fix and "generateContent" in fix
    assert line(out, "GEMINI_EMBEDDING_MODEL")[0].startswith("✓")


async def test_redis_down_fails_the_redis_line(doctor: Doctor) -> None:
    doctor.redis.stop()

    code, out = await doctor.run()

    assert code == 1
    check, fix = line(out, "Redis")
    assert check.startswith("✗") and "no answer" in check
    assert "Start Redis" in fix and "REDIS_URL" in fix


async def test_configuration_problems_are_listed_and_the_rest_still_checked(
    doctor: Doctor,
) -> None:
    doctor.monkeypatch.delenv(Env.DISCORD_LYNQ_TOKEN.value)
    doctor.set(Env.ENVIRONMENT, "staging")

    code, out = await doctor.run()

    assert code == 1
    assert "✗ setting: ENVIRONMENT: Input should be 'test' or 'production'" in out
    assert "✗ setting: DISCORD_LYNQ_TOKEN is not set" in out
    assert line(out, "DISCORD_LYNQ_TOKEN")[0] == "– DISCORD_LYNQ_TOKEN: not set (see Configuration)"
    assert line(out, "PAZ in the server")[0].startswith("✓")
    assert line(out, "GEMINI_API_KEY")[0].startswith("✓")


async def test_inside_the_reception_pod_only_reception_s_part_is_checked(doctor: Doctor) -> None:
    # The reception Pod holds its own token and the stores, not the personas' or Gemini's.
    for persona in ("spectra", "lynq", "paz"):
        doctor.monkeypatch.delenv(TOKEN_ENV[persona].value)
    doctor.monkeypatch.delenv(Env.GEMINI_API_KEY.value)

    code, out = await doctor.run("--role", "reception")

    assert code == 0, out
    assert "SPECTRA" not in out and "Gemini" not in out
    assert line(out, "Reception in the server")[0].startswith("✓")
    assert line(out, "/task slash command")[0].startswith("✓")
    assert line(out, "Redis")[0].startswith("✓")
