"""The bus end to end on a real Redis and the real google-genai client: router → workers."""

import asyncio
import dataclasses
import json
import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis

from agentfleet_runtime.brain.messages import InboundMessage, PersonaJob
from agentfleet_runtime.brain.personas import PERSONAS
from agentfleet_runtime.bus import routing
from agentfleet_runtime.bus.keys import FleetKeys
from agentfleet_runtime.bus.routing import Router, RouterConfig
from agentfleet_runtime.memory import window
from agentfleet_runtime.memory.hot import HotMemory
from agentfleet_runtime.observability.metrics import REGISTRY
from agentfleet_sandbox.gemini_server import GeminiServer
from tests.fixtures.fleet import BOT_IDS, CHANNELS, FleetHarness, directory
from tests.fixtures.redis import RedisServer


async def test_a_message_gets_exactly_one_reply_from_one_persona(fleet: FleetHarness) -> None:
    message = fleet.message("認証システムの設計、どこから手を付ける？")
    await fleet.publish(message)
    posts = await fleet.wait_for(lambda p: len(p) >= 1)
    await fleet.settle()
    assert len(posts) == 1
    reply = posts[0]
    assert reply.reply_to_message_id == message.message_id
    assert reply.channel_id == message.channel_id
    assert reply.persona in {"spectra", "lynq", "paz"}
    assert reply.content.strip()


async def test_a_mention_routes_to_that_persona(fleet: FleetHarness) -> None:
    await fleet.publish(fleet.message("PAZはどう思う？", mentioned_user_ids=(BOT_IDS["paz"],)))
    posts = await fleet.wait_for(lambda p: len(p) >= 1)
    assert posts[0].persona == "paz"


async def test_the_same_message_delivered_twice_is_answered_once(fleet: FleetHarness) -> None:
    message = fleet.message("同じイベントが二回届いた")
    await fleet.publish(message)
    await fleet.publish(message)
    await fleet.wait_for(lambda p: len(p) >= 1)
    await fleet.settle(1.0)
    assert len(fleet.posts) == 1


async def test_bot_messages_are_recorded_but_not_answered(fleet: FleetHarness) -> None:
    bot = fleet.message("LYNQの発言", author_id=BOT_IDS["lynq"], author_is_bot=True)
    await fleet.publish(bot)
    await fleet.settle(1.0)
    assert fleet.posts == []
    history = await HotMemory(fleet.redis, fleet.keys).recent(bot.channel_id)
    assert [m.message_id for m in history] == [bot.message_id]


@pytest.mark.parametrize("seen", ["by Reception", "through the inbox"])
async def test_the_persona_that_just_posted_rarely_answers_the_next_message(
    fleet: FleetHarness, seen: str
) -> None:
    # LYNQ answers half of #development's unaddressed messages, and a tenth as often right
    # after it has spoken. Its post reaches the router as Discord delivers it: noted by
    # Reception, or through the inbox while its bot is not yet known (the harness's posts
    # do not come back, so the other personas' replies do not count here). Either way the
    # router must take it as the channel's last speaker at once.
    assert fleet.router is not None
    answered_by = []
    for n in range(60):
        lynq = fleet.message(f"LYNQの発言 {n}", author_id=BOT_IDS["lynq"], author_is_bot=True)
        if seen == "by Reception":
            assert await fleet.router.note_own_post(lynq)
        else:
            await fleet.publish(lynq)
        await fleet.publish(fleet.message(f"次はだれ？ {n}"))
        posts = await fleet.wait_for(lambda p, n=n: len(p) > n)
        answered_by.append(posts[n].persona)
    # Expected about 5 of 60, and 30 without the damping; 17 or more has odds of 1 in 60,000.
    assert answered_by.count("lynq") <= 16, answered_by


