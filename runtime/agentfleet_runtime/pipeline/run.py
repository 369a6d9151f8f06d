"""The 06:00 pipeline (長期記憶 + Daily Report) for one logical date, end to end.

Steps for date D (the previous fleet-local day when run at 06:00), each a function below:

0. Take D's advisory lock in PostgreSQL and look for D's completion record: the CronJob
   controller may start two runs or a retried one, and a completed date costs no LLM call
   (:func:`run_day`, :func:`_finish_completed_day`).
1. Read D's messages from the Redis day log (written by the router), keep humans' and
   personas' messages (:func:`_read_day`); **one** structured-output call extracts memories
   (:func:`_extract`; a day over
   :data:`~agentfleet_runtime.pipeline.extract.MAX_TRANSCRIPT_CHARS` is split into a few calls).
2. Drop near-duplicates with :func:`agentfleet_runtime.dedup.dedupe`, against each other and
   against the memories already stored for D (:func:`_drop_near_duplicates`).
3. **One** call computes the progress differential against the latest earlier progress
   (:func:`_progress_differential`).
4. **One** batch embedding call (one request per 100 memories: Google's batch limit), and
   each memory's source messages (:func:`_embed`).
5. Commit memories, progress and D's completion in one transaction (nothing partial
   survives a failure, so a failed run is simply run again) (:func:`_commit`).
6. Build the template report (:mod:`agentfleet_runtime.brain.report`, no LLM): an embed
   under its heading, the text form logged, and put it on SPECTRA's queue as an ANNOUNCE
   job ``report:{fleet}:{D}`` — atomically
   with a Redis run-once marker, and recorded in PostgreSQL, so it is queued once; the
   worker's own ``done`` marker on the job id guards the post itself (:func:`_queue_report`).
7. Leave the run's outcome in Redis (:func:`_record_outcome`): in Kubernetes this process is a
   short-lived Job that Prometheus never scrapes, so Reception serves it as gauges.

An empty day makes no LLM call and still posts a short report (昨日は会話がなかった).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, NamedTuple
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from agentfleet_runtime.brain.catchup import candidate_days, plan_catch_up
from agentfleet_runtime.brain.messages import JobKind, PersonaJob
from agentfleet_runtime.brain.report import (
    REPORT_PERSONA,
    DailyReportData,
    ReportMemory,
    ReportProgress,
    SharedFile,
    daily_report,
    report_embed,
    report_heading,
    report_job_id,
)
from agentfleet_runtime.brain.speech import ActiveTask
from agentfleet_runtime.bus.codec import FIELD, encode_job
from agentfleet_runtime.bus.keys import FleetKeys
from agentfleet_runtime.bus.queues import QUEUE_MAXLEN
from agentfleet_runtime.bus.streams import REDIS_DOWN
from agentfleet_runtime.config import Settings
from agentfleet_runtime.contract import PERSONAS
from agentfleet_runtime.dedup import dedupe
from agentfleet_runtime.llm.gemini import EMBED_BATCH_LIMIT, GeminiClient, GeminiSettings, Turn
from agentfleet_runtime.llm.rate_limit import RedisRateLimiter
from agentfleet_runtime.memory.hot import DAY_LOG_TTL, HotMemory
from agentfleet_runtime.memory.long_term import (
    SCHEMA_VERSION,
    LongTermStore,
    MemoryType,
    NewMemory,
    RunRecord,
    StoredMemory,
    migrate,
)
from agentfleet_runtime.memory.state import FleetState
from agentfleet_runtime.observability.metrics import (
    DAY_LOGS_EXPIRED,
    ERRORS,
    PipelineOutcomeField,
)
from agentfleet_runtime.pipeline.extract import (
    MAX_MEMORIES_PER_CALL,
    MAX_TRANSCRIPT_CHARS,
    Extraction,
    ProgressDiff,
    Selection,
    SourceIndex,
    chunk_lines,
    clean_content,
    clean_entities,
    extraction_prompt,
    progress_input,
    progress_prompt,
    select_messages,
    transcript_lines,
)

log = logging.getLogger(__name__)

REPORT_CHANNEL: Final = "command_center"
REPORT_MARKER_TTL: Final = 7 * 24 * 3600
#: Memories given to the progress call (the most important first).
MAX_PROGRESS_MEMORIES: Final = 100

_QUEUE_ONCE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', ARGV[3], ARGV[4])
  return 1
end
return 0
"""


