"""The sandbox Discord server, driven by real discord.py 2.7 clients in one event loop."""

from __future__ import annotations

import asyncio
import io
import json
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import discord
from discord import app_commands

from agentfleet_sandbox.discord_server import DiscordServer
from agentfleet_sandbox.discord_server.gateway import HEARTBEAT_ACK_DELAY
from tests.fixtures.discord import FAST_READY, standalone_server, text_channel
from tests.fixtures.discord import StartClient as Start


def reader_intents() -> discord.Intents:
    intents = discord.Intents.default()
    intents.message_content = True
    return intents


class Recorder(discord.Client):
    """A client that records every message and resume it sees."""

    def __init__(self, intents: discord.Intents | None = None) -> None:
        super().__init__(
            intents=intents or discord.Intents.default(), guild_ready_timeout=FAST_READY
        )
        self.seen: list[discord.Message] = []
        self.resumed = 0
        self._arrived = asyncio.Event()

    async def on_message(self, message: discord.Message) -> None:
        self.seen.append(message)
        self._arrived.set()

    async def on_resumed(self) -> None:
        self.resumed += 1

    async def next_message(
        self, predicate: Callable[[discord.Message], bool], timeout: float = 5.0
    ) -> discord.Message:
        async with asyncio.timeout(timeout):
            while True:
                for message in self.seen:
                    if predicate(message):
                        return message
                self._arrived.clear()
                await self._arrived.wait()


async def test_login_ready_and_guild_cache(
    discord_server: DiscordServer, start_client: Start
) -> None:
    intents = reader_intents()
    intents.members = True  # forces discord.py's chunking check: member_count must match
    client = await start_client(Recorder(intents), "reception")

    assert client.user is not None
    assert client.user.id == discord_server.user_id("reception")
    assert client.user.bot
    assert client.application_id == discord_server.user_id("reception")
    guild = client.get_guild(discord_server.guild_id)
    assert guild is not None
    assert guild.chunked
    assert {c.name: c.id for c in guild.text_channels} == discord_server.channel_ids
    names = {m.display_name for m in guild.members}
    assert {"Reception", "SPECTRA", "LYNQ", "PAZ", "alice", "bob"} <= names
    assert guild.default_role.id == guild.id
    assert guild.me.id == client.user.id


async def test_json_content_type_is_exact_and_bad_token_is_401(
    discord_server: DiscordServer,
) -> None:
    async with aiohttp.ClientSession() as http:
        headers = {"Authorization": f"Bot {discord_server.token('spectra')}"}
        async with http.get(f"{discord_server.api_base}/users/@me", headers=headers) as resp:
            assert resp.headers["Content-Type"] == "application/json"
            assert "X-RateLimit-Remaining" in resp.headers
            assert (await resp.json())["username"] == "SPECTRA"
        async with http.get(
            f"{discord_server.api_base}/users/@me", headers={"Authorization": "Bot nope"}
        ) as resp:
            assert resp.status == 401
            assert resp.headers["Content-Type"] == "application/json"
        async with http.get(f"{discord_server.api_base}/no/such/route", headers=headers) as resp:
            assert resp.status == 404
            assert (await resp.json())["message"] == "404: Not Found"


async def test_unknown_token_fails_login(discord_server: DiscordServer) -> None:
    client = discord.Client(intents=discord.Intents.default())
    try:
        await client.login("not-a-configured-token")
    except discord.LoginFailure:
        pass
    else:
        raise AssertionError("login with an unknown token succeeded")
    finally:
        await client.close()


