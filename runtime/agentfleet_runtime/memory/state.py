"""Small pieces of fleet state kept in Redis so they survive restarts.

Tasks steer what the fleet talks about; last speakers feed the anti-repeat rule; event
markers make each daily event run once per date even across restarts; each persona's recent
autonomous utterances are kept to stop it repeating itself; the pipeline's last outcome is
kept for the process that serves it on /metrics.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

from agentfleet_runtime.brain.events import DueEvent
from agentfleet_runtime.brain.speech import ActiveTask
from agentfleet_runtime.brain.tasks import TaskUpdate
from agentfleet_runtime.bus.keys import FleetKeys
from agentfleet_runtime.observability.metrics import PipelineOutcomeField

EVENT_MARKER_TTL = 3 * 24 * 3600
RECENT_UTTERANCES = 20


TaskPlanner = Callable[[list[ActiveTask]], TaskUpdate]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _task_record(task: ActiveTask) -> str:
    return json.dumps({"text": task.text, "updated_at": task.updated_at, "by": task.by})


def decode_carried_tasks(raw: str) -> list[ActiveTask]:
    """The tasks a job carries (the hash's field, value pairs as one JSON array)."""
    pairs = json.loads(raw)
    # An empty hash arrives as {}: Lua's JSON encoder cannot tell an empty list from it.
    return decode_tasks(dict(zip(pairs[::2], pairs[1::2], strict=True)) if pairs else {})


def decode_tasks(raw: Any) -> list[ActiveTask]:
    """The tasks of :meth:`FleetState.queue_tasks`'s reply, oldest first."""
    tasks = []
    for channel, value in raw.items():
        record = json.loads(value)
        tasks.append(
            ActiveTask(_text(channel), record["text"], record["updated_at"], record.get("by", ""))
        )
    return sorted(tasks, key=lambda t: t.updated_at)


class FleetState:
    """Tasks, last speakers, event markers and recent utterances of one fleet."""

    def __init__(self, redis: aioredis.Redis, keys: FleetKeys) -> None:
        self.redis = redis
        self.keys = keys

    async def update_tasks(self, plan: TaskPlanner) -> TaskUpdate:
        """Apply ``plan`` (current tasks → :class:`TaskUpdate`) atomically; return its update.

        The tasks are read and written under WATCH, so two commands at once (the slash and
        the typed form, or two people) never both move the same task: the loser re-plans
        against what the winner wrote. Errors ``plan`` raises reach the caller unchanged.
        """
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(self.keys.tasks)
                    update = plan(decode_tasks(await pipe.hgetall(self.keys.tasks)))
                    pipe.multi()  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
                    if update.ended is not None:
                        pipe.hdel(self.keys.tasks, update.ended.channel)
                    if update.start is not None:
                        pipe.hset(self.keys.tasks, update.start.channel, _task_record(update.start))
                    await pipe.execute()
                    return update
                except WatchError:
                    continue

    async def tasks(self) -> list[ActiveTask]:
        """Every channel's current task, oldest first."""
        async with self.redis.pipeline(transaction=False) as pipe:
            self.queue_tasks(pipe)
            (raw,) = await pipe.execute()
        return decode_tasks(raw)

    def queue_tasks(self, pipe: Pipeline) -> None:
        """Queue :meth:`tasks`' read on ``pipe``, beside other reads; see :func:`decode_tasks`."""
        pipe.hgetall(self.keys.tasks)

    async def last_speakers(self) -> dict[str, str]:
        """Channel name → the persona that spoke last there."""
        raw: Any = await self.redis.hgetall(self.keys.last_speakers)
        return {_text(k): _text(v) for k, v in raw.items()}

    async def claim_event(self, due: DueEvent) -> bool:
        """Mark ``due`` as run; False when it already ran (here or in another process)."""
        claimed = await self.redis.set(
            self.keys.event(due.marker), "1", nx=True, ex=EVENT_MARKER_TTL
        )
        return bool(claimed)

    async def events_run(self, markers: list[str]) -> set[str]:
        """Which of ``markers`` have already run."""
        if not markers:
            return set()
        values = await self.redis.mget([self.keys.event(m) for m in markers])
        return {m for m, v in zip(markers, values, strict=True) if v is not None}

    async def recent_utterances(self, persona: str) -> list[str]:
        """The persona's last autonomous utterances, newest first."""
        raw: Any = await self.redis.lrange(self.keys.said(persona), 0, RECENT_UTTERANCES - 1)
        return [_text(v) for v in raw]

    async def remember_utterance(self, persona: str, text: str) -> None:
        """Keep ``text`` among the persona's recent utterances."""
        key = self.keys.said(persona)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.lpush(key, text)
            pipe.ltrim(key, 0, RECENT_UTTERANCES - 1)
            await pipe.execute()

    async def record_pipeline_outcome(self, values: Mapping[PipelineOutcomeField, float]) -> None:
        """Keep ``values`` (fields not given keep their earlier value)."""
        await self.redis.hset(
            self.keys.pipeline_outcome,
            mapping={field.value: value for field, value in values.items()},
        )

    async def pipeline_outcome(self) -> dict[PipelineOutcomeField, float]:
        """What the pipeline and the report's post last recorded (fields never written left out)."""
        raw: Any = await self.redis.hgetall(self.keys.pipeline_outcome)
        known = {field.value: field for field in PipelineOutcomeField}
        return {known[_text(k)]: float(_text(v)) for k, v in raw.items() if _text(k) in known}
