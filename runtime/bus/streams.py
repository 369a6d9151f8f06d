"""A consumer-group reader that survives crashes, restarts and Redis outages.

Delivery is at-least-once: an entry is acknowledged only by its handler, after the handler's
effects are recorded. What makes the fleet *effectively once* is the handlers' run-once
markers; this module's job is to make sure no entry is ever left behind:

* a restarted consumer first re-reads its own pending entries (its name is stable);
* entries pending on a consumer that has gone away are claimed after ``claim_idle_ms``;
* a lost connection or a restarted Redis is waited out with backoff, and a consumer group
  that vanished with a Redis that lost its data is created again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from runtime.observability.metrics import DEPENDENCY_UP, ERRORS

log = logging.getLogger(__name__)

Handler = Callable[[str, dict[str, str]], Awaitable[None]]
"""Handles one entry (id, fields); must acknowledge it once its effects are recorded."""

REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)


async def ensure_group(redis: aioredis.Redis, stream: str, group: str) -> None:
    """Create ``group`` on ``stream`` (and the stream) unless it exists."""
    try:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise


def _decode(fields: dict[Any, Any]) -> dict[str, str]:
    return {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in fields.items()
    }


class StreamConsumer:
    """Feeds the entries of one stream, as one consumer of a group, to a handler."""

    def __init__(
        self,
        redis: aioredis.Redis,
        stream: str,
        group: str,
        consumer: str,
        handler: Handler,
        *,
        component: str,
        block_ms: int = 1000,
        batch: int = 16,
        claim_idle_ms: int = 30_000,
    ) -> None:
        self.redis = redis
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.handler = handler
        self.component = component
        self.block_ms = block_ms
        self.batch = batch
        self.claim_idle_ms = claim_idle_ms
        self.connected = False
        self._failures = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; in-flight entries are finished first."""
        rescan = True
        while not stop.is_set():
            try:
                if rescan:
                    await ensure_group(self.redis, self.stream, self.group)
                    await self._drain(await self._own_pending())
                    await self._drain(await self._claim_abandoned())
                    rescan = False
                entries: Any = await self.redis.xreadgroup(
                    self.group,
                    self.consumer,
                    {self.stream: ">"},
                    count=self.batch,
                    block=self.block_ms,
                )
                self._up()
                for _stream, items in entries or []:
                    await self._drain(items)
            except REDIS_DOWN as error:
                rescan = True
                await self._down(stop, f"Redis unreachable: {error.__class__.__name__}")
            except ResponseError as error:
                rescan = True
                if "NOGROUP" in str(error):
                    # Redis came back without our data: recreate the group and carry on.
                    log.warning("consumer group %s on %s recreated", self.group, self.stream)
                    continue
                await self._down(stop, f"Redis error: {error}")
            except HandlerFailed:
                # The entry stays pending and is retried from the pending list after a pause.
                rescan = True
                await self._pause(stop)

    async def _own_pending(self) -> list[tuple[Any, Any]]:
        pending: Any = await self.redis.xreadgroup(
            self.group, self.consumer, {self.stream: "0"}, count=self.batch
        )
        return [item for _stream, items in pending or [] for item in items if item[1]]

    async def _claim_abandoned(self) -> list[tuple[Any, Any]]:
        result: Any = await self.redis.xautoclaim(
            self.stream, self.group, self.consumer, self.claim_idle_ms, count=self.batch
        )
        return [item for item in result[1] if item[1]]

    async def _drain(self, items: list[tuple[Any, Any]]) -> None:
        for entry_id, fields in items:
            ident = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            try:
                await self.handler(ident, _decode(fields))
            except REDIS_DOWN:
                raise
            except Exception as error:
                ERRORS.labels(component=self.component).inc()
                log.exception("ERROR handling %s entry %s: %s", self.stream, ident, error)
                raise HandlerFailed from error
        self._failures = 0

    def _up(self) -> None:
        if not self.connected:
            self.connected = True
            DEPENDENCY_UP.labels(dependency="redis").set(1)
            if self._failures:
                log.info("Redis reachable again; %s resumes", self.component)
        self._failures = 0

    async def _down(self, stop: asyncio.Event, reason: str) -> None:
        self.connected = False
        DEPENDENCY_UP.labels(dependency="redis").set(0)
        ERRORS.labels(component="redis").inc()
        log.warning("WARN %s: %s; retrying", self.component, reason)
        await self._pause(stop)

    async def _pause(self, stop: asyncio.Event) -> None:
        self._failures += 1
        delay = min(0.2 * 2 ** min(self._failures, 5), 5.0) * (0.5 + random.random())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)


class HandlerFailed(Exception):
    """A handler raised; the entry stays pending for a later retry."""