async def test_human_message_reaches_on_message_with_content_only_with_intent(
    discord_server: DiscordServer, start_client: Start
) -> None:
    reception = await start_client(Recorder(reader_intents()), "reception")
    persona = await start_client(Recorder(), "spectra")  # no message-content intent

    await discord_server.post_as_human("lounge", "おはよう、今日の予定は？")
    await discord_server.post_as_human("lounge", "SPECTRA どう思う？", mentions=["spectra"])

    seen = await reception.next_message(lambda m: "予定" in m.content)
    assert seen.author.name == "alice"
    assert not seen.author.bot
    assert seen.channel.id == discord_server.channel_id("lounge")
    assert isinstance(seen.author, discord.Member)

    # Like Discord: without the intent, content is withheld unless the bot is mentioned.
    blank = await persona.next_message(lambda m: m.id == discord_server.messages("lounge")[0].id)
    assert blank.content == ""
    mentioned = await persona.next_message(lambda m: bool(m.mentions))
    assert "どう思う" in mentioned.content
    assert [u.id for u in mentioned.mentions] == [discord_server.user_id("spectra")]


async def test_bot_send_is_stored_and_fanned_out(
    discord_server: DiscordServer, start_client: Start
) -> None:
    reception = await start_client(Recorder(reader_intents()), "reception")
    spectra = await start_client(Recorder(), "spectra")
    lynq = await start_client(Recorder(reader_intents()), "lynq")

    channel = text_channel(spectra, discord_server, "command_center")
    sent = await channel.send("今日の議題を整理しよう")

    stored = discord_server.messages("command_center")
    assert [(m.id, m.author.key, m.content) for m in stored] == [
        (sent.id, "spectra", "今日の議題を整理しよう")
    ]
    for client in (reception, lynq):
        got = await client.next_message(lambda m: m.id == sent.id)
        assert got.author.bot
        assert got.author.id == discord_server.user_id("spectra")
        assert got.content == "今日の議題を整理しよう"
    history = [m async for m in channel.history(limit=10)]
    assert [m.id for m in history] == [sent.id]


async def test_reply_carries_message_reference_and_respects_allowed_mentions(
    discord_server: DiscordServer, start_client: Start
) -> None:
    reception = await start_client(Recorder(reader_intents()), "reception")
    lynq = await start_client(Recorder(), "lynq")
    human = await discord_server.post_as_human("development", "ビルドが落ちた")

    channel = text_channel(lynq, discord_server, "development")
    reply = await channel.send(
        "ログを確認すると、依存の衝突という構造",
        reference=discord.MessageReference(
            message_id=human.id, channel_id=channel.id, fail_if_not_exists=False
        ),
        allowed_mentions=discord.AllowedMentions.none(),
    )

    stored = discord_server.world.messages[reply.id]
    assert stored.reference_id == human.id
    assert stored.mention_ids == ()  # AllowedMentions.none(): nobody pinged
    assert stored.allowed_mentions == {"parse": []}  # replied_user absent = not pinged
    seen = await reception.next_message(lambda m: m.id == reply.id)
    assert seen.reference is not None
    assert seen.reference.message_id == human.id
    assert seen.type is discord.MessageType.reply
    assert isinstance(seen.reference.resolved, discord.Message)
    assert seen.reference.resolved.content == "ビルドが落ちた"

    # Without allowed_mentions the replied-to author is mentioned, as on Discord.
    pinged = await channel.send(
        "ping", reference=discord.MessageReference(message_id=human.id, channel_id=channel.id)
    )
    assert discord_server.world.messages[pinged.id].mention_ids == (human.author.id,)


async def test_reply_to_unknown_message(discord_server: DiscordServer, start_client: Start) -> None:
    paz = await start_client(Recorder(), "paz")
    channel = paz.get_partial_messageable(discord_server.channel_id("creation"))
    missing = discord.MessageReference(
        message_id=42, channel_id=channel.id, fail_if_not_exists=False
    )
    sent = await channel.send("アイデアかもしれない", reference=missing)
    assert discord_server.world.messages[sent.id].reference_id is None
    strict = discord.MessageReference(message_id=42, channel_id=channel.id)
    try:
        await channel.send("x", reference=strict)
    except discord.HTTPException as exc:
        assert exc.status == 400
    else:
        raise AssertionError("reply to an unknown message with fail_if_not_exists succeeded")


