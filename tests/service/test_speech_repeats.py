"""A persona does not repeat its recent autonomous lines (the worker on a real Redis).

The model is scripted, so each test decides what the persona drafts; the persona's recent
lines live in Redis as in production.
"""

import time
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from agentfleet_runtime.app.persona_worker import Context, PersonaWorker
from agentfleet_runtime.brain.messages import JobKind, OutboundMessage, PersonaJob
from agentfleet_runtime.brain.personas import PERSONAS
from agentfleet_runtime.brain.prompts import Prompt
from agentfleet_runtime.bus.keys import FleetKeys
from agentfleet_runtime.memory.state import FleetState
from tests.fixtures.fleet import CHANNELS, RecordingPoster

KEYS = FleetKeys("test")
SAID = "今日のミーティングは認証システムの進捗から始めよう"


class ScriptedModel:
    """Answers with the next scripted draft and keeps the prompts it was given."""

    def __init__(self, *drafts: str) -> None:
        self.drafts = list(drafts)
        self.prompts: list[Prompt] = []

    async def complete(self, prompt: Prompt) -> str:
        self.prompts.append(prompt)
        return self.drafts.pop(0)


async def speak(redis: aioredis.Redis, model: ScriptedModel) -> tuple[str | None, str]:
    """Ask SPECTRA for one autonomous line in #development, as the scheduler would."""
    posts: list[OutboundMessage] = []
    worker = PersonaWorker(
        PERSONAS["spectra"],
        redis,
        KEYS,
        model,
        RecordingPoster("spectra", posts),
        ZoneInfo("Asia/Tokyo"),
    )
    job = PersonaJob(
        job_id="speech-1",
        kind=JobKind.SPEECH,
        persona="spectra",
        channel="development",
        channel_id=CHANNELS["development"],
        enqueued_at=time.time(),
    )
    return await worker.compose(job, Context(conversation=[], task=None))


async def test_a_repeat_is_redrafted_once_naming_the_line_it_repeats(
    redis_client: aioredis.Redis,
) -> None:
    state = FleetState(redis_client, KEYS)
    await state.remember_utterance("spectra", SAID)
    await state.remember_utterance("spectra", "お昼休憩にしよう")
    fresh = "ブレストの結果をまとめてドキュメントにしておくね"
    model = ScriptedModel("今日のミーティングは、認証システムの進捗から始めよう！👍", fresh)
    assert await speak(redis_client, model) == (fresh, "posted")
    assert SAID in model.prompts[1].user  # the redraft is told what it repeated
    assert await state.recent_utterances("spectra") == [fresh, "お昼休憩にしよう", SAID]


async def test_two_repeats_in_a_row_post_nothing(redis_client: aioredis.Redis) -> None:
    state = FleetState(redis_client, KEYS)
    await state.remember_utterance("spectra", SAID)
    model = ScriptedModel(SAID, "えっと、" + SAID)
    assert await speak(redis_client, model) == (None, "skipped_duplicate")
    assert await state.recent_utterances("spectra") == [SAID]


async def test_new_facts_and_other_personas_lines_are_not_repeats(
    redis_client: aioredis.Redis,
) -> None:
    state = FleetState(redis_client, KEYS)
    progress = "認証システムの進捗は今のところ{}%くらいで、予定どおり来週には終わりそう"
    await state.remember_utterance("spectra", progress.format(40))
    await state.remember_utterance("lynq", "ロゴの色、もう少し明るくしてもいいかもしれない")
    # A new number is news, though the lines share 5 in 6 shingles; another persona's line
    # is agreement, not a loop.
    for draft in (progress.format(60), "ロゴの色、もう少し明るくしてもいいかもしれない"):
        model = ScriptedModel(draft)
        assert await speak(redis_client, model) == (draft, "posted")
        assert len(model.prompts) == 1
