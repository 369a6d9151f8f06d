"""Recall: the long-term memories a persona consults before it answers someone.

Recall needs an embedding of what was said, a Gemini request of its own. Made for every
reply, it doubles the requests a fleet sends (halving how many people fit in
``GEMINI_REQUESTS_PER_MINUTE``) and puts an embedding round trip in front of every
generation. Yet long-term memories are about past days, and which of them matter follows
a channel's topic, which moves over minutes rather than with each message. So recall keeps
each channel's memories, found for its conversation so far, and refreshes them beside the
replies instead of in front of them:

* A reply takes its channel's memories at once and never waits for a refresh: the one its
  message starts serves the replies after it. Only a channel's first recall in a process
  is waited for, as there is nothing earlier to use.
* A refresh embeds the channel's latest message. The refreshes of every channel due go
  out together in one ``batchEmbedContents`` request, at most one per
  :data:`RECALL_INTERVAL_SECONDS` for the whole fleet (a Redis key names whose turn it
  is, so a persona per process in a cluster shares the one request; a channel's first
  recall in a process does not wait for a turn); a message that arrives meanwhile waits
  and goes with the next one, replacing its channel's earlier message. However many
  people talk, recall costs about one request a minute, beside one generation per reply.
* No request at all where none can help: a channel without stored memories (asked of
  PostgreSQL, and a "none" remembered for :data:`EMPTY_CHANNEL_RECHECK_SECONDS`), a
  message too short to say anything (「了解」, 「👍」), a text embedded recently (kept by its
  normal form), or while the shared Gemini budget is more than
  :data:`RECALL_BUDGET_SHARE` used: replies to people come first.

Any failure (PostgreSQL away, Gemini refusing) means answering with what the channel had,
logged as a WARN, rather than not answering.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import NamedTuple

from redis.exceptions import RedisError

from agentfleet_runtime.bus.keys import FleetKeys
from agentfleet_runtime.dedup import normalize
from agentfleet_runtime.llm.gemini import GeminiClient, LLMError
from agentfleet_runtime.llm.rate_limit import RedisRateLimiter
from agentfleet_runtime.memory.long_term import LongTermStore
from agentfleet_runtime.observability.metrics import ERRORS

log = logging.getLogger(__name__)

RECALL_LIMIT = 3
RECALL_MIN_SIMILARITY = 0.5
"""Below this cosine similarity a memory is more likely to distract than to help."""
RECALL_BUDGET_SHARE = 0.7
RECALL_INTERVAL_SECONDS = 60.0
"""At least this long between two of the fleet's recall embedding requests (the budget is
per minute), so a channel's memories lag its talk by about a minute in one process (a few
in a cluster, where the personas' processes take turns); a first recall does not wait."""
MIN_QUERY_CHARACTERS = 4
"""A normalised message shorter than this (「了解」, 「ok」, 「草」) says nothing to search by."""
EMPTY_CHANNEL_RECHECK_SECONDS = 600.0
"""A channel found without memories is asked again after this long (the pipeline adds
memories once a day; a restore may add them at any time)."""
CACHED_EMBEDDINGS = 128
"""Embeddings kept by normalised text, as float32 (3 KiB each at 768 dimensions)."""


class _Query(NamedTuple):
    text: str
    key: str
    """The normal form of ``text``: the embedding cache's key."""