async def test_gateway_close_4000_resumes_and_replays_missed_event(
    discord_server: DiscordServer, start_client: Start
) -> None:
    reception = await start_client(Recorder(reader_intents()), "reception")
    [session] = discord_server.sessions("reception")

    assert discord_server.close_gateway("reception", code=4000) == 1
    # Posted while the socket is down (or reconnecting): must arrive through the replay.
    missed = await discord_server.post_as_human("lounge", "切断中のメッセージ")

    got = await reception.next_message(lambda m: m.id == missed.id)
    assert got.content == "切断中のメッセージ"
    await discord_server.wait_for(lambda: session.resumes == 1 and session.conn is not None)
    assert reception.resumed == 1
    assert discord_server.sessions("reception") == [session]  # resumed, not re-identified
    assert sum(1 for m in reception.seen if m.id == missed.id) == 1


async def test_invalid_session_makes_client_identify_again(
    discord_server: DiscordServer, start_client: Start
) -> None:
    class QuickIdentify(Recorder):
        async def before_identify_hook(
            self, shard_id: int | None, *, initial: bool = False
        ) -> None:
            pass  # discord.py sleeps 5 s before re-identifying; not needed against loopback

    reception = await start_client(QuickIdentify(reader_intents()), "reception")
    assert discord_server.invalidate_session("reception") == 1
    await discord_server.wait_for(lambda: len(discord_server.sessions("reception")) == 2)
    new = discord_server.sessions("reception")[-1]
    await discord_server.wait_for(lambda: new.conn is not None)
    message = await discord_server.post_as_human("lounge", "再接続後")
    got = await reception.next_message(lambda m: m.id == message.id)
    assert got.content == "再接続後"


async def test_429_on_send_is_retried_and_delivered_once(
    discord_server: DiscordServer, start_client: Start
) -> None:
    spectra = await start_client(Recorder(), "spectra")
    discord_server.inject_rate_limit(2, retry_after=0.05, bot="spectra")
    channel = spectra.get_partial_messageable(discord_server.channel_id("command_center"))

    sent = await channel.send("レート制限のあとに届く")

    assert [m.content for m in discord_server.messages("command_center")] == [
        "レート制限のあとに届く"
    ]
    assert discord_server.messages("command_center")[0].id == sent.id
    sends = [
        s
        for (method, route, s) in discord_server.request_log
        if method == "POST" and route.endswith("/messages")
    ]
    assert sends == [429, 429, 200]


async def test_nonce_with_enforce_nonce_is_idempotent(
    discord_server: DiscordServer, start_client: Start
) -> None:
    spectra = await start_client(Recorder(), "spectra")
    lynq = await start_client(Recorder(), "lynq")
    cid = discord_server.channel_id("lounge")

    first = await spectra.get_partial_messageable(cid).send("一度だけ", nonce="key-123")
    second = await spectra.get_partial_messageable(cid).send("一度だけ", nonce="key-123")
    other = await lynq.get_partial_messageable(cid).send("別の作者", nonce="key-123")

    assert first.id == second.id
    assert other.id != first.id
    assert [m.content for m in discord_server.messages("lounge")] == ["一度だけ", "別の作者"]


async def test_typing_is_recorded_and_dispatched(
    discord_server: DiscordServer, start_client: Start
) -> None:
    intents = reader_intents()
    typings: list[tuple[int, int]] = []

    class Watcher(Recorder):
        async def on_typing(
            self, channel: discord.abc.Messageable, user: discord.abc.User, when: object
        ) -> None:
            typings.append((getattr(channel, "id", 0), user.id))

    await start_client(Watcher(intents), "reception")
    paz = await start_client(Recorder(), "paz")
    channel = paz.get_partial_messageable(discord_server.channel_id("creation"))
    async with channel.typing():
        await discord_server.wait_for(lambda: bool(discord_server.typing_events))
    event = discord_server.typing_events[0]
    assert (event.channel_id, event.user.key) == (discord_server.channel_id("creation"), "paz")
    await discord_server.wait_for(lambda: bool(typings))
    assert typings[0] == (discord_server.channel_id("creation"), discord_server.user_id("paz"))


