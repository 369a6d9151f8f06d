"""The fleet as users meet it: real discord.py bots on the local Discord server.

Each test posts as a person through the server's control API and reads what the fleet
posted back, exactly as someone watching the channel would.
"""

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

from agentfleet_runtime.brain.personas import PERSONAS
from agentfleet_runtime.brain.scope import DIRECT_MESSAGE_REPLY
from agentfleet_runtime.brain.tasks import NOT_ALLOWED
from agentfleet_runtime.bus.codec import FIELD, decode_message
from agentfleet_runtime.memory.hot import HotMemory
from tests.fixtures.sandbox import SandboxFleet

TOKYO = ZoneInfo("Asia/Tokyo")
PERSONA_BOTS = {"spectra", "lynq", "paz"}


def bot_key(fleet: SandboxFleet, user_id: int) -> str:
    return next(k for k in ("reception", *PERSONA_BOTS) if fleet.discord.user_id(k) == user_id)


async def quiet(seconds: float) -> None:
    """Wait to see that nothing more (a duplicate, an unwanted answer) arrives."""
    await asyncio.sleep(seconds)


async def test_a_message_gets_exactly_one_reply_from_a_persona(
    sandbox_fleet: SandboxFleet,
) -> None:
    await sandbox_fleet.start()
    discord = sandbox_fleet.discord
    question = await discord.post_as_human("development", "認証の設計、どこから確認する？")
    reply = await discord.wait_for_message(
        lambda m: m.reference_id == question.id, channel="development", timeout=15
    )
    assert bot_key(sandbox_fleet, reply.author.id) in PERSONA_BOTS
    assert reply.allowed_mentions is not None and reply.allowed_mentions.get("parse") == []
    await quiet(1.5)
    assert len(sandbox_fleet.replies_to(question.id)) == 1
    # The answer is about what was asked: the prompt ends with the person's message, which
    # the Gemini-compatible server quotes back in the persona's voice.
    assert "認証の設計" in reply.content


async def test_a_reply_is_kept_once_by_the_persona_that_posted_it(
    sandbox_fleet: SandboxFleet,
) -> None:
    """The reply is in the channel's memory as Discord shows it, and never went through
    the inbox: Reception hands on people's messages only."""
    await sandbox_fleet.start()
    discord = sandbox_fleet.discord
    question = await discord.post_as_human("development", "今日の記録、残ってる？")
    reply = await discord.wait_for_message(lambda m: m.reference_id == question.id, timeout=15)
    await quiet(1.0)
    process = sandbox_fleet.process
    assert process is not None
    history = await HotMemory(process.redis, process.keys).recent(reply.channel_id)
    assert [(m.message_id, m.author_id, m.content) for m in history] == [
        (question.id, question.author.id, question.content),
        (reply.id, reply.author.id, reply.content),
    ]
    inbox = await process.redis.xrange(process.keys.inbox)
    assert [decode_message(fields[FIELD.encode()]).message_id for _, fields in inbox] == [
        question.id
    ]


async def test_a_mention_routes_to_that_persona(sandbox_fleet: SandboxFleet) -> None:
    await sandbox_fleet.start()
    discord = sandbox_fleet.discord
    question = await discord.post_as_human("lounge", "アイデアある？", mentions=["paz"])
    reply = await discord.wait_for_message(lambda m: m.reference_id == question.id, timeout=15)
    assert bot_key(sandbox_fleet, reply.author.id) == "paz"


async def test_a_reply_to_a_persona_goes_back_to_it(sandbox_fleet: SandboxFleet) -> None:
    await sandbox_fleet.start()
    discord = sandbox_fleet.discord
    first = await discord.post_as_human("creation", "LYNQ、検証手順は？", mentions=["lynq"])
    answer = await discord.wait_for_message(lambda m: m.reference_id == first.id, timeout=15)
    follow_up = await discord.post_as_human("creation", "もう少し詳しく", reply_to=answer.id)
    second = await discord.wait_for_message(lambda m: m.reference_id == follow_up.id, timeout=15)
    assert bot_key(sandbox_fleet, second.author.id) == "lynq"


