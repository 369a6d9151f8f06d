"""The sandbox's set-up mistakes, as real discord.py and google-genai clients meet them.

A token reset in the portal, the Message Content intent left off, a channel overwrite
denying a permission, an unknown channel, a wrong Gemini key and an unknown model: each
must fail the way Discord and Google fail, or the doctor's tests would prove nothing.
"""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
import discord
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from agentfleet_runtime.brain.messages import OutboundMessage
from agentfleet_runtime.discord import PersonaPoster, ReceptionBot
from agentfleet_sandbox.discord_server import DiscordServer
from agentfleet_sandbox.gemini_server import GeminiServer
from tests.fixtures.discord import FAST_READY, StartClient
from tests.fixtures.gemini import GEMINI_TEST_API_KEY


async def _ignore(_message: object) -> None:
    return None


async def test_a_reset_token_is_refused_and_the_new_one_works(
    discord_server: DiscordServer, start_client: StartClient
) -> None:
    old = discord_server.token("paz")
    new = discord_server.reset_token("paz")

    assert new != old and discord_server.token("paz") == new
    with pytest.raises(discord.LoginFailure):
        await discord.Client(intents=discord.Intents.none()).login(old)
    paz = await start_client(PersonaPoster("paz", guild_ready_timeout=FAST_READY), "paz")
    assert paz.user is not None and paz.user.name == "PAZ"


async def test_without_the_intent_reception_is_refused_with_4014(
    discord_server: DiscordServer, start_client: StartClient
) -> None:
    lynq = await start_client(discord.Client(intents=discord.Intents.none()), "lynq")
    discord_server.set_message_content_intent("reception", False)

    bot = ReceptionBot(on_message=_ignore, guild_ready_timeout=FAST_READY)
    try:
        with pytest.raises(discord.PrivilegedIntentsRequired):
            await asyncio.wait_for(bot.start(discord_server.token("reception")), 10)
    finally:
        await bot.close()
    app = await lynq.application_info()
    assert app.flags.gateway_message_content_limited  # other apps keep theirs

    discord_server.clear_faults()  # switched back on, as in the portal
    again = ReceptionBot(on_message=_ignore, guild_ready_timeout=FAST_READY)
    await start_client(again, "reception")
    info = await again.application_info()
    assert info.flags.gateway_message_content_limited


async def test_a_denied_send_permission_is_403_missing_permissions(
    discord_server: DiscordServer, start_client: StartClient
) -> None:
    paz = await start_client(PersonaPoster("paz", guild_ready_timeout=FAST_READY), "paz")
    lounge = discord_server.channel_id("lounge")
    async with aiohttp.ClientSession() as http:
        fault = {"bot": "paz", "channel": "lounge", "permission": "SEND_MESSAGES"}
        url = f"{discord_server.base_url}/_control/faults/deny-permission"
        async with http.post(url, json=fault) as response:
            assert response.status == 200

    with pytest.raises(discord.Forbidden) as refused:
        await paz.post(OutboundMessage("paz", lounge, "ラウンジに一言"))
    assert (refused.value.status, refused.value.code) == (403, 50013)
    assert discord_server.messages("lounge") == []
    # The overwrite is visible to any bot reading the channel, as on Discord.
    channel = await paz.fetch_channel(lounge)
    assert isinstance(channel, discord.TextChannel)
    overwrite = channel.overwrites_for(discord.Object(id=discord_server.user_id("paz")))
    assert overwrite.send_messages is False
    # Only that channel, only that bot.
    development = discord_server.channel_id("development")
    await paz.post(OutboundMessage("paz", development, "開発には書ける"))
    assert [m.content for m in discord_server.messages("development")] == ["開発には書ける"]


async def test_an_unknown_channel_is_404_unknown_channel(
    discord_server: DiscordServer, start_client: StartClient
) -> None:
    spectra = await start_client(
        PersonaPoster("spectra", guild_ready_timeout=FAST_READY), "spectra"
    )
    with pytest.raises(discord.NotFound) as unknown:
        await spectra.post(OutboundMessage("spectra", 123456789012345678, "どこ？"))
    assert (unknown.value.status, unknown.value.code) == (404, 10003)


async def test_gemini_tells_a_wrong_key_from_an_unknown_model(gemini_server: GeminiServer) -> None:
    client = genai.Client(
        api_key=GEMINI_TEST_API_KEY,
        http_options=types.HttpOptions(base_url=gemini_server.base_url, api_version="v1beta"),
    )
    async with aiohttp.ClientSession() as http:
        config = {"retired_models": ["gemini-0.9-gone"], "api_key": GEMINI_TEST_API_KEY}
        async with http.post(f"{gemini_server.base_url}/_control/config", json=config) as resp:
            assert (await resp.json())["retired_models"] == ["gemini-0.9-gone"]
    try:
        assert (await client.aio.models.get(model="gemini-3.8-flash")).name
        with pytest.raises(genai_errors.ClientError) as gone:
            await client.aio.models.generate_content(model="gemini-0.9-gone", contents="やあ")
        assert (gone.value.code, gone.value.status) == (404, "NOT_FOUND")
        assert "gemini-0.9-gone is not found" in (gone.value.message or "")

        gemini_server.require_api_key("a-rotated-key")
        with pytest.raises(genai_errors.ClientError) as refused:
            await client.aio.models.get(model="gemini-3.8-flash")
        assert (refused.value.code, refused.value.status) == (400, "INVALID_ARGUMENT")
        assert "API_KEY_INVALID" in str(refused.value.details)
        assert GEMINI_TEST_API_KEY not in str(refused.value.details)
    finally:
        with contextlib.suppress(Exception):
            await client.aio.aclose()