class PipelineError(RuntimeError):
    """The pipeline failed for a date; nothing of that date was stored, so re-run it."""

    def __init__(self, day: date, step: str, reason: str) -> None:
        super().__init__(f"長期記憶 failed for {day.isoformat()} at step '{step}': {reason}")
        self.day = day
        self.step = step


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """What the pipeline needs to know about the fleet (from Settings, or a test)."""

    fleet: str
    channel_ids: Mapping[str, int]
    """Channel name → Discord id; the report goes to ``command_center``."""
    zone: ZoneInfo
    personas: tuple[str, ...] = PERSONAS
    max_transcript_chars: int = MAX_TRANSCRIPT_CHARS
    max_memories_per_call: int = MAX_MEMORIES_PER_CALL


@dataclass
class PipelineDeps:
    """Open clients the pipeline runs with; the caller owns (and closes) them."""

    redis: aioredis.Redis
    store: LongTermStore
    gemini: GeminiClient
    config: PipelineConfig
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    @property
    def keys(self) -> FleetKeys:
        """The fleet's Redis key names."""
        return FleetKeys(self.config.fleet)


@dataclass(frozen=True, slots=True)
class PipelineResult:
    """What one run did, for the caller's log line, metrics and tests."""

    day: date
    status: str
    """``completed``; ``already_done`` (nothing to do); ``report_only`` (stored earlier,
    the report was still missing); ``locked`` (another run of the date is in progress)."""
    messages: int = 0
    """Messages of the day that counted (humans and personas)."""
    memories_extracted: int = 0
    duplicates_dropped: int = 0
    memories_stored: int = 0
    """New rows in unified_memories."""
    llm_calls: int = 0
    """Calls to Gemini (generate + embed batches; retries inside a call not counted)."""
    report_queued: bool = False
    report: str | None = None
    duration_s: float = 0.0
    report_delay_s: float | None = None
    """Seconds from the memories' commit to the report being queued."""


def previous_day(zone: ZoneInfo, now: datetime | None = None) -> date:
    """The logical date a run at ``now`` processes: the day before, in the fleet's zone."""
    moment = now or datetime.now(UTC)
    return (moment.astimezone(zone) - timedelta(days=1)).date()


@contextlib.contextmanager
def _step(day: date, name: str) -> Iterator[None]:
    try:
        yield
    except PipelineError:
        raise
    except Exception as error:
        ERRORS.labels(component="pipeline").inc()
        reason = f"{type(error).__name__}: {error}"
        log.error("ERROR 長期記憶 failed for %s at step '%s': %s", day, name, reason)
        raise PipelineError(day, name, reason) from None


async def _persona_ids(redis: aioredis.Redis, keys: FleetKeys) -> dict[int, str]:
    """Discord user id → persona, as each bot recorded itself at login."""
    raw: Any = await redis.hgetall(keys.bots)
    ids: dict[int, str] = {}
    for name, value in raw.items():
        persona = name.decode() if isinstance(name, bytes) else str(name)
        if persona in PERSONAS:
            ids[int(value)] = persona
    return ids


async def run_day(
    deps: PipelineDeps, day: date, *, force: bool = False, require_log: bool = False
) -> PipelineResult:
    """Run the pipeline for ``day`` with open clients; idempotent per date.

    ``force`` re-extracts a completed date (e.g. after a bad model day): memories already
    stored are kept and not duplicated, and a report queued before is not queued again.
    ``require_log`` (a run a person asked for) refuses a date whose day log is gone instead
    of treating it as a quiet day: there is nothing to form memories from, and a "no
    conversation" report would be false.
    Raises :class:`PipelineError` when a step fails; nothing of the date is stored then.
    """
    started = time.monotonic()
    config = deps.config
    log.info("長期記憶 start: fleet=%s day=%s", config.fleet, day)
    with _step(day, "run"):
        async with deps.store.day_lock(config.fleet, day) as acquired:
            if not acquired:
                log.info("長期記憶 for %s is already running elsewhere: this run stops", day)
                return PipelineResult(day, "locked", duration_s=time.monotonic() - started)
            result = await _run_locked(deps, day, started, force, require_log)
    if result.status == "completed":
        await _record_outcome(deps, result)
    return result