async def test_typed_task_command_is_confirmed_and_bots_are_not_answered(
    sandbox_fleet: SandboxFleet,
) -> None:
    await sandbox_fleet.start()
    discord = sandbox_fleet.discord
    await discord.post_as_human("development", '/task commit development "認証システム実装"')
    confirmation = await discord.wait_for_message(
        lambda m: "認証システム実装" in m.content, channel="command_center", timeout=15
    )
    assert bot_key(sandbox_fleet, confirmation.author.id) == "spectra"
    # SPECTRA's post is a bot message: nobody in the fleet answers it, and the command
    # itself is not chatted to either.
    await quiet(2.0)
    assert [m.id for m in discord.messages() if m.author.bot] == [confirmation.id]


async def test_bad_typed_task_command_gets_help_in_place(sandbox_fleet: SandboxFleet) -> None:
    await sandbox_fleet.start()
    discord = sandbox_fleet.discord
    typed = await discord.post_as_human("creation", '/task commit somewhere "x"')
    help_reply = await discord.wait_for_message(lambda m: m.reference_id == typed.id, timeout=15)
    assert "somewhere" in help_reply.content and "使い方" in help_reply.content


async def test_slash_task_command(sandbox_fleet: SandboxFleet) -> None:
    await sandbox_fleet.start()
    discord = sandbox_fleet.discord
    interaction = await discord.invoke_command(
        "lounge", '/task change creation "アイデアブレスト"', user="bob"
    )
    ephemeral = await discord.wait_for_interaction_reply(interaction.id, timeout=15)
    assert "アイデアブレスト" in ephemeral.content
    confirmation = await discord.wait_for_message(
        lambda m: "アイデアブレスト" in m.content and not m.interaction_id,
        channel="command_center",
        timeout=15,
    )
    assert bot_key(sandbox_fleet, confirmation.author.id) == "spectra"


async def test_change_moves_the_task_and_done_ends_it_in_both_forms(
    sandbox_fleet: SandboxFleet,
) -> None:
    await sandbox_fleet.start()
    discord = sandbox_fleet.discord

    async def announced(*parts: str) -> str:
        message = await discord.wait_for_message(
            lambda m: m.author.bot and all(p in m.content for p in parts),
            channel="command_center",
            timeout=15,
        )
        return message.content

    async def slash(line: str) -> str:
        interaction = await discord.invoke_command("lounge", line, user="bob")
        return (await discord.wait_for_interaction_reply(interaction.id, timeout=15)).content

    await discord.post_as_human("development", '/task commit development "認証システム実装"')
    await announced("認証システム実装", "開始")
    # The guide's "move between channels": creation has no task, so development's moves.
    moved = await slash('/task change creation "アイデアブレスト"')
    assert "#development" in moved and "#creation" in moved
    text = await announced("アイデアブレスト", "移した")
    assert "#development のタスクは終了" in text
    listed = await slash("/task list")
    assert "#creation「アイデアブレスト」（bob）" in listed and "#development" not in listed

    typed_list = await discord.post_as_human("lounge", "/task list")
    answer = await discord.wait_for_message(lambda m: m.reference_id == typed_list.id, timeout=15)
    assert "#creation「アイデアブレスト」" in answer.content

    await discord.post_as_human("creation", "/task done")
    await announced("アイデアブレスト", "完了")
    assert "タスクは無い" in await slash("/task list")
    nothing = await slash("/task done development")
    assert "完了にするタスクが無い" in nothing


async def test_invisible_characters_get_no_reply(sandbox_fleet: SandboxFleet) -> None:
    await sandbox_fleet.start()
    discord = sandbox_fleet.discord
    await discord.post_as_human("development", "\u200b\u200b")
    await discord.post_as_human("lounge", "\u3164")
    visible = await discord.post_as_human("lounge", "\u200bおはよう")
    await discord.wait_for_message(lambda m: m.reference_id == visible.id, timeout=15)
    await quiet(1.0)
    assert [m.reference_id for m in discord.messages() if m.author.bot] == [visible.id]


async def stored_anywhere(fleet: SandboxFleet, text: str) -> bool:
    """Whether ``text`` is in any Redis stream of the fleet (inbox, memory, day log, queues)."""
    assert fleet.process is not None
    redis = fleet.process.redis
    async for key in redis.scan_iter(match=f"{fleet.process.keys.prefix}*", _type="stream"):
        for _id, fields in await redis.xrange(key):
            if any(text in value.decode() for value in fields.values()):
                return True
    return False


