"""A persona's worker: takes jobs from its queue, generates, posts, and records — once.

Exactly-once posting rests on three things: the job's ``done`` marker (checked before any
work, set with the acknowledgement after the post), the job id used as Discord's nonce (so a
post retried after a crash between posting and marking is recognised by Discord and not
repeated), and the stream consumer re-reading its own pending jobs after a restart. The
post is recorded in the channel's memory and the day log in that same last step, from the
messages Discord answered with, which a retried post gets back unchanged.

A reply the router queued needs no ``done`` check: the router's script queues each reply
once, and its marker is set in the same step that acknowledges its one entry, so a reply
still pending cannot be done. Such a job also carries its context (the channel's latest
messages and the tasks), so it reaches Gemini without a round trip to Redis first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from agentfleet_runtime.app.attachments import AttachmentReader
from agentfleet_runtime.app.ports import Poster, Recall, TextModel
from agentfleet_runtime.brain.attachments import Reading, message_text, with_skipped_note
from agentfleet_runtime.brain.events import EventKind
from agentfleet_runtime.brain.messages import InboundMessage, JobKind, OutboundMessage, PersonaJob
from agentfleet_runtime.brain.personas import Persona
from agentfleet_runtime.brain.prompts import event_prompt, reply_prompt, speech_prompt
from agentfleet_runtime.brain.report import is_report_job
from agentfleet_runtime.brain.speech import ActiveTask
from agentfleet_runtime.bus.codec import FIELD, RECENT_FIELD, TASKS_FIELD, decode_job
from agentfleet_runtime.bus.keys import FleetKeys
from agentfleet_runtime.dedup import NearDuplicateIndex
from agentfleet_runtime.llm.gemini import LLMError
from agentfleet_runtime.memory.hot import HotMemory, decode_carried_recent, decode_recent
from agentfleet_runtime.memory.state import FleetState, decode_carried_tasks, decode_tasks
from agentfleet_runtime.observability.metrics import (
    AUTONOMOUS_SPEECH,
    ERRORS,
    REPLIES,
    REPLY_LATENCY,
    PipelineOutcomeField,
)

log = logging.getLogger(__name__)

WORKER_GROUP = "workers"
DONE_TTL = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Context:
    """What a reply or an autonomous line is written from."""

    history: list[InboundMessage]
    """The channel's recent messages, oldest first."""
    task: ActiveTask | None
    """The channel's current task."""
    memories: list[str] = field(default_factory=list)
    """Long-term memories recalled for a reply."""