async def test_replies_see_the_channel_history_in_order(fleet: FleetHarness) -> None:
    """People's messages and the personas' replies are kept in order, each once."""
    first = fleet.message("一つ目")
    second = fleet.message("二つ目")
    await fleet.publish(first)
    await fleet.history(2)
    await fleet.publish(second)
    history = await fleet.history(4)
    await fleet.settle()
    [reply_1, reply_2] = fleet.posts
    assert [m.content for m in history] == ["一つ目", reply_1.content, "二つ目", reply_2.content]
    assert [m.author_id for m in history[1::2]] == [
        BOT_IDS[reply_1.persona],
        BOT_IDS[reply_2.persona],
    ]
    local_day = datetime.fromtimestamp(first.created_at, fleet.config.zone).date().isoformat()
    day = await HotMemory(fleet.redis, fleet.keys).day(local_day)
    assert day == await HotMemory(fleet.redis, fleet.keys).recent(first.channel_id)


def _prompt_items(gemini_server: GeminiServer) -> list[dict[str, Any]]:
    """The data items of the one generation request made since reset (a lone user turn)."""
    [request] = [r for r in gemini_server.requests if r.endpoint == "generate"]
    assert [c["role"] for c in request.body["contents"]] == ["user"]
    (user,) = [part["text"] for c in request.body["contents"] for part in c["parts"]]
    return [json.loads(line) for line in user.splitlines()]


async def test_a_reply_is_written_from_the_history_and_task_its_job_carries(
    fleet: FleetHarness, gemini_server: GeminiServer
) -> None:
    """The router's script hands the worker the channel's history and task with the job.

    What the model is asked must still hold everything said before the message and the
    channel's task, and once the reply is posted nothing of the job stays in Redis.
    """
    await fleet.publish(fleet.message('/task commit development "認証システム実装"'))
    await fleet.wait_for(lambda p: len(p) >= 1)
    await fleet.publish(fleet.message("ログイン画面から作ろう"))
    await fleet.wait_for(lambda p: len(p) >= 2)
    gemini_server.reset()
    await fleet.publish(fleet.message("テストはどうする？", mentioned_user_ids=(BOT_IDS["paz"],)))
    await fleet.wait_for(lambda p: len(p) >= 3)
    await fleet.settle()
    items = _prompt_items(gemini_server)
    assert {"type": "task", "channel": "development", "text": "認証システム実装"} in items
    said = [item["text"] for item in items if item["type"] == "message"]
    assert "ログイン画面から作ろう" in said
    assert items[-1]["type"] == "reply_to" and items[-1]["text"] == "テストはどうする？"
    for persona in ("spectra", "lynq", "paz"):
        assert await fleet.redis.xlen(fleet.keys.queue(persona)) == 0


def _prompted_messages(gemini_server: GeminiServer) -> list[str]:
    """The texts of the "message" items of the one generation request made since reset."""
    return [item["text"] for item in _prompt_items(gemini_server) if item["type"] == "message"]


async def _question_and_reply(fleet: FleetHarness) -> tuple[InboundMessage, InboundMessage]:
    question = fleet.message("PAZ、設計どう？", mentioned_user_ids=(BOT_IDS["paz"],))
    await fleet.publish(question)
    await fleet.history(2)
    [reply] = fleet.posters["paz"].by_key.values()
    return question, reply


async def test_a_reply_prompt_holds_the_posts_reception_noted(
    fleet: FleetHarness, gemini_server: GeminiServer
) -> None:
    """The router keeps each channel's latest messages: a persona's post is among them."""
    assert fleet.router is not None
    question, reply = await _question_and_reply(fleet)
    assert await fleet.router.note_own_post(reply)
    gemini_server.reset()
    await fleet.publish(fleet.message("LYNQ は？", mentioned_user_ids=(BOT_IDS["lynq"],)))
    await fleet.wait_for(lambda p: len(p) >= 2)
    assert _prompted_messages(gemini_server) == [question.content, reply.content]


