"""The router: turns inbox entries into memory records and persona jobs, exactly once.

For each inbox entry one Lua script, atomically, records the message behind its run-once
marker (the channel's 24-hour memory and the day log, see agentfleet_runtime.memory.hot),
queues the chosen personas' jobs and acknowledges the entry. A crash at any point either
did all of it or none of it, and a redelivered message (a Discord replay, a restarted pod)
finds its marker and is only acknowledged.

Each job goes out with what its prompt is written from: the conversation before the
message, the prompt's line of each of the channel's latest messages, which the router
keeps in memory as it sees them (see agentfleet_runtime.memory.window), and the tasks,
which the script reads. The persona's worker then starts generating without a round trip
of its own to Redis.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from agentfleet_runtime.brain.messages import InboundMessage, JobKind, PersonaJob
from agentfleet_runtime.brain.router import FleetDirectory, route
from agentfleet_runtime.brain.tasks import is_task_command
from agentfleet_runtime.bus.codec import (
    CONVERSATION_FIELD,
    FIELD,
    TASKS_FIELD,
    decode_message,
    encode_conversation,
    encode_job,
    encode_message,
)
from agentfleet_runtime.bus.keys import FleetKeys
from agentfleet_runtime.bus.queues import QUEUE_MAXLEN
from agentfleet_runtime.bus.streams import REDIS_DOWN
from agentfleet_runtime.memory.hot import RECORD_LUA, HotMemory, local_day, record_limits
from agentfleet_runtime.memory.state import FleetState
from agentfleet_runtime.memory.window import RecentWindows
from agentfleet_runtime.observability.metrics import ERRORS, MESSAGES_RECEIVED

log = logging.getLogger(__name__)

ROUTER_GROUP = "router"
BOT_IDS_REFRESH_SECONDS = 30.0
"""How often the router reads the bots' ids again once it knows them all."""

_ROUTE_SCRIPT = (
    RECORD_LUA
    + """
local limits = {ARGV[1], ARGV[2], ARGV[3], ARGV[4]}
local first = record(KEYS[1], KEYS[3], KEYS[4], KEYS[5], ARGV[7], ARGV[8], limits)
local jobs = tonumber(ARGV[9])
if first and jobs > 0 then
  local tasks = cjson.encode(redis.call('HGETALL', KEYS[6]))
  for i = 1, jobs do
    redis.call('XADD', KEYS[6 + i], 'MAXLEN', '~', ARGV[10], '*', 'data', ARGV[13 + i],
      ARGV[12], ARGV[11], ARGV[13], tasks)
  end
end
redis.call('XACK', KEYS[2], ARGV[5], ARGV[6])
if first then return 1 else return 0 end
"""
)

TaskCommandHandler = Callable[[InboundMessage], Awaitable[list[PersonaJob]]]
"""Turns a typed /task message into the jobs that answer it (a confirmation or an error)."""


@dataclass(frozen=True, slots=True)
class RouterConfig:
    """What the router needs to know about the fleet."""

    directory: FleetDirectory
    channel_ids: dict[str, int]
    zone: ZoneInfo
    max_replies: int = 1
    learn_bot_ids: bool = False
    """Read the bots' user ids from Redis, where each bot records its own at login."""
    guild_id: int | None = None
    """The fleet's guild: messages from any other are not taken in."""
    task_role_id: int | None = None
    """Only members with this role may use /task; None: everyone in the fleet's channels."""


