"""Files on messages, through real discord.py clients and the sandbox server.

discord.py uploads them, the server serves them back at CDN-style URLs, Reception hands
their metadata on, and the persona's fetcher reads them within its cap.
"""

from __future__ import annotations

import asyncio
import base64
import io

import aiohttp
import discord
import pytest

from agentfleet_runtime.app.ports import AttachmentSource
from agentfleet_runtime.brain.attachments import AttachmentFetchError, SkipReason
from agentfleet_runtime.brain.messages import AttachmentRef, InboundMessage
from agentfleet_runtime.discord import CdnFetcher, ReceptionBot
from agentfleet_sandbox.discord_server import DiscordServer
from agentfleet_sandbox.discord_server.attachments import FileUpload
from tests.fixtures.discord import FAST_READY, StartClient
from tests.fixtures.images import image_bytes


class Seen:
    """What Reception handed on, by message id."""

    def __init__(self) -> None:
        self.messages: dict[int, InboundMessage] = {}
        self.arrived = asyncio.Event()

    async def __call__(self, message: InboundMessage) -> None:
        self.messages[message.message_id] = message
        self.arrived.set()

    async def wait(self, message_id: int) -> InboundMessage:
        async with asyncio.timeout(5):
            while message_id not in self.messages:
                self.arrived.clear()
                await self.arrived.wait()
        return self.messages[message_id]


async def reception(start_client: StartClient) -> Seen:
    seen = Seen()
    await start_client(ReceptionBot(on_message=seen, guild_ready_timeout=FAST_READY), "reception")
    return seen


async def bot(start_client: StartClient, key: str) -> discord.Client:
    return await start_client(
        discord.Client(intents=discord.Intents.default(), guild_ready_timeout=FAST_READY), key
    )


async def test_a_bot_uploads_files_and_everyone_sees_them_with_discords_metadata(
    discord_server: DiscordServer, start_client: StartClient
) -> None:
    seen = await reception(start_client)
    spectra = await bot(start_client, "spectra")
    channel = spectra.get_partial_messageable(discord_server.channel_id("development"))
    image = image_bytes()

    sent = await channel.send(
        "スクショと議事録",
        files=[
            discord.File(io.BytesIO(image), "my screen.png", description="login page"),
            discord.File(io.BytesIO("# 議事録\n決定: JWT\n".encode()), "議事録.md"),
        ],
    )

    shot, minutes = sent.attachments
    # Discord's own metadata: names made URL-safe, types from the names (discord.py sends
    # every file as application/octet-stream), sizes, and an image's dimensions.
    assert (shot.filename, shot.content_type, shot.size) == (
        "my_screen.png",
        "image/png",
        len(image),
    )
    assert (shot.width, shot.height, shot.description) == (64, 48, "login page")
    assert minutes.content_type == "text/markdown; charset=utf-8"
    assert minutes.width is None
    # The bytes come back from the CDN-style URL, as discord.py's Attachment.read() gets them.
    assert shot.url.startswith(f"{discord_server.base_url}/attachments/")
    assert await shot.read() == image
    assert (await minutes.read()).decode() == "# 議事録\n決定: JWT\n"
    # Reception (another bot, over the gateway) sees the same attachments.
    inbound = await seen.wait(sent.id)
    assert inbound.attachments == (
        AttachmentRef(shot.id, "my_screen.png", "image/png", len(image), shot.url),
        AttachmentRef(minutes.id, "議事録.md", minutes.content_type, minutes.size, minutes.url),
    )


async def test_a_message_of_files_alone_is_accepted_and_one_of_nothing_is_not(
    discord_server: DiscordServer, start_client: StartClient
) -> None:
    paz = await bot(start_client, "paz")
    channel = paz.get_partial_messageable(discord_server.channel_id("creation"))

    sent = await channel.send(file=discord.File(io.BytesIO(image_bytes()), "sketch.png"))

    assert sent.content == "" and [a.filename for a in sent.attachments] == ["sketch.png"]
    with pytest.raises(discord.HTTPException) as refused:
        await channel.send("   ")
    assert (refused.value.status, refused.value.code) == (400, 50006)


async def test_files_over_discords_upload_limit_are_refused_with_discords_error(
    discord_server: DiscordServer, start_client: StartClient
) -> None:
    lynq = await bot(start_client, "lynq")
    channel = lynq.get_partial_messageable(discord_server.channel_id("development"))
    half = 5 * 1024 * 1024 + 1  # two of these are just over 10 MiB together

    with pytest.raises(discord.HTTPException) as refused:
        await channel.send(
            files=[discord.File(io.BytesIO(b"x" * half), f"part{i}.log") for i in range(2)]
        )

    assert (refused.value.status, refused.value.code) == (413, 40005)
    assert "Request entity too large" in str(refused.value)
    assert discord_server.messages("development") == []


async def test_a_person_posts_files_through_the_control_api(
    discord_server: DiscordServer, start_client: StartClient
) -> None:
    seen = await reception(start_client)
    url = f"{discord_server.base_url}/_control/channels/lounge/messages"
    files = [
        {"filename": "cat.png", "data": base64.b64encode(image_bytes("PNG", (30, 20))).decode()}
    ]
    async with aiohttp.ClientSession() as http:
        posted = await http.post(url, json={"author": "alice", "attachments": files})
        assert posted.status == 200
        body = await posted.json()
        wrong = await http.post(url, json={"attachments": [{"filename": "x", "data": "*"}]})
        assert wrong.status == 400
        assert (await wrong.json())["message"] == "x: data is not base64"

    [attachment] = body["attachments"]
    assert (attachment["width"], attachment["height"]) == (30, 20)
    inbound = await seen.wait(int(body["id"]))
    assert inbound.content == "" and inbound.author_name == "alice"
    assert [a.filename for a in inbound.attachments] == ["cat.png"]


async def test_the_fetcher_reads_from_the_cdn_within_its_cap_and_nowhere_else(
    discord_server: DiscordServer,
) -> None:
    image = image_bytes()
    message = await discord_server.post_as_human(
        "development", "見て", files=[FileUpload("画面.png", image)]
    )
    url = f"{discord_server.base_url}{message.attachments[0].path}"
    fetcher = CdnFetcher([discord_server.public_host], timeout=5)
    source: AttachmentSource = fetcher  # checked by mypy: CdnFetcher satisfies the port
    try:
        assert await source.fetch(url, len(image)) == image
        with pytest.raises(AttachmentFetchError) as too_large:
            await fetcher.fetch(url, len(image) - 1)
        assert too_large.value.reason is SkipReason.TOO_LARGE
        with pytest.raises(AttachmentFetchError) as gone:
            await fetcher.fetch(url.replace("/画面.png", "/other.png"), 10_000)
        assert gone.value.reason is SkipReason.UNAVAILABLE and "HTTP 404" in str(gone.value)
        # A URL that is not Discord's CDN (or the configured server) is never fetched.
        with pytest.raises(AttachmentFetchError, match="not a Discord CDN URL"):
            await CdnFetcher().fetch(url, 10_000)
    finally:
        await fetcher.close()
