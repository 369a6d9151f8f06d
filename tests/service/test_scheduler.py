"""The scheduler on a real Redis: phases, once-per-date events, autonomous speech."""

import random
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from agentfleet_runtime.app.scheduler import Scheduler, SpeechSettings
from agentfleet_runtime.brain.events import DueEvent, EventKind
from agentfleet_runtime.brain.messages import JobKind
from agentfleet_runtime.brain.phases import DaySchedule, Phase
from agentfleet_runtime.brain.tasks import parse_task_command, plan_update
from agentfleet_runtime.bus.codec import FIELD, decode_job
from agentfleet_runtime.bus.keys import FleetKeys
from agentfleet_runtime.memory.state import FleetState
from tests.fixtures.fleet import CHANNELS

TOKYO = ZoneInfo("Asia/Tokyo")
KEYS = FleetKeys("test")


class Clock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


def scheduler(redis: aioredis.Redis, clock: Clock, pipeline: list[DueEvent]) -> Scheduler:
    async def run_pipeline(due: DueEvent) -> None:
        pipeline.append(due)

    return Scheduler(
        redis,
        KEYS,
        DaySchedule(TOKYO),
        SpeechSettings(interval_seconds=10, probability=1.0),
        ("spectra", "lynq", "paz"),
        CHANNELS,
        run_pipeline,
        clock=clock,
        rng=random.Random(3),
    )


async def queued(redis: aioredis.Redis) -> list[tuple[str, str, JobKind, str | None]]:
    jobs = []
    for persona in ("spectra", "lynq", "paz"):
        for _id, fields in await redis.xrange(KEYS.queue(persona)):
            job = decode_job(fields[FIELD.encode()])
            jobs.append((job.persona, job.channel, job.kind, job.text))
    return jobs


async def test_events_run_once_per_date_even_across_restarts(
    redis_client: aioredis.Redis,
) -> None:
    pipeline: list[DueEvent] = []
    clock = Clock(datetime(2026, 11, 25, 6, 0, 5, tzinfo=TOKYO))
    first = scheduler(redis_client, clock, pipeline)
    assert [d.event.kind for d in await first.tick_events()] == [EventKind.PIPELINE]
    assert [d.marker for d in pipeline] == ["pipeline:2026-11-25"]
    # A restarted Reception at 06:30 must not run the pipeline again.
    clock.moment = datetime(2026, 11, 25, 6, 30, tzinfo=TOKYO)
    assert await scheduler(redis_client, clock, pipeline).tick_events() == []
    assert len(pipeline) == 1

    clock.moment = datetime(2026, 11, 25, 20, 0, 1, tzinfo=TOKYO)
    await first.tick_events()
    await scheduler(redis_client, clock, pipeline).tick_events()
    clock.moment = datetime(2026, 11, 26, 0, 0, 1, tzinfo=TOKYO)
    await first.tick_events()
    assert await queued(redis_client) == [
        ("spectra", "lounge", JobKind.EVENT, "conclusion"),
        ("paz", "lounge", JobKind.EVENT, "rest"),
    ]


async def test_speech_lands_where_the_phase_says(redis_client: aioredis.Redis) -> None:
    clock = Clock(datetime(2026, 11, 25, 3, 0, tzinfo=TOKYO))
    tick = scheduler(redis_client, clock, [])
    assert await tick.tick_speech() is None  # STANDBY
    assert tick.phase is Phase.STANDBY
    clock.moment = datetime(2026, 11, 25, 6, 30, tzinfo=TOKYO)
    assert await tick.tick_speech() is None  # PROCESSING

    clock.moment = datetime(2026, 11, 25, 10, 0, tzinfo=TOKYO)
    active = await tick.tick_speech()
    assert active is not None and active.channel == "command_center"

    commit = parse_task_command('/task commit development "API設計"')
    await FleetState(redis_client, KEYS).update_tasks(
        lambda tasks: plan_update(commit, tasks, time.time(), "alice")
    )
    on_task = await tick.tick_speech()
    assert on_task is not None
    assert (on_task.channel, on_task.text) == ("development", "API設計")

    clock.moment = datetime(2026, 11, 25, 21, 0, tzinfo=TOKYO)
    free = await tick.tick_speech()
    assert free is not None and free.channel == "lounge" and free.text is None
    kinds = {job[2] for job in await queued(redis_client)}
    assert kinds == {JobKind.SPEECH}