class CommandBot(Recorder):
    """A client with guild slash commands answered immediately and via defer + follow-up."""

    def __init__(self, guild_id: int) -> None:
        super().__init__(reader_intents())
        self.tree = app_commands.CommandTree(self)
        self.guild = discord.Object(id=guild_id)
        self.calls: list[tuple[str, str]] = []

        @self.tree.command(name="echo", description="Echo text", guild=self.guild)
        async def echo(interaction: discord.Interaction, text: str) -> None:
            self.calls.append(("echo", text))
            await interaction.response.send_message(f"echo: {text}", ephemeral=True)

        @self.tree.command(name="slow", description="Deferred answer", guild=self.guild)
        @app_commands.choices(
            mode=[app_commands.Choice(name=n, value=n) for n in ("edit", "followup")]
        )
        async def slow(interaction: discord.Interaction, mode: app_commands.Choice[str]) -> None:
            self.calls.append(("slow", mode.value))
            await interaction.response.defer(thinking=True)
            if mode.value == "edit":
                await interaction.edit_original_response(content="done (edited)")
            else:
                await interaction.followup.send("done (followup)")

    async def setup_hook(self) -> None:
        await self.tree.sync(guild=self.guild)


async def test_slash_command_registration_and_callback(
    discord_server: DiscordServer, start_client: Start
) -> None:
    bot = await start_client(CommandBot(discord_server.guild_id), "reception")

    async with aiohttp.ClientSession() as http:
        async with http.get(f"{discord_server.base_url}/_control/commands") as resp:
            names = sorted(c["name"] for c in await resp.json())
        assert names == ["echo", "slow"]
        body = {"user": "bob", "channel": "command_center", "command": '/echo "こんにちは 世界"'}
        async with http.post(f"{discord_server.base_url}/_control/interactions", json=body) as resp:
            assert resp.status == 200, await resp.text()
            interaction_id = int((await resp.json())["id"])

    reply = await discord_server.wait_for_interaction_reply(interaction_id)
    assert bot.calls == [("echo", "こんにちは 世界")]
    assert reply.content == "echo: こんにちは 世界"
    assert reply.ephemeral
    assert discord_server.interaction(interaction_id).callback_type == 4


async def test_slash_command_defer_then_edit_or_followup(
    discord_server: DiscordServer, start_client: Start
) -> None:
    bot = await start_client(CommandBot(discord_server.guild_id), "reception")
    reader = await start_client(Recorder(reader_intents()), "spectra")

    edited = await discord_server.invoke_command("development", "/slow edit", user="alice")
    reply = await discord_server.wait_for_interaction_reply(edited.id)
    assert reply.content == "done (edited)"
    assert discord_server.interaction(edited.id).callback_type == 5
    assert not reply.ephemeral

    followed = await discord_server.invoke_command("development", "/slow mode:followup")
    reply = await discord_server.wait_for_interaction_reply(followed.id)
    assert reply.content == "done (followup)"
    assert bot.calls == [("slow", "edit"), ("slow", "followup")]
    # Non-ephemeral responses are ordinary channel messages for everyone else.
    seen = await reader.next_message(lambda m: m.content == "done (followup)")
    assert seen.author.id == discord_server.user_id("reception")


