"""The roles a process can run, built from settings: which clients, services and checks.

``all-in-one`` (``python main.py``) is Reception plus every enabled persona in one process;
in Kubernetes ``reception`` and each ``persona`` run in their own Pods and meet in Redis.
Every role serves /health, /ready and /metrics on HEALTH_CHECK_PORT.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
from collections.abc import Awaitable
from datetime import date, timedelta

import discord
import redis.asyncio as aioredis
import yarl

from agentfleet_runtime.app.attachments import AttachmentReader
from agentfleet_runtime.app.ports import Recall
from agentfleet_runtime.app.recall import MemoryRecall
from agentfleet_runtime.app.scheduler import Clock, Scheduler, SpeechSettings, utc_now
from agentfleet_runtime.app.services import router_service, worker_service
from agentfleet_runtime.brain.catchup import last_due_day
from agentfleet_runtime.brain.events import DueEvent
from agentfleet_runtime.brain.messages import InboundMessage
from agentfleet_runtime.brain.phases import DaySchedule
from agentfleet_runtime.brain.router import FleetDirectory
from agentfleet_runtime.brain.scope import DIRECT_MESSAGE_REPLY, Admission, admit
from agentfleet_runtime.brain.tasks import TaskRequest
from agentfleet_runtime.bus.inbox import Inbox
from agentfleet_runtime.bus.keys import FleetKeys
from agentfleet_runtime.bus.queues import enqueue
from agentfleet_runtime.bus.routing import RouterConfig
from agentfleet_runtime.config import Settings
from agentfleet_runtime.contract import Role
from agentfleet_runtime.discord.attachments import CdnFetcher
from agentfleet_runtime.discord.connection import (
    DiscordEndpoints,
    apply_endpoints,
    normalize_api_base,
)
from agentfleet_runtime.discord.poster import PersonaPoster
from agentfleet_runtime.discord.reception import ReceptionBot
from agentfleet_runtime.discord.supervisor import ClientSupervisor, SupervisorGroup
from agentfleet_runtime.llm.gemini import GeminiClient
from agentfleet_runtime.llm.rate_limit import RedisRateLimiter
from agentfleet_runtime.llm.text_model import GeminiTextModel
from agentfleet_runtime.memory.long_term import LongTermStore
from agentfleet_runtime.memory.state import FleetState
from agentfleet_runtime.observability.health import CheckResult, HealthServer
from agentfleet_runtime.observability.metrics import MESSAGES_IGNORED, PIPELINE_OUTCOME
from agentfleet_runtime.pipeline import (
    PipelineError,
    catch_up_in_process,
    gemini_settings,
    run_migrate,
    run_pipeline,
)
from agentfleet_runtime.retry import BOT_REGISTRATION, PIPELINE_RUN, retry

log = logging.getLogger(__name__)

SPEECH_BUDGET_SHARE = 0.5
"""Autonomous speech may start only while less than this share of the Gemini budget is used."""

# The fleet never joins voice: discord.py's "PyNaCl/davey is not installed" warnings would
# only add noise to the WARN lines operators grep for.
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False


def router_config(settings: Settings) -> RouterConfig:
    """The router's view of the fleet (bot ids are learnt from Redis once bots log in)."""
    channel_ids = settings.channel_ids
    return RouterConfig(
        directory=FleetDirectory(
            personas=settings.enabled_personas,
            persona_user_ids={},
            channel_names={cid: name for name, cid in channel_ids.items()},
            own_bot_ids=frozenset(),
        ),
        channel_ids=channel_ids,
        zone=settings.zone,
        max_replies=settings.MAX_REPLIES_PER_MESSAGE,
        learn_bot_ids=True,
        guild_id=settings.DISCORD_GUILD_ID,
        task_role_id=settings.TASK_ROLE_ID,
    )


def serve_fleet_gauges(
    health: HealthServer, state: FleetState, limiter: RedisRateLimiter, *, pipeline: bool
) -> None:
    """Keep the gauges read from Redis current on each /metrics answer of this process.

    Every role shows what is left of the fleet's Gemini budget: it fills up again while the
    fleet is idle, which only a fresh read shows. With ``pipeline`` (the role running
    Reception, always up) it also serves the 06:00 pipeline's last outcome, which the
    pipeline's short-lived Job cannot serve itself.
    """
    health.add_refresh(limiter.in_use)
    if pipeline:

        async def outcome() -> None:
            PIPELINE_OUTCOME.update(await state.pipeline_outcome())

        health.add_refresh(outcome)


