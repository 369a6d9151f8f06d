"""Reception's side of the bus: put every message Discord delivers into the inbox.

A message must not be lost because Redis is briefly away, so publishing retries with backoff
for as long as ``give_up_after`` allows, logging each failure; only then is the loss logged
as an ERROR naming the message, so nothing is ever dropped silently.
"""

from __future__ import annotations

import logging
import time

import redis.asyncio as aioredis

from agentfleet_runtime.brain.messages import InboundMessage
from agentfleet_runtime.bus.codec import FIELD, encode_message
from agentfleet_runtime.bus.keys import FleetKeys
from agentfleet_runtime.bus.streams import REDIS_DOWN
from agentfleet_runtime.observability.metrics import DEPENDENCY_UP, ERRORS
from agentfleet_runtime.retry import INBOX_PUBLISH, retry

log = logging.getLogger(__name__)

INBOX_MAXLEN = 100_000
"""Bound on the inbox; routed entries are only kept for inspection, so trimming is safe."""


class Inbox:
    """Publishes inbound messages to the fleet's inbox stream."""

    def __init__(
        self, redis: aioredis.Redis, keys: FleetKeys, give_up_after: float = 600.0
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.give_up_after = give_up_after

    async def publish(self, message: InboundMessage) -> bool:
        """Append ``message`` to the inbox; False only when Redis stayed away too long."""
        payload = encode_message(message)
        deadline = time.monotonic() + self.give_up_after

        async def append() -> bool:
            try:
                await self.redis.xadd(
                    self.keys.inbox, {FIELD: payload}, maxlen=INBOX_MAXLEN, approximate=True
                )
            except REDIS_DOWN:
                DEPENDENCY_UP.labels(dependency="redis").set(0)
                ERRORS.labels(component="redis").inc()
                if time.monotonic() < deadline:
                    raise
                log.error(
                    "ERROR message %s in channel %s not queued: Redis unreachable for %.0fs",
                    message.message_id,
                    message.channel_id,
                    self.give_up_after,
                )
                return False
            DEPENDENCY_UP.labels(dependency="redis").set(1)
            return True

        def warn(attempt: int, error: BaseException, _wait: float) -> None:
            log.warning(
                "WARN inbox publish of message %s failed (%s); retry %d",
                message.message_id,
                error.__class__.__name__,
                attempt,
            )

        return await retry(append, INBOX_PUBLISH, retry_on=REDIS_DOWN, before_wait=warn)