async def test_control_api_and_page(discord_server: DiscordServer, start_client: Start) -> None:
    reception = await start_client(Recorder(reader_intents()), "reception")
    base = discord_server.base_url
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/") as resp:
            page = await resp.text()
            assert resp.status == 200
            assert "SPECTRA" in page and "EventSource" in page
        body = {"author": "bob", "content": "@PAZ 新しいアイデアある？"}
        url = f"{base}/_control/channels/creation/messages"
        async with http.post(url, json=body) as resp:
            posted = await resp.json()
            assert resp.status == 200, posted
        assert posted["mentions"] == [str(discord_server.user_id("paz"))]
        reply_body = {"author": "alice", "content": "それいいね", "reply_to": posted["id"]}
        async with http.post(url, json=reply_body) as resp:
            assert (await resp.json())["reply_to"] == posted["id"]
        async with http.get(url) as resp:
            history = await resp.json()
        assert [m["content"] for m in history] == [
            f"<@{discord_server.user_id('paz')}> 新しいアイデアある？",
            "それいいね",
        ]
        async with http.get(f"{base}/_control/sessions") as resp:
            sessions = await resp.json()
        assert [(s["bot"], s["connected"]) for s in sessions] == [("reception", True)]
        async with http.post(f"{base}/_control/channels/nowhere/messages", json=body) as resp:
            assert resp.status == 404
        async with http.post(f"{base}/_control/interactions", json={"command": "/missing"}) as resp:
            assert resp.status == 400
            assert "missing" in (await resp.json())["message"]
    got = await reception.next_message(lambda m: m.content == "それいいね")
    assert got.reference is not None and got.reference.message_id == int(posted["id"])


async def test_rest_delay_slows_responses(
    discord_server: DiscordServer, start_client: Start
) -> None:
    lynq = await start_client(Recorder(), "lynq")
    discord_server.set_rest_delay(0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await lynq.get_partial_messageable(discord_server.channel_id("development")).send("遅い")
    assert loop.time() - started >= 0.3
    discord_server.clear_faults()


async def test_interaction_answered_too_late_is_unknown(
    discord_server: DiscordServer, start_client: Start
) -> None:
    discord_server.interaction_ack_seconds = 0.2
    outcome: list[str] = []

    class Late(Recorder):
        def __init__(self) -> None:
            super().__init__(reader_intents())
            self.tree = app_commands.CommandTree(self)
            guild = discord.Object(id=discord_server.guild_id)

            @self.tree.command(name="late", description="Answers after the deadline", guild=guild)
            async def late(interaction: discord.Interaction) -> None:
                await asyncio.sleep(0.4)
                try:
                    await interaction.response.send_message("too late")
                except discord.NotFound as exc:
                    outcome.append(f"{exc.status} {exc.code}")

        async def setup_hook(self) -> None:
            await self.tree.sync(guild=discord.Object(id=discord_server.guild_id))

    await start_client(Late(), "reception")
    interaction = await discord_server.invoke_command("lounge", "/late")
    await discord_server.wait_for(lambda: bool(outcome))
    assert outcome == ["404 10062"]
    assert discord_server.interaction(interaction.id).expired
    assert discord_server.interaction(interaction.id).original_id is None


async def test_event_stream_delivers_messages_to_the_page(discord_server: DiscordServer) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{discord_server.base_url}/_control/events") as stream,
    ):
        assert stream.headers["Content-Type"] == "text/event-stream"
        assert (await stream.content.readline()).startswith(b": connected")
        await discord_server.post_as_human("lounge", "ページに出る？")
        async with asyncio.timeout(5):
            while not (line := await stream.content.readline()).startswith(b"data: "):
                pass
        event = json.loads(line[len(b"data: ") :])
        assert event["type"] == "message"
        assert event["data"]["content"] == "ページに出る？"
        assert event["data"]["channel"] == "lounge"


async def test_runs_standalone_and_stops_on_sigterm() -> None:
    async with standalone_server("spectra=cli-token") as (proc, env):
        async with (
            aiohttp.ClientSession() as http,
            http.get(
                f"{env['DISCORD_API_BASE_URL']}/users/@me",
                headers={"Authorization": "Bot cli-token"},
            ) as resp,
        ):
            assert (await resp.json())["username"] == "SPECTRA"
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            assert await proc.wait() == 0


