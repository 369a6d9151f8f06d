"""Putting a job straight on a persona's queue (for work that does not come from the inbox)."""

from __future__ import annotations

import redis.asyncio as aioredis

from agentfleet_runtime.brain.messages import PersonaJob
from agentfleet_runtime.bus.codec import FIELD, encode_job
from agentfleet_runtime.bus.keys import FleetKeys

QUEUE_MAXLEN = 10_000
"""Bound on each persona queue; far above any backlog a live fleet builds."""


async def enqueue(redis: aioredis.Redis, keys: FleetKeys, job: PersonaJob) -> None:
    """Append ``job`` to its persona's queue."""
    await redis.xadd(
        keys.queue(job.persona), {FIELD: encode_job(job)}, maxlen=QUEUE_MAXLEN, approximate=True
    )
