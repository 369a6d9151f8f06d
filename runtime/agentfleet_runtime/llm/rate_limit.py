"""One Gemini rate limiter shared by every process of a fleet.

Free-tier quotas are per Google project, not per pod, so the limiter lives in Redis: a
sliding one-minute window of call times in a sorted set, checked and updated by one Lua
script using Redis's own clock, so pods with skewed clocks still agree. Every look at the
window also sets ``agentfleet_gemini_budget_remaining_ratio``.

While most of the budget is free, one look at the window admits a few calls at once (a
lease), so a busy process asks Redis once every few calls instead of before each, a round
trip on every reply's path. A lease is short and small, and its calls are counted as made
at the moment the lease runs out, so each falls inside the windows that counted it; calls
leased and never made only hold their place until then.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import redis.asyncio as aioredis

from agentfleet_runtime.observability.metrics import GEMINI_BUDGET_REMAINING

log = logging.getLogger(__name__)

_ACQUIRE = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local lease_ms = tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms - window)
local used = redis.call('ZCARD', KEYS[1])
if used < limit then
  redis.call('ZADD', KEYS[1], now_ms, ARGV[3])
  local extra = 0
  if used * 2 < limit then
    extra = math.min(tonumber(ARGV[4]), math.floor((limit - used) / 16))
  end
  for i = 1, extra do
    redis.call('ZADD', KEYS[1], now_ms + lease_ms, ARGV[3] .. ':' .. i)
  end
  redis.call('PEXPIRE', KEYS[1], window + lease_ms)
  return {0, used + 1 + extra, extra}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {tonumber(oldest[2]) + window - now_ms, used, 0}
"""

LEASE_EXTRA_CALLS = 7
"""At most this many calls admitted beside the one asked for, never more than a sixteenth
of what is left of the budget, and only while less than half of it is used. So a small
budget, where a leased call left unmade would hold a slot that counts, never leases: the
free tier's 10 calls a minute (the default) are taken one look at a time."""
LEASE_SECONDS = 10.0
"""How long leased calls may be made; they are counted as made at the lease's end.

Long enough that a quiet conversation, a message every few seconds, still finds a lease
open and its reply does not wait for Redis; a call leased and never made holds its place
in the window that much longer, a few of a budget of at least 16 a minute."""


_IN_USE = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], now_ms - tonumber(ARGV[1]), '+inf')
"""


class RedisRateLimiter:
    """Admits at most ``per_minute`` calls in any 60-second window, across processes."""

    def __init__(
        self, redis: aioredis.Redis, key: str, per_minute: int, window_ms: int = 60_000
    ) -> None:
        self.redis = redis
        self.key = key
        self.per_minute = per_minute
        self.window_ms = window_ms
        self._script = redis.register_script(_ACQUIRE)
        self._in_use = redis.register_script(_IN_USE)
        self._leased = 0
        self._lease_ends = 0.0

    async def acquire(self) -> None:
        """Wait until a call is allowed, then count it."""
        if self._leased and time.monotonic() < self._lease_ends:
            self._leased -= 1
            return
        token = uuid.uuid4().hex
        lease_ms = int(LEASE_SECONDS * 1000)
        while True:
            asked = time.monotonic()
            wait, used, extra = await self._script(
                keys=[self.key],
                args=[self.window_ms, self.per_minute, token, LEASE_EXTRA_CALLS, lease_ms],
            )
            self._observe(int(used))
            wait_ms = int(wait)
            if wait_ms <= 0:
                # Measured from before the request: the lease ends here no later than in Redis.
                self._leased, self._lease_ends = int(extra), asked + LEASE_SECONDS
                return
            log.info("Gemini rate limit reached; waiting %.1fs", wait_ms / 1000)
            await asyncio.sleep(max(wait_ms, 10) / 1000)

    async def in_use(self) -> int:
        """Calls counted in the current window, by every process of the fleet."""
        used = int(await self._in_use(keys=[self.key], args=[self.window_ms]))
        self._observe(used)
        return used

    def _observe(self, used: int) -> None:
        """Export what is left of the budget (the window is the fleet's, not this process's)."""
        left = 1.0 - used / self.per_minute if self.per_minute > 0 else 0.0
        GEMINI_BUDGET_REMAINING.set(min(1.0, max(0.0, left)))

    async def has_headroom(self, share: float) -> bool:
        """Whether less than ``share`` of the budget is used, so optional work may start.

        Autonomous speech asks this before it is planned: replies to people must never wait
        behind the fleet talking to itself.
        """
        return await self.in_use() < self.per_minute * share
