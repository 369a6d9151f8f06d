"""One Gemini rate limiter shared by every process of a fleet.

Free-tier quotas are per Google project, not per pod, so the limiter lives in Redis: a
sliding one-minute window of call times in a sorted set, checked and updated by one Lua
script using Redis's own clock, so pods with skewed clocks still agree. Every look at the
window also sets ``agentfleet_gemini_budget_remaining_ratio``.

While most of the budget is free, one look at the window admits a few calls at once (a
lease), so a busy process asks Redis once every few calls instead of before each, a round
trip on every reply's path. A lease is short and small, and its calls are counted as made
at the moment the lease runs out, so each falls inside the windows that counted it; calls
leased and never made only hold their place until then. Once half of a lease is used, the
next is asked for in the background, so a busy process's calls wait for Redis only when
the budget is no longer plentiful. Leases are kept apart: a call is taken from the open
lease that ends first, and never after its own lease's end.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass

import redis.asyncio as aioredis

from agentfleet_runtime.bus.streams import REDIS_DOWN
from agentfleet_runtime.observability.metrics import GEMINI_BUDGET_REMAINING

log = logging.getLogger(__name__)

# ARGV: window (ms), limit, a token naming the calls, most extra calls, lease (ms), and '1'
# to admit a call now or '0' only to lease. Returns {ms to wait, calls in the window, extra
# calls leased}.
_ACQUIRE = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local lease_ms = tonumber(ARGV[5])
local asked = ARGV[6] == '1' and 1 or 0
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms - window)
local used = redis.call('ZCARD', KEYS[1])
if used + asked > limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {tonumber(oldest[2]) + window - now_ms, used, 0}
end
if asked == 1 then
  redis.call('ZADD', KEYS[1], now_ms, ARGV[3])
end
local extra = 0
if used * 2 < limit then
  extra = math.min(tonumber(ARGV[4]), math.floor((limit - used) / 16))
end
for i = 1, extra do
  redis.call('ZADD', KEYS[1], now_ms + lease_ms, ARGV[3] .. ':' .. i)
end
if asked + extra > 0 then
  redis.call('PEXPIRE', KEYS[1], window + lease_ms)
end
return {0, used + asked + extra, extra}
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


@dataclass(slots=True)
class _Lease:
    """Calls admitted ahead: how many are left, and until when they may be made."""

    left: int
    ends: float
    """``time.monotonic()`` of the lease's end, which Redis's counts them at."""


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
        self._leases: list[_Lease] = []
        self._granted = 0
        """Extra calls the latest look at the window leased: none while the budget is not
        plentiful, and then no lease is asked for in the background."""
        self._renewal: asyncio.Task[None] | None = None

    async def acquire(self) -> None:
        """Wait until a call is allowed, then count it."""
        lease = self._open_lease()
        if lease is not None:
            lease.left -= 1
            self._renew_if_low()
            return
        while True:
            wait_ms = await self._look(ask=True)
            if wait_ms <= 0:
                return
            log.info("Gemini rate limit reached; waiting %.1fs", wait_ms / 1000)
            await asyncio.sleep(max(wait_ms, 10) / 1000)

    def _open_lease(self) -> _Lease | None:
        """The open lease with calls left that ends first, dropping those spent or over."""
        now = time.monotonic()
        self._leases = [lease for lease in self._leases if lease.left and lease.ends > now]
        return min(self._leases, key=lambda lease: lease.ends, default=None)

    def _renew_if_low(self) -> None:
        """Ask for the next lease in the background once half of the last one is used."""
        if self._renewal is not None or not self._granted:
            return
        if 2 * sum(lease.left for lease in self._leases) > self._granted:
            return
        self._renewal = asyncio.create_task(self._renew())

    async def _renew(self) -> None:
        try:
            await self._look(ask=False)
        except REDIS_DOWN as error:
            # The next call that finds no lease asks Redis itself, and says so if it fails.
            log.warning("WARN Gemini rate limit lease not renewed: %s", error.__class__.__name__)
            self._granted = 0
        finally:
            self._renewal = None

    async def _look(self, *, ask: bool) -> int:
        """One look at the window: admit a call if ``ask``, and lease what may be leased.

        Returns how long to wait before asking again (ms) when the call was not admitted.
        """
        asked = time.monotonic()
        wait, used, extra = await self._script(
            keys=[self.key],
            args=[
                self.window_ms,
                self.per_minute,
                uuid.uuid4().hex,
                LEASE_EXTRA_CALLS,
                int(LEASE_SECONDS * 1000),
                1 if ask else 0,
            ],
        )
        self._observe(int(used))
        wait_ms = int(wait)
        if wait_ms <= 0:
            self._granted = int(extra)
            if extra:
                # Measured from before the request: the lease ends here no later than in Redis.
                self._leases.append(_Lease(int(extra), asked + LEASE_SECONDS))
        return wait_ms

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