async def test_heartbeat_ack_waits_a_round_trip(
    discord_server: DiscordServer, start_client: Start
) -> None:
    """A heartbeat is acknowledged a network round trip after it arrives, never at once.

    discord.py's latency (and its "Can't keep up … behind" warning) comes from heartbeats.
    Its keep-alive thread notes a heartbeat's send time only after the send completes, so
    an ACK that beats that note is measured against the previous heartbeat: a server
    answering instantly makes a bot now and then report a whole heartbeat interval (41 s
    in production) as its latency. Only the lower bound is checked: a loaded machine can
    make any ACK late, never early.
    """
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{discord_server.gateway_url}?v=10&encoding=json") as ws,
    ):
        hello = await ws.receive_json(timeout=5)
        assert hello["op"] == 10
        sent = time.perf_counter()
        await ws.send_json({"op": 1, "d": None})
        ack = await ws.receive_json(timeout=5)
        waited = time.perf_counter() - sent
    assert ack["op"] == 11
    assert waited >= HEARTBEAT_ACK_DELAY
    # discord.py takes the ACK as its latency figure: a finite, measured round trip.
    client = await start_client(discord.Client(intents=discord.Intents(guilds=True)), "paz")
    await discord_server.wait_for(lambda: client.latency != float("inf") or None)
    assert client.latency > 0


class Watcher(Recorder):
    """A reader that also records edits and deletions as the gateway reports them."""

    def __init__(self) -> None:
        super().__init__(reader_intents())
        self.edits: list[tuple[int, str]] = []
        self.deletes: list[int] = []

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        self.edits.append((payload.message_id, payload.data.get("content", "")))

    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        self.deletes.append(payload.message_id)


async def test_edit_and_delete_reach_other_clients(
    discord_server: DiscordServer, start_client: Start
) -> None:
    watcher = await start_client(Watcher(), "reception")
    spectra = await start_client(Recorder(), "spectra")
    lynq = await start_client(Recorder(), "lynq")
    cid = discord_server.channel_id("lounge")
    sent = await spectra.get_partial_messageable(cid).send("下書き")

    edited = await sent.edit(content="清書")
    assert edited.content == "清書" and edited.edited_at is not None
    await discord_server.wait_for(lambda: bool(watcher.edits))
    assert watcher.edits == [(sent.id, "清書")]
    assert discord_server.messages("lounge")[0].content == "清書"

    # Only the author may edit: another bot gets Discord's 403 and changes nothing.
    theirs = await lynq.get_partial_messageable(cid).fetch_message(sent.id)
    try:
        await theirs.edit(content="乗っ取り")
    except discord.Forbidden as exc:
        assert exc.code == 50005
    else:
        raise AssertionError("a bot edited another bot's message")
    assert discord_server.messages("lounge")[0].content == "清書"

    await sent.delete()
    await discord_server.wait_for(lambda: bool(watcher.deletes))
    assert watcher.deletes == [sent.id]
    assert discord_server.messages("lounge") == []
    try:
        await spectra.get_partial_messageable(cid).fetch_message(sent.id)
    except discord.NotFound as exc:
        assert exc.code == 10008
    else:
        raise AssertionError("a deleted message could still be fetched")


async def test_history_pages_and_fetch_message(
    discord_server: DiscordServer, start_client: Start
) -> None:
    paz = await start_client(Recorder(), "paz")
    channel = paz.get_partial_messageable(discord_server.channel_id("creation"))
    sent = [await channel.send(f"案{n}") for n in range(5)]
    ids = [m.id for m in sent]

    assert (await channel.fetch_message(ids[2])).content == "案2"
    before = [m.id async for m in channel.history(limit=2, before=sent[3])]
    assert before == [ids[2], ids[1]]  # newest first
    after = [m.id async for m in channel.history(limit=2, after=sent[1])]
    assert after == [ids[2], ids[3]]  # oldest first, as discord.py asks for with after=
    around = sorted([m.id async for m in channel.history(limit=3, around=sent[2])])
    assert around == ids[1:4]
    latest = [m.id async for m in channel.history(limit=3)]
    assert latest == ids[:1:-1]