class PersonaWorker:
    """Handles the jobs on one persona's queue (the StreamConsumer handler)."""

    def __init__(
        self,
        persona: Persona,
        redis: aioredis.Redis,
        keys: FleetKeys,
        model: TextModel,
        poster: Poster,
        zone: ZoneInfo,
        recall: Recall | None = None,
        attachments: AttachmentReader | None = None,
    ) -> None:
        self.persona = persona
        self.redis = redis
        self.keys = keys
        self.model = model
        self.poster = poster
        self.memory = HotMemory(redis, keys)
        self.state = FleetState(redis, keys)
        self.zone = zone
        self.recall = recall
        self.attachments = attachments
        """Reads a person's attachments for the reply; None: they are only named."""

    @property
    def queue(self) -> str:
        """The stream this worker consumes."""
        return self.keys.queue(self.persona.name)

    async def handle(self, entry_id: str, fields: dict[str, str]) -> None:
        """Process one job: skip it if done, else compose, post, and mark it done."""
        try:
            job = decode_job(fields[FIELD])
        except (KeyError, ValueError, TypeError) as error:
            ERRORS.labels(component="worker").inc()
            log.error("ERROR unreadable job %s on %s dropped: %s", entry_id, self.queue, error)
            await self.redis.xack(self.queue, WORKER_GROUP, entry_id)
            return
        started = time.monotonic()
        done, context = await self._read(job, fields)
        if done:
            await self.redis.xack(self.queue, WORKER_GROUP, entry_id)
            return
        async with self.poster.typing(job.channel_id):
            content, outcome = await self.compose(job, context)
        posted: list[InboundMessage] = []
        if content is not None:
            reply_to = job.message.message_id if job.message is not None else None
            posted = await self.poster.post(
                OutboundMessage(
                    persona=self.persona.name,
                    channel_id=job.channel_id,
                    content=content,
                    reply_to_message_id=reply_to,
                    idempotency_key=job.job_id,
                    embed=job.embed,
                )
            )
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self.keys.done(job.job_id), "1", ex=DONE_TTL)
            if posted:
                self.memory.queue_record(pipe, posted, self.zone)
            if content is not None:
                pipe.hset(self.keys.last_speakers, job.channel, self.persona.name)
                if is_report_job(job.job_id):
                    # Posted, not queued, is what people see: Reception serves this time.
                    report = PipelineOutcomeField.REPORT_POSTED.value
                    pipe.hset(self.keys.pipeline_outcome, report, time.time())
            pipe.xack(self.queue, WORKER_GROUP, entry_id)
            if RECENT_FIELD in fields:
                # Kilobytes of carried history, never read again: gone with the entry.
                pipe.xdel(self.queue, entry_id)
            await pipe.execute()
        self._record(job, content, outcome, started)

    async def compose(self, job: PersonaJob, context: Context | None) -> tuple[str | None, str]:
        """The text to post for ``job`` (None to post nothing) and the outcome label.

        ``context`` is what :meth:`_read` read for the job.
        """
        if job.kind is JobKind.ANNOUNCE:
            return job.text or "", "ok"
        if job.expires_at is not None and time.time() > job.expires_at:
            return None, "skipped_stale"
        try:
            if job.kind is JobKind.REPLY:
                assert context is not None, "a reply's context is read"
                return await self._reply(job, context), "ok"
            if job.kind is JobKind.SPEECH:
                assert context is not None, "a speech's context is read"
                return await self._speech(job, context)
            return await self._event(job), "ok"
        except LLMError as error:
            ERRORS.labels(component="gemini").inc()
            log.error(
                "ERROR %s could not generate for %s: %s", self.persona.name, job.job_id, error
            )
            if job.kind is JobKind.REPLY:
                # A person asked: answer in the persona's voice rather than leave them waiting.
                return self.persona.apology, "apology"
            return None, "skipped_error"

    async def _read(self, job: PersonaJob, fields: dict[str, str]) -> tuple[bool, Context | None]:
        """Whether ``job`` is done already, and what it is written from.

        A job the router queued carries its context (see the module docstring). For any
        other, the run-once check and the channel's history and tasks go to Redis in one
        round trip. Recall runs alongside for a reply. The context is None for jobs
        written from something else (events, announcements).
        """
        wants_context = job.kind in (JobKind.REPLY, JobKind.SPEECH)
        recall = self._recall(job)
        if wants_context and RECENT_FIELD in fields and TASKS_FIELD in fields:
            history = decode_carried_recent(fields[RECENT_FIELD])
            tasks = decode_carried_tasks(fields[TASKS_FIELD])
            return False, self._context(job, history, tasks, await recall)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.exists(self.keys.done(job.job_id))
            if wants_context:
                self.memory.queue_recent(pipe, job.channel_id)
                self.state.queue_tasks(pipe)
            (done, *raw), memories = await asyncio.gather(pipe.execute(), recall)
        if not wants_context:
            return bool(done), None
        return bool(done), self._context(job, decode_recent(raw[0]), decode_tasks(raw[1]), memories)

    async def _recall(self, job: PersonaJob) -> list[str]:
        """The memories recalled for a reply; none for other jobs or without recall."""
        if job.kind is not JobKind.REPLY or self.recall is None:
            return []
        assert job.message is not None, "a reply job carries its message"
        return await self.recall.recall(message_text(job.message), job.channel)

    @staticmethod
    def _context(
        job: PersonaJob, history: list[InboundMessage], tasks: list[ActiveTask], memories: list[str]
    ) -> Context:
        task = next((t for t in tasks if t.channel == job.channel), None)
        return Context(history, task, memories)

    async def _reply(self, job: PersonaJob, context: Context) -> str:
        assert job.message is not None, "a reply job carries its message"
        # Fetched here, just before generation, so no bytes ever sit in Redis.
        readings = await self._read_attachments(job.message)
        prompt = reply_prompt(
            self.persona,
            job.channel,
            context.history,
            job.message,
            context.task,
            context.memories,
            readings,
        )
        return with_skipped_note(await self.model.complete(prompt), readings)

    async def _read_attachments(self, message: InboundMessage) -> list[Reading]:
        if self.attachments is None or not message.attachments:
            return []
        return await self.attachments.read(message.attachments)

    async def _speech(self, job: PersonaJob, context: Context) -> tuple[str | None, str]:
        previous = await self.state.recent_utterances(self.persona.name)
        index: NearDuplicateIndex[int] = NearDuplicateIndex()
        for number, text in enumerate(previous):
            index.add(number, text)
        avoid: list[str] = []
        for _attempt in range(2):
            prompt = speech_prompt(self.persona, job.channel, context.history, context.task, avoid)
            text = await self.model.complete(prompt)
            matches = index.find(text)
            if not matches:
                await self.state.remember_utterance(self.persona.name, text)
                return text, "posted"
            # Regenerate once, telling the model what it is repeating; then give up quietly.
            avoid = [previous[match.key] for match in matches[:3]]
        return None, "skipped_duplicate"

    async def _event(self, job: PersonaJob) -> str:
        kind = EventKind(job.text or EventKind.CONCLUSION.value)
        prompt = event_prompt(self.persona, kind, await self.state.tasks(), datetime.now(self.zone))
        return await self.model.complete(prompt)

    def _record(self, job: PersonaJob, content: str | None, outcome: str, started: float) -> None:
        took = time.monotonic() - started
        if job.kind is JobKind.SPEECH:
            AUTONOMOUS_SPEECH.labels(agent=self.persona.name, outcome=outcome).inc()
            log.info(
                "自発発言 %s in #%s: %s (%.2fs)", self.persona.name, job.channel, outcome, took
            )
            return
        if job.kind is JobKind.REPLY and content is not None:
            REPLIES.labels(agent=self.persona.name, outcome=outcome).inc()
            REPLY_LATENCY.labels(agent=self.persona.name).observe(time.time() - job.enqueued_at)
        log.info(
            "%s job %s processed successfully by %s in %.2fs (%s)",
            job.kind.value,
            job.job_id,
            self.persona.name,
            took,
            outcome,
        )