def settle_collector() -> None:
    """Take what start-up made out of the garbage collector's view, for the process's life.

    The libraries' modules, the clients and the settings are hundreds of thousands of
    objects that live as long as the process, yet every full collection walked them all:
    one during the end-to-end benchmark's load took 118 ms, a stall of every reply in
    flight (18 ms frozen). Frozen after one last collection, they are no longer walked;
    what replies create still is.
    """
    gc.collect()
    gc.freeze()


class FleetProcess:
    """One process of a fleet: its clients, services and endpoints, started and stopped together."""

    def __init__(
        self, settings: Settings, role: Role, persona: str | None, clock: Clock = utc_now
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.role = role
        self.keys = FleetKeys(settings.FLEET_NAME)
        self.redis = aioredis.Redis.from_url(
            settings.REDIS_URL.get_secret_value(),
            socket_timeout=5,
            socket_connect_timeout=3,
            health_check_interval=30,
        )
        self.health = HealthServer(settings.HEALTH_CHECK_PORT, role.value)
        self.supervisors = SupervisorGroup()
        self.services: list[Awaitable[None]] = []
        self.gemini: GeminiClient | None = None
        # The Discord-compatible server (the sandbox) serves its attachments itself.
        api_host = yarl.URL(settings.DISCORD_API_BASE_URL or "").host
        self.cdn = CdnFetcher([api_host] if api_host else [])
        self._background: set[asyncio.Task[None]] = set()
        self.store: LongTermStore | None = None
        self.recall: MemoryRecall | None = None
        self.scheduler: Scheduler | None = None
        """The fleet's clock, in the role that runs Reception (its phase is worth showing)."""
        self.stop = asyncio.Event()
        self._pipeline_lock = asyncio.Lock()
        if role in (Role.ALL_IN_ONE, Role.PERSONA):
            self.personas = (
                settings.enabled_personas if role is Role.ALL_IN_ONE else (persona or "",)
            )
        else:
            self.personas = ()

    async def run(self, stop: asyncio.Event) -> None:
        """Start everything, run until ``stop``, then shut down in order."""
        self.stop = stop
        apply_endpoints(
            DiscordEndpoints(
                api_base_url=normalize_api_base(self.settings.DISCORD_API_BASE_URL)
                if self.settings.DISCORD_API_BASE_URL
                else None,
                gateway_url=self.settings.DISCORD_GATEWAY_URL,
            )
        )
        if self.role is Role.ALL_IN_ONE and self.settings.POSTGRESQL_URL is not None:
            # A single host has no migrate Job: bring the schema up to date first.
            await run_migrate(self.settings)
        self.health.add_check("redis", self._redis_check)
        self.health.add_check("discord", self._discord_check)
        reception = self.role in (Role.ALL_IN_ONE, Role.RECEPTION)
        state = FleetState(self.redis, self.keys)
        serve_fleet_gauges(self.health, state, self.limiter(), pipeline=reception)
        if reception:
            self._add_reception()
        if self.personas:
            limiter = self.limiter()
            self.gemini = await GeminiClient.create(gemini_settings(self.settings), limiter)
            self.health.add_check("gemini", self._gemini_check)
            recall = await self._recall(self.gemini, limiter)
            attachments = AttachmentReader(self.cdn, self.settings.attachment_limits)
            for persona in self.personas:
                self._add_persona(persona, GeminiTextModel(self.gemini), recall, attachments)
        if self.role is Role.ALL_IN_ONE:
            self._catch_up_missed_days()
        await self.health.start()
        self.supervisors.start()
        log.info("%s started (ENVIRONMENT=%s)", self.role.value, self.settings.ENVIRONMENT)
        settle_collector()
        try:
            await asyncio.gather(*self.services)
        finally:
            # A process that runs fleets one after another (tests, benchmarks) must not
            # keep the earlier ones' objects out of the collector's reach.
            gc.unfreeze()
            await self._shutdown()

    async def _shutdown(self) -> None:
        log.info("%s stopping: in-flight work finished, closing clients", self.role.value)
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.supervisors.close()
        if self.recall is not None:
            await self.recall.close()
        if self.store is not None:
            await self.store.close()
        if self.gemini is not None:
            await self.gemini.close()
        await self.cdn.close()
        await self.health.stop()
        await self.redis.aclose()
        log.info("%s stopped", self.role.value)

    # -- reception -----------------------------------------------------------------------

    def _add_reception(self) -> None:
        settings = self.settings
        config = router_config(settings)
        consumer, router, desk = router_service(self.redis, self.keys, config)
        inbox = Inbox(self.redis, self.keys)

        async def on_message(message: InboundMessage) -> str | None:
            admission = admit(message, config.directory.channel_names, config.guild_id)
            if admission is Admission.FLEET:
                # Our personas' posts were recorded by the workers that made them.
                if not await router.note_own_post(message):
                    await inbox.publish(message)
                return None
            MESSAGES_IGNORED.labels(reason=admission.value).inc()
            if admission is Admission.DIRECT and not message.author_is_bot:
                return DIRECT_MESSAGE_REPLY
            return None

        async def on_task_command(request: TaskRequest) -> str:
            reply, jobs = await desk.slash(request)
            for job in jobs:
                await enqueue(self.redis, self.keys, job)
            return reply

        bot = ReceptionBot(
            on_message=on_message,
            on_task_command=on_task_command,
            guild_id=settings.DISCORD_GUILD_ID,
        )
        supervisor = self.supervisors.add(
            ClientSupervisor(bot, settings.token("reception"), name="reception")
        )
        self.services.append(self._register_bot("reception", supervisor))
        self.services.append(consumer.run(self.stop))
        limiter = self.limiter()

        async def speech_budget() -> bool:
            return await limiter.has_headroom(SPEECH_BUDGET_SHARE)

        scheduler = Scheduler(
            self.redis,
            self.keys,
            DaySchedule(
                settings.zone,
                settings.processing_start,
                settings.meeting_start,
                settings.free_start,
            ),
            SpeechSettings(settings.speech_interval_seconds, settings.speech_probability),
            settings.enabled_personas,
            settings.channel_ids,
            self._pipeline,
            clock=self.clock,
            speech_budget=speech_budget,
        )
        self.scheduler = scheduler
        self.services.append(scheduler.run(self.stop))

    def limiter(self) -> RedisRateLimiter:
        """The fleet's shared Gemini rate limit: one Redis window for all of its processes."""
        return RedisRateLimiter(
            self.redis, self.keys.rate_limit, self.settings.GEMINI_REQUESTS_PER_MINUTE
        )

    async def _pipeline(self, due: DueEvent) -> None:
        """At PROCESSING start: the previous day's long-term memory and Daily Report."""
        if self.role is Role.RECEPTION:
            log.info("長期記憶 for %s is the pipeline CronJob's work", due.day)
            return
        self._start_pipeline(due.day - timedelta(days=1), scheduled=True)

    def _catch_up_missed_days(self) -> None:
        """At start-up: the dates missed while the process was down, if their logs exist."""
        settings = self.settings
        if settings.POSTGRESQL_URL is None:
            return  # no long-term memory here; the 06:00 run says so once a day
        now = self.clock().astimezone(settings.zone)
        self._start_pipeline(last_due_day(now, settings.processing_start), scheduled=False)

    def _start_pipeline(self, through: date, *, scheduled: bool) -> None:
        """Run the owed dates up to ``through`` in the background, retried on failure."""
        if self.settings.POSTGRESQL_URL is None or self.gemini is None:
            log.warning("WARN 長期記憶 for %s skipped: POSTGRESQL_URL is not set", through)
            return
        gemini, day = self.gemini, through

        async def attempt() -> None:
            if not self.stop.is_set():  # no new run once the process is stopping
                # One run at a time: the start-up catch-up and a 06:00 run may meet.
                async with self._pipeline_lock:
                    await catch_up_in_process(
                        self.settings, self.redis, gemini, day, scheduled=scheduled
                    )

        async def run() -> None:
            # Each failure is logged as ERROR 長期記憶 by the pipeline. The run is idempotent
            # per date, so retrying later (as the CronJob's backoffLimit does) is safe.
            with contextlib.suppress(PipelineError):
                await retry(attempt, PIPELINE_RUN, retry_on=PipelineError, sleep=self._pause)

        # In the background: the scheduler must keep ticking while the pipeline runs.
        task = asyncio.create_task(run(), name=f"pipeline-{day}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- personas ------------------------------------------------------------------------

    async def _recall(self, gemini: GeminiClient, limiter: RedisRateLimiter) -> Recall | None:
        """Long-term memory for replies, when PostgreSQL is configured; /ready reports it.

        The pool connects on demand, so a PostgreSQL that is away at start or goes away
        later costs replies their memories only until it is back, without a restart.
        """
        if self.settings.POSTGRESQL_URL is None:
            return None
        self.store = await LongTermStore.connect(
            self.settings.POSTGRESQL_URL.get_secret_value(), min_size=0
        )
        self.health.add_check("postgres", self._postgres_check)
        try:
            await self.store.ping()
        except Exception as error:
            # Replies do not need memories to be useful: start without them, say so.
            log.warning(
                "WARN long-term memory unavailable, replying without it until PostgreSQL "
                "is back: %s",
                error.__class__.__name__,
            )
        self.recall = MemoryRecall(self.store, gemini, limiter, self.settings.FLEET_NAME)
        return self.recall

    def _add_persona(
        self,
        persona: str,
        model: GeminiTextModel,
        recall: Recall | None,
        attachments: AttachmentReader,
    ) -> None:
        poster = PersonaPoster(persona)
        supervisor = self.supervisors.add(
            ClientSupervisor(poster, self.settings.token(persona), name=persona)
        )
        consumer = worker_service(
            persona,
            self.redis,
            self.keys,
            model,
            poster,
            router_config(self.settings),
            recall=recall,
            attachments=attachments,
        )

        async def work() -> None:
            # Jobs wait in Redis until the bot can post them.
            await self._until_ready(supervisor)
            if not self.stop.is_set():
                await consumer.run(self.stop)

        self.services.append(self._register_bot(persona, supervisor))
        self.services.append(work())

    async def _until_ready(self, supervisor: ClientSupervisor) -> None:
        waiter = asyncio.ensure_future(supervisor.wait_until_ready())
        stopper = asyncio.ensure_future(self.stop.wait())
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for future in (waiter, stopper):
            future.cancel()

    async def _register_bot(self, name: str, supervisor: ClientSupervisor) -> None:
        """Record the bot's Discord user id in Redis so the router can recognise it."""
        await self._until_ready(supervisor)
        user = supervisor.client.user
        if user is None:
            return

        async def attempt() -> None:
            if not self.stop.is_set():  # no new attempt once the process is stopping
                await self.redis.hset(self.keys.bots, name, str(user.id))
                log.info("%s logged in as %s (%s)", name, user.name, user.id)

        def warn(_attempt: int, error: Exception, _wait: float) -> None:
            log.warning("WARN could not register %s: %s", name, error.__class__.__name__)

        await retry(
            attempt, BOT_REGISTRATION, retry_on=Exception, before_wait=warn, sleep=self._pause
        )

    async def _pause(self, seconds: float) -> None:
        """Wait ``seconds``, or less if the process is stopping (a ``sleep`` for retries)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), seconds)

    # -- readiness -----------------------------------------------------------------------

    async def _redis_check(self) -> CheckResult:
        await self.redis.ping()
        return CheckResult(True, "ping ok")

    async def _postgres_check(self) -> CheckResult:
        assert self.store is not None, "checked only once the store exists"
        await self.store.ping()
        return CheckResult(True, "select 1 ok")

    async def _gemini_check(self) -> CheckResult:
        # Passive: the latest call's outcome, so a readiness probe never spends quota.
        failing = self.gemini.failing if self.gemini is not None else None
        return CheckResult(failing is None, failing or "no call failing")

    async def _discord_check(self) -> CheckResult:
        status = self.supervisors.status()
        return CheckResult(self.supervisors.is_ready, json.dumps(status, ensure_ascii=False))


async def run_role(
    settings: Settings,
    role: Role,
    persona: str | None,
    stop: asyncio.Event,
    *,
    day: date | None = None,
    force: bool = False,
) -> None:
    """Run ``role`` until ``stop`` is set; ``day`` and ``force`` are the pipeline's."""
    if role is Role.MIGRATE:
        await run_migrate(settings)
        return
    if role is Role.PIPELINE:
        # A PipelineError ends the process with exit code 1, so the CronJob retries.
        await run_pipeline(settings, day, force=force)
        return
    await FleetProcess(settings, role, persona).run(stop)
