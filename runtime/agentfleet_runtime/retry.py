"""How long to wait before trying again: one policy type and every policy the fleet uses.

Each retry in AgentFleet, whether it waits out a Redis outage, restarts a dead Discord
client, resends a Gemini request, reconciles a fleet again or reruns the pipeline, waits as a
:class:`RetryPolicy` below says. The policies are defined side by side so that their numbers
can be compared, and changed, in one place.

The operator imports this module too, so it uses the standard library only (like
:mod:`agentfleet_runtime.contract`).
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, TypeVar

T = TypeVar("T")
E = TypeVar("E", bound=BaseException)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff: wait ``initial``, then ``multiplier`` times longer each time.

    A wait never exceeds ``cap``. ``jitter`` is the share of a wait that may randomly be cut
    from it (0.5: anywhere from half of it to all of it), so that processes which failed
    together do not all come back together; it only ever shortens a wait, so that ``cap``
    stays the longest one. ``max_attempts`` counts the first attempt too; ``None`` means no
    limit, for callers that retry until they are stopped or until a deadline of their own.
    """

    initial: float
    """Seconds to wait after the first failure."""
    multiplier: float = 2.0
    cap: float = math.inf
    jitter: float = 0.0
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if self.initial < 0 or self.cap < 0:
            raise ValueError("waits cannot be negative")
        if self.multiplier < 1:
            raise ValueError("multiplier must be at least 1: a backoff never shrinks")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter is a share of the wait, between 0 and 1")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1 (or None for no limit)")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (the first is 1)."""
        if attempt < 1:
            raise ValueError("attempts are numbered from 1")
        try:
            backoff = min(self.cap, self.initial * self.multiplier ** (attempt - 1))
        except OverflowError:
            # ``**`` raises instead of returning inf; this many attempts in, only cap matters.
            backoff = self.cap if self.initial else 0.0
        return backoff * (1.0 - self.jitter * random.random())

    def allows_another(self, attempt: int) -> bool:
        """Whether failed attempt number ``attempt`` may be followed by another one."""
        return self.max_attempts is None or attempt < self.max_attempts


async def retry(
    attempt: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    retry_on: type[E] | tuple[type[E], ...],
    delay_hint: Callable[[E], float | None] | None = None,
    before_wait: Callable[[int, E, float], None] | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> T:
    """Await ``attempt()`` until it returns, retrying the exceptions in ``retry_on``.

    Only the exceptions named are retried: any other one is a failure no wait can fix, and
    propagates at once. So does the last retried one when ``policy`` allows no more attempts.

    ``delay_hint`` may return the wait a failure asks for itself (a server's retry delay);
    when it does, that wait replaces the computed backoff, because the server knows best
    when it will take the request. ``before_wait`` is called with the failed attempt's
    number, its exception and the wait about to start: to log the retry, or to give up
    instead by raising. ``sleep`` does the waiting; a caller that must stop promptly passes
    one that returns early.
    """
    number = 1
    while True:
        try:
            return await attempt()
        except retry_on as error:
            if not policy.allows_another(number):
                raise
            hinted = delay_hint(error) if delay_hint is not None else None
            wait = hinted if hinted is not None else policy.delay(number)
            if before_wait is not None:
                before_wait(number, error, wait)
            await sleep(wait)
            number += 1


# -- the fleet's policies ---------------------------------------------------------------

REDIS_RECONNECT: Final = RetryPolicy(initial=0.4, cap=5.0, jitter=0.5)
"""A stream consumer (router, persona worker) waiting for Redis to come back.

Also its pause after a failed handler, whose entry stays pending to be read again. Jittered
because every consumer of every pod loses Redis at the same moment; unlimited because a
consumer has nothing better to do until it is stopped.
"""

INBOX_PUBLISH: Final = RetryPolicy(initial=0.2, cap=5.0)
"""Reception holding a message while Redis is away; ``Inbox.give_up_after`` bounds it."""

BOT_REGISTRATION: Final = RetryPolicy(initial=2.0, multiplier=1.0)
"""Recording a logged-in bot's user id in Redis, which the router needs: every 2 s until done."""

DISCORD_RESTART: Final = RetryPolicy(initial=1.0, cap=60.0)
"""A Discord client whose ``start()`` died; each restart logs in again, which Discord limits."""

GEMINI_REQUEST: Final = RetryPolicy(initial=1.0, cap=30.0, jitter=0.5, max_attempts=4)
"""One Gemini call's requests: a 429's own ``retryDelay`` replaces the backoff when given.

Jittered because the pods share one quota and would otherwise hit it again together.
"""

RECONCILE: Final = RetryPolicy(initial=1.0, cap=300.0)
"""The operator's next pass over a fleet whose last pass failed; the resync also retries."""

CHILD_WATCH: Final = RetryPolicy(initial=1.0, cap=30.0, jitter=0.5)
"""The operator listing and watching a child kind again after the API server failed it.

Jittered because every kind's watch breaks at once when the API server restarts.
"""

PIPELINE_RUN: Final = RetryPolicy(initial=60.0, multiplier=5.0, max_attempts=3)
"""The 06:00 pipeline run in process: three runs, 60 s then 300 s apart (idempotent per date)."""
