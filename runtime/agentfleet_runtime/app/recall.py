"""Recall: the long-term memories a persona consults before it answers someone.

One embedding call per reply is the price, so recall is optional work in the same sense as
autonomous speech: it runs only while the shared Gemini budget has headroom, and any
failure (PostgreSQL away, Gemini refusing) means answering without memories, logged as a
WARN, rather than not answering.
"""

from __future__ import annotations

import logging

from agentfleet_runtime.llm.gemini import GeminiClient, LLMError
from agentfleet_runtime.llm.rate_limit import RedisRateLimiter
from agentfleet_runtime.memory.long_term import LongTermStore
from agentfleet_runtime.observability.metrics import ERRORS

log = logging.getLogger(__name__)

RECALL_LIMIT = 3
RECALL_MIN_SIMILARITY = 0.5
"""Below this cosine similarity a memory is more likely to distract than to help."""
RECALL_BUDGET_SHARE = 0.7


class MemoryRecall:
    """Finds the memories most relevant to a message, in its channel."""

    def __init__(
        self,
        store: LongTermStore,
        gemini: GeminiClient,
        limiter: RedisRateLimiter,
        fleet: str,
    ) -> None:
        self.store = store
        self.gemini = gemini
        self.limiter = limiter
        self.fleet = fleet

    async def recall(self, query: str, channel: str) -> list[str]:
        """Up to three memories relevant to ``query``; empty when there is no budget."""
        if not await self.limiter.has_headroom(RECALL_BUDGET_SHARE):
            return []
        try:
            [vector] = await self.gemini.embed([query], task_type="RETRIEVAL_QUERY")
            found = await self.store.search(self.fleet, vector, channel=channel, limit=RECALL_LIMIT)
        except (LLMError, OSError) as error:
            ERRORS.labels(component="postgres" if isinstance(error, OSError) else "gemini").inc()
            log.warning("WARN recall skipped: %s", error.__class__.__name__)
            return []
        except Exception as error:  # asyncpg's errors share no base class worth naming
            ERRORS.labels(component="postgres").inc()
            log.warning("WARN recall skipped: %s", error.__class__.__name__)
            return []
        return [m.content for m in found if (m.similarity or 0.0) >= RECALL_MIN_SIMILARITY]
