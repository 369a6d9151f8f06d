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
* Each message is kept as the line a prompt's conversation shows
  (:func:`~agentfleet_runtime.brain.prompts.conversation_line`), written once as it
  arrives: a message is in the prompts of the next twenty replies in its channel, and
  their workers take the lines as they are. A message already in the window (a
  redelivery) is not added twice.
* A message older than hot memory's 24 hours is left out, as hot memory drops it.

Pure bookkeeping with no I/O: the router reads hot memory and feeds the window.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from agentfleet_runtime.brain.messages import InboundMessage
from agentfleet_runtime.brain.prompts import conversation_line
from agentfleet_runtime.memory.hot import HOT_WINDOW, RECENT_MESSAGES

TRUST_SECONDS = 300.0
"""How long a channel's window is used before it is read again from hot memory."""


@dataclass(frozen=True, slots=True)
class _Kept:
    message_id: int
    created_at: float
    line: str | None
    """None for a message a prompt does not show (nothing visible in it)."""

    @classmethod
    def of(cls, message: InboundMessage) -> _Kept:
        return cls(message.message_id, message.created_at, conversation_line(message))


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

    def read(self, channel_id: int, latest: Iterable[InboundMessage]) -> None:
        """Start the channel's window from hot memory's latest messages, oldest first."""
        window = _Window(read_at=self._clock())
        window.kept.extend(_Kept.of(message) for message in latest)
        self._windows[channel_id] = window

    def add(self, message: InboundMessage) -> None:
        """Keep ``message`` if its channel's window is read.

        A channel not read yet is left alone: reading it will find the message there.
        """
        window = self._windows.get(message.channel_id)
        if window is not None and not _holds(window, message.message_id):
            window.kept.append(_Kept.of(message))

    def conversation(self, message: InboundMessage, now: float) -> list[str]:
        """The lines of the channel's latest messages before ``message``, oldest first.

        ``message`` counts as one of the latest, as in hot memory, which holds it by the
        time its reply is written. ``now`` is Unix time; messages older than hot memory's
        24 hours are left out.
        """
        window = self._windows.get(message.channel_id)
        kept = list(window.kept) if window is not None else []
        if window is None or not _holds(window, message.message_id):
            kept.append(_Kept(message.message_id, message.created_at, None))
        since = now - HOT_WINDOW
        return [
            k.line
            for k in kept[-RECENT_MESSAGES:]
            if k.line is not None and k.message_id != message.message_id and k.created_at >= since
        ]


def _holds(window: _Window, message_id: int) -> bool:
    return any(k.message_id == message_id for k in window.kept)