class Router:
    """Handles inbox entries: record, route, queue, acknowledge — atomically."""

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: FleetKeys,
        config: RouterConfig,
        on_task_command: TaskCommandHandler,
        rng: random.Random | None = None,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.config = config
        self.on_task_command = on_task_command
        self.rng = rng or random.Random()
        self._script = redis.register_script(_ROUTE_SCRIPT)
        self._directory = config.directory
        self._directory_read = 0.0
        self._refresh: asyncio.Task[None] | None = None
        self._last_speakers: dict[str, str] | None = None
        self._hot = HotMemory(redis, keys)
        self._windows = RecentWindows()

    async def directory(self) -> FleetDirectory:
        """The fleet's directory, with the bots' ids learnt from Redis.

        Until every bot is known each call reads them, so a message that arrives right
        after the bots log in is already routed with their ids known. From then on they
        are read again in the background every :data:`BOT_IDS_REFRESH_SECONDS`, off every
        message's path: a bot given a new token (another Discord user) is known again
        within that time.
        """
        if not self.config.learn_bot_ids:
            return self._directory
        if not self._all_bots_known:
            await self._read_bot_ids()
        elif self._refresh is None and (
            time.monotonic() - self._directory_read > BOT_IDS_REFRESH_SECONDS
        ):
            self._refresh = asyncio.create_task(self._refresh_bot_ids())
        return self._directory

    @property
    def _all_bots_known(self) -> bool:
        return set(self._directory.persona_user_ids) == set(self.config.directory.personas)

    async def _read_bot_ids(self) -> None:
        raw: Any = await self.redis.hgetall(self.keys.bots)
        ids = {k.decode(): int(v) for k, v in raw.items()}
        self._directory = dataclasses.replace(
            self.config.directory,
            persona_user_ids={p: ids[p] for p in self.config.directory.personas if p in ids},
            own_bot_ids=frozenset(ids.values()) | self.config.directory.own_bot_ids,
        )
        self._directory_read = time.monotonic()

    async def _refresh_bot_ids(self) -> None:
        try:
            await self._read_bot_ids()
        except REDIS_DOWN as error:
            # The ids already known still route; the next message asks again.
            log.warning("WARN could not re-read the bots' ids: %s", error.__class__.__name__)
        finally:
            self._refresh = None

    async def handle(self, entry_id: str, fields: dict[str, str]) -> None:
        """Process one inbox entry (the StreamConsumer handler)."""
        try:
            message = decode_message(fields[FIELD])
        except (KeyError, ValueError, TypeError) as error:
            # A malformed entry can never succeed; acknowledge it rather than block the inbox.
            ERRORS.labels(component="router").inc()
            log.error("ERROR unreadable inbox entry %s dropped: %s", entry_id, error)
            await self.redis.xack(self.keys.inbox, ROUTER_GROUP, entry_id)
            return
        if is_task_command(message.content) and await self.redis.exists(
            self.keys.routed(message.message_id)
        ):
            # Only a task command has effects before the script (it sets the task), so only
            # its redelivery is stopped here; for any other message the script's marker is
            # the check, and a round trip per message is saved.
            await self.redis.xack(self.keys.inbox, ROUTER_GROUP, entry_id)
            return
        jobs = await self.jobs_for(message)
        encoded = encode_message(message)
        conversation = await self._conversation(message) if jobs else ""
        day = local_day(message.created_at, self.config.zone)
        first = await self._script(
            keys=[
                self.keys.routed(message.message_id),
                self.keys.inbox,
                self.keys.hot(message.channel_id),
                self.keys.day(day),
                self.keys.day_logs,
                self.keys.tasks,
                *[self.keys.queue(job.persona) for job in jobs],
            ],
            args=[
                *record_limits(),
                ROUTER_GROUP,
                entry_id,
                encoded,
                day,
                len(jobs),
                QUEUE_MAXLEN,
                conversation,
                CONVERSATION_FIELD,
                TASKS_FIELD,
                *[encode_job(job) for job in jobs],
            ],
        )
        if jobs:
            # A worker in this process may have its job already: let it start on the reply
            # before the bookkeeping below, which no one waits for.
            await asyncio.sleep(0)
        # Also when not first: a post its worker recorded before it came this way is news
        # to the window, and a message the window holds already is not added twice.
        self._windows.add(message)
        if first and not message.author_is_bot:
            channel = self.config.directory.channel_names.get(message.channel_id, "other")
            MESSAGES_RECEIVED.labels(channel=channel).inc()
            log.info(
                "message %s in %s routed to %s",
                message.message_id,
                channel,
                ",".join(job.persona for job in jobs) or "nobody",
            )

    async def _conversation(self, message: InboundMessage) -> str:
        """The conversation before ``message``, as its jobs carry it."""
        if self._windows.needs_reading(message.channel_id):
            latest = await self._hot.recent(message.channel_id)
            self._windows.read(message.channel_id, latest)
        return encode_conversation(self._windows.conversation(message, time.time()))

    async def note_own_post(self, message: InboundMessage) -> bool:
        """Whether ``message`` is one of our personas' posts, noting who spoke last if so.

        The worker that posted it has recorded it (see agentfleet_runtime.memory.hot), so
        Reception hands it on to nobody; routing it would only record it again, a Redis
        append and a script for nothing. Until the bot's id is known (the first moments
        after it logs in) this answers False, and the router records the post as anyone's.
        """
        directory = await self.directory()
        speaker = directory.persona_of(message.author_id)
        channel = directory.channel_names.get(message.channel_id)
        if speaker is None or channel is None:
            return False
        (await self.last_speakers())[channel] = speaker
        self._windows.add(message)
        return True

    async def last_speakers(self) -> dict[str, str]:
        """Channel name → the persona that spoke last there, for the routing rules' damping.

        Read from Redis once (each persona worker records its posts there), then kept up
        to date from our personas' posts as Reception sees them: a Redis round trip saved
        on every reply's path.
        """
        if self._last_speakers is None:
            self._last_speakers = await FleetState(self.redis, self.keys).last_speakers()
        return self._last_speakers

    async def jobs_for(self, message: InboundMessage) -> list[PersonaJob]:
        """The persona jobs that answer ``message`` (none for bots and ignored messages)."""
        directory = await self.directory()
        channel = directory.channel_names.get(message.channel_id)
        if message.author_is_bot or message.author_id in directory.own_bot_ids:
            # Every post of ours comes back through the inbox: record it, nothing more.
            speaker = directory.persona_of(message.author_id)
            if channel is not None and speaker is not None:
                (await self.last_speakers())[channel] = speaker
            return []
        if is_task_command(message.content):
            return await self.on_task_command(message)
        last = (await self.last_speakers()).get(channel) if channel else None
        decision = route(message, directory, last, self.rng, self.config.max_replies)
        return [
            PersonaJob(
                job_id=f"reply:{message.message_id}:{persona}",
                kind=JobKind.REPLY,
                persona=persona,
                channel=channel or "other",
                channel_id=message.channel_id,
                enqueued_at=time.time(),
                message=message,
            )
            for persona in decision.personas
        ]
