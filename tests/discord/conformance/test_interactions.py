"""Autocomplete and the interaction callbacks, through discord.py's app_commands.

A person typing into an option becomes an autocomplete interaction (type 4); discord.py's
``@command.autocomplete`` answers with callback 8, whose choices the control API reads
back. Callbacks that do not fit the interaction are refused as Discord refuses them, and
the refusal is in the server's log, also when the server runs on its own.
"""

from __future__ import annotations

import asyncio

import aiohttp
import discord
from discord import app_commands

from agentfleet_sandbox.discord_server import DiscordServer
from tests.discord.test_server import Recorder, reader_intents
from tests.fixtures.discord import StartClient as Start
from tests.fixtures.discord import standalone_server

CITIES = ("Tokyo", "Toyama", "Osaka")


class Weather(Recorder):
    """A bot with ``/weather city`` whose city autocompletes from a fixed list."""

    def __init__(self, guild_id: int) -> None:
        super().__init__(reader_intents())
        self.tree = app_commands.CommandTree(self)
        self.guild = discord.Object(id=guild_id)
        self.typed: list[str] = []

        @self.tree.command(name="weather", description="天気", guild=self.guild)
        async def weather(interaction: discord.Interaction, city: str, days: int = 1) -> None:
            await interaction.response.send_message(f"{city}の天気（{days}日）")

        @weather.autocomplete("city")
        async def cities(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[str]]:
            self.typed.append(current)
            return [
                app_commands.Choice(name=c, value=c.lower())
                for c in CITIES
                if c.lower().startswith(current.lower())
            ]

    async def setup_hook(self) -> None:
        await self.tree.sync(guild=self.guild)


async def test_autocomplete_choices_reach_the_control_api_and_the_command_runs(
    discord_server: DiscordServer, start_client: Start
) -> None:
    bot = await start_client(Weather(discord_server.guild_id), "reception")

    typing = await discord_server.autocomplete("lounge", "/weather city:To", focused="city")
    choices = await discord_server.wait_for_choices(typing.id)

    assert bot.typed == ["To"]
    assert choices == [{"name": "Tokyo", "value": "tokyo"}, {"name": "Toyama", "value": "toyama"}]
    assert discord_server.interaction(typing.id).callback_type == 8
    async with aiohttp.ClientSession() as http:
        url = f"{discord_server.base_url}/_control/interactions"
        async with http.get(f"{url}/{typing.id}") as resp:
            seen = await resp.json()
        assert (seen["type"], seen["choices"]) == (4, choices)
        # The control API takes the same request with the typed line: "days" is still empty.
        body = {"user": "bob", "channel": "lounge", "command": "/weather city:O", "focused": "city"}
        async with http.post(url, json=body) as resp:
            assert resp.status == 200, await resp.text()
            again = int((await resp.json())["id"])
    assert await discord_server.wait_for_choices(again) == [{"name": "Osaka", "value": "osaka"}]

    chosen = await discord_server.invoke_command("lounge", "/weather tokyo 3")
    reply = await discord_server.wait_for_interaction_reply(chosen.id)
    assert reply.content == "tokyoの天気（3日）"


async def test_callbacks_that_do_not_fit_the_interaction_are_refused(
    discord_server: DiscordServer,
) -> None:
    # An app that never answers by itself, so each callback here is the test's.
    paz = discord_server.world.bots["paz"]
    option = {"type": 3, "name": "q", "description": "検索", "autocomplete": True}
    discord_server.world.put_commands(
        paz, discord_server.guild_id, [{"name": "find", "description": "探す", "options": [option]}]
    )
    typing = await discord_server.autocomplete("creation", "/find q:ア", focused="q")
    command = await discord_server.invoke_command("creation", "/find アイデア")
    api = discord_server.api_base

    async def answer(interaction_id: int, token: str, body: object) -> tuple[int, str]:
        url = f"{api}/interactions/{interaction_id}/{token}/callback"
        async with aiohttp.ClientSession() as http, http.post(url, json=body) as resp:
            return resp.status, await resp.text()

    status, text = await answer(typing.id, typing.token, {"type": 4, "data": {"content": "x"}})
    assert status == 400 and "Value must be one of {8}." in text
    status, text = await answer(command.id, command.token, {"type": 7, "data": {"content": "x"}})
    assert status == 400 and "Value must be one of {4, 5, 9}." in text
    many = [{"name": f"案{n}", "value": str(n)} for n in range(26)]
    status, text = await answer(typing.id, typing.token, {"type": 8, "data": {"choices": many}})
    assert status == 400 and "25 or fewer" in text
    status, _ = await answer(typing.id, typing.token, {"type": 8, "data": {"choices": many[:2]}})
    assert status == 204
    assert discord_server.interaction(typing.id).choices == many[:2]


async def test_the_standalone_server_logs_each_refusal_with_route_and_reason() -> None:
    async with standalone_server("lynq=cli-token", stderr=asyncio.subprocess.PIPE) as (
        proc,
        env,
    ):
        assert proc.stderr is not None
        url = f"{env['DISCORD_API_BASE_URL']}/channels/{env['DEVELOPMENT_CHANNEL_ID']}/messages"
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                url, json={"content": " "}, headers={"Authorization": "Bot cli-token"}
            ) as resp,
        ):
            assert resp.status == 400
        async with asyncio.timeout(10):
            while b"-> 400" not in (line := await proc.stderr.readline()):
                assert line, "the server exited without logging the refusal"
        assert (
            line.decode()
            .rstrip()
            .endswith(
                "sandbox: POST /channels/{channel_id}/messages -> 400 "
                "Cannot send an empty message (code 50006)"
            )
        )
