"""A persona's worker: takes jobs from its queue, generates, posts, and records — once.

Exactly-once posting rests on three things: the job's ``done`` marker (checked before any
work, set with the acknowledgement after the post), the job id used as Discord's nonce (so a
post retried after a crash between posting and marking is recognised by Discord and not
repeated), and the stream consumer re-reading its own pending jobs after a restart. The
post is recorded in the channel's memory and the day log in that same last step, from the
messages Discord answered with, which a retried post gets back unchanged.

A reply the router queued needs no ``done`` check: the router's script queues each reply
once, and its marker is set in the same step that acknowledges its one entry, so a reply
still pending cannot be done. Such a job also carries its context (the conversation before
the message, as the prompt's lines, and the tasks), so it reaches Gemini without a round
trip to Redis first.
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
from agentfleet_runtime.brain.prompts import (
    conversation_lines,
    event_prompt,
    reply_prompt,
    speech_prompt,
)
from agentfleet_runtime.brain.report import is_report_job
from agentfleet_runtime.brain.speech import ActiveTask
from agentfleet_runtime.bus.codec import (
    CONVERSATION_FIELD,
    FIELD,
    TASKS_FIELD,
    decode_conversation,
    decode_job,
)
from agentfleet_runtime.bus.keys import FleetKeys
from agentfleet_runtime.dedup import NearDuplicateIndex
from agentfleet_runtime.llm.gemini import LLMError
from agentfleet_runtime.memory.hot import (
    RECORD_LUA,
    HotMemory,
    decode_recent,
    record_limits,
    record_operands,
)
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

_FINISH_SCRIPT = (
    RECORD_LUA
    + """
-- KEYS: done marker, queue, day logs, last speakers, pipeline outcome, then per posted
-- message its marker, hot memory and day log. ARGV: the record limits (4), the marker's
-- TTL, group, entry id, '1' to delete the entry, channel, persona ('' when nothing was
-- posted), the outcome field and its value ('' for none), then per message JSON and date.
local limits = {ARGV[1], ARGV[2], ARGV[3], ARGV[4]}
redis.call('SET', KEYS[1], '1', 'EX', ARGV[5])
for i = 0, (#KEYS - 5) / 3 - 1 do
  record(KEYS[6 + 3 * i], KEYS[7 + 3 * i], KEYS[8 + 3 * i], KEYS[3],
    ARGV[13 + 2 * i], ARGV[14 + 2 * i], limits)
end
if ARGV[10] ~= '' then
  redis.call('HSET', KEYS[4], ARGV[9], ARGV[10])
end
if ARGV[12] ~= '' then
  redis.call('HSET', KEYS[5], ARGV[11], ARGV[12])
end
redis.call('XACK', KEYS[2], ARGV[6], ARGV[7])
if ARGV[8] == '1' then
  redis.call('XDEL', KEYS[2], ARGV[7])
end
"""
)


@dataclass(frozen=True, slots=True)
class Context:
    """What a reply or an autonomous line is written from."""

    conversation: list[str]
    """The channel's latest messages as the prompt's lines, oldest first, without the one
    a reply answers (see :func:`~agentfleet_runtime.brain.prompts.conversation_line`)."""
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
        self._finish_script = redis.register_script(_FINISH_SCRIPT)
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
        await self._finish(job, entry_id, fields, content, posted)
        self._record(job, content, outcome, started)

    async def _finish(
        self,
        job: PersonaJob,
        entry_id: str,
        fields: dict[str, str],
        content: str | None,
        posted: list[InboundMessage],
    ) -> None:
        """Mark ``job`` done, record what was posted, and acknowledge its entry: one script.

        The last speaker is noted only when something was posted; a report's posting time
        is what Reception serves as the day's report outcome, since posted, not queued, is
        what people see. A reply's entry carries kilobytes of conversation never read again,
        so it goes with the acknowledgement.
        """
        record_keys, record_args = record_operands(self.keys, posted, self.zone)
        spoke = content is not None
        report_posted = str(time.time()) if spoke and is_report_job(job.job_id) else ""
        await self._finish_script(
            keys=[
                self.keys.done(job.job_id),
                self.queue,
                self.keys.day_logs,
                self.keys.last_speakers,
                self.keys.pipeline_outcome,
                *record_keys,
            ],
            args=[
                *record_limits(),
                DONE_TTL,
                WORKER_GROUP,
                entry_id,
                1 if CONVERSATION_FIELD in fields else 0,
                job.channel,
                self.persona.name if spoke else "",
                PipelineOutcomeField.REPORT_POSTED.value,
                report_posted,
                *record_args,
            ],
        )

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
        if wants_context and CONVERSATION_FIELD in fields and TASKS_FIELD in fields:
            conversation = decode_conversation(fields[CONVERSATION_FIELD])
            tasks = decode_carried_tasks(fields[TASKS_FIELD])
            return False, self._context(job, conversation, tasks, await recall)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.exists(self.keys.done(job.job_id))
            if wants_context:
                self.memory.queue_recent(pipe, job.channel_id)
                self.state.queue_tasks(pipe)
            (done, *raw), memories = await asyncio.gather(pipe.execute(), recall)
        if not wants_context:
            return bool(done), None
        answered = job.message.message_id if job.message is not None else None
        conversation = conversation_lines(decode_recent(raw[0]), leave_out=answered)
        return bool(done), self._context(job, conversation, decode_tasks(raw[1]), memories)

    async def _recall(self, job: PersonaJob) -> list[str]:
        """The memories recalled for a reply; none for other jobs or without recall."""
        if job.kind is not JobKind.REPLY or self.recall is None:
            return []
        assert job.message is not None, "a reply job carries its message"
        return await self.recall.recall(message_text(job.message), job.channel)

    @staticmethod
    def _context(
        job: PersonaJob, conversation: list[str], tasks: list[ActiveTask], memories: list[str]
    ) -> Context:
        task = next((t for t in tasks if t.channel == job.channel), None)
        return Context(conversation, task, memories)

    async def _reply(self, job: PersonaJob, context: Context) -> str:
        assert job.message is not None, "a reply job carries its message"
        # Fetched here, just before generation, so no bytes ever sit in Redis.
        readings = await self._read_attachments(job.message)
        prompt = reply_prompt(
            self.persona,
            job.channel,
            context.conversation,
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
            prompt = speech_prompt(
                self.persona, job.channel, context.conversation, context.task, avoid
            )
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