class MemoryRecall:
    """Finds the memories relevant to each channel's conversation (see the module)."""

    def __init__(
        self,
        store: LongTermStore,
        gemini: GeminiClient,
        limiter: RedisRateLimiter,
        fleet: str,
        *,
        interval: float = RECALL_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.gemini = gemini
        self.limiter = limiter
        self.fleet = fleet
        self.interval = interval
        self._clock = clock
        self._memories: dict[str, list[str]] = {}
        """Each channel's memories from its latest refresh; a channel absent is cold."""
        self._pending: dict[str, _Query] = {}
        """Each channel's latest message not yet refreshed for."""
        self._refreshed: dict[str, asyncio.Future[None]] = {}
        """Resolved when a cold channel's first refresh is over."""
        self._vectors: OrderedDict[str, array[float]] = OrderedDict()
        self._last_request = float("-inf")
        self._refresher: asyncio.Task[None] | None = None
        self._stored: set[str] = set()
        """Channels known to have memories (they are not deleted in normal operation)."""
        self._empty_until: dict[str, float] = {}
        self._turn = FleetKeys(fleet).recall_turn

    async def recall(self, query: str, channel: str) -> list[str]:
        """Up to three memories relevant to ``channel``'s conversation, ``query`` its latest.

        Empty when the channel has none, or nothing is known yet and nothing could be
        found (no budget, a failure).
        """
        key = normalize(query)
        if len(key) < MIN_QUERY_CHARACTERS:
            return self._memories.get(channel, [])
        if not await self._has_memories(channel):
            return []
        pending = self._pending[channel] = _Query(query, key)
        if channel in self._memories:
            if self._due(channel, pending):
                self._start_refresher()
            return self._memories[channel]  # a refresh, now or later, serves the next ones
        loop = asyncio.get_running_loop()
        refreshed = self._refreshed.setdefault(channel, loop.create_future())
        self._start_refresher()
        await asyncio.shield(refreshed)
        return self._memories.get(channel, [])

    async def close(self) -> None:
        """Stop a refresh in progress (on shutdown, before the store closes)."""
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        for refreshed in self._refreshed.values():
            if not refreshed.done():
                refreshed.set_result(None)  # a first recall still waiting answers without

    # -- deciding what to refresh --------------------------------------------------------

    async def _has_memories(self, channel: str) -> bool:
        if channel in self._stored:
            return True
        if self._empty_until.get(channel, float("-inf")) > self._clock():
            return False
        try:
            stored = await self.store.has_memories(self.fleet, channel)
        except Exception as error:  # asyncpg's errors share no base class worth naming
            _skipped("postgres", error)
            return False
        if stored:
            self._stored.add(channel)
        else:
            self._empty_until[channel] = self._clock() + EMPTY_CHANNEL_RECHECK_SECONDS
        return stored

    def _start_refresher(self) -> None:
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.create_task(self._refresh_due(), name="recall-refresh")

    def _due(self, channel: str, query: _Query) -> bool:
        """Whether a refresh may serve ``channel`` now.

        It may when the channel is cold, when its text's vector is known (no request is
        needed) or when the interval since the last request is over.
        """
        return (
            channel not in self._memories
            or query.key in self._vectors
            or self._clock() - self._last_request >= self.interval
        )

    def _take_due(self) -> dict[str, _Query]:
        """The pending channels a refresh may serve now; they leave the pending set."""
        due = {c: query for c, query in self._pending.items() if self._due(c, query)}
        for channel in due:
            del self._pending[channel]
        return due

    async def _refresh_due(self) -> None:
        """Refresh what is due, again while more became due meanwhile (one at a time)."""
        while due := self._take_due():
            waiting = [self._refreshed.pop(c) for c in due if c in self._refreshed]
            try:
                await self._refresh(due)
            finally:
                for refreshed in waiting:
                    if not refreshed.done():
                        refreshed.set_result(None)

    # -- refreshing ----------------------------------------------------------------------

    async def _refresh(self, due: dict[str, _Query]) -> None:
        """Search each due channel's memories for its latest message; keep what was found."""
        try:
            cold = any(channel not in self._memories for channel in due)
            vectors = await self._embed(list(due.values()), paced=not cold)
            found = await asyncio.gather(
                *(
                    self.store.search(
                        self.fleet, vectors[query.key], channel=channel, limit=RECALL_LIMIT
                    )
                    for channel, query in due.items()
                    if query.key in vectors
                )
            )
        except Exception as error:  # asyncpg's errors share no base class worth naming
            self._failed(due, error)
            return
        searched = [channel for channel, query in due.items() if query.key in vectors]
        for channel, memories in zip(searched, found, strict=True):
            self._memories[channel] = [
                m.content for m in memories if (m.similarity or 0.0) >= RECALL_MIN_SIMILARITY
            ]
        for channel in due:
            self._memories.setdefault(channel, [])  # no budget: the channel is warm anyway

    async def _embed(self, wanted: Sequence[_Query], *, paced: bool) -> dict[str, array[float]]:
        """Vectors by key: cached ones, the rest in one request if the budget allows.

        A ``paced`` request (no cold channel waits for it) goes only on this process's turn.
        """
        vectors = {q.key: self._vectors[q.key] for q in wanted if q.key in self._vectors}
        for key in vectors:
            self._vectors.move_to_end(key)
        missing = {q.key: q.text for q in wanted if q.key not in vectors}
        if not missing or not await self.limiter.has_headroom(RECALL_BUDGET_SHARE):
            return vectors
        if paced and not await self._take_turn():
            return vectors
        self._last_request = self._clock()
        embedded = await self.gemini.embed(list(missing.values()), task_type="RETRIEVAL_QUERY")
        for key, values in zip(missing, embedded, strict=True):
            vectors[key] = self._vectors[key] = array("f", values)
            if len(self._vectors) > CACHED_EMBEDDINGS:
                self._vectors.popitem(last=False)
        return vectors

    async def _take_turn(self) -> bool:
        """Whether this process makes the fleet's embedding request of this interval.

        A turn lost waits a whole interval too, so each process asks Redis once per
        interval, off the replies' path.
        """
        self._last_request = self._clock()
        taken = await self.limiter.redis.set(self._turn, "1", nx=True, px=int(self.interval * 1000))
        return bool(taken)

    def _failed(self, due: dict[str, _Query], error: BaseException) -> None:
        """Keep what the channels had (a cold one starts empty) and say why."""
        _skipped(_component(error), error)
        for channel in due:
            self._memories.setdefault(channel, [])


def _component(error: BaseException) -> str:
    """The ``agentfleet_errors_total`` component a failed refresh is counted under."""
    if isinstance(error, LLMError):
        return "gemini"
    if isinstance(error, RedisError):
        return "redis"
    return "postgres"  # asyncpg's errors share no base class; OSError: its socket


def _skipped(component: str, error: BaseException) -> None:
    """Count and log a recall that could not be done: the reply goes on without it."""
    ERRORS.labels(component=component).inc()
    log.warning("WARN recall skipped: %s", error.__class__.__name__)
