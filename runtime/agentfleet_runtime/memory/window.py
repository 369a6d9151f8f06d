"""Each channel's latest messages as the router keeps them in memory for the jobs it queues.

A reply's job carries what its prompt is written from, so the persona's worker asks Redis
for nothing before it calls Gemini. The router could read the channel's latest messages
from hot memory inside its script, but turning stream entries into one string there
costs Redis more than the rest of the script together, on every reply's path. The router
sees every message hot memory keeps as it happens (people's through the inbox, the
personas' posts as Reception notes them), so it keeps the same few messages itself:

* A channel's window is read from hot memory the first time it is needed, and again
  once it is :data:`TRUST_SECONDS` old, so a post Reception did not see (its gateway was
  reconnecting) is in the prompts again within minutes.
* Messages are kept as the JSON hot memory holds, and carried as that JSON; a message
  already in the window (a redelivery) is not added twice.
* A message older than hot memory's 24 hours is left out, as hot memory drops it.

Pure bookkeeping with no I/O: the router reads hot memory and feeds the window.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import orjson

from agentfleet_runtime.brain.messages import InboundMessage
from agentfleet_runtime.memory.hot import HOT_WINDOW, RECENT_MESSAGES

TRUST_SECONDS = 300.0
"""How long a channel's window is used before it is read again from hot memory."""


@dataclass(frozen=True, slots=True)
class _Kept:
    message_id: int
    created_at: float
    encoded: str


@dataclass(slots=True)
class _Window:
    read_at: float
    kept: deque[_Kept] = field(default_factory=lambda: deque(maxlen=RECENT_MESSAGES))


class RecentWindows:
    """The latest :data:`RECENT_MESSAGES` messages of each channel (see the module)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[int, _Window] = {}

    def needs_reading(self, channel_id: int) -> bool:
        """Whether the channel's window must be (re)read from hot memory before use."""
        window = self._windows.get(channel_id)
        return window is None or self._clock() - window.read_at > TRUST_SECONDS

    def read(self, channel_id: int, encoded: Iterable[str]) -> None:
        """Start the channel's window from hot memory's latest messages, oldest first."""
        window = _Window(read_at=self._clock())
        for raw in encoded:
            data = orjson.loads(raw)
            window.kept.append(_Kept(data["message_id"], data["created_at"], raw))
        self._windows[channel_id] = window

    def add(self, message: InboundMessage, encoded: str) -> None:
        """Keep ``message`` (its hot-memory JSON ``encoded``) if its channel's window is read.

        A channel not read yet is left alone: reading it will find the message there.
        """
        window = self._windows.get(message.channel_id)
        if window is not None and not _holds(window, message.message_id):
            window.kept.append(_Kept(message.message_id, message.created_at, encoded))

    def carried(self, message: InboundMessage, encoded: str, now: float) -> str:
        """The window with ``message`` last, as the JSON array a job carries: newest first.

        ``now`` is Unix time; messages older than hot memory's 24 hours are left out.
        """
        window = self._windows.get(message.channel_id)
        kept = list(window.kept) if window is not None else []
        if window is None or not _holds(window, message.message_id):
            kept.append(_Kept(message.message_id, message.created_at, encoded))
        since = now - HOT_WINDOW
        latest = [k.encoded for k in reversed(kept[-RECENT_MESSAGES:]) if k.created_at >= since]
        return "[" + ",".join(latest) + "]"


def _holds(window: _Window, message_id: int) -> bool:
    return any(k.message_id == message_id for k in window.kept)