async def _run_locked(
    deps: PipelineDeps, day: date, started: float, force: bool, require_log: bool
) -> PipelineResult:
    """Steps 0–6 of the module docstring, with ``day``'s lock held."""
    with _step(day, "state"):
        record = await deps.store.run_record(deps.config.fleet, day)
        has_log = bool(await deps.redis.exists(deps.keys.day(day.isoformat())))
    if record is not None and not force:
        return await _finish_completed_day(deps, day, record, started)
    if require_log and not has_log:
        note = "; the memories stored for it earlier are kept" if record is not None else ""
        raise PipelineError(
            day,
            "read",
            f"its day log is no longer in Redis (kept {DAY_LOG_TTL // 86400} days after the "
            f"day's last message), so there is nothing to form memories from{note}",
        )

    conversation = await _read_day(deps, day)
    formed = await _form(deps, day, conversation)
    stats = conversation.stats | {
        "memories_extracted": formed.extracted,
        "duplicates_dropped": formed.dropped,
        "llm_calls": formed.llm_calls,
        "forced": force,
    }
    inserted = await _commit(deps, day, formed, stats, started)
    committed = time.monotonic()
    if record is not None and record.report_queued_at is not None:
        # The run-once marker in Redis expires after a week; this record does not.
        log.info("Daily Report for %s was posted before: a forced run does not post it again", day)
        queued, text = False, None
    else:
        queued, text = await _queue_report(deps, day, stats)
    return PipelineResult(
        day,
        "completed",
        messages=len(conversation.selection.messages),
        memories_extracted=formed.extracted,
        duplicates_dropped=formed.dropped,
        memories_stored=inserted,
        llm_calls=formed.llm_calls,
        report_queued=queued,
        report=text,
        duration_s=time.monotonic() - started,
        report_delay_s=time.monotonic() - committed,
    )