async def test_a_direct_message_gets_one_line_and_nothing_is_kept(
    sandbox_fleet: SandboxFleet,
) -> None:
    await sandbox_fleet.start()
    discord = sandbox_fleet.discord
    sent = await discord.post_direct("ないしょの相談があるんだけど", bot="reception")
    answer = await discord.wait_for_message(
        lambda m: m.channel_id == sent.channel_id and m.author.bot, timeout=15
    )
    assert answer.content == DIRECT_MESSAGE_REPLY
    await discord.post_direct('/task commit development "DMから"', bot="reception")
    await quiet(1.5)
    assert [m.content for m in discord.messages() if m.author.bot] == [DIRECT_MESSAGE_REPLY] * 2
    assert not await stored_anywhere(sandbox_fleet, "ないしょの相談")
    assert not await stored_anywhere(sandbox_fleet, "DMから")


async def test_other_channels_of_the_server_are_neither_answered_nor_kept(
    sandbox_fleet: SandboxFleet,
) -> None:
    sandbox_fleet.discord.world.add_channel("general")
    await sandbox_fleet.start()
    discord = sandbox_fleet.discord
    await discord.post_as_human("general", "LYNQ、ここでも答えてくれる？", mentions=["lynq"])
    await discord.post_as_human("general", '/task commit development "雑談部屋から"')
    inside = await discord.post_as_human("lounge", "こっちはどう？")
    await discord.wait_for_message(lambda m: m.reference_id == inside.id, timeout=15)
    await quiet(1.0)
    assert [m.reference_id for m in discord.messages() if m.author.bot] == [inside.id]
    assert not await stored_anywhere(sandbox_fleet, "ここでも答えて")
    assert not await stored_anywhere(sandbox_fleet, "雑談部屋から")


async def test_the_task_role_decides_who_may_change_tasks(sandbox_fleet: SandboxFleet) -> None:
    role = sandbox_fleet.discord.world.add_role("fleet-lead", members=["alice"])
    settings = sandbox_fleet.settings
    sandbox_fleet.settings = settings.model_copy(update={"TASK_ROLE_ID": role})
    await sandbox_fleet.start()
    discord = sandbox_fleet.discord

    refused = await discord.invoke_command("lounge", '/task commit lounge "雑談"', user="bob")
    assert (await discord.wait_for_interaction_reply(refused.id, timeout=15)).content == NOT_ALLOWED
    typed = await discord.post_as_human("lounge", '/task commit lounge "雑談"', author="bob")
    reply = await discord.wait_for_message(lambda m: m.reference_id == typed.id, timeout=15)
    assert reply.content == NOT_ALLOWED

    allowed = await discord.invoke_command("lounge", '/task commit lounge "雑談"', user="alice")
    assert "開始" in (await discord.wait_for_interaction_reply(allowed.id, timeout=15)).content
    listed = await discord.invoke_command("lounge", "/task list", user="alice")
    assert (
        "#lounge「雑談」（alice）"
        in (await discord.wait_for_interaction_reply(listed.id, timeout=15)).content
    )


async def test_bad_slash_task_text_gets_a_helpful_answer(sandbox_fleet: SandboxFleet) -> None:
    await sandbox_fleet.start()
    discord = sandbox_fleet.discord
    interaction = await discord.invoke_command(
        "lounge", f'/task commit development "{"長" * 300}"', user="bob"
    )
    ephemeral = await discord.wait_for_interaction_reply(interaction.id, timeout=15)
    assert "200文字" in ephemeral.content and "使い方" in ephemeral.content


async def test_autonomous_speech_follows_the_phase(sandbox_fleet: SandboxFleet) -> None:
    settings = sandbox_fleet.settings
    sandbox_fleet.settings = settings.model_copy(update={"AUTONOMOUS_SPEECH_INTERVAL_SECONDS": 0.4})
    clock = sandbox_fleet.clock
    clock.moment = datetime(2026, 11, 25, 3, 0, tzinfo=TOKYO)  # STANDBY
    await sandbox_fleet.start()
    discord = sandbox_fleet.discord
    await quiet(1.5)
    assert [m for m in discord.messages() if m.author.bot] == []

    clock.moment = datetime(2026, 11, 25, 10, 0, tzinfo=TOKYO)  # ACTIVE, no task
    spoken = await discord.wait_for_message(lambda m: m.author.bot, timeout=10)
    assert spoken.channel_id == discord.channel_id("command_center")

    clock.moment = datetime(2026, 11, 25, 21, 0, tzinfo=TOKYO)  # FREE
    before = {m.id for m in discord.messages()}
    lounge = await discord.wait_for_message(
        lambda m: (
            m.author.bot and m.id not in before and m.channel_id == discord.channel_id("lounge")
        ),
        timeout=10,
    )
    assert bot_key(sandbox_fleet, lounge.author.id) in PERSONA_BOTS


