"""The fleet's clock: phases, daily events and autonomous speech ticks.

Runs in Reception only (one replica), and turns the brain's decisions into jobs on the
persona queues. Event run-once markers live in Redis, so a restart at 20:05 does not post
the evening conclusion twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import redis.asyncio as aioredis

from agentfleet_runtime.brain.events import DueEvent, EventKind, daily_events, due_events
from agentfleet_runtime.brain.messages import JobKind, PersonaJob
from agentfleet_runtime.brain.phases import DaySchedule, Phase, PhaseTracker
from agentfleet_runtime.brain.speech import SpeechSkip, plan_speech
from agentfleet_runtime.bus.keys import FleetKeys
from agentfleet_runtime.bus.queues import enqueue
from agentfleet_runtime.bus.streams import REDIS_DOWN
from agentfleet_runtime.memory.state import FleetState
from agentfleet_runtime.observability.metrics import AUTONOMOUS_SPEECH_SKIPPED, ERRORS, PHASE

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
PipelineRunner = Callable[[DueEvent], Awaitable[None]]
Budget = Callable[[], Awaitable[bool]]
"""Whether the shared Gemini budget has room for optional work right now."""


async def always() -> bool:
    """A budget that always has room (no shared rate limit configured)."""
    return True


def utc_now() -> datetime:
    """The current time (the default clock; tests pass their own)."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class SpeechSettings:
    """How often the fleet may speak on its own, and how likely each tick is to speak."""

    interval_seconds: float
    probability: float


class Scheduler:
    """Ticks the phase clock, fires daily events and plans autonomous speech."""

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: FleetKeys,
        schedule: DaySchedule,
        speech: SpeechSettings,
        personas: tuple[str, ...],
        channel_ids: dict[str, int],
        run_pipeline: PipelineRunner,
        clock: Clock = utc_now,
        rng: random.Random | None = None,
        speech_budget: Budget = always,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.schedule = schedule
        self.speech = speech
        self.personas = personas
        self.channel_ids = channel_ids
        self.run_pipeline = run_pipeline
        self.clock = clock
        self.rng = rng or random.Random()
        self.speech_budget = speech_budget
        self.state = FleetState(redis, keys)
        self.tracker = PhaseTracker(schedule)

    @property
    def phase(self) -> Phase | None:
        """The current phase (None before the first tick)."""
        return self.tracker.phase

    async def run(self, stop: asyncio.Event, event_period: float = 5.0) -> None:
        """Tick until ``stop``: events every ``event_period``, speech every interval."""
        next_speech = time.monotonic() + self.speech.interval_seconds
        while not stop.is_set():
            try:
                await self.tick_events()
                if time.monotonic() >= next_speech:
                    next_speech = time.monotonic() + self.speech.interval_seconds
                    await self.tick_speech()
            except REDIS_DOWN as error:
                ERRORS.labels(component="scheduler").inc()
                log.warning("WARN scheduler: Redis unreachable (%s)", error.__class__.__name__)
            wait = min(event_period, max(next_speech - time.monotonic(), 0.05))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)

    def observe_phase(self) -> Phase:
        """Update and return the phase, logging and exporting a change."""
        before = self.tracker.phase
        phase = self.tracker.observe(self.clock())
        if phase is not before:
            for candidate in Phase:
                PHASE.labels(phase=candidate.value).set(1 if candidate is phase else 0)
            log.info("phase %s → %s", before.value if before else "start", phase.value)
        return phase

    async def tick_events(self) -> list[DueEvent]:
        """Run the daily events that are due and not yet run; returns those started."""
        self.observe_phase()
        now = self.clock()
        today = self.schedule.local(now).date()
        markers = [DueEvent(e, today).marker for e in daily_events(self.schedule)]
        started = []
        for due in due_events(self.schedule, now, await self.state.events_run(markers)):
            if not await self.state.claim_event(due):
                continue
            started.append(due)
            if due.event.kind is EventKind.PIPELINE:
                log.info("長期記憶 pipeline triggered for %s", due.day)
                await self.run_pipeline(due)
            else:
                await enqueue(
                    self.redis,
                    self.keys,
                    PersonaJob(
                        job_id=f"event:{due.marker}",
                        kind=JobKind.EVENT,
                        persona=due.event.persona,
                        channel=due.event.channel,
                        channel_id=self.channel_ids[due.event.channel],
                        enqueued_at=time.time(),
                        text=due.event.kind.value,
                    ),
                )
        return started

    async def tick_speech(self) -> PersonaJob | None:
        """Plan one autonomous speech tick; returns the job queued, if any."""
        phase = self.observe_phase()
        plan = plan_speech(
            phase,
            await self.state.tasks(),
            self.personas,
            await self.state.last_speakers(),
            self.speech.probability,
            self.rng,
        )
        if isinstance(plan, SpeechSkip):
            AUTONOMOUS_SPEECH_SKIPPED.labels(reason=plan.value).inc()
            log.debug("自発発言 tick: quiet (%s)", phase.value)
            return None
        if not await self.speech_budget():
            AUTONOMOUS_SPEECH_SKIPPED.labels(reason=SpeechSkip.BUDGET.value).inc()
            log.info("自発発言 skipped: the Gemini budget is kept for replies to people")
            return None
        now = time.time()
        job = PersonaJob(
            job_id=f"speech:{uuid.uuid4().hex}",
            kind=JobKind.SPEECH,
            persona=plan.persona,
            channel=plan.channel,
            channel_id=self.channel_ids[plan.channel],
            enqueued_at=now,
            text=plan.task.text if plan.task else None,
            expires_at=now + self.speech.interval_seconds,
        )
        await enqueue(self.redis, self.keys, job)
        log.info("自発発言 planned: %s in #%s (%s)", plan.persona, plan.channel, phase.value)
        return job