async def _form(deps: PipelineDeps, day: date, conversation: _Conversation) -> _Formed:
    """Steps 1–4: memories and progress from the day's messages (no call for a quiet day)."""
    if not conversation.selection.messages:
        log.info("長期記憶 %s had no conversation: no LLM call", day)
        return _Formed()
    candidates, extraction_calls = await _extract(deps, day, conversation)
    kept = await _drop_near_duplicates(deps, day, candidates)
    progress = await _progress_differential(deps, day, kept, conversation.tasks)
    memories = await _embed(deps, day, kept, conversation)
    return _Formed(
        memories,
        progress,
        extracted=len(candidates),
        dropped=len(candidates) - len(kept),
        llm_calls=extraction_calls + 1 + -(-len(kept) // EMBED_BATCH_LIMIT),
    )


class _Candidate(NamedTuple):
    """One extracted memory, cleaned, before near-duplicates are dropped and it is embedded."""

    content: str
    memory_type: MemoryType
    importance: float
    entities: tuple[str, ...]
    claimed_channel: str
    """Where the model says it was said; its source messages have the last word."""


@dataclass(frozen=True, slots=True)
class _Conversation:
    """What step 1 read of the date: the messages that count, and what the prompts need."""

    selection: Selection
    persona_ids: dict[int, str]
    channel_names: dict[int, str]
    tasks: list[ActiveTask]
    stats: dict[str, Any]
    """The day's message counts, stored with the run and shown in the report."""


@dataclass(frozen=True, slots=True)
class _Formed:
    """What steps 1–4 formed: the memories to store, the progress, and their counts."""

    memories: list[NewMemory] = field(default_factory=list)
    progress: dict[str, Any] | None = None
    extracted: int = 0
    dropped: int = 0
    llm_calls: int = 0
    """Extraction chunks, the progress call and the embedding batches."""


async def _finish_completed_day(
    deps: PipelineDeps, day: date, record: RunRecord, started: float
) -> PipelineResult:
    """Step 0 found ``day`` stored: nothing to do, or only its report left to queue."""
    if record.report_queued_at is not None:
        log.info(
            "長期記憶 for %s already done at %s: nothing to do (--force runs it again)",
            day,
            record.completed_at.isoformat(timespec="seconds"),
        )
        return PipelineResult(day, "already_done", duration_s=time.monotonic() - started)
    log.info("長期記憶 for %s done earlier; its Daily Report is still to be queued", day)
    committed = time.monotonic()
    queued, text = await _queue_report(deps, day, record.stats)
    return PipelineResult(
        day,
        "report_only",
        messages=int(record.stats.get("messages", 0)),
        report_queued=queued,
        report=text,
        duration_s=time.monotonic() - started,
        report_delay_s=time.monotonic() - committed,
    )


async def _read_day(deps: PipelineDeps, day: date) -> _Conversation:
    """Step 1: the day log, kept to humans' and personas' messages, and the current tasks."""
    keys = deps.keys
    channel_names = {cid: name for name, cid in deps.config.channel_ids.items()}
    step_started = time.monotonic()
    with _step(day, "read"):
        persona_ids = await _persona_ids(deps.redis, keys)
        raw = await HotMemory(deps.redis, keys).day(day.isoformat())
        tasks = await FleetState(deps.redis, keys).tasks()
    selection = select_messages(raw, persona_ids)
    per_channel, humans, agents = selection.counts(channel_names)
    log.info(
        "長期記憶 read %d messages for %s: %d kept (%d members, %d agents), %d from other "
        "bots and %d empty skipped (%.2fs)",
        len(raw),
        day,
        len(selection.messages),
        humans,
        agents,
        selection.skipped_bots,
        selection.skipped_empty,
        time.monotonic() - step_started,
    )
    stats: dict[str, Any] = {
        "messages": len(selection.messages),
        "human_messages": humans,
        "agent_messages": agents,
        "channel_counts": per_channel,
        "shared": selection.shared(channel_names),
    }
    return _Conversation(selection, persona_ids, channel_names, tasks, stats)


async def _extract(
    deps: PipelineDeps, day: date, conversation: _Conversation
) -> tuple[list[_Candidate], int]:
    """Step 1: memories from the transcript, one call per chunk; returns them and the calls."""
    config = deps.config
    step_started = time.monotonic()
    lines = transcript_lines(
        conversation.selection.messages,
        conversation.channel_names,
        conversation.persona_ids,
        config.zone,
    )
    chunks = chunk_lines(lines, config.max_transcript_chars)
    candidates: list[_Candidate] = []
    with _step(day, "extract"):
        for chunk in chunks:
            candidates += await _extract_chunk(deps, day, chunk)
    log.info(
        "長期記憶 extracted %d memories from %d lines in %d call(s) (%.2fs)",
        len(candidates),
        len(lines),
        len(chunks),
        time.monotonic() - step_started,
    )
    return candidates, len(chunks)


async def _extract_chunk(deps: PipelineDeps, day: date, chunk: list[str]) -> list[_Candidate]:
    """One structured-output call on part of the transcript, its answers cleaned."""
    limit = deps.config.max_memories_per_call
    generation = await deps.gemini.generate(
        extraction_prompt(day, deps.config.personas, limit),
        [Turn("user", "\n".join(chunk))],
        response_schema=Extraction,
        temperature=0.2,
    )
    assert isinstance(generation.parsed, Extraction)
    candidates: list[_Candidate] = []
    for item in generation.parsed.memories[:limit]:
        content = clean_content(item.content)
        if content:
            importance = min(1.0, max(0.0, float(item.importance)))
            entities = clean_entities(item.entities)
            candidates.append(
                _Candidate(content, item.memory_type, importance, entities, item.channel)
            )
    return candidates


async def _drop_near_duplicates(
    deps: PipelineDeps, day: date, candidates: list[_Candidate]
) -> list[_Candidate]:
    """Step 2: candidates that repeat neither each other nor what is stored for ``day``."""
    with _step(day, "dedup"):
        existing = await deps.store.day_memories(deps.config.fleet, day)
    texts = [m.content for m in existing] + [c.content for c in candidates]
    keep = [i - len(existing) for i in dedupe(texts) if i >= len(existing)]
    kept = [candidates[i] for i in keep]
    log.info(
        "長期記憶 dedup: %d kept, %d near-duplicates dropped (%d already stored for %s)",
        len(kept),
        len(candidates) - len(kept),
        len(existing),
        day,
    )
    return kept


async def _progress_differential(
    deps: PipelineDeps, day: date, kept: list[_Candidate], tasks: list[ActiveTask]
) -> dict[str, Any]:
    """Step 3: one call compares the day's memories with the latest earlier progress."""
    step_started = time.monotonic()
    with _step(day, "progress"):
        previous = await deps.store.progress_before(deps.config.fleet, day)
        ranked = sorted(kept, key=lambda c: -c.importance)[:MAX_PROGRESS_MEMORIES]
        generation = await deps.gemini.generate(
            progress_prompt(day),
            [
                Turn(
                    "user",
                    progress_input(
                        previous,
                        [(t.channel, t.text) for t in tasks],
                        [(c.claimed_channel, c.memory_type, c.content) for c in ranked],
                    ),
                )
            ],
            response_schema=ProgressDiff,
            temperature=0.2,
        )
        assert isinstance(generation.parsed, ProgressDiff)
        progress = generation.parsed.model_dump()
        progress["previous_day"] = previous[0].isoformat() if previous else None
    log.info(
        "長期記憶 progress differential: %d items against %s (%.2fs)",
        len(progress["items"]),
        progress["previous_day"] or "nothing earlier",
        time.monotonic() - step_started,
    )
    return progress


async def _embed(
    deps: PipelineDeps, day: date, kept: list[_Candidate], conversation: _Conversation
) -> list[NewMemory]:
    """Step 4: one batch embedding call; each memory gets its vector and source messages."""
    step_started = time.monotonic()
    with _step(day, "embed"):
        vectors = await deps.gemini.embed([c.content for c in kept]) if kept else []
    sources = SourceIndex(conversation.selection.messages, conversation.channel_names)
    memories = [
        _new_memory(candidate, vector, sources)
        for candidate, vector in zip(kept, vectors, strict=True)
    ]
    log.info("長期記憶 embedded %d memories (%.2fs)", len(vectors), time.monotonic() - step_started)
    return memories


def _new_memory(candidate: _Candidate, vector: list[float], sources: SourceIndex) -> NewMemory:
    source = sources.attribute(candidate.content, candidate.claimed_channel)
    return NewMemory(
        channel=source.channel,
        content=candidate.content,
        memory_type=candidate.memory_type,
        importance=candidate.importance,
        embedding=vector,
        entities=candidate.entities,
        source_message_ids=source.message_ids,
        source_at=datetime.fromtimestamp(source.source_at, UTC)
        if source.source_at is not None
        else None,
    )


async def _commit(
    deps: PipelineDeps, day: date, formed: _Formed, stats: dict[str, Any], started: float
) -> int:
    """Step 5: memories, progress and completion in one transaction; returns rows added."""
    with _step(day, "store"):
        inserted = await deps.store.commit_day(
            deps.config.fleet,
            day,
            formed.memories,
            formed.progress,
            stats,
            formed_at=deps.clock(),
        )
    log.info(
        "長期記憶 finished: fleet=%s day=%s messages=%d extracted=%d duplicates=%d stored=%d "
        "llm_calls=%d in %.1fs",
        deps.config.fleet,
        day,
        stats["messages"],
        formed.extracted,
        formed.dropped,
        inserted,
        formed.llm_calls,
        time.monotonic() - started,
    )
    return inserted


def _report_data(
    day: date,
    stats: Mapping[str, Any],
    tasks: list[Any],
    memories: list[StoredMemory],
    progress: Any | None,
) -> DailyReportData:
    summary = progress if isinstance(progress, dict) else {}
    return DailyReportData(
        day=day,
        channel_counts={str(k): int(v) for k, v in dict(stats.get("channel_counts", {})).items()},
        human_messages=int(stats.get("human_messages", 0)),
        agent_messages=int(stats.get("agent_messages", 0)),
        tasks=tasks,
        memories=[
            ReportMemory(m.content, m.memory_type, m.importance, m.channel) for m in memories
        ],
        memories_stored=len(memories),
        progress_summary=summary.get("summary") or None,
        progress=[
            ReportProgress(
                str(i.get("channel", "")),
                str(i.get("topic", "")),
                str(i.get("status", "")),
                str(i.get("detail", "")),
            )
            for i in summary.get("items", []) or []
            if isinstance(i, dict)
        ],
        shared=[
            SharedFile(str(f.get("channel", "")), str(f.get("author", "")), str(f.get("label", "")))
            for f in stats.get("shared", []) or []
            if isinstance(f, dict)
        ],
    )


async def _queue_report(
    deps: PipelineDeps, day: date, stats: Mapping[str, Any]
) -> tuple[bool, str]:
    """Step 6: the report from what is stored, queued once; returns (queued now, text)."""
    config, keys = deps.config, deps.keys
    started = time.monotonic()
    with _step(day, "report"):
        tasks = await FleetState(deps.redis, keys).tasks()
        memories = await deps.store.day_memories(config.fleet, day)
        progress = await deps.store.progress(config.fleet, day)
        data = _report_data(day, stats, tasks, memories, progress)
        text = daily_report(data)
        # Posted as an embed under its heading; the text form is what the log keeps.
        job = PersonaJob(
            job_id=report_job_id(config.fleet, day),
            kind=JobKind.ANNOUNCE,
            persona=REPORT_PERSONA,
            channel=REPORT_CHANNEL,
            channel_id=config.channel_ids[REPORT_CHANNEL],
            enqueued_at=time.time(),
            text=report_heading(data),
            embed=report_embed(data),
        )
        script = deps.redis.register_script(_QUEUE_ONCE)
        queued = bool(
            await script(
                keys=[keys.event(f"daily-report:{day.isoformat()}"), keys.queue(REPORT_PERSONA)],
                args=[REPORT_MARKER_TTL, QUEUE_MAXLEN, FIELD, encode_job(job)],
            )
        )
        await deps.store.mark_report_queued(config.fleet, day)
    if queued:
        log.info(
            "Daily Report queued for %s: job %s to #%s by %s (%d chars, %.2fs)",
            day,
            job.job_id,
            REPORT_CHANNEL,
            REPORT_PERSONA,
            len(text),
            time.monotonic() - started,
        )
        # The post is an embed; its text form is kept here, where operators grep for it.
        log.info("Daily Report text for %s:\n%s", day, text)
    else:
        log.info("Daily Report for %s was already queued: not queued again", day)
    return queued, text


async def _record_outcome(deps: PipelineDeps, result: PipelineResult) -> None:
    """Step 7: the completed run's outcome in Redis, for Reception's /metrics.

    Best effort: the memories are committed and the report queued, so a Redis hiccup here
    must not fail a run that succeeded (a retry would find the date done and record nothing
    either); it is logged and counted instead.
    """
    outcome = {
        PipelineOutcomeField.LAST_SUCCESS: deps.clock().timestamp(),
        PipelineOutcomeField.LAST_DURATION: result.duration_s,
        PipelineOutcomeField.LAST_MEMORIES_STORED: float(result.memories_stored),
        PipelineOutcomeField.LAST_DUPLICATES_DROPPED: float(result.duplicates_dropped),
    }
    try:
        await FleetState(deps.redis, deps.keys).record_pipeline_outcome(outcome)
    except REDIS_DOWN as error:
        ERRORS.labels(component="pipeline").inc()
        log.warning(
            "WARN 長期記憶 for %s completed, but its outcome could not be kept for /metrics: %s",
            result.day,
            error.__class__.__name__,
        )


# -- dates missed while the fleet was down ---------------------------------------------------


async def catch_up(
    deps: PipelineDeps, through: date, *, scheduled: date | None = None
) -> list[PipelineResult]:
    """Run every date up to ``through`` the pipeline still owes; report those it cannot.

    The owed dates are those the router noted in the set of logged dates (see
    :attr:`FleetKeys.day_logs`) without a completion record; ``scheduled`` is the daily
    run's date, run in any case. Dates run oldest first and stop at the first failure, so a
    retry resumes in order. A date whose log has expired is logged as a WARNING naming it
    and counted in ``agentfleet_pipeline_day_logs_expired_total``.
    """
    keys = deps.keys
    with _step(through, "catch-up"):
        raw: Any = await deps.redis.smembers(keys.day_logs)
        recorded = {date.fromisoformat(_text(member)) for member in raw}
        candidates = candidate_days(through, recorded, scheduled)
        logged = {d for d in candidates if await deps.redis.exists(keys.day(d.isoformat()))}
        completed = {
            d for d in candidates if await deps.store.run_record(deps.config.fleet, d) is not None
        }
    plan = plan_catch_up(through, recorded, logged, completed, scheduled)
    with _step(through, "catch-up"):
        await _report_expired(deps, plan.expired)
        if plan.settled:
            await deps.redis.srem(keys.day_logs, *[d.isoformat() for d in plan.settled])
    results = []
    for day in plan.run:
        if day != scheduled:
            log.info("長期記憶 catching up %s, missed while the fleet was down", day)
        result = await run_day(deps, day)
        if result.status != "locked":  # a run elsewhere settles the date itself
            await deps.redis.srem(keys.day_logs, day.isoformat())
        results.append(result)
    return results


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


async def _report_expired(deps: PipelineDeps, days: tuple[date, ...]) -> None:
    """Say which dates are lost to long-term memory, once each even across processes."""
    for day in days:
        # Whoever removes the date reports it: a retried Job beside a running one, say.
        if await deps.redis.srem(deps.keys.day_logs, day.isoformat()):
            DAY_LOGS_EXPIRED.inc()
            log.warning(
                "WARN 長期記憶 for %s lost: its day log expired from Redis (kept %d days after "
                "the day's last message) before the pipeline ran, so that day's conversation "
                "is not remembered",
                day,
                DAY_LOG_TTL // 86400,
            )


# -- entry points for the CLI roles and the all-in-one process ------------------------------


def pipeline_config(settings: Settings) -> PipelineConfig:
    """The pipeline's view of a :class:`agentfleet_runtime.config.Settings`."""
    return PipelineConfig(
        fleet=settings.FLEET_NAME,
        channel_ids=dict(settings.channel_ids),
        zone=settings.zone,
        personas=tuple(settings.enabled_personas),
    )


@contextlib.asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[LongTermStore]:
    """A store on ``POSTGRESQL_URL``, closed on exit."""
    if settings.POSTGRESQL_URL is None:
        raise PipelineError(date.today(), "connect", "POSTGRESQL_URL is not set")
    store = await LongTermStore.connect(settings.POSTGRESQL_URL.get_secret_value())
    try:
        yield store
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def _process_deps(
    settings: Settings,
    redis: aioredis.Redis,
    gemini: GeminiClient,
    clock: Callable[[], datetime] | None,
) -> AsyncIterator[PipelineDeps]:
    """Pipeline clients inside a running process: its Redis and Gemini, a PostgreSQL pool."""
    async with open_store(settings) as store:
        deps = PipelineDeps(redis, store, gemini, pipeline_config(settings))
        yield deps if clock is None else dataclasses.replace(deps, clock=clock)


async def run_in_process(
    settings: Settings,
    redis: aioredis.Redis,
    gemini: GeminiClient,
    day: date | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
) -> PipelineResult:
    """Run one date (default: yesterday) inside a running fleet process.

    It opens (and closes) only a PostgreSQL pool, and its Gemini calls go through the
    process's shared rate limiter.
    """
    target = day if day is not None else previous_day(settings.zone)
    async with _process_deps(settings, redis, gemini, clock) as deps:
        return await run_day(deps, target)


async def catch_up_in_process(
    settings: Settings,
    redis: aioredis.Redis,
    gemini: GeminiClient,
    through: date,
    *,
    scheduled: bool = True,
    clock: Callable[[], datetime] | None = None,
) -> list[PipelineResult]:
    """:func:`catch_up` inside the all-in-one process, with its Redis and Gemini.

    At 06:00 ``through`` is yesterday, the daily run's date (``scheduled``); at start-up
    it is the latest date already due, and only dates with a log run.
    """
    async with _process_deps(settings, redis, gemini, clock) as deps:
        return await catch_up(deps, through, scheduled=through if scheduled else None)


async def run_migrate(settings: Settings) -> None:
    """``agentfleet migrate``: create or upgrade the schema for the configured dimension.

    Also sets the database's default time zone to ``FLEET_TIMEZONE`` so that
    ``DATE(timestamp) = CURRENT_DATE`` counts by the fleet's local date.
    """
    if settings.POSTGRESQL_URL is None:
        raise RuntimeError("POSTGRESQL_URL is not set")
    started = time.monotonic()
    applied = await migrate(
        settings.POSTGRESQL_URL.get_secret_value(),
        settings.GEMINI_EMBEDDING_DIMENSIONS,
        timezone=settings.FLEET_TIMEZONE,
    )
    log.info(
        "長期記憶 schema %s (version %d, halfvec(%d)) in %.2fs",
        f"migrated: applied {applied}" if applied else "already up to date",
        SCHEMA_VERSION,
        settings.GEMINI_EMBEDDING_DIMENSIONS,
        time.monotonic() - started,
    )


async def run_pipeline(
    settings: Settings, day: date | None = None, *, force: bool = False
) -> list[PipelineResult]:
    """``agentfleet pipeline [--date D [--force]]``: own clients, closed after.

    Without ``day`` (the 06:00 CronJob): the previous fleet-local date, and every earlier
    date still owed whose log exists (:func:`catch_up`). With ``day`` (a person's re-run):
    that date alone; a date already done is left alone unless ``force``, and a date whose
    log is gone is refused. Gemini calls go through the fleet's shared Redis rate limiter,
    like every other process of the fleet. Raises :class:`PipelineError` on failure (the
    CronJob's retry then re-runs the date).
    """
    redis = aioredis.Redis.from_url(
        settings.REDIS_URL.get_secret_value(), socket_timeout=10, socket_connect_timeout=5
    )
    try:
        keys = FleetKeys(settings.FLEET_NAME)
        limiter = RedisRateLimiter(redis, keys.rate_limit, settings.GEMINI_REQUESTS_PER_MINUTE)
        gemini = await GeminiClient.create(gemini_settings(settings), limiter)
        try:
            async with open_store(settings) as store:
                deps = PipelineDeps(redis, store, gemini, pipeline_config(settings))
                if day is not None:
                    return [await run_day(deps, day, force=force, require_log=True)]
                yesterday = previous_day(settings.zone)
                return await catch_up(deps, yesterday, scheduled=yesterday)
        finally:
            await gemini.close()
    finally:
        await redis.aclose()


def gemini_settings(settings: Settings) -> GeminiSettings:
    """The Gemini adapter's settings from the process configuration."""
    if settings.GEMINI_API_KEY is None:
        raise RuntimeError("GEMINI_API_KEY is not set")
    return GeminiSettings(
        api_key=settings.GEMINI_API_KEY,
        base_url=settings.GEMINI_BASE_URL,
        model=settings.GEMINI_MODEL,
        embedding_model=settings.GEMINI_EMBEDDING_MODEL,
        embedding_dimensions=settings.GEMINI_EMBEDDING_DIMENSIONS,
        timeout_seconds=settings.GEMINI_TIMEOUT_SECONDS,
        max_attempts=settings.GEMINI_MAX_ATTEMPTS,
    )