async def test_send_limits_are_discords(discord_server: DiscordServer, start_client: Start) -> None:
    lynq = await start_client(Recorder(), "lynq")
    channel = lynq.get_partial_messageable(discord_server.channel_id("development"))

    async def refused(**send: object) -> tuple[int, int]:
        try:
            await channel.send(**send)  # type: ignore[call-overload]
        except discord.HTTPException as exc:
            return exc.status, exc.code
        raise AssertionError(f"send({send}) was accepted")

    assert await refused(content="長" * 2001) == (400, 50035)
    assert await refused(content="   ") == (400, 50006)
    assert await refused(content="n", nonce="x" * 26) == (400, 50035)
    assert discord_server.messages("development") == []
    # Exactly 2000 characters is allowed, and a file turns the body into multipart.
    await channel.send("長" * 2000)
    await channel.send("ログを添付", file=discord.File(io.BytesIO(b"trace"), "build.log"))
    assert [len(m.content) for m in discord_server.messages("development")] == [2000, 5]


async def test_users_guild_channels_and_members_can_be_fetched(
    discord_server: DiscordServer, start_client: Start
) -> None:
    client = await start_client(Recorder(), "spectra")

    async def not_found(fetch: Awaitable[object]) -> int:
        try:
            await fetch
        except discord.NotFound as exc:
            return exc.code
        raise AssertionError("fetching an unknown object succeeded")

    alice = await client.fetch_user(discord_server.user_id("alice"))
    assert (alice.name, alice.bot) == ("alice", False)
    assert await not_found(client.fetch_user(1)) == 10013
    app = await client.application_info()
    assert (app.id, app.name) == (discord_server.user_id("spectra"), "SPECTRA")

    guild = await client.fetch_guild(discord_server.guild_id)
    assert guild.name == "AgentFleet Sandbox"
    assert await not_found(client.fetch_guild(1)) == 10004
    channels = await guild.fetch_channels()
    assert {c.name: c.id for c in channels} == discord_server.channel_ids
    member = await guild.fetch_member(discord_server.user_id("paz"))
    assert member.display_name == "PAZ"
    assert await not_found(guild.fetch_member(1)) == 10007

    channel = await client.fetch_channel(discord_server.channel_id("lounge"))
    assert isinstance(channel, discord.TextChannel) and channel.name == "lounge"
    assert await not_found(client.fetch_channel(1)) == 10003


async def test_global_429_is_waited_out_and_the_send_delivered_once(
    discord_server: DiscordServer, start_client: Start
) -> None:
    spectra = await start_client(Recorder(), "spectra")
    discord_server.inject_rate_limit(1, retry_after=0.3, route=None, is_global=True)
    loop = asyncio.get_running_loop()
    started = loop.time()

    await spectra.get_partial_messageable(discord_server.channel_id("lounge")).send("全体制限")

    assert loop.time() - started >= 0.29  # discord.py honoured retry_after
    assert [m.content for m in discord_server.messages("lounge")] == ["全体制限"]
    assert [s for (_m, _r, s) in discord_server.request_log[-2:]] == [429, 200]