async def test_gateway_closed_mid_conversation_loses_and_duplicates_nothing(
    sandbox_fleet: SandboxFleet,
) -> None:
    await sandbox_fleet.start()
    discord = sandbox_fleet.discord
    first = await discord.post_as_human("development", "一つ目の質問")
    assert discord.close_gateway("reception", 4000) >= 1
    second = await discord.post_as_human("development", "切断中に来た二つ目の質問")
    for question in (first, second):
        await discord.wait_for_message(lambda m, q=question: m.reference_id == q.id, timeout=20)
    await quiet(1.5)
    assert len(sandbox_fleet.replies_to(first.id)) == 1
    assert len(sandbox_fleet.replies_to(second.id)) == 1


async def test_rate_limited_send_is_delivered_once_after_the_delay(
    sandbox_fleet: SandboxFleet,
) -> None:
    await sandbox_fleet.start()
    discord = sandbox_fleet.discord
    discord.inject_rate_limit(count=1, retry_after=0.5)
    question = await discord.post_as_human(
        "development", "レート制限中でも答えて", mentions=["lynq"]
    )
    reply = await discord.wait_for_message(lambda m: m.reference_id == question.id, timeout=15)
    assert bot_key(sandbox_fleet, reply.author.id) == "lynq"
    await quiet(1.0)
    assert len(sandbox_fleet.replies_to(question.id)) == 1


async def test_a_3000_character_answer_arrives_as_two_messages(
    sandbox_fleet: SandboxFleet,
) -> None:
    await sandbox_fleet.start()
    discord = sandbox_fleet.discord
    sentence = "構造を確認すると、この設計には三つの層がある。"
    long_answer = sentence * (3000 // len(sentence))
    sandbox_fleet.gemini.scripted_replies.append(long_answer)
    question = await discord.post_as_human("development", "詳しく説明して", mentions=["lynq"])
    first = await discord.wait_for_message(lambda m: m.reference_id == question.id, timeout=15)
    rest = await discord.wait_for_message(
        lambda m: m.id > first.id and m.author.id == first.author.id, timeout=10
    )
    assert len(first.content) <= 2000 and len(rest.content) <= 2000
    assert first.content + rest.content == long_answer
    await quiet(1.0)
    parts = [m for m in discord.messages("development") if m.author.id == first.author.id]
    assert len(parts) == 2


async def test_gemini_down_gets_an_apology_not_silence(sandbox_fleet: SandboxFleet) -> None:
    await sandbox_fleet.start()
    sandbox_fleet.gemini.inject("500", count=None)
    discord = sandbox_fleet.discord
    question = await discord.post_as_human("lounge", "PAZ、聞こえる？", mentions=["paz"])
    reply = await discord.wait_for_message(lambda m: m.reference_id == question.id, timeout=30)
    assert reply.content == PERSONAS["paz"].apology


async def test_a_fleet_restarted_mid_reply_answers_exactly_once(
    sandbox_fleet: SandboxFleet,
) -> None:
    await sandbox_fleet.start()
    discord = sandbox_fleet.discord
    sandbox_fleet.gemini.inject("slow", count=1, delay_s=3)
    question = await discord.post_as_human("development", "再起動をまたぐ質問", mentions=["lynq"])
    await asyncio.sleep(1.0)  # LYNQ is generating
    # Kill the process's work as a crash would: cancel it without a graceful stop.
    assert sandbox_fleet.task is not None
    sandbox_fleet.task.cancel()
    await asyncio.gather(sandbox_fleet.task, return_exceptions=True)
    assert sandbox_fleet.replies_to(question.id) == []
    await sandbox_fleet.start()
    await discord.wait_for_message(lambda m: m.reference_id == question.id, timeout=20)
    await quiet(4.0)  # the abandoned slow call finishing must not post a second reply
    assert len(sandbox_fleet.replies_to(question.id)) == 1
