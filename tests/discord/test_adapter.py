"""The runtime's Discord adapters, as real discord.py clients against the sandbox server."""

from __future__ import annotations

import asyncio
import time

import discord
import pytest
import yarl

from agentfleet_runtime.app.ports import Poster
from agentfleet_runtime.brain.messages import Embed, EmbedField, InboundMessage, OutboundMessage
from agentfleet_runtime.brain.tasks import TaskRequest
from agentfleet_runtime.discord import (
    ClientState,
    ClientSupervisor,
    DiscordEndpoints,
    PersonaPoster,
    PosterUnavailable,
    ReceptionBot,
    SupervisorGroup,
    apply_endpoints,
    nonce_for,
    normalize_api_base,
    split_content,
)
from agentfleet_runtime.discord.poster import TYPING_DELAY
from agentfleet_sandbox.discord_server import DiscordServer
from tests.fixtures.discord import FAST_READY, StartClient

# -- connection ----------------------------------------------------------------------


def test_endpoints_point_discord_py_at_a_local_server_and_leave_discord_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original_base = discord.http.Route.BASE
    original_gw = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    monkeypatch.setattr(discord.http.Route, "BASE", original_base)
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", original_gw)

    apply_endpoints(DiscordEndpoints())
    assert original_base == discord.http.Route.BASE
    assert original_gw == discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY

    api_base = normalize_api_base("http://127.0.0.1:9/")
    apply_endpoints(DiscordEndpoints(api_base, "ws://127.0.0.1:9/gw"))
    assert api_base == "http://127.0.0.1:9/api/v10"
    assert discord.http.Route.BASE == "http://127.0.0.1:9/api/v10"
    assert yarl.URL("ws://127.0.0.1:9/gw") == discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    assert normalize_api_base("http://h/api/v10") == "http://h/api/v10"
    with pytest.raises(ValueError, match="DISCORD_GATEWAY_URL"):
        apply_endpoints(DiscordEndpoints(gateway_url="http://not-a-websocket/"))


# -- splitting and nonces ------------------------------------------------------------


