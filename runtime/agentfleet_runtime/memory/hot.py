"""Hot memory: each channel's last 24 hours, and the day log the 06:00 pipeline reads.

Both are written by one Lua function, :data:`RECORD_LUA`, behind a run-once marker per
message, so every message the fleet saw is recorded exactly once: the router's script runs
it for every message it takes in (see agentfleet_runtime.bus.routing), and a persona's
worker for its own posts, in the step that marks the job done. Reception hands our
personas' posts on to nobody; one that reaches the router all the same (its bot not yet
known) finds its marker set, or sets it first, and is recorded once either way.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from agentfleet_runtime.brain.messages import InboundMessage
from agentfleet_runtime.bus.codec import FIELD, decode_message, encode_message
from agentfleet_runtime.bus.keys import FleetKeys

RECENT_MESSAGES = 20
"""How many of a channel's latest messages a prompt is written from."""
HOT_WINDOW = 24 * 3600
DAY_LOG_TTL = 3 * 24 * 3600
"""The pipeline reads yesterday's log; two spare days cover a failed and retried run."""
RECORD_MARKER_TTL = 7 * 24 * 3600
"""Long enough to outlive any redelivery; Discord replays only within a session."""

RECORD_LUA = """
-- Keeps one message in its channel's hot memory and its date's day log, noting the date
-- in the set of logged dates (which outlives the log). False if it was kept already.
local function record(marker, hot, day, day_logs, data, date, limits)
  if not redis.call('SET', marker, '1', 'NX', 'EX', limits[1]) then
    return false
  end
  redis.call('XADD', hot, 'MINID', '~', limits[2], '*', 'data', data)
  redis.call('EXPIRE', hot, limits[3])
  redis.call('XADD', day, '*', 'data', data)
  redis.call('EXPIRE', day, limits[4])
  redis.call('SADD', day_logs, date)
  return true
end
"""
"""Scripts that record messages start with this; ``limits`` are :func:`record_limits`."""


def record_limits() -> list[int]:
    """:data:`RECORD_LUA`'s ``limits``, as of now.

    In order: the marker's TTL, the hot memory's oldest entry (a stream id's
    milliseconds) and its TTL, the day log's TTL.
    """
    return [
        RECORD_MARKER_TTL,
        int((time.time() - HOT_WINDOW) * 1000),
        HOT_WINDOW + 3600,
        DAY_LOG_TTL,
    ]


def record_operands(
    keys: FleetKeys, messages: Sequence[InboundMessage], zone: ZoneInfo
) -> tuple[list[str], list[str]]:
    """The keys and arguments that record ``messages`` with :data:`RECORD_LUA`.

    For each message, in order: three keys (its run-once marker, its channel's hot memory,
    its day log) and two arguments (its JSON, its date), for a script that calls
    ``record`` once per message.
    """
    record_keys: list[str] = []
    args: list[str] = []
    for message in messages:
        day = local_day(message.created_at, zone)
        record_keys += [
            keys.routed(message.message_id),
            keys.hot(message.channel_id),
            keys.day(day),
        ]
        args += [encode_message(message), day]
    return record_keys, args


def local_day(unix_time: float, zone: ZoneInfo) -> str:
    """The fleet-local date (YYYY-MM-DD) of a Unix time: the day log it belongs to."""
    return datetime.fromtimestamp(unix_time, zone).date().isoformat()


def decode_recent(entries: Any) -> list[InboundMessage]:
    """The messages of :meth:`HotMemory.queue_recent`'s reply, oldest first."""
    return [decode_message(fields[FIELD.encode()]) for _id, fields in reversed(entries)]


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
