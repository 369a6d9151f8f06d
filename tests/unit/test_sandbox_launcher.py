"""The sandbox's own settings: read from the environment, refused with a clear message."""

from __future__ import annotations

import discord
import pytest

from agentfleet_runtime.contract import TOKEN_ENV
from agentfleet_sandbox.discord_server import DiscordServer
from agentfleet_sandbox.launcher import (
    DEFAULT_THINKING_SECONDS,
    THINKING_ENV,
    discord_env,
    thinking_seconds,
)


def test_the_model_stand_in_thinks_like_a_fast_model_unless_told() -> None:
    assert thinking_seconds({}) == DEFAULT_THINKING_SECONDS
    assert thinking_seconds({THINKING_ENV: "0"}) == 0
    assert thinking_seconds({THINKING_ENV: " 2.5 "}) == 2.5


@pytest.mark.parametrize("raw", ["fast", "-1", "61", "nan", "inf"])
def test_a_bad_thinking_time_is_refused_naming_the_variable(raw: str) -> None:
    with pytest.raises(ValueError) as caught:
        thinking_seconds({THINKING_ENV: raw})
    assert THINKING_ENV in str(caught.value) and repr(raw) in str(caught.value)


async def test_the_fleet_is_pointed_at_the_local_discord(
    discord_server: DiscordServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = discord_env(discord_server)
    assert {name.value for name in TOKEN_ENV.values()} <= env.keys()
    assert env["DISCORD_GUILD_ID"] == str(discord_server.guild_id)

    # What the fleet does with these: log in with a token, then read its channels.
    monkeypatch.setattr(discord.http.Route, "BASE", env["DISCORD_API_BASE_URL"])
    client = discord.Client(intents=discord.Intents.default())
    try:
        await client.login(env[TOKEN_ENV["lynq"].value])
        assert client.user is not None and client.user.name == "LYNQ"
        channel = await client.fetch_channel(int(env["DEVELOPMENT_CHANNEL_ID"]))
        assert isinstance(channel, discord.TextChannel) and channel.name == "development"
    finally:
        await client.close()