def test_split_content_prefers_sentence_and_line_boundaries() -> None:
    sentence = "ログを確認すると、認証モジュールの依存関係に循環がある。"  # 29 chars
    text = sentence * 100  # 2900 chars, no spaces or newlines
    parts = split_content(text)
    assert len(parts) == 2
    assert all(len(p) <= 2000 for p in parts)
    assert all(p.endswith("。") for p in parts)
    assert "".join(parts) == text

    words = " ".join(["verification"] * 300)  # English: cut at a space, never mid-word
    parts = split_content(words)
    assert all(len(p) <= 2000 for p in parts)
    assert all(set(p.split(" ")) == {"verification"} for p in parts)

    lines = "\n".join(f"{i}: " + "x" * 50 for i in range(80))
    parts = split_content(lines)
    assert all(not p.startswith("\n") and len(p) <= 2000 for p in parts)
    assert "\n".join(parts) == lines

    assert split_content("  短い  ") == ["短い"]
    assert split_content("   ") == []
    unbroken = "あ" * 4500  # nothing to cut at: hard cuts, still within the limit
    assert [len(p) for p in split_content(unbroken)] == [2000, 2000, 500]
    emoji = "😀" * 1500  # 3000 UTF-16 units: counted as Discord's clients count
    assert all(len(p.encode("utf-16-le")) // 2 <= 2000 for p in split_content(emoji))


def test_split_content_keeps_code_blocks_renderable() -> None:
    code = "\n".join(f"print({i})  # step {i}" for i in range(150))
    text = f"確認すると、こういう構造：\n```python\n{code}\n```\n以上。"
    parts = split_content(text)
    assert len(parts) >= 2
    assert all(len(p) <= 2000 for p in parts)
    assert all(p.count("```") % 2 == 0 for p in parts)  # each part opens what it closes
    assert parts[1].startswith("```\n")


def test_poster_implements_the_port() -> None:
    port: Poster = poster("spectra")  # checked by mypy: PersonaPoster satisfies ports.Poster
    assert callable(port.post) and callable(port.typing)


def test_nonce_is_stable_short_and_distinct_per_part() -> None:
    assert nonce_for("job-1", 0) == nonce_for("job-1", 0)
    assert nonce_for("job-1", 0) != nonce_for("job-1", 1)
    assert nonce_for("job-1", 0) != nonce_for("job-2", 0)
    assert len(nonce_for("x" * 500, 3)) <= 25


# -- reception -----------------------------------------------------------------------


class Inbox:
    """Collects InboundMessages and waits for one matching a predicate."""

    def __init__(self) -> None:
        self.items: list[InboundMessage] = []
        self._event = asyncio.Event()

    async def __call__(self, message: InboundMessage) -> None:
        self.items.append(message)
        self._event.set()

    async def wait(self, message_id: int, timeout: float = 5.0) -> InboundMessage:
        async with asyncio.timeout(timeout):
            while True:
                for item in self.items:
                    if item.message_id == message_id:
                        return item
                self._event.clear()
                await self._event.wait()


def reception(inbox: Inbox, **kwargs: object) -> ReceptionBot:
    return ReceptionBot(on_message=inbox, guild_ready_timeout=FAST_READY, **kwargs)  # type: ignore[arg-type]


def poster(persona: str) -> PersonaPoster:
    return PersonaPoster(persona, guild_ready_timeout=FAST_READY)


async def test_human_message_becomes_inbound_message(
    discord_server: DiscordServer, start_client: StartClient
) -> None:
    inbox = Inbox()
    await start_client(reception(inbox), "reception")
    spectra = await start_client(poster("spectra"), "spectra")
    cid = discord_server.channel_id("development")
    [earlier] = await spectra.post(OutboundMessage("spectra", cid, "進捗どう？"))

    before = time.time()
    human = await discord_server.post_as_human(
        cid,
        "LYNQ、これ見てくれる？",
        author="bob",
        mentions=["lynq"],
        reply_to=earlier.message_id,
    )
    got = await inbox.wait(human.id)

    assert got == InboundMessage(
        message_id=human.id,
        channel_id=cid,
        author_id=discord_server.user_id("bob"),
        author_name="bob",
        author_is_bot=False,
        content=f"<@{discord_server.user_id('lynq')}> LYNQ、これ見てくれる？",
        created_at=got.created_at,
        mentioned_user_ids=(discord_server.user_id("lynq"), discord_server.user_id("spectra")),
        reply_to_message_id=earlier.message_id,
        reply_to_author_id=discord_server.user_id("spectra"),
        guild_id=discord_server.guild_id,
        # discord.py lists @everyone (whose id is the guild's) first among a member's roles.
        author_role_ids=(discord_server.guild_id,),
    )
    assert before - 1 <= got.created_at <= time.time() + 1


async def test_a_post_is_recorded_as_reception_sees_it(
    discord_server: DiscordServer, start_client: StartClient
) -> None:
    """The worker records its own posts from what the poster returns: Reception's record."""
    inbox = Inbox()
    await start_client(reception(inbox), "reception")
    paz = await start_client(poster("paz"), "paz")
    human = await discord_server.post_as_human("creation", "どう思う？")
    [posted] = await paz.post(
        OutboundMessage(
            "paz",
            discord_server.channel_id("creation"),
            "いいかもしれない",
            reply_to_message_id=human.id,
        )
    )
    got = await inbox.wait(posted.message_id)
    assert got.author_is_bot
    assert got.author_id == discord_server.user_id("paz")
    assert got.author_name == "PAZ"
    assert got.content == "いいかもしれない"
    assert got.reply_to_author_id == discord_server.user_id("alice")
    assert posted == got


async def test_reception_is_sent_and_keeps_only_what_it_reads(
    discord_server: DiscordServer, start_client: StartClient
) -> None:
    """A persona's typing indicator never reaches Reception, whose messages still do.

    Nor does Reception keep the messages it handed on.
    """
    inbox = Inbox()
    bot = reception(inbox)
    typing_seen: list[int] = []

    @bot.event
    async def on_typing(channel: object, user: discord.abc.User, when: object) -> None:
        typing_seen.append(user.id)

    await start_client(bot, "reception")
    lynq = await start_client(poster("lynq"), "lynq")
    cid = discord_server.channel_id("development")
    async with lynq.typing(cid):
        await discord_server.wait_for(
            lambda: next((t for t in discord_server.typing_events if t.user.key == "lynq"), None)
        )
    # The gateway delivers in order: a typing event sent to Reception would be handled
    # before this later message is.
    human = await discord_server.post_as_human(cid, "LYNQ、進捗は？", author="bob")
    await inbox.wait(human.id)
    assert typing_seen == []
    assert not bot.cached_messages


async def test_callback_error_does_not_stop_reception(
    discord_server: DiscordServer, start_client: StartClient
) -> None:
    inbox = Inbox()
    calls = 0

    async def flaky(message: InboundMessage) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("brain exploded")
        await inbox(message)

    await start_client(ReceptionBot(on_message=flaky, guild_ready_timeout=FAST_READY), "reception")
    await discord_server.post_as_human("lounge", "first")
    second = await discord_server.post_as_human("lounge", "second")
    assert (await inbox.wait(second.id)).content == "second"


# -- poster ----------------------------------------------------------------------------


async def test_post_replies_with_reference_and_pings_nobody(
    discord_server: DiscordServer, start_client: StartClient
) -> None:
    lynq = await start_client(poster("lynq"), "lynq")
    human = await discord_server.post_as_human("development", "ビルドが失敗する")
    alice = discord_server.user_id("alice")

    posted = await lynq.post(
        OutboundMessage(
            "lynq",
            human.channel_id,
            f"<@{alice}> ログを確認すると、依存の衝突という構造",
            reply_to_message_id=human.id,
            idempotency_key="reply:1",
        )
    )

    [stored] = [discord_server.world.messages[p.message_id] for p in posted]
    assert stored.author.key == "lynq"
    assert stored.reference_id == human.id
    assert stored.allowed_mentions == {"parse": []}
    assert stored.mention_ids == ()  # neither the <@alice> in the text nor the reply pings


async def test_post_to_a_deleted_message_still_posts(
    discord_server: DiscordServer, start_client: StartClient
) -> None:
    spectra = await start_client(poster("spectra"), "spectra")
    cid = discord_server.channel_id("command_center")
    [posted] = await spectra.post(
        OutboundMessage("spectra", cid, "返信先なし", reply_to_message_id=123456789)
    )
    assert discord_server.world.messages[posted.message_id].reference_id is None


async def test_an_embed_is_posted_under_its_heading_as_discord_shows_it(
    discord_server: DiscordServer, start_client: StartClient
) -> None:
    spectra = await start_client(poster("spectra"), "spectra")
    cid = discord_server.channel_id("command_center")
    embed = Embed(
        "📋 日報 2026-11-24（火）",
        0x3B82F6,
        "今日もこの流れで進めよう。",
        (EmbedField("■ タスク", "・#development: 認証"), EmbedField("■ 会話", "・#lounge: 4件")),
    )

    [posted] = await spectra.post(
        OutboundMessage("spectra", cid, "📋 **日報 2026-11-24（火）**", embed=embed)
    )

    stored = discord_server.world.messages[posted.message_id]
    assert stored.content == "📋 **日報 2026-11-24（火）**"
    [sent] = stored.embeds
    assert (sent["title"], sent["color"], sent["description"]) == (
        embed.title,
        0x3B82F6,
        embed.description,
    )
    assert [(f["name"], f["value"], f["inline"]) for f in sent["fields"]] == [
        ("■ タスク", "・#development: 認証", False),
        ("■ 会話", "・#lounge: 4件", False),
    ]
    # An embed alone (no text) is a post too.
    [alone] = await spectra.post(OutboundMessage("spectra", cid, "", embed=embed))
    assert discord_server.world.messages[alone.message_id].embeds[0]["title"] == embed.title


async def test_long_post_is_split_into_messages_within_limit(
    discord_server: DiscordServer, start_client: StartClient
) -> None:
    spectra = await start_client(poster("spectra"), "spectra")
    human = await discord_server.post_as_human("command_center", "今日の計画をまとめて")
    body = "。".join(f"項目{i}について議論しよう" for i in range(240)) + "。"
    assert 2000 < len(body) <= 4000

    posted = await spectra.post(
        OutboundMessage(
            "spectra", human.channel_id, body, reply_to_message_id=human.id, idempotency_key="k"
        )
    )
    ids = [p.message_id for p in posted]

    stored = [discord_server.world.messages[i] for i in ids]
    assert len(stored) == 2
    assert all(len(m.content) <= 2000 for m in stored)
    assert "".join(m.content for m in stored) == body
    assert stored[0].content.endswith("。")
    assert stored[0].reference_id == human.id
    assert stored[1].reference_id is None
    assert [m.id for m in discord_server.messages("command_center")][1:] == ids


async def test_same_idempotency_key_posts_once(
    discord_server: DiscordServer, start_client: StartClient
) -> None:
    paz = await start_client(poster("paz"), "paz")
    cid = discord_server.channel_id("creation")
    long_text = "アイデアを広げてみるのもいいかもしれない。" * 120
    message = OutboundMessage("paz", cid, long_text, idempotency_key="job:42")

    first = await paz.post(message)
    discord_server.inject_rate_limit(1, bot="paz")  # the retry itself is rate limited once
    again = await paz.post(message)
    other = await paz.post(OutboundMessage("paz", cid, "別の投稿", idempotency_key="job:43"))
    no_key = [await paz.post(OutboundMessage("paz", cid, "鍵なし")) for _ in range(2)]

    assert again == first
    assert len(first) == 2
    assert len(discord_server.messages("creation")) == 2 + 1 + 2
    assert other[0] not in first
    assert no_key[0] != no_key[1]


async def test_post_while_client_is_down_raises_poster_unavailable(
    discord_server: DiscordServer,
) -> None:
    idle = poster("spectra")  # never started
    with pytest.raises(PosterUnavailable):
        await idle.post(OutboundMessage("spectra", discord_server.channel_id("lounge"), "x"))
    assert discord_server.messages() == []


async def test_typing_indicator_is_visible_on_server(
    discord_server: DiscordServer, start_client: StartClient
) -> None:
    lynq = await start_client(poster("lynq"), "lynq")
    cid = discord_server.channel_id("development")
    async with lynq.typing(cid):
        event = await discord_server.wait_for(
            lambda: next((t for t in discord_server.typing_events if t.user.key == "lynq"), None)
        )
        assert event.channel_id == cid
        await lynq.post(OutboundMessage("lynq", cid, "確認した"))
    assert discord_server.messages(cid)[-1].content == "確認した"


async def test_typing_failure_does_not_break_the_block(
    discord_server: DiscordServer, start_client: StartClient, caplog: pytest.LogCaptureFixture
) -> None:
    lynq = await start_client(poster("lynq"), "lynq")
    discord_server.inject_rate_limit(
        1, retry_after=60.0, route="POST /channels/{channel_id}/typing"
    )
    lynq.http.max_ratelimit_timeout = 1.0  # a 60 s wait is refused: typing raises RateLimited
    ran = False
    async with lynq.typing(discord_server.channel_id("development")):
        await asyncio.sleep(TYPING_DELAY + 0.2)  # generating: the indicator is attempted
        ran = True
    assert ran
    assert "typing indicator failed" in caplog.text


async def test_an_answer_ready_at_once_shows_no_typing(
    discord_server: DiscordServer, start_client: StartClient
) -> None:
    """No flicker of "typing…" before a reply that needed no time, and no request spent."""
    paz = await start_client(poster("paz"), "paz")
    cid = discord_server.channel_id("lounge")
    async with paz.typing(cid):
        await paz.post(OutboundMessage("paz", cid, "すぐ答えられる"))
    await asyncio.sleep(TYPING_DELAY + 0.2)
    assert discord_server.messages(cid)[-1].content == "すぐ答えられる"
    assert not [t for t in discord_server.typing_events if t.user.key == "paz"]


# -- /task -----------------------------------------------------------------------------


class TaskDesk:
    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.calls: list[tuple[str, str, str, str]] = []
        self.requests: list[TaskRequest] = []
        self.delay = delay
        self.fail = fail

    async def __call__(self, request: TaskRequest) -> str:
        self.requests.append(request)
        self.calls.append((request.action, request.channel, request.text, request.by))
        await asyncio.sleep(self.delay)
        if self.fail:
            raise RuntimeError("database down")
        return f"📌 #{request.channel} のタスクを設定したよ：「{request.text}」"


async def test_task_slash_command_is_registered_with_choices(
    discord_server: DiscordServer, start_client: StartClient
) -> None:
    desk = TaskDesk()
    await start_client(
        reception(Inbox(), on_task_command=desk, guild_id=discord_server.guild_id), "reception"
    )
    _app, command = discord_server.world.find_command("task")
    subcommands = {o["name"]: o for o in command["options"]}
    assert set(subcommands) == {"commit", "change", "done", "list"}
    assert subcommands["list"].get("options", []) == []
    (optional,) = subcommands["done"]["options"]
    assert optional["name"] == "channel" and not optional.get("required")
    for sub in (subcommands["commit"], subcommands["change"]):
        channel, text = sub["options"]
        assert (channel["name"], text["name"]) == ("channel", "text")
        assert [c["value"] for c in channel["choices"]] == [
            "command_center",
            "development",
            "creation",
            "lounge",
        ]
        assert channel["required"] and text["required"]


async def test_task_slash_command_calls_back_and_replies(
    discord_server: DiscordServer, start_client: StartClient
) -> None:
    desk = TaskDesk()
    await start_client(
        reception(Inbox(), on_task_command=desk, guild_id=discord_server.guild_id), "reception"
    )

    interaction = await discord_server.invoke_command(
        "command_center", '/task commit development "認証システム実装"', user="alice"
    )
    reply = await discord_server.wait_for_interaction_reply(interaction.id)

    assert desk.calls == [("commit", "development", "認証システム実装", "alice")]
    assert reply.content == "📌 #development のタスクを設定したよ：「認証システム実装」"
    assert reply.ephemeral
    assert discord_server.interaction(interaction.id).callback_type == 4  # answered directly


async def test_slow_task_callback_is_deferred_then_answered(
    discord_server: DiscordServer, start_client: StartClient
) -> None:
    # Discord's 3 s deadline, scaled down: answering after 0.3 s without deferring fails.
    discord_server.interaction_ack_seconds = 0.3
    desk = TaskDesk(delay=0.6)
    bot = reception(Inbox(), on_task_command=desk, defer_after=0.1)  # no guild: registered on READY
    await start_client(bot, "reception")
    await discord_server.wait_for(lambda: "task" in str(discord_server.world.commands))

    interaction = await discord_server.invoke_command(
        "lounge", "/task change creation 新しいロゴ案", user="bob"
    )
    reply = await discord_server.wait_for_interaction_reply(interaction.id)

    assert desk.calls == [("change", "creation", "新しいロゴ案", "bob")]
    assert discord_server.interaction(interaction.id).callback_type == 5  # deferred first
    assert not discord_server.interaction(interaction.id).expired
    assert reply.content == "📌 #creation のタスクを設定したよ：「新しいロゴ案」"
    assert reply.ephemeral


async def test_failing_task_callback_still_answers(
    discord_server: DiscordServer, start_client: StartClient
) -> None:
    desk = TaskDesk(fail=True)
    await start_client(
        reception(Inbox(), on_task_command=desk, guild_id=discord_server.guild_id), "reception"
    )
    interaction = await discord_server.invoke_command("lounge", "/task commit lounge 雑談")
    reply = await discord_server.wait_for_interaction_reply(interaction.id)
    assert "処理できなかった" in reply.content


# -- supervisor ------------------------------------------------------------------------


async def test_supervisor_restarts_a_dead_client(discord_server: DiscordServer) -> None:
    inbox = Inbox()
    supervisor = ClientSupervisor(
        reception(inbox), discord_server.token("reception"), name="reception", initial_backoff=0.3
    )
    assert supervisor.state is ClientState.STOPPED and not supervisor.is_ready
    supervisor.start()
    try:
        await supervisor.wait_until_ready(timeout=5)
        assert supervisor.status()["state"] == "ready"

        # A parser exception kills start(); then a close code discord.py will not retry.
        async def restarted(count: int) -> None:
            await discord_server.wait_for(lambda: supervisor.state is ClientState.BACKOFF)
            assert not supervisor.is_ready  # /ready turns red while the client is down
            await discord_server.wait_for(lambda: supervisor.restarts >= count)
            await supervisor.wait_until_ready(timeout=5)
            assert supervisor.is_ready

        assert discord_server.send_malformed_event("reception") == 1
        await restarted(1)
        assert discord_server.close_gateway("reception", code=4004) == 1
        await restarted(2)
        assert supervisor.restarts == 2
        assert "ConnectionClosed" in (supervisor.last_error or "")

        # The restarted client works: a new message arrives through the callback.
        message = await discord_server.post_as_human("lounge", "復活した？")
        assert (await inbox.wait(message.id)).content == "復活した？"
        assert len(discord_server.sessions("reception")) == 3  # one IDENTIFY per start()
    finally:
        await supervisor.close()
    assert supervisor.status()["state"] == "closed"
    assert not supervisor.is_ready
    await discord_server.wait_for(lambda: all(s.conn is None for s in discord_server.sessions()))


async def test_supervisor_is_not_ready_while_discord_is_out_of_reach(
    discord_server: DiscordServer,
) -> None:
    inbox = Inbox()
    supervisor = ClientSupervisor(
        reception(inbox), discord_server.token("reception"), name="reception"
    )
    supervisor.start()
    try:
        await supervisor.wait_until_ready(timeout=5)
        discord_server.set_gateway_reachable(False)
        # discord.py retries on its own, so nothing restarts; /ready must still turn red.
        await discord_server.wait_for(lambda: not supervisor.is_ready)
        await asyncio.sleep(1.0)
        assert not supervisor.is_ready and supervisor.restarts == 0

        discord_server.set_gateway_reachable(True)
        await supervisor.wait_until_ready(timeout=30)
        assert supervisor.restarts == 0
        message = await discord_server.post_as_human("lounge", "戻った？")
        assert (await inbox.wait(message.id)).content == "戻った？"
    finally:
        await supervisor.close()


async def test_supervisor_gives_up_on_bad_token(discord_server: DiscordServer) -> None:
    supervisor = ClientSupervisor(poster("paz"), "wrong-token", name="paz", initial_backoff=0.05)
    supervisor.start()
    with pytest.raises(RuntimeError, match="failed"):
        await supervisor.wait_until_ready(timeout=5)
    assert supervisor.state is ClientState.FAILED
    assert "LoginFailure" in (supervisor.last_error or "")
    assert "wrong-token" not in str(supervisor.status())
    await supervisor.close()


async def test_supervisor_group_reports_readiness(discord_server: DiscordServer) -> None:
    group = SupervisorGroup(
        ClientSupervisor(poster(name), discord_server.token(name), name=name, initial_backoff=0.05)
        for name in ("spectra", "lynq", "paz")
    )
    assert not group.is_ready
    group.start()
    try:
        await discord_server.wait_for(lambda: group.is_ready)
        assert [s["name"] for s in group.status()] == ["spectra", "lynq", "paz"]
    finally:
        await group.close()
    assert not group.is_ready
    assert all(s["state"] == "closed" for s in group.status())


async def test_four_supervised_clients_answer_a_mention_in_one_loop(
    discord_server: DiscordServer,
) -> None:
    """Reception + three posters in one loop: a stand-in brain answers the mentioned persona."""
    posters = {name: poster(name) for name in ("spectra", "lynq", "paz")}
    ids = {discord_server.user_id(name): name for name in posters}

    async def brain(message: InboundMessage) -> None:
        if message.author_is_bot:
            return
        for user_id in message.mentioned_user_ids:
            name = ids.get(user_id)
            if name is not None:
                async with posters[name].typing(message.channel_id):
                    await asyncio.sleep(TYPING_DELAY + 0.2)  # the LLM thinking
                    await posters[name].post(
                        OutboundMessage(
                            name,
                            message.channel_id,
                            f"{name} です",
                            reply_to_message_id=message.message_id,
                            idempotency_key=f"reply:{message.message_id}",
                        )
                    )

    reception_bot = ReceptionBot(on_message=brain, guild_ready_timeout=FAST_READY)
    group = SupervisorGroup(
        [
            ClientSupervisor(reception_bot, discord_server.token("reception"), name="reception"),
            *(ClientSupervisor(p, discord_server.token(n), name=n) for n, p in posters.items()),
        ]
    )
    group.start()
    try:
        await discord_server.wait_for(lambda: group.is_ready)
        human = await discord_server.post_as_human("creation", "@PAZ どう思う？")
        reply = await discord_server.wait_for_message(lambda m: m.reference_id == human.id)
        assert (reply.author.key, reply.content) == ("paz", "paz です")
        assert any(t.user.key == "paz" for t in discord_server.typing_events)
    finally:
        await group.close()