async def test_control_api_faults_reach_real_clients(
    discord_server: DiscordServer, start_client: Start
) -> None:
    reception = await start_client(Recorder(reader_intents()), "reception")
    lynq = await start_client(Recorder(), "lynq")
    control = f"{discord_server.base_url}/_control/faults"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{control}/close-gateway", json={"bot": "reception"}) as resp:
            assert await resp.json() == {"closed": 1}
        await discord_server.wait_for(lambda: reception.resumed == 1)

        limit = {"count": 1, "bot": "lynq", "retry_after": 0.05}
        async with http.post(f"{control}/rate-limit", json=limit) as resp:
            assert await resp.json() == {"pending": 1}
        async with http.post(f"{control}/rest-delay", json={"seconds": 0.3}) as resp:
            assert await resp.json() == {"seconds": 0.3}
        channel = lynq.get_partial_messageable(discord_server.channel_id("development"))
        loop = asyncio.get_running_loop()
        started = loop.time()
        sent = await channel.send("遅くて制限つき")
        assert loop.time() - started >= 0.59  # two delayed answers: the 429 and the retry
        async with http.post(f"{control}/clear") as resp:
            assert await resp.json() == {"cleared": True}
        started = loop.time()
        await channel.send("もう速い")
        assert loop.time() - started < 0.3

    got = await reception.next_message(lambda m: m.id == sent.id)
    assert got.content == "遅くて制限つき"
    assert [m.content for m in discord_server.messages("development")] == [
        "遅くて制限つき",
        "もう速い",
    ]


class ShowAndTell(Recorder):
    """Global commands: /show answers, reads its answer back and deletes it; /whisper is private."""

    def __init__(self) -> None:
        super().__init__(reader_intents())
        self.tree = app_commands.CommandTree(self)
        self.read_back: list[str] = []

        @self.tree.command(name="show", description="Answer, read back, delete")
        async def show(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("見せる")
            self.read_back.append((await interaction.original_response()).content)
            await interaction.delete_original_response()

        @self.tree.command(name="whisper", description="An answer only the invoker sees")
        async def whisper(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("内緒", ephemeral=True)

    async def setup_hook(self) -> None:
        await self.tree.sync()  # global, not per guild


async def test_global_commands_original_response_and_ephemeral_privacy(
    discord_server: DiscordServer, start_client: Start
) -> None:
    bot = await start_client(ShowAndTell(), "reception")
    watcher = await start_client(Watcher(), "spectra")
    assert sorted(c.name for c in await bot.tree.fetch_commands()) == ["show", "whisper"]

    shown = await discord_server.invoke_command("lounge", "/show")
    reply = await discord_server.wait_for_interaction_reply(shown.id)
    await discord_server.wait_for(lambda: bool(watcher.deletes))
    assert bot.read_back == ["見せる"]
    assert watcher.deletes == [reply.id]
    assert [m.content for m in watcher.seen] == ["見せる"]  # others saw it before it went
    assert discord_server.messages("lounge") == []

    whispered = await discord_server.invoke_command("lounge", "/whisper")
    private = await discord_server.wait_for_interaction_reply(whispered.id)
    assert private.content == "内緒" and private.ephemeral
    # Gateway events arrive in order: once a later message is seen, the whisper was not sent.
    marker = await discord_server.post_as_human("lounge", "その後")
    await watcher.next_message(lambda m: m.id == marker.id)
    assert "内緒" not in [m.content for m in watcher.seen]


async def test_page_feed_follows_typing_edits_and_deletes(
    discord_server: DiscordServer, start_client: Start
) -> None:
    paz = await start_client(Recorder(), "paz")
    channel = paz.get_partial_messageable(discord_server.channel_id("creation"))
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{discord_server.base_url}/_control/events") as stream,
    ):
        assert (await stream.content.readline()).startswith(b": connected")
        async with channel.typing():
            sent = await channel.send("たたき台")
        await sent.edit(content="改訂版")
        await sent.delete()

        events: list[dict[str, Any]] = []
        async with asyncio.timeout(5):
            while len(events) < 4:
                line = await stream.content.readline()
                if line.startswith(b"data: "):
                    events.append(json.loads(line[len(b"data: ") :]))
    assert [e["type"] for e in events] == ["typing", "message", "message_update", "message_delete"]
    assert events[0]["data"]["user"] == "paz"
    assert events[2]["data"]["content"] == "改訂版"
    assert events[3]["data"]["id"] == str(sent.id)
