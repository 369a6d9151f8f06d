"""Direct messages and threads through discord.py's own API.

A bot opens a DM with ``user.create_dm()`` and a person answers in the same channel; a
bot starts threads with ``message.create_thread`` and ``channel.create_thread``, posts in
them, and other bots see THREAD_CREATE and the thread's messages as Discord sends them.
"""

from __future__ import annotations

import aiohttp
import discord
import pytest

from agentfleet_sandbox.discord_server import DiscordServer
from tests.discord.conformance.clients import Observer
from tests.discord.test_server import Recorder
from tests.fixtures.discord import StartClient as Start
from tests.fixtures.discord import text_channel


async def test_a_dm_channel_per_pair_reaches_only_its_bot_with_content(
    discord_server: DiscordServer, start_client: Start
) -> None:
    # No message-content intent: a DM still arrives with its text, as on Discord.
    spectra = await start_client(Recorder(), "spectra")
    lynq = await start_client(Recorder(), "lynq")
    alice = await spectra.fetch_user(discord_server.user_id("alice"))

    dm = await alice.create_dm()
    sent = await dm.send("今日の議事録を送ります")

    assert isinstance(dm, discord.DMChannel) and dm.recipient is not None
    assert dm.recipient.id == alice.id
    async with aiohttp.ClientSession() as http:
        body = {"author": "alice", "bot": "spectra", "content": "ありがとう @SPECTRA"}
        url = f"{discord_server.base_url}/_control/direct-messages"
        async with http.post(url, json=body) as resp:
            posted = await resp.json()
            assert resp.status == 200, posted
    assert posted["channel_id"] == str(dm.id)  # one channel per pair, whoever opened it
    answer = await spectra.next_message(lambda m: m.author.id == alice.id)
    assert answer.content == f"ありがとう <@{discord_server.user_id('spectra')}>"
    assert isinstance(answer.channel, discord.DMChannel) and answer.guild is None
    history = [m.id async for m in dm.history(limit=5)]
    assert history == [answer.id, sent.id]

    # Only the bot in the DM hears of it: LYNQ saw neither message.
    marker = await discord_server.post_as_human("lounge", "その後")
    await lynq.next_message(lambda m: m.id == marker.id)
    assert [m.id for m in lynq.seen] == [marker.id]
    # No bot may DM another bot.
    paz = await spectra.fetch_user(discord_server.user_id("paz"))
    with pytest.raises(discord.HTTPException) as refused:
        await paz.create_dm()
    assert (refused.value.status, refused.value.code) == (400, 50007)


async def test_a_thread_from_a_message_is_announced_and_its_messages_reach_bots(
    discord_server: DiscordServer, start_client: Start
) -> None:
    observer = await start_client(Observer(), "reception")
    lynq = await start_client(Recorder(), "lynq")
    channel = text_channel(lynq, discord_server, "development")
    question = await discord_server.post_as_human("development", "ビルドが遅い")
    starter = await channel.fetch_message(question.id)

    thread = await starter.create_thread(name="ビルド調査")

    assert thread.id == question.id and thread.parent_id == channel.id
    announced = await observer.until(lambda: next(iter(observer.threads), None))
    assert (announced.id, announced.name) == (thread.id, "ビルド調査")
    assert not announced.is_private()
    # The starter message now carries its thread, sent as an update.
    updated = await observer.until(lambda: next(iter(observer.edited), None))
    assert updated.id == question.id and updated.flags.has_thread

    in_thread = await thread.send("キャッシュが効いていないという構造")
    seen = await observer.next_message(lambda m: m.id == in_thread.id)
    assert isinstance(seen.channel, discord.Thread) and seen.channel.parent_id == channel.id
    # A person answers in the thread (by its id, as the control API takes it).
    human = await discord_server.post_as_human(thread.id, "なるほど")
    heard = await observer.next_message(lambda m: m.id == human.id)
    assert heard.channel.id == thread.id and heard.content == "なるほど"
    assert [m.content async for m in thread.history(limit=5)] == [
        "なるほど",
        "キャッシュが効いていないという構造",
    ]

    with pytest.raises(discord.HTTPException) as twice:
        await starter.create_thread(name="二つ目")
    assert (twice.value.status, twice.value.code) == (400, 160004)


async def test_threads_without_a_message_public_for_all_private_for_members(
    discord_server: DiscordServer, start_client: Start
) -> None:
    observer = await start_client(Observer(), "reception")
    paz = await start_client(Observer(), "paz")
    spectra = await start_client(Recorder(), "spectra")
    channel = text_channel(spectra, discord_server, "lounge")

    public = await channel.create_thread(name="雑談", type=discord.ChannelType.public_thread)
    # discord.py's default without a message is a private thread, as Discord's API is.
    private = await channel.create_thread(name="相談")

    assert (public.type, private.type) == (
        discord.ChannelType.public_thread,
        discord.ChannelType.private_thread,
    )
    await observer.until(lambda: next((t for t in observer.threads if t.id == public.id), None))
    await private.send(f"<@{discord_server.user_id('paz')}> 少し相談")
    secret = await public.send("みんなへ")
    # PAZ, mentioned, joins the private thread; Reception, not a member, never sees it.
    await observer.next_message(lambda m: m.id == secret.id)
    heard = await paz.next_message(lambda m: m.channel.id == private.id)
    assert "少し相談" in heard.content
    assert all(m.channel.id != private.id for m in observer.seen)
    assert [t.id for t in observer.threads] == [public.id]

    # Added by a member, Reception learns of the private thread and hears what follows.
    await private.add_user(discord.Object(id=discord_server.user_id("reception")))
    joined = await observer.until(
        lambda: next((t for t in observer.threads if t.id == private.id), None)
    )
    assert joined.is_private() and joined.name == "相談"
    later = await private.send("Reception も加わった")
    assert (await observer.next_message(lambda m: m.id == later.id)).channel.id == private.id
    guild = observer.get_guild(discord_server.guild_id)
    assert guild is not None
    own_view = guild.get_thread(public.id)
    assert own_view is not None
    members = discord_server.world.thread_members[public.id]
    await own_view.join()  # a bot joining a public thread it sees: accepted
    assert discord_server.user_id("reception") in members
    await own_view.leave()
    assert discord_server.user_id("reception") not in members
