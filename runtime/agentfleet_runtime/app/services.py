"""Assembles the fleet's long-running services from the brain, the bus and the adapters.

Each function returns a :class:`StreamConsumer` (or the scheduler) ready to ``run(stop)``;
the roles in agentfleet_runtime.app.roles decide which of them a process runs.
"""

from __future__ import annotations

from typing import NamedTuple

import redis.asyncio as aioredis

from agentfleet_runtime.app.attachments import AttachmentReader
from agentfleet_runtime.app.persona_worker import WORKER_GROUP, PersonaWorker
from agentfleet_runtime.app.ports import Poster, Recall, TextModel
from agentfleet_runtime.app.task_desk import TaskDesk
from agentfleet_runtime.brain.personas import PERSONAS
from agentfleet_runtime.bus.keys import FleetKeys
from agentfleet_runtime.bus.routing import ROUTER_GROUP, Router, RouterConfig
from agentfleet_runtime.bus.streams import StreamConsumer
from agentfleet_runtime.memory.state import FleetState


class RouterService(NamedTuple):
    """The inbox consumer, its router and the task desk it shares with the slash command.

    Reception asks the router about our own posts (see :meth:`Router.note_own_post`).
    """

    consumer: StreamConsumer
    router: Router
    desk: TaskDesk


ROUTER_READ_AHEAD = 16
"""Inbox entries the router reads while it handles one: it handles them strictly in order,
and a message that arrives meanwhile then starts the moment the one before it is done,
without a read of its own in between."""

WORKER_CONCURRENCY = 64
"""Replies one persona prepares at once: while the LLM thinks for one person, others wait
for nothing. The shared rate limiter, not this number, bounds the calls to Gemini. At 16,
fifty people talking at once queued behind the LLM (docs/benchmarks.md, end-to-end)."""


def router_service(
    redis: aioredis.Redis, keys: FleetKeys, config: RouterConfig, consumer: str = "reception"
) -> RouterService:
    """Build the router and the consumer that feeds it the inbox."""
    desk = TaskDesk(FleetState(redis, keys), config.channel_ids, config.task_role_id)
    router = Router(redis, keys, config, desk.jobs_for_typed)
    reader = StreamConsumer(
        redis,
        keys.inbox,
        ROUTER_GROUP,
        consumer,
        router.handle,
        component="router",
        read_ahead=ROUTER_READ_AHEAD,
    )
    return RouterService(reader, router, desk)


def worker_service(
    persona: str,
    redis: aioredis.Redis,
    keys: FleetKeys,
    model: TextModel,
    poster: Poster,
    config: RouterConfig,
    claim_idle_ms: int = 60_000,
    recall: Recall | None = None,
    concurrency: int = WORKER_CONCURRENCY,
    attachments: AttachmentReader | None = None,
) -> StreamConsumer:
    """The queue consumer of one persona.

    The consumer is named after the persona, so a restarted worker resumes its own
    unfinished jobs at once; jobs of a consumer that vanished are claimed after
    ``claim_idle_ms``, which must outlast a slow LLM call.
    """
    worker = PersonaWorker(
        PERSONAS[persona], redis, keys, model, poster, config.zone, recall, attachments
    )
    return StreamConsumer(
        redis,
        worker.queue,
        WORKER_GROUP,
        persona,
        worker.handle,
        component="worker",
        claim_idle_ms=claim_idle_ms,
        concurrency=concurrency,
    )
