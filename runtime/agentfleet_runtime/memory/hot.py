"""Hot memory: each channel's last 24 hours, and the day log the 06:00 pipeline reads.

Both are written by the router's script (see agentfleet_runtime.bus.routing), so every message the
fleet saw — humans' and the agents' own — is recorded exactly once. This module only reads.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from agentfleet_runtime.brain.messages import InboundMessage
from agentfleet_runtime.bus.codec import FIELD, decode_message, decode_messages
from agentfleet_runtime.bus.keys import FleetKeys

RECENT_MESSAGES = 20
"""How many of a channel's latest messages a prompt is written from."""


def decode_recent(entries: Any) -> list[InboundMessage]:
    """The messages of :meth:`HotMemory.queue_recent`'s reply, oldest first."""
    return [decode_message(fields[FIELD.encode()]) for _id, fields in reversed(entries)]


def decode_carried_recent(raw: str) -> list[InboundMessage]:
    """The messages a job carries (the router's script lists them newest first), oldest first."""
    return decode_messages(raw)[::-1]


class HotMemory:
    """Reads recent channel history and whole days of messages from Redis."""

    def __init__(self, redis: aioredis.Redis, keys: FleetKeys) -> None:
        self.redis = redis
        self.keys = keys

    async def recent(self, channel_id: int, limit: int = RECENT_MESSAGES) -> list[InboundMessage]:
        """The channel's last ``limit`` messages of the past 24 hours, oldest first."""
        async with self.redis.pipeline(transaction=False) as pipe:
            self.queue_recent(pipe, channel_id, limit)
            (entries,) = await pipe.execute()
        return decode_recent(entries)

    def queue_recent(self, pipe: Pipeline, channel_id: int, limit: int = RECENT_MESSAGES) -> None:
        """Queue :meth:`recent`'s read on ``pipe`` beside others (see :func:`decode_recent`)."""
        pipe.xrevrange(self.keys.hot(channel_id), count=limit)

    async def day(self, day: str) -> list[InboundMessage]:
        """Every message of one fleet-local date (YYYY-MM-DD), in order."""
        entries: Any = await self.redis.xrange(self.keys.day(day))
        return [decode_message(fields[FIELD.encode()]) for _id, fields in entries]