async def test_a_post_reception_missed_is_prompted_once_the_window_is_read_again(
    fleet: FleetHarness, gemini_server: GeminiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A post Reception never saw (its gateway was away) is read back from hot memory."""
    monkeypatch.setattr(window, "TRUST_SECONDS", 0.0)
    question, reply = await _question_and_reply(fleet)
    gemini_server.reset()
    await fleet.publish(fleet.message("LYNQ は？", mentioned_user_ids=(BOT_IDS["lynq"],)))
    await fleet.wait_for(lambda p: len(p) >= 2)
    assert _prompted_messages(gemini_server) == [question.content, reply.content]


async def test_redis_restarted_mid_stream_loses_and_duplicates_nothing(
    fleet: FleetHarness, redis_server: RedisServer
) -> None:
    before = [fleet.message(f"再起動前 {i}") for i in range(3)]
    for message in before:
        await fleet.publish(message)
    await fleet.wait_for(lambda p: len(p) >= 3)
    redis_server.stop()
    during = [fleet.message(f"停止中 {i}") for i in range(3)]
    # Reception keeps retrying while Redis is away; bring it back while it does.
    publishing = asyncio.gather(*(fleet.publish(m) for m in during))
    await asyncio.sleep(1.0)
    redis_server.start()
    await publishing
    await fleet.wait_for(lambda p: len(p) >= 6, timeout=30)
    await fleet.settle(1.5)
    answered = sorted(p.reply_to_message_id or 0 for p in fleet.posts)
    assert answered == sorted(m.message_id for m in before + during)
    # Every message and every reply is in the channel's memory once, however many times
    # a worker cut off from Redis posted (Discord returning its first post) and retried.
    posted = [m for poster in fleet.posters.values() for m in poster.by_key.values()]
    kept = [m.message_id for m in await fleet.history(12)]
    assert sorted(kept) == sorted(m.message_id for m in before + during + posted)


async def test_a_post_that_also_comes_through_the_inbox_is_kept_once(
    fleet: FleetHarness,
) -> None:
    """Reception hands on a persona's post when its bot is not yet known: kept once."""
    question = fleet.message("PAZ、どう？", mentioned_user_ids=(BOT_IDS["paz"],))
    await fleet.publish(question)
    await fleet.history(2)
    [reply] = fleet.posters["paz"].by_key.values()
    await fleet.publish(reply)
    await fleet.publish(fleet.message("次の話題"))
    history = await fleet.history(4)
    await fleet.settle()
    assert [m.message_id for m in history[:2]] == [question.message_id, reply.message_id]
    assert len(await fleet.history(4)) == 4


async def test_gemini_429_then_success_still_answers(
    fleet: FleetHarness, gemini_server: GeminiServer
) -> None:
    gemini_server.inject("429", count=1, retry_delay_s=0.2)
    await fleet.publish(fleet.message("レート制限のあとでも答えて"))
    posts = await fleet.wait_for(lambda p: len(p) >= 1)
    assert posts[0].content != ""
    assert posts[0].persona in {"spectra", "lynq", "paz"}
    assert posts[0].content != PERSONAS[posts[0].persona].apology


async def test_gemini_down_posts_an_apology_in_the_persona_voice(
    fleet: FleetHarness, gemini_server: GeminiServer, caplog: pytest.LogCaptureFixture
) -> None:
    gemini_server.inject("500", count=100)
    before = (
        REGISTRY.get_sample_value(
            "agentfleet_replies_total", {"agent": "lynq", "outcome": "apology"}
        )
        or 0.0
    )
    with caplog.at_level(logging.ERROR):
        await fleet.publish(fleet.message("LYNQ、応答して", mentioned_user_ids=(BOT_IDS["lynq"],)))
        posts = await fleet.wait_for(lambda p: len(p) >= 1, timeout=20)
    assert posts[0].persona == "lynq"
    assert posts[0].content == PERSONAS["lynq"].apology
    assert any(r.levelno == logging.ERROR and "lynq" in r.getMessage() for r in caplog.records)

    def apologies() -> float:
        value = REGISTRY.get_sample_value(
            "agentfleet_replies_total", {"agent": "lynq", "outcome": "apology"}
        )
        return value or 0.0

    # The metric is counted once the job is marked done, just after the post.
    async with asyncio.timeout(5):
        while apologies() < before + 1:
            await asyncio.sleep(0.02)
    await fleet.settle()
    assert apologies() == before + 1


async def test_a_worker_killed_mid_reply_answers_once_after_restart(
    fleet: FleetHarness, gemini_server: GeminiServer
) -> None:
    # Kill every worker, then queue a message while the persona's LLM call is slow.
    worker_tasks = fleet.tasks[1:]
    for task in worker_tasks:
        task.cancel()
    gemini_server.inject("slow", count=1, delay_s=1.5)
    lynq = fleet.start_worker("lynq")
    await fleet.publish(fleet.message("LYNQ?", mentioned_user_ids=(BOT_IDS["lynq"],)))
    await asyncio.sleep(0.5)  # LYNQ is now inside the slow generation
    lynq.cancel()
    await asyncio.sleep(0.1)
    assert fleet.posts == []
    fleet.start_worker("lynq")  # same consumer name: resumes its pending job at once
    posts = await fleet.wait_for(lambda p: len(p) >= 1, timeout=15)
    await fleet.settle(1.5)
    assert len(posts) == 1
    assert posts[0].persona == "lynq"


async def test_discord_failing_keeps_the_job_until_it_is_posted(fleet: FleetHarness) -> None:
    fleet.posters["paz"].failures = 2
    await fleet.publish(fleet.message("PAZ!", mentioned_user_ids=(BOT_IDS["paz"],)))
    posts = await fleet.wait_for(lambda p: len(p) >= 1, timeout=20)
    await fleet.settle()
    assert [p.persona for p in posts] == ["paz"]


async def test_typed_task_command_is_confirmed_by_spectra(fleet: FleetHarness) -> None:
    await fleet.publish(fleet.message('/task commit development "認証システム実装"'))
    posts = await fleet.wait_for(lambda p: len(p) >= 1)
    await fleet.settle()
    assert len(posts) == 1
    assert posts[0].persona == "spectra"
    assert posts[0].channel_id == 1  # command_center
    assert "認証システム実装" in posts[0].content
    tasks = await fleet.redis.hgetall(FleetKeys("test").tasks)
    assert b"development" in tasks


async def test_bad_task_command_gets_help_where_it_was_typed(fleet: FleetHarness) -> None:
    typed = fleet.message('/task commit random "x"', channel="creation")
    await fleet.publish(typed)
    posts = await fleet.wait_for(lambda p: len(p) >= 1)
    assert posts[0].channel_id == typed.channel_id
    assert posts[0].reply_to_message_id == typed.message_id
    assert "random" in posts[0].content and "使い方" in posts[0].content


async def test_the_router_learns_the_bots_ids_and_later_a_new_one_off_the_path(
    redis_client: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ids are read on a message's path only until every bot is known; after that a bot
    given a new token is learnt by a refresh in the background."""
    monkeypatch.setattr(routing, "BOT_IDS_REFRESH_SECONDS", 0.2)
    keys = FleetKeys("ids")
    learning = dataclasses.replace(directory(), persona_user_ids={}, own_bot_ids=frozenset())
    config = RouterConfig(learning, CHANNELS, ZoneInfo("Asia/Tokyo"), learn_bot_ids=True)

    async def no_task_jobs(_message: InboundMessage) -> list[PersonaJob]:
        return []

    router = Router(redis_client, keys, config, no_task_jobs)
    await redis_client.hset(keys.bots, mapping={"spectra": "101", "lynq": "102"})
    assert (await router.directory()).persona_user_ids == {"spectra": 101, "lynq": 102}
    await redis_client.hset(keys.bots, "paz", "103")
    assert (await router.directory()).persona_of(103) == "paz"

    await redis_client.hset(keys.bots, "paz", "203")  # PAZ's bot is given a new token
    assert (await router.directory()).persona_of(203) is None  # not read on the path
    async with asyncio.timeout(5):
        while (await router.directory()).persona_of(203) != "paz":
            await asyncio.sleep(0.05)
    assert 103 not in (await router.directory()).own_bot_ids
